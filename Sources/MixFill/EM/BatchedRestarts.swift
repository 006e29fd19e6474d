/// What `runBatched(from:parallelism:)` returns.
public struct BatchedRuns: Sendable {
    /// Restart r's run, exactly as `run(from:)` gives it.
    public var results: [FitResult]
    /// Restart r's share of the wall time: each batched iteration's time split among the
    /// restarts in it in proportion to their K (the GEMMs' work).
    public var seconds: [Double]
    /// Wall time of every batched iteration (E-step of the restarts still running, then
    /// their M-steps), in order.
    public var iterationSeconds: [Double]
    /// How many restarts each batched iteration ran.
    public var iterationRestarts: [Int]
}

extension ExpectationMaximization {
    /// One E-step for several mixtures at once: every shard's batched statistics, added in
    /// shard order exactly as `eStep(_:)` adds them, so that result r equals
    /// `eStep(mixtures[r])` bit for bit.
    public func eStep(_ mixtures: [Mixture], parallelism: Parallelism = .blasThreads(1)) -> [SufficientStatistics] {
        let blasThreads = BLASThreads.current
        BLASThreads.set(parallelism.blasThreadCount)
        defer { BLASThreads.set(blasThreads) }
        let workspace = BatchWorkspace(shards: shards)
        workspace.accumulate(mixtures, parallelism: parallelism)
        return mixtures.indices.map { workspace.total($0) }
    }

    /// Runs EM from every initial mixture as one batch: each iteration is one batched
    /// E-step over the restarts still running, then each restart's own M-step and
    /// stopping test. A restart leaves the batch when it converges (or reaches the
    /// iteration cap), so the GEMMs narrow as the batch thins.
    ///
    /// Every result is exactly `run(from: initials[r])`'s — the same log-likelihoods bit
    /// for bit, the same iteration count, the same mixture — because the batched E-step
    /// is exact and the per-restart logic is the same. If a restart's log-likelihood stops
    /// being finite, the error of the first such restart (in input order) is thrown, as the
    /// restarts run one after another would. `previousLogLikelihoods[r]` continues an
    /// earlier run as `run(from:previousLogLikelihood:)` does (a warm start).
    public func runBatched(from initials: [Mixture], previousLogLikelihoods: [Double?]? = nil,
                           parallelism: Parallelism = .blasThreads(1)) throws(MixFillError) -> BatchedRuns {
        precondition(previousLogLikelihoods.map { $0.count == initials.count } ?? true, "one previous log-likelihood per restart")
        let states = initials.indices.map {
            EMState(initial: initials[$0], previousLogLikelihood: previousLogLikelihoods?[$0] ?? nil)
        }
        return try runBatched(resuming: states, parallelism: parallelism)
    }

    /// `runBatched(from:)` from saved states (fresh ones, or ones saved by checkpoints,
    /// possibly finished): restart r continues from `states[r]` exactly as
    /// `run(resuming: states[r])` does, bit for bit. After every batched iteration
    /// `observer`, when given, sees the restarts that ran in it (in input order); it may
    /// save or report them, or throw to stop the whole batch there.
    public func runBatched(resuming states: [EMState], parallelism: Parallelism = .blasThreads(1),
                           observer: (([BatchedRestartProgress]) throws(MixFillError) -> Void)? = nil)
        throws(MixFillError) -> BatchedRuns {
        let restarts = states.map { RestartState(state: $0) }
        var iterationSeconds = [Double]()
        var iterationRestarts = [Int]()
        let rule = stoppingRule
        var active = restarts.filter { $0.isRunning(rule) }
        let workspace = BatchWorkspace(shards: shards)
        let clock = ContinuousClock()
        let blasThreads = BLASThreads.current
        BLASThreads.set(parallelism.blasThreadCount)
        defer { BLASThreads.set(blasThreads) }

        while !active.isEmpty {
            let start = clock.now
            workspace.accumulate(active.map(\.mixture), parallelism: parallelism)
            let running = active
            forEachConcurrently(running.count, workers: parallelism.workerCount) { position in
                running[position].advance(with: workspace.total(position), rule: rule)
            }
            let elapsed = (clock.now - start).seconds
            let columns = active.reduce(0) { $0 + $1.mixture.componentCount }
            for restart in active {
                restart.seconds += elapsed * Double(restart.mixture.componentCount) / Double(columns)
            }
            iterationSeconds.append(elapsed)
            iterationRestarts.append(active.count)
            if let observer {
                let ran = restarts.indices.filter { index in
                    restarts[index].failure == nil && active.contains { $0 === restarts[index] }
                }
                try observer(ran.map { BatchedRestartProgress(index: $0, state: restarts[$0].state, seconds: restarts[$0].seconds) })
            }
            active = active.filter { $0.isRunning(rule) }
        }
        if let failure = restarts.lazy.compactMap(\.failure).first {
            throw failure
        }
        return BatchedRuns(results: restarts.map(\.result), seconds: restarts.map(\.seconds),
                           iterationSeconds: iterationSeconds, iterationRestarts: iterationRestarts)
    }
}

/// A restart after a batched iteration it ran in (`runBatched(resuming:parallelism:observer:)`).
public struct BatchedRestartProgress: Sendable {
    /// The restart's position in the batch's input.
    public var index: Int
    /// Its state after the iteration (the M-step done, `converged` decided).
    public var state: EMState
    /// Its share of the batch's wall time so far.
    public var seconds: Double
}

/// One restart's progress through the batched loop. Each iteration exactly one worker
/// thread advances it.
private final class RestartState {
    var mixture: Mixture
    var trace: [Double]
    var converged: Bool
    var failure: MixFillError?
    var seconds = 0.0
    /// The log-likelihood the first E-step is tested against (a warm start's), if any.
    let previousLogLikelihood: Double?

    init(state: EMState) {
        mixture = state.mixture
        trace = state.logLikelihoodTrace
        converged = state.converged
        previousLogLikelihood = state.previousLogLikelihood
    }

    var state: EMState {
        EMState(mixture: mixture, logLikelihoodTrace: trace, converged: converged, previousLogLikelihood: previousLogLikelihood)
    }

    /// The body of `run(from:)`'s loop, given this restart's summed E-step statistics.
    func advance(with statistics: SufficientStatistics, rule: StoppingRule) {
        let logLikelihood = statistics.logLikelihood
        guard logLikelihood.isFinite else {
            failure = .runtime(message: "the log-likelihood became \(logLikelihood) at iteration \(trace.count + 1); check the data for extreme values")
            return
        }
        let previous = trace.last ?? previousLogLikelihood
        trace.append(logLikelihood)
        mixture = MStep.update(mixture, with: statistics, varianceFloor: rule.varianceFloor)
        if let previous, logLikelihood - previous <= rule.relativeTolerance * abs(logLikelihood) {
            converged = true
        }
    }

    func isRunning(_ rule: StoppingRule) -> Bool {
        failure == nil && !converged && trace.count < rule.maxIterations
    }

    var result: FitResult {
        FitResult(mixture: mixture, logLikelihood: trace.last ?? -.infinity, iterations: trace.count,
                  converged: converged, logLikelihoodTrace: trace)
    }
}
