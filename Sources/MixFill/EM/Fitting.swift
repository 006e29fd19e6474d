/// One seed's run within a multi-start fit.
public struct SeededRun<Model: Sendable & Equatable>: Sendable {
    public var seed: UInt32
    public var result: FitResult<Model>

    public init(seed: UInt32, result: FitResult<Model>) {
        self.seed = seed
        self.result = result
    }
}

/// Every seed's run for one K; the best is the run with the highest objective (the first
/// such seed on a tie), as in the course.
public struct MultiStartFit<Model: Sendable & Equatable>: Sendable {
    public var componentCount: Int
    public var runs: [SeededRun<Model>]

    public init(componentCount: Int, runs: [SeededRun<Model>]) {
        precondition(!runs.isEmpty, "at least one run")
        self.componentCount = componentCount
        self.runs = runs
    }

    public var best: SeededRun<Model> {
        var best = runs[0]
        for run in runs.dropFirst() where run.result.objective > best.result.objective {
            best = run
        }
        return best
    }
}

/// Where to start a fit: from each seed's initialisation, or from a saved model (a warm
/// start: one run).
public enum FitStart<Model: Sendable & Equatable>: Sendable {
    case seeds([UInt32])
    /// Continue `model`. With `previousObjective` (the saved fit's last one, on the same
    /// data) the first E-step is tested against it, so the run stops exactly where the
    /// uninterrupted fit would have; `seed` is the saved fit's, for the report.
    case model(Model, seed: UInt32, previousObjective: Double?)

    /// The runs of each K: one per seed, or the one continued.
    package var runCount: Int {
        switch self {
        case let .seeds(seeds): return seeds.count
        case .model: return 1
        }
    }
}

/// A run saved part-way (a checkpoint's): its state and the seconds it had run.
public struct SavedRun<Model: Sendable & Equatable>: Sendable {
    public var state: EMState<Model>
    public var seconds: Double

    public init(state: EMState<Model>, seconds: Double) {
        self.state = state
        self.seconds = seconds
    }
}

/// What watches a fit besides its caller: checkpoints, progress, signals. Every method has
/// a default that does nothing, so an observer implements what it needs.
public protocol FitObserver<Model>: AnyObject {
    associatedtype Model: Sendable & Equatable
    /// Settings that decide the runs to come besides the data, K and seed, which the fit
    /// chose itself before them (the factor family's q and priors, chosen from the training
    /// ratings): single-word names and values, for checkpoints to record and compare.
    func settingsChosen(_ settings: [String: String]) throws(MixFillError)
    /// After each iteration of the fits that choose those settings (they are not runs to
    /// save: the choice is made again on resuming); throwing ends the choice.
    func choosingSettings() throws(MixFillError)
    /// Saved runs to continue instead of initialising, one per seed (nil: initialise).
    func savedRuns(componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> [SavedRun<Model>?]
    /// The runs of one K are about to start (each from its saved state, if any).
    func runsStarting(componentCount: Int, seeds: [UInt32], states: [EMState<Model>]) throws(MixFillError)
    /// After each iteration: the runs that took part in it.
    func iterationEnded(componentCount: Int, seeds: [UInt32], progress: [RestartProgress<Model>]) throws(MixFillError)
    /// The runs of one K have all ended.
    func runsEnded(componentCount: Int, seeds: [UInt32], results: [FitResult<Model>]) throws(MixFillError)
}

extension FitObserver {
    public func settingsChosen(_ settings: [String: String]) throws(MixFillError) {}
    public func choosingSettings() throws(MixFillError) {}
    public func savedRuns(componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> [SavedRun<Model>?] {
        seeds.map { _ in nil }
    }
    public func runsStarting(componentCount: Int, seeds: [UInt32], states: [EMState<Model>]) throws(MixFillError) {}
    public func iterationEnded(componentCount: Int, seeds: [UInt32], progress: [RestartProgress<Model>]) throws(MixFillError) {}
    public func runsEnded(componentCount: Int, seeds: [UInt32], results: [FitResult<Model>]) throws(MixFillError) {}
}

/// Something a fit's caller should tell the user, worded by the caller (who knows how its
/// options are spelled).
public enum FitWarning: Sendable, Equatable {
    /// The run stopped at the iteration cap before meeting the stopping rule.
    case unconverged(componentCount: Int, seed: UInt32, iterations: Int)
    /// The run's objective fell at these iterations (see `FitResult.falls`).
    case objectiveFell(componentCount: Int, seed: UInt32, iterations: [Int])
    /// The course model's best run predicts this share of a typical user's items from a
    /// component mean that never left its initial 0 (`Mixture.unlearnedMeansShare`): the
    /// data is too sparse for the course model.
    case unlearnedMeans(componentCount: Int, seed: UInt32, share: Double)

