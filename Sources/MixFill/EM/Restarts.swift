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


extension ExpectationMaximization {
    /// `fit(data:componentCount:seeds:)` with the seeds run as one batch
    /// (`runBatched(from:parallelism:)`): the same runs, bit for bit, in less time on a
    /// batched kernel.
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

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}
