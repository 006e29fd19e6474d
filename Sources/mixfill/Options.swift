import ArgumentParser
import Foundation
import MixFill

extension Backend: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// Options shared by every command that runs the E-step.
struct EngineOptions: ParsableArguments {
    @Option(help: "Kernel: 'blas' (OpenBLAS GEMMs) or 'naive' (plain loops, the reference).")
    var backend: Backend = .blas

    @Option(help: "Threads, 1 to 1024 (default: all \(ProcessInfo.processInfo.activeProcessorCount) cores): the sparse kernel's own, one shard of users each for the dense BLAS kernel (on single-threaded OpenBLAS), OpenBLAS's for the blocked kernel.")
    var threads: Int?

    func validate() throws {
        if let threads, let problem = ThreadCount.problem(threads) {
            throw ValidationError("--threads: \(problem)")
        }
    }

    /// Applies the thread count and returns it.
    func applyThreads() -> Int {
        let count = threads ?? ProcessInfo.processInfo.activeProcessorCount
        BLASThreads.set(count)
        return count
    }

    /// The kernels of a batched fit and how they share the threads. The dense BLAS kernel:
    /// one shard of users per thread, each on single-threaded OpenBLAS (measured faster than
    /// one shard on multi-threaded OpenBLAS; see README, Performance). Every other kernel
    /// (naive, sparse, blocked) as `DataLoading.makeKernel` builds it, as one shard.
    /// `--precision single` is for the dense BLAS kernel only.
    func batchedEngine(for input: RatingInput, options: InputOptions, precision: Precision, threads: Int) throws
        -> (shards: [any StatisticsKernel], parallelism: Parallelism) {
        if let conflict = input.precisionConflict(precision, choice: options.kernel, backend: backend) {
            throw MixFillError.badOption(option: "--precision", message: "\(conflict); add --kernel dense or leave --precision out")
        }
        if backend == .blas && input.resolvedKernel(options.kernel, backend: backend) == .dense {
            let matrix = try input.densified { .badOption(option: "--kernel", message: "\($0); use --kernel sparse or blocked") }
            return (BLASKernel.shards(of: matrix, count: threads, precision: precision), .shardWorkers(threads))
        }
        let kernel = try DataLoading.makeKernel(for: input, options: options, engine: self, threadCount: threads)
        return ([kernel], .blasThreads(BLASThreads.current))
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
