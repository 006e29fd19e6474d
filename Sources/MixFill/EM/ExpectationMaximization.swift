/// When the EM loop stops.
public struct StoppingRule: Sendable, Equatable {
    /// Stop after the E-step whose log-likelihood satisfies LL_new − LL_old ≤ tolerance·|LL_new|.
    /// The course's 1e-6 is relative, so the rule means the same on 20 users and on 480,000.
    public var relativeTolerance: Double = 1e-6
    /// Give up after this many E-steps and report the fit as not converged.
    public var maxIterations: Int = 1000
    /// The M-step's variance floor (the course's 0.25).
    public var varianceFloor: Double = MStep.defaultVarianceFloor

    public init(relativeTolerance: Double = 1e-6, maxIterations: Int = 1000,
                varianceFloor: Double = MStep.defaultVarianceFloor) {
        self.relativeTolerance = relativeTolerance
        self.maxIterations = maxIterations
        self.varianceFloor = varianceFloor
    }
}

/// One EM run from one initial mixture.
public struct FitResult: Sendable {
    /// The mixture after the last M-step.
    public var mixture: Mixture
    /// The log-likelihood of the last E-step (the one that met the stopping rule).
    public var logLikelihood: Double
    /// Number of E-steps run.
    public var iterations: Int
    public var converged: Bool
    /// The log-likelihood of every E-step, in order.
    public var logLikelihoodTrace: [Double]
}

/// Where a run stands between two iterations: the mixture after the last M-step and the
/// log-likelihood of every E-step so far. The loop needs nothing else (the stopping rule
/// compares the next LL with the last one in the trace, or with `previousLogLikelihood`
/// before the first), so a run continued from a saved state computes exactly, bit for
/// bit, what it would have computed uninterrupted.
public struct EMState: Sendable, Equatable {
    public var mixture: Mixture
    /// The log-likelihood of every E-step so far, in order.
    public var logLikelihoodTrace: [Double]
    /// Whether the last E-step met the stopping rule.
    public var converged: Bool
    /// The log-likelihood the first E-step of the trace is compared with: nil for a run
    /// from an initialisation, the saved fit's last one for a warm start.
    public var previousLogLikelihood: Double?

    /// The state before the first iteration.
    public init(initial: Mixture, previousLogLikelihood: Double? = nil) {
        self.init(mixture: initial, logLikelihoodTrace: [], converged: false, previousLogLikelihood: previousLogLikelihood)
    }

    public init(mixture: Mixture, logLikelihoodTrace: [Double], converged: Bool, previousLogLikelihood: Double? = nil) {
        self.mixture = mixture
        self.logLikelihoodTrace = logLikelihoodTrace
        self.converged = converged
        self.previousLogLikelihood = previousLogLikelihood
    }

    /// Number of E-steps run.
    public var iterations: Int { logLikelihoodTrace.count }
}

/// The EM loop over shards: E-step on every shard, one reduction of the sufficient
/// statistics, one M-step. Kernels are interchangeable; the loop does not know which ran.
public struct ExpectationMaximization {
    public let shards: [any StatisticsKernel]
    public var stoppingRule: StoppingRule
    /// Threads one E-step runs its shards on (worker w takes shards w, w + workers, …; each
    /// fills only its own partial statistics, added in shard order afterwards), so the
    /// result is the same bits whatever this is. More than 1 is for kernels on
    /// single-threaded BLAS (see `Parallelism.shardWorkers`); the default runs them in turn.
    public var shardWorkers = 1

    public init(shards: [any StatisticsKernel], stoppingRule: StoppingRule = StoppingRule()) {
        precondition(!shards.isEmpty, "EM needs at least one shard")
        self.shards = shards
        self.stoppingRule = stoppingRule
    }

    public init(kernel: any StatisticsKernel, stoppingRule: StoppingRule = StoppingRule()) {
        self.init(shards: [kernel], stoppingRule: stoppingRule)
    }

    /// The summed statistics of one E-step over all shards.
    public func eStep(_ mixture: Mixture) -> SufficientStatistics {
        if shardWorkers > 1 && shards.count > 1 {
            let workspace = BatchWorkspace(shards: shards)
            workspace.accumulate([mixture], parallelism: .shardWorkers(shardWorkers))
            return workspace.total(0)
        }
        var total = SufficientStatistics(componentCount: mixture.componentCount, itemCount: mixture.itemCount)
        if shards.count == 1 {
            shards[0].accumulate(mixture, into: &total)
            return total
        }
        var partial = total
        for shard in shards {
            partial.reset()
            shard.accumulate(mixture, into: &partial)
            total.add(partial)
        }
        return total
    }

    /// Runs EM from `initial` until the stopping rule holds or the iteration cap is reached.
    /// Throws if the log-likelihood stops being finite (which the floor and the 1e-16 in
    /// the weights rule out for valid data).
    ///
    /// `previousLogLikelihood` continues an earlier run on the same data (a warm start):
    /// `initial` is that run's last mixture and this its last log-likelihood, so the first
    /// E-step here is tested against it and the continued run stops exactly where the
    /// uninterrupted run would have.
    public func run(from initial: Mixture, previousLogLikelihood: Double? = nil) throws(MixFillError) -> FitResult {
        try run(resuming: EMState(initial: initial, previousLogLikelihood: previousLogLikelihood))
    }

    /// Runs EM from `state` (a fresh one, or one saved by a checkpoint) until the stopping
    /// rule holds or the iteration cap is reached. `observer`, when given, sees the state
    /// after every iteration (E-step then M-step), the last one included; it may save it,
    /// report it, or throw to stop the run there.
    public func run(resuming state: EMState,
                    observer: ((EMState) throws(MixFillError) -> Void)? = nil) throws(MixFillError) -> FitResult {
        var state = state
        while !state.converged && state.iterations < stoppingRule.maxIterations {
            let statistics = eStep(state.mixture)
            let logLikelihood = statistics.logLikelihood
            guard logLikelihood.isFinite else {
                throw .runtime(message: "the log-likelihood became \(logLikelihood) at iteration \(state.iterations + 1); check the data for extreme values")
            }
            let previous = state.logLikelihoodTrace.last ?? state.previousLogLikelihood
            state.logLikelihoodTrace.append(logLikelihood)
            state.mixture = MStep.update(state.mixture, with: statistics, varianceFloor: stoppingRule.varianceFloor)
            if let previous, logLikelihood - previous <= stoppingRule.relativeTolerance * abs(logLikelihood) {
                state.converged = true
            }
            try observer?(state)
        }
        return FitResult(mixture: state.mixture, logLikelihood: state.logLikelihoodTrace.last ?? -.infinity,
                         iterations: state.iterations, converged: state.converged,
                         logLikelihoodTrace: state.logLikelihoodTrace)
    }

    /// p(j|u) for every user (shards concatenated in order) and the total log-likelihood
    /// (the shards' added in shard order). The shards run on `shardWorkers` threads.
    public func posteriors(_ mixture: Mixture) -> (posteriors: [Double], logLikelihood: Double) {
        let parts = shards.map { _ in ShardPosteriors() }
        let shards = self.shards
        forEachConcurrently(shards.count, workers: shardWorkers) { index in
            parts[index].value = shards[index].posteriors(mixture)
        }
        var all = [Double]()
        var logLikelihood = 0.0
        for part in parts {
            all.append(contentsOf: part.value.posteriors)
            logLikelihood += part.value.logLikelihood
        }
        return (all, logLikelihood)
    }
}

/// One shard's posteriors, written by exactly one worker thread.
private final class ShardPosteriors {
    var value: (posteriors: [Double], logLikelihood: Double) = ([], 0)
}
