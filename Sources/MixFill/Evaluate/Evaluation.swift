/// A model `eval` and `select` train and score.
public enum EvaluatedModel: Sendable, Hashable, CustomStringConvertible {
    /// `GlobalMeanBaseline`.
    case globalMean
    /// `BiasBaseline` with its default regularisation.
    case bias
    /// The course's mixture with K components (best log-likelihood over the seeds).
    case course(componentCount: Int)
    /// The factor family (`FactorMixture`) with these settings; what is not given is
    /// chosen from each split's training ratings.
    case factor(FactorSettings)

    /// The name as the CLI spells it (`mean`, `bias`, `course`, `mppca`).
    public var name: String {
        switch self {
        case .globalMean: return "mean"
        case .bias: return "bias"
        case .course: return "course"
        case .factor: return ModelFamily.mppca.rawValue
        }
    }

    public var componentCount: Int? {
        switch self {
        case let .course(componentCount): return componentCount
        case let .factor(settings): return settings.componentCount
        case .globalMean, .bias: return nil
        }
    }

    public var description: String {
        componentCount.map { "\(name) K=\($0)" } ?? name
    }
}

/// The best of a multi-seed course fit on some training data.
public struct CourseFit: Sendable {
    public var componentCount: Int
    public var bestSeed: UInt32
    public var mixture: Mixture
    public var logLikelihood: Double
    public var iterations: Int
    public var converged: Bool
    /// The course BIC of the best run on its training data.
    public var bayesianInformationCriterion: Double
    /// Seeds whose run hit the iteration cap.
    public var unconvergedSeeds: [UInt32]
    /// p(j | u) of every training user under the best mixture (users × K).
    public var posteriors: [Double]
    /// What `FitJob` warns of for this K (`fit` prints them): objective falls, and the best
    /// run's share of predictions from unlearned means.
    public var warnings: [FitWarning]
}

/// The best run of a factor fit on some training data, and how its settings were chosen.
public struct FactorFitSummary: Sendable {
    public var tuning: FactorTuning
    public var bestSeed: UInt32
    public var objective: Double
    public var iterations: Int
    public var converged: Bool
}

/// One model trained on one split's training part and scored on its test part.
public struct ModelScore: Sendable {
    public var model: EvaluatedModel
    public var metrics: AccuracyMetrics
    /// The mixture fit behind a `course` score.
    public var fit: CourseFit?
    /// The factor fit behind an `mppca` score: its hyperparameters and best run.
    public var factorFit: FactorFitSummary?
    /// RMSE over `missingEntries` when given: unclipped, as `fit --gold` computes it.
    public var missingEntryRootMeanSquareError: Double?
    /// Seconds spent training and scoring RMSE and MAE (ranking not included).
    public var seconds: Double
    /// Top-N metrics, when asked for (nil for the global mean, and when no user has a
    /// relevant held-out item).
    public var ranking: RankingMetrics?
    /// Seconds spent ranking.
    public var rankingSeconds: Double = 0

    public init(model: EvaluatedModel, metrics: AccuracyMetrics, fit: CourseFit?, factorFit: FactorFitSummary?,
                missingEntryRootMeanSquareError: Double?, seconds: Double, ranking: RankingMetrics? = nil, rankingSeconds: Double = 0) {
        self.model = model
        self.metrics = metrics
        self.fit = fit
        self.factorFit = factorFit
        self.missingEntryRootMeanSquareError = missingEntryRootMeanSquareError
        self.seconds = seconds
        self.ranking = ranking
        self.rankingSeconds = rankingSeconds
    }
}

/// Trains models on training ratings and scores them on held-out ones, all in one
/// harness, so every report puts the mixture next to the baselines it has to beat.
public struct Evaluator: Sendable {
    public var seeds: [UInt32]
    public var backend: Backend
    public var stoppingRule: StoppingRule
    /// Threads of the fits' engines, as `mixfill fit --threads`: with the same kernel, a
    /// course fit here is the one `fit` runs, bit for bit.
    public var threads: Int
    /// Passed to the engine's `claimBLASThreads`: only for the CLI, which owns its process.
    public var stopsIdleBLASPool: Bool
    /// The course fits' kernel, as `fit` resolves `--kernel auto` on the whole data (the CLI
    /// passes it, so that every split runs the kernel `fit` would on that data); nil: `auto`'s
    /// choice for each training part as a dense matrix's (`KernelChoice.sparseBelowDensity`).
    /// The naive backend always runs the naive kernel.
    public var courseKernel: Engine.Kernel?

    /// Seeds of the factor family's fits (one run is the default: its objective is smooth
    /// in the start, so restarts change little).
    public var factorSeeds: [UInt32]

