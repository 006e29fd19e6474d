import ArgumentParser
import Foundation
import MixFill

extension RatingFormat: ExpressibleByArgument {}
extension KernelChoice: ExpressibleByArgument {}

/// How `eval` and `select` read their data (they work on its dense form).
struct FormatOption: ParsableArguments {
    @Option(help: "Data format: auto (detect from the content), dense, triplets, csv, netflix or binary.")
    var format: RatingFormat = .auto
}

/// How `fit` and `fill` read their data and which E-step kernel they run.
struct InputOptions: ParsableArguments {
    @Option(help: "Data format: auto (detect from the content), dense, triplets, csv, netflix or binary.")
    var format: RatingFormat = .auto

    @Option(help: "E-step kernel: auto (by density), dense (--backend blas or naive), blocked (GEMMs on user blocks) or sparse (observed ratings only).")
    var kernel: KernelChoice = .auto
}

/// The kernel that suits loaded data.
enum DataLoading {
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
