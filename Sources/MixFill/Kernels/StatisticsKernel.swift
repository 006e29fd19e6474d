/// One shard's E-step: given a mixture, the statistics its users contribute to the M-step.
///
/// Kernels own their copy of the data in whatever layout suits them and their workspaces,
/// which they reuse from one iteration to the next. They are interchangeable: every kernel
/// must give the naive kernel's statistics up to floating-point summation order.
public protocol StatisticsKernel: AnyObject {
    var userCount: Int { get }
    var itemCount: Int { get }
    /// The kernel's name as the CLI spells it (`naive`, `blas`, …).
    var name: String { get }

    /// Runs the E-step over this shard's users for `mixture` and adds the log-likelihood
    /// and the M-step sums to `statistics`.
    func accumulate(_ mixture: Mixture, into statistics: inout SufficientStatistics)

    /// p(j | u) for every user of the shard, row-major users × K, and the shard's
    /// log-likelihood.
    func posteriors(_ mixture: Mixture) -> (posteriors: [Double], logLikelihood: Double)
}

/// The kernels of the core engine.
public enum Backend: String, CaseIterable, Sendable {
    /// Plain loops over users, components and observed items: the oracle and the baseline.
    case naive
    /// The GEMM form on OpenBLAS.
    case blas

    public func makeKernel(for data: DenseRatingMatrix) -> any StatisticsKernel {
        switch self {
        case .naive: return NaiveKernel(data)
        case .blas: return BLASKernel(data)
        }
    }
}