    public init(seeds: [UInt32], factorSeeds: [UInt32] = [0], backend: Backend = .blas, stoppingRule: StoppingRule = StoppingRule(),
                threads: Int = 1, stopsIdleBLASPool: Bool = false, courseKernel: Engine.Kernel? = nil) {
        precondition(!seeds.isEmpty && !factorSeeds.isEmpty)
        self.seeds = seeds
        self.factorSeeds = factorSeeds
        self.backend = backend
        self.stoppingRule = stoppingRule
        self.threads = threads
        self.stopsIdleBLASPool = stopsIdleBLASPool
        self.courseKernel = courseKernel
    }

    /// The engine the course fits run on for data of this density: `courseKernel`, else
    /// `auto`'s choice (records: the sparse kernel; a dense matrix: the sparse kernel below
    /// `KernelChoice.sparseBelowDensity`, the dense BLAS kernel above).
    public func courseEngine(density: Double, isRecords: Bool) -> Engine {
        if backend == .naive { return Engine(kernel: .naive, threads: threads) }
        if let courseKernel { return Engine(kernel: courseKernel, threads: threads) }
        let automatic = KernelChoice.automatic(density: density, isRecords: isRecords)
        return Engine(kernel: automatic == .sparse ? .sparse : .dense(.double), threads: threads)
    }

    /// The engine the factor family's fits run on: its record kernel (sparse), or the
    /// naive one with the naive backend.
    public var factorEngine: Engine {
        Engine(family: .mppca, kernel: backend == .naive ? .naive : .sparse, threads: threads)
    }

    /// Fits the factor family on `training` (settings not given chosen from it) and keeps
    /// the best seed's run, with the users' E-step states for predictions.
    public func fitFactor(_ training: SparseRatingMatrix, settings: FactorSettings) throws(MixFillError)
        -> (summary: FactorFitSummary, model: FactorMixture, states: [Double]) {
        let fitter = FactorFitter(engine: factorEngine, rule: stoppingRule, settings: settings)
        let tuning = try fitter.tune(training)
        let loop = factorEngine.factorLoop(for: RatingInput(training), rule: stoppingRule)
        let fit = try fitter.fit(training, tuning: tuning, start: .seeds(factorSeeds), loop: loop)
        let best = fit.best
        let states = try loop.userStates(best.result.model).states
        return (FactorFitSummary(tuning: tuning, bestSeed: best.seed, objective: best.result.objective,
                                 iterations: best.result.iterations, converged: best.result.converged),
                best.result.model, states)
    }

    /// Fits each K of `componentCounts` on `input` from every seed and keeps each K's best
    /// run: the fit every command runs (`FitJob`, all the K in one job, as `mixfill fit -k`
    /// runs them) on `courseEngine` for `input`, whose BLAS threads the caller has claimed.
    public func fitCourse(_ input: RatingInput, componentCounts: [Int]) throws(MixFillError) -> [CourseFit] {
        try fitCourse(input, componentCounts: componentCounts, engine: courseEngine(density: input.density, isRecords: input.isRecords))
    }

    private func fitCourse(_ input: RatingInput, componentCounts: [Int], engine: Engine) throws(MixFillError) -> [CourseFit] {
        let job = FitJob(componentCounts: componentCounts, start: .seeds(seeds), rule: stoppingRule, keepsUserStates: true)
        let outcome = try job.run(on: input, engine: engine)
        return outcome.fits.map { fit in
            let best = fit.best
            let componentCount = fit.fit.componentCount
            return CourseFit(
                componentCount: componentCount, bestSeed: best.seed, mixture: best.result.model,
                logLikelihood: best.result.objective, iterations: best.result.iterations,
                converged: best.result.converged, bayesianInformationCriterion: fit.bayesianInformationCriterion,
                unconvergedSeeds: fit.fit.runs.filter { !$0.result.converged }.map(\.seed),
                posteriors: fit.userStates ?? [], warnings: outcome.warnings.filter { $0.run.componentCount == componentCount })
        }
    }

