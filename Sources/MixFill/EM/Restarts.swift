
/// One seed's run within a multi-start fit.
public struct SeededRun: Sendable {
    public var seed: UInt32
    public var result: FitResult
    public var seconds: Double

    public init(seed: UInt32, result: FitResult, seconds: Double) {
        self.seed = seed
        self.result = result
        self.seconds = seconds
    }
}

/// Several seeds for one K; the best is the run with the highest log-likelihood (the
/// first such seed on a tie), as in the course.
public struct MultiStartFit: Sendable {
    public var componentCount: Int
    public var runs: [SeededRun]

    public init(componentCount: Int, runs: [SeededRun]) {
        precondition(!runs.isEmpty, "at least one run")
        self.componentCount = componentCount
        self.runs = runs
    }

    public var best: SeededRun {
        var best = runs[0]
        for run in runs.dropFirst() where run.result.logLikelihood > best.result.logLikelihood {
            best = run
        }
        return best
    }
}

extension ExpectationMaximization {
    /// Fits K components from every seed's course initialisation.
    public func fit(data: some RatingData, componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> MultiStartFit {
        precondition(!seeds.isEmpty, "at least one seed")
        var runs = [SeededRun]()
        for seed in seeds {
            let clock = ContinuousClock()
            let start = clock.now
            let initial = try Initialization.courseMixture(data: data, componentCount: componentCount, seed: seed)
            let result = try run(from: initial)
            let elapsed = clock.now - start
            runs.append(SeededRun(seed: seed, result: result, seconds: elapsed.seconds))
        }
        return MultiStartFit(componentCount: componentCount, runs: runs)
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}

/// How the batched EM loop spreads an E-step over the cores. The shards are the same
/// either way and their statistics are added in shard order, so the choice changes the
/// speed, never a bit of the result.
public enum Parallelism: Sendable, Equatable {
    /// One thread walks the shards in turn; OpenBLAS runs each GEMM on this many threads.
    case blasThreads(Int)
    /// This many threads each take every `workers`-th shard, with OpenBLAS on one thread
    /// (threads are never stacked on top of a multi-threaded BLAS).
    case shardWorkers(Int)

    /// Worker threads this policy starts.
    public var workerCount: Int {
        switch self {
        case .blasThreads: return 1
        case let .shardWorkers(workers): return max(1, workers)
        }
    }

    /// OpenBLAS threads inside each GEMM under this policy.
    public var blasThreadCount: Int {
        switch self {
        case let .blasThreads(threads): return max(1, threads)
        case .shardWorkers: return 1
        }
    }
}

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
        return BatchWorkspace(shards: shards).eStep(mixtures, parallelism: parallelism)
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
    /// restarts run one after another would.
    ///
    public func runBatched(from initials: [Mixture], parallelism: Parallelism = .blasThreads(1))
        throws(MixFillError) -> BatchedRuns {
        let restartCount = initials.count
        var mixtures = initials
        var traces = [[Double]](repeating: [], count: restartCount)
        var converged = [Bool](repeating: false, count: restartCount)
        var failures = [MixFillError?](repeating: nil, count: restartCount)
        var seconds = [Double](repeating: 0, count: restartCount)
        var iterationSeconds = [Double]()
        var iterationRestarts = [Int]()
        var active = stoppingRule.maxIterations > 0 ? Array(0..<restartCount) : []
        let workspace = BatchWorkspace(shards: shards)
        let clock = ContinuousClock()
        let blasThreads = BLASThreads.current
        BLASThreads.set(parallelism.blasThreadCount)
        defer { BLASThreads.set(blasThreads) }

        while !active.isEmpty {
            let start = clock.now
            let statistics = workspace.eStep(active.map { mixtures[$0] }, parallelism: parallelism)
            var stillActive = [Int]()
            for (position, restart) in active.enumerated() {
                // The body of `run(from:)`'s loop, for restart `restart`.
                let logLikelihood = statistics[position].logLikelihood
                guard logLikelihood.isFinite else {
                    failures[restart] = .runtime(message: "the log-likelihood became \(logLikelihood) at iteration \(traces[restart].count + 1); check the data for extreme values")
                    continue
                }
                let previous = traces[restart].last
                traces[restart].append(logLikelihood)
                mixtures[restart] = MStep.update(mixtures[restart], with: statistics[position],
                                                 varianceFloor: stoppingRule.varianceFloor)
                if let previous, logLikelihood - previous <= stoppingRule.relativeTolerance * abs(logLikelihood) {
                    converged[restart] = true
                    continue
                }
                if traces[restart].count < stoppingRule.maxIterations {
                    stillActive.append(restart)
                }
            }
            let elapsed = (clock.now - start).seconds
            let columns = active.reduce(0) { $0 + mixtures[$1].componentCount }
            for restart in active {
                seconds[restart] += elapsed * Double(mixtures[restart].componentCount) / Double(columns)
            }
            iterationSeconds.append(elapsed)
            iterationRestarts.append(active.count)
            active = stillActive
        }
        if let failure = failures.compactMap({ $0 }).first {
            throw failure
        }
        let results = (0..<restartCount).map { restart in
            FitResult(mixture: mixtures[restart], logLikelihood: traces[restart].last ?? -.infinity,
                      iterations: traces[restart].count, converged: converged[restart],
                      logLikelihoodTrace: traces[restart])
        }
        return BatchedRuns(results: results, seconds: seconds, iterationSeconds: iterationSeconds,
                           iterationRestarts: iterationRestarts)
    }

    /// `fit(data:componentCount:seeds:)` with the seeds run as one batch: the same runs,
    /// bit for bit, in less time on a batched kernel.
    public func fitBatched(data: some RatingData, componentCount: Int, seeds: [UInt32],
                           parallelism: Parallelism = .blasThreads(1)) throws(MixFillError) -> MultiStartFit {
        precondition(!seeds.isEmpty, "at least one seed")
        var initials = [Mixture]()
        for seed in seeds {
            initials.append(try Initialization.courseMixture(data: data, componentCount: componentCount, seed: seed))
        }
        let batch = try runBatched(from: initials, parallelism: parallelism)
        let runs = seeds.indices.map { index in
            SeededRun(seed: seeds[index], result: batch.results[index], seconds: batch.seconds[index])
        }
        return MultiStartFit(componentCount: componentCount, runs: runs)
    }
}
