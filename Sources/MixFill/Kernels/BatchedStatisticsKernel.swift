/// A kernel that runs the E-step for several mixtures (restarts) in one pass over its data.
///
/// Batching pays where the data are large and each mixture small: the BLAS kernel stacks
/// every restart's coefficients into one GEMM operand, so an iteration of five K = 12
/// restarts reads the n × 2d data twice in GEMMs 60 columns wide instead of ten times in
/// GEMMs 12 wide.
///
/// The contract is exact, not approximate: `accumulate(mixtures, into: &statistics)` must
/// leave `statistics[r]` bit for bit as `accumulate(mixtures[r], into: &statistics[r])`
/// would. That is what lets the batched EM loop promise every restart the log-likelihood
/// and iteration count it has when run alone.
public protocol BatchedStatisticsKernel: StatisticsKernel {
    /// Runs the E-step for every mixture over this shard's users and adds mixture r's
    /// log-likelihood and M-step sums to `statistics[r]`.
    func accumulate(_ mixtures: [Mixture], into statistics: inout [SufficientStatistics])

    /// Sets `statistics[r]` (shaped for mixture r) to this shard's log-likelihood and sums
    /// for mixture r: bit for bit what zeroing it and then `accumulate` would leave, without
    /// the pass that zeroes it.
    func compute(_ mixtures: [Mixture], into statistics: inout [SufficientStatistics])
}

extension BatchedStatisticsKernel {
    /// The general form: zero each record, then `accumulate`. Kernels override it to skip
    /// the zeroing pass.
    public func compute(_ mixtures: [Mixture], into statistics: inout [SufficientStatistics]) {
        for index in statistics.indices { statistics[index].reset() }
        accumulate(mixtures, into: &statistics)
    }
}

extension StatisticsKernel {
    /// Sets every record to this shard's statistics for its mixture, as zeroing it and
    /// accumulating would: with the batched E-step where the kernel has one, else one
    /// mixture after another (which meets the batched contract trivially).
    func computeEach(_ mixtures: [Mixture], into statistics: inout [SufficientStatistics]) {
        precondition(mixtures.count == statistics.count, "one statistics record per mixture")
        if let batched = self as? any BatchedStatisticsKernel {
            batched.compute(mixtures, into: &statistics)
            return
        }
        for index in mixtures.indices {
            statistics[index].reset()
            accumulate(mixtures[index], into: &statistics[index])
        }
    }
}