    /// Trains every model in `models` on `training` and scores it on `test` and `unmatched`
    /// (see `AccuracyMetrics.score(_:on:unmatched:scale:mean:)`), predictions clipped to the
    /// training ratings' range; with `ranking`, also ranks every model but the global mean
    /// (whose one score for every item makes no ranking) by `RankingMetrics` on `test`.
    ///
    /// `missingEntries` (with a gold matrix: every entry missing from the data, with the
    /// gold's value, 0 included) are scored the course's way as well: RMSE of the
    /// unclipped predictions, the figure `fit --gold` reports as "missing entries only".
    ///
    /// The course model densifies `training` only when its engine runs a dense kernel
    /// (`courseEngine`); the others work on the list or on a compressed-row copy, so data
    /// too large for a dense matrix can be scored.
    public func evaluate(_ models: [EvaluatedModel], userCount: Int, itemCount: Int,
                         training: [IndexedRating], test: [IndexedRating], unmatched: UnmatchedRatings = .none,
                         missingEntries: [IndexedRating]? = nil, ranking: RankingSettings? = nil,
                         progress: ((_ index: Int, _ model: EvaluatedModel) -> Void)? = nil) throws(MixFillError) -> [ModelScore] {
        guard let scale = RatingScale(of: training.lazy.map(\.rating)) else {
            throw .runtime(message: "the training part of a split holds no rating; hold out fewer ratings")
        }
        let clock = ContinuousClock()
        let mean = GlobalMeanBaseline(training: training)
        var itemRatingCounts = [Int](repeating: 0, count: itemCount)
        for rating in training { itemRatingCounts[rating.item] += 1 }
        var courseInput: (input: RatingInput, engine: Engine)?
        var compressed: SparseRatingMatrix?
        func trainingRows() -> SparseRatingMatrix {
            if let compressed { return compressed }
            let rows = SparseRatingMatrix(userCount: userCount, itemCount: itemCount, ratings: training)
            compressed = rows
            return rows
        }
        var scores = [ModelScore]()
        let unclipped = RatingScale(minimum: -.infinity, maximum: .infinity)
        func missingEntryError(_ predictor: some RatingPredictor) -> Double? {
            guard let missingEntries, !missingEntries.isEmpty else { return nil }
            return AccuracyMetrics.score(predictor, on: missingEntries, scale: unclipped).rootMeanSquareError
        }
        func accuracy(_ predictor: some RatingPredictor) -> AccuracyMetrics {
            AccuracyMetrics.score(predictor, on: test, unmatched: unmatched, scale: scale, mean: mean.mean)
        }
        /// The ranking metrics and the seconds they took.
        func ranked(_ predictor: some RatingPredictor) -> (RankingMetrics?, Double) {
            guard let ranking else { return (nil, 0) }
            let start = clock.now
            let metrics = RankingMetrics.score(predictor, training: trainingRows(), test: test, settings: ranking)
            return (metrics, (clock.now - start).seconds)
        }
        for (index, model) in models.enumerated() {
            progress?(index, model)
            let start = clock.now
            switch model {
            case .globalMean:
                scores.append(ModelScore(model: model, metrics: accuracy(mean), fit: nil, factorFit: nil,
                                         missingEntryRootMeanSquareError: missingEntryError(mean),
                                         seconds: (clock.now - start).seconds))
            case .bias:
                let bias = BiasBaseline(training: training, userCount: userCount, itemCount: itemCount)
                var score = ModelScore(model: model, metrics: accuracy(bias), fit: nil, factorFit: nil,
                                       missingEntryRootMeanSquareError: missingEntryError(bias),
                                       seconds: (clock.now - start).seconds)
                (score.ranking, score.rankingSeconds) = ranked(bias)
                scores.append(score)
            case let .course(componentCount):
                if courseInput == nil {
                    let density = Double(training.count) / (Double(userCount) * Double(itemCount))
                    let engine = courseEngine(density: density, isRecords: false)
                    let input = engine.kernel.readsWholeMatrix
                        ? RatingInput(storage: .dense(DenseRatingMatrix(userCount: userCount, itemCount: itemCount, ratings: training)), format: .dense)
                        : RatingInput(trainingRows())
                    engine.claimBLASThreads(stopIdlePool: stopsIdleBLASPool)
                    courseInput = (input, engine)
                }
                guard let courseInput else { continue }
                guard let fit = try fitCourse(courseInput.input, componentCounts: [componentCount], engine: courseInput.engine).first else { continue }
                let predictor = MixturePredictor(mixture: fit.mixture, posteriors: fit.posteriors,
                                                 itemRatingCounts: itemRatingCounts, fallback: mean.mean)
                var score = ModelScore(model: model, metrics: accuracy(predictor), fit: fit,
                                       factorFit: nil, missingEntryRootMeanSquareError: missingEntryError(predictor),
                                       seconds: (clock.now - start).seconds)
                (score.ranking, score.rankingSeconds) = ranked(predictor)
                scores.append(score)
            case let .factor(settings):
                let (summary, model, states) = try fitFactor(trainingRows(), settings: settings)
                let predictor = FactorPredictor(model: model, states: states, scale: scale)
                var score = ModelScore(model: .factor(settings), metrics: accuracy(predictor), fit: nil,
                                       factorFit: summary, missingEntryRootMeanSquareError: missingEntryError(predictor),
                                       seconds: (clock.now - start).seconds)
                (score.ranking, score.rankingSeconds) = ranked(predictor)
                scores.append(score)
            }
        }
        return scores
    }
}
