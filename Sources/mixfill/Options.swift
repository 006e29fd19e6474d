import ArgumentParser
import Foundation
import MixFill

extension Backend: ExpressibleByArgument {}

/// Options shared by every command that runs the E-step.
struct EngineOptions: ParsableArguments {
    @Option(help: "Kernel: 'blas' (OpenBLAS GEMMs) or 'naive' (plain loops, the reference).")
    var backend: Backend = .blas

    @Option(help: "OpenBLAS threads (default: all \(ProcessInfo.processInfo.activeProcessorCount) cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 {
            throw ValidationError("--threads: \(threads) is not allowed; give 1 or more")
        }
    }

    /// Applies the thread count and returns it.
    func applyThreads() -> Int {
        let count = threads ?? ProcessInfo.processInfo.activeProcessorCount
        BLASThreads.set(count)
        return count
    }
}

/// Integer lists as the CLI spells them (`1,12`, `0-4`, `0-2,7`): the library's
/// `IntegerRanges`, with its errors turned into argument-parser validation errors.
enum IntegerList {
    static func seeds(_ text: String) throws -> [UInt32] {
        do {
            return try IntegerRanges.seeds(text)
        } catch {
            throw ValidationError(error.description)
        }
    }

    static func componentCounts(_ text: String) throws -> [Int] {
        do {
            return try IntegerRanges.componentCounts(text)
        } catch {
            throw ValidationError(error.description)
        }
    }
}
