/// The fit every command runs — `fit`, `batch`, `eval`, `select`, warm starts and resumed
/// fits — and what they all report about it: each K's runs and best run, its BIC, its
/// errors against a gold matrix, and the warnings. Commands differ only in what they do
/// with the outcome (print it, write it to a job folder, score it on held-out ratings) and
/// in the observer they pass (progress, checkpoints, signals).
public struct FitJob: Sendable {
    public var componentCounts: [Int]
    public var start: FitStart<Mixture>
    public var rule: StoppingRule
    public var varianceFloor: Double
    /// The complete matrix of a dense input, to report RMSE against.
    public var gold: DenseRatingMatrix?
    /// Keep the best model's per-user states (p(j|u)) for the caller's predictions.
    public var keepsUserStates: Bool

    public init(componentCounts: [Int], start: FitStart<Mixture>, rule: StoppingRule = StoppingRule(),
                 varianceFloor: Double = Mixture.defaultVarianceFloor, gold: DenseRatingMatrix? = nil,
                 keepsUserStates: Bool = false) {
        self.componentCounts = componentCounts
        self.start = start
        self.rule = rule
        self.varianceFloor = varianceFloor
        self.gold = gold
        self.keepsUserStates = keepsUserStates
    }
}

/// What a fit of one K reports.
public struct ComponentCountFit: Sendable {
    public var fit: MultiStartFit<Mixture>
    /// The course BIC of the best run (`Completion.bayesianInformationCriterion`).
    public var bayesianInformationCriterion: Double
    /// Against the gold matrix, when given.
    package var goldErrors: GoldErrors?
    /// p(j|u) of every user under the best model (users × K), when kept.
    public var userStates: [Double]?

    public var best: SeededRun<Mixture> { fit.best }
}

/// What a fit reports.
public struct FitOutcome: Sendable {
    public var fits: [ComponentCountFit]
    public var warnings: [FitWarning]
    /// Wall time of the fits, initialisation and the reports' E-steps included.
    public var seconds: Double
}

extension FitJob {
    /// Runs the job on `engine` (already resolved for `input`); `observer` sees its progress.
    public func run(on input: RatingInput, engine: Engine, observer: (any FitObserver<Mixture>)? = nil) throws(MixFillError) -> FitOutcome {
        try run(on: input, engine: engine, reducer: ThreadReducer(), userCount: input.userCount, initial: { (componentCount, seed) throws(MixFillError) in
            try Initialization.courseMixture(data: input.data, componentCount: componentCount, seed: seed)
        }, observer: observer)
    }

    /// The job with the shards' statistics summed by `reducer` and runs started from
    /// `initial(K, seed)`: under MPI, `input` is one rank's users, the reducer adds the
    /// ranks' sums and `initial` is the whole data's initialisation; `userCount` (the BIC's
    /// n) is all the users.
    package func run(on input: RatingInput, engine: Engine, reducer: any StatisticsReducer, userCount: Int,
                     initial: (_ componentCount: Int, _ seed: UInt32) throws(MixFillError) -> Mixture,
                     observer: (any FitObserver<Mixture>)?) throws(MixFillError) -> FitOutcome {
        let clock = ContinuousClock()
        let begin = clock.now
        guard engine.family == .course else {
            throw .runtime(message: "a FitJob fits the course model, and this engine is for the \(engine.family.rawValue) family; resolve one with family .course")
        }
        let loop: EMLoop<CourseFamily>
        do {
            loop = try engine.courseLoop(for: input, rule: rule, varianceFloor: varianceFloor, reducer: reducer)
        } catch {
            throw .runtime(message: "the engine cannot run on this data: \(error.reason)")
        }
        let denseGold = try gold.map { (gold: DenseRatingMatrix) throws(MixFillError) -> (DenseRatingMatrix, DenseRatingMatrix) in
            guard let matrix = input.denseMatrix, gold.userCount == matrix.userCount, gold.itemCount == matrix.itemCount else {
                throw .runtime(message: "a gold matrix needs dense data of its shape")
            }
            return (matrix, gold)
        }
        let fits = try loop.fit(componentCounts: componentCounts, start: start, initial: initial, observer: observer)
        var outcomes = [ComponentCountFit]()
        var warnings = [FitWarning]()
        for fit in fits {
            let best = fit.best.result.model
            var states: [Double]?
            if keepsUserStates || denseGold != nil {
                states = try loop.userStates(best).states
            }
            let errors = denseGold.flatMap { matrix, gold in
                states.map { Completion.rootMeanSquareErrors(of: best, posteriors: $0, data: matrix, gold: gold) }
            }
            outcomes.append(ComponentCountFit(
                fit: fit,
                bayesianInformationCriterion: Completion.bayesianInformationCriterion(
                    logLikelihood: fit.best.result.objective, mixture: best, userCount: userCount),
                goldErrors: errors, userStates: keepsUserStates ? states : nil))
            warnings.append(contentsOf: fit.warnings)
            let share = best.unlearnedMeansShare
            if share > Mixture.unlearnedMeansWarningShare {
                warnings.append(.unlearnedMeans(componentCount: fit.componentCount, seed: fit.best.seed, share: share))
            }
        }
        return FitOutcome(fits: outcomes, warnings: warnings, seconds: (clock.now - begin).seconds)
    }
}

extension ComponentCountFit {
    /// The model file of the best run. `previousIterations` are a warm start's on the same
    /// data, counted with this run's.
    public func modelFile(for input: RatingInput, path: String?, previousIterations: Int = 0) -> ModelFile {
        let best = fit.best
        return ModelFile(mixture: best.result.model, logLikelihood: best.result.objective, seed: best.seed,
                         iterations: previousIterations + best.result.iterations, converged: best.result.converged,
                         userCount: input.userCount, observedCount: input.observedCount,
                         training: TrainingDataRecord(describing: input, path: path))
    }
}
