import ArgumentParser
import Foundation
import MixFill

extension RatingFormat: ExpressibleByArgument {}
extension KernelChoice: ExpressibleByArgument {}

/// How `fit` and `fill` read their data and which E-step kernel they run.
struct InputOptions: ParsableArguments {
    @Option(help: "Data format: auto (detect from the content), dense, triplets, csv, netflix or binary.")
    var format: RatingFormat = .auto

    @Option(help: "E-step kernel: auto (by density), dense (--backend blas or naive), blocked (GEMMs on user blocks) or sparse (observed ratings only).")
    var kernel: KernelChoice = .auto
}

/// Loading data for the commands: any format in, the data with its id maps out, and the
/// kernel that suits it.
enum DataLoading {
    /// Reads `path`, warning about dropped duplicate records.
    static func load(_ path: String, format: RatingFormat) throws -> RatingInput {
        let input = try RatingInput.load(path: path, format: format)
        if input.duplicatePairs > 0 {
            Terminal.warning("\(path): \(input.duplicatePairs) record\(input.duplicatePairs == 1 ? "" : "s") repeated an earlier (user, item) pair; the last rating in the file was kept for each")
        }
        return input
    }

    /// The kernel for `input`. The sparse kernel runs `threadCount` Swift threads, so
    /// OpenBLAS is set to one thread for it (never both at once); the GEMM kernels keep
    /// OpenBLAS at `threadCount`.
    static func makeKernel(for input: RatingInput, options: InputOptions, engine: EngineOptions,
                           threadCount: Int) throws -> any StatisticsKernel {
        let kernel = try input.makeKernel(options.kernel, backend: engine.backend, threads: threadCount)
        BLASThreads.set(kernel is SparseKernel ? 1 : threadCount)
        return kernel
    }
}
