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

/// Integer lists as the CLI spells them: `1,12`, `0-4`, `0-2,7`.
enum IntegerList {
    static func parse(_ text: String, option: String, what: String, example: String) throws -> [Int] {
        var values = [Int]()
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else {
            throw ValidationError("\(option): the \(what) list is empty; write it like \(example)")
        }
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let piece = part.trimmingCharacters(in: .whitespaces)
            let bounds = piece.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2,
                  let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]),
                  bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }) else {
                throw ValidationError("\(option): '\(piece)' in '\(text)' is not a \(what) or range; write the list like \(example)")
            }
            guard low <= high else {
                throw ValidationError("\(option): the range '\(piece)' runs backwards; write it as \(high)-\(low)")
            }
            guard high - low < 1_000_000 else {
                throw ValidationError("\(option): the range '\(piece)' is too long")
            }
            values.append(contentsOf: low...high)
        }
        return values
    }

    static func seeds(_ text: String) throws -> [UInt32] {
        let values = try parse(text, option: "--seeds", what: "seed", example: "0-4 or 0,1,2")
        return try values.map { value in
            guard let seed = UInt32(exactly: value) else {
                throw ValidationError("--seeds: seed \(value) is out of range; seeds are 0 to \(UInt32.max)")
            }
            return seed
        }
    }

    static func componentCounts(_ text: String) throws -> [Int] {
        let values = try parse(text, option: "-k", what: "component count", example: "1,12 or 1-16")
        for value in values where value < 1 {
            throw ValidationError("-k: K = \(value) is not allowed; K must be at least 1")
        }
        return values
    }
}