    /// The K and seed the warning is about.
    package var run: (componentCount: Int, seed: UInt32) {
        switch self {
        case let .unconverged(k, seed, _), let .objectiveFell(k, seed, _), let .unlearnedMeans(k, seed, _): (k, seed)
        }
    }
}

extension EMLoop {
    /// Fits each K: every seed's run from `initial(K, seed)` (or the observer's saved
    /// state), all seeds of a K as one batch, the K's in turn. A warm start is one run from
    /// the saved model (its K only).
    package func fit(componentCounts: [Int], start: FitStart<Model>,
                     initial: (_ componentCount: Int, _ seed: UInt32) throws(MixFillError) -> Model,
                     observer: (any FitObserver<Model>)? = nil) throws(MixFillError) -> [MultiStartFit<Model>] {
        var fits = [MultiStartFit<Model>]()
        for componentCount in componentCounts {
            let clock = ContinuousClock()
            let begin = clock.now
            let seeds: [UInt32]
            var states: [EMState<Model>]
            var earlierSeconds: [Double]
            switch start {
            case let .seeds(list):
                precondition(!list.isEmpty, "at least one seed")
                seeds = list
                let saved = try observer?.savedRuns(componentCount: componentCount, seeds: seeds) ?? seeds.map { _ in nil }
                precondition(saved.count == seeds.count, "one saved run or nil per seed")
                states = []
                earlierSeconds = saved.map { $0?.seconds ?? 0 }
                for (seed, run) in zip(seeds, saved) {
                    if let run {
                        states.append(run.state)
                    } else {
                        states.append(EMState(initial: try initial(componentCount, seed)))
                    }
                }
            case let .model(model, seed, previous):
                seeds = [seed]
                states = [EMState(initial: model, previousObjective: previous)]
                earlierSeconds = [0]
            }
            // Initialisation time goes to the runs in equal parts.
            let initialSeconds = (clock.now - begin).seconds / Double(seeds.count)
            try observer?.runsStarting(componentCount: componentCount, seeds: seeds, states: states)
            let results = try run(states, earlierSeconds: earlierSeconds.map { $0 + initialSeconds }) { (progress: [RestartProgress<Model>]) throws(MixFillError) in
                try observer?.iterationEnded(componentCount: componentCount, seeds: seeds, progress: progress)
            }
            try observer?.runsEnded(componentCount: componentCount, seeds: seeds, results: results)
            fits.append(MultiStartFit(componentCount: componentCount,
                                      runs: zip(seeds, results).map { SeededRun(seed: $0, result: $1) }))
        }
        return fits
    }
}

extension MultiStartFit {
    /// What the runs of this K should tell the user.
    public var warnings: [FitWarning] {
        var warnings = [FitWarning]()
        for run in runs {
            if !run.result.falls.isEmpty {
                warnings.append(.objectiveFell(componentCount: componentCount, seed: run.seed, iterations: run.result.falls))
            }
            if !run.result.converged {
                warnings.append(.unconverged(componentCount: componentCount, seed: run.seed, iterations: run.result.iterations))
            }
        }
        return warnings
    }
}
