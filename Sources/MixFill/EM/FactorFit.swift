#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The factor family's hyperparameters as the user gave them; nil means "choose from the
/// training ratings" (`FactorFitter.tune`).
public struct FactorSettings: Sendable, Hashable {
    /// q, the latent factors.
    public var factorCount: Int?
    /// K, the components.
    public var componentCount: Int?
    /// λ_W, the loadings' prior precision.
    public var loadingsPrior: Double?
    /// λ_m, the component means' prior precision (nil: λ_W's, see `priors(loadings:)`).
    public var meansPrior: Double?

    public init(factorCount: Int? = nil, componentCount: Int? = nil, loadingsPrior: Double? = nil, meansPrior: Double? = nil) {
        self.factorCount = factorCount
        self.componentCount = componentCount
        self.loadingsPrior = loadingsPrior
        self.meansPrior = meansPrior
    }

    /// Whether q, K or λ_W is left to be chosen from the training ratings (`FactorFitter.tune`),
    /// which needs enough of them (`FactorFitter.canTune`).
    package var leavesAnyToChoose: Bool { factorCount == nil || componentCount == nil || loadingsPrior == nil }

    /// The priors at λ_W = `loadings`: λ_m as given, else λ_W itself, one prior
    /// N(0, I/λ_W) on each item's whole parameter vector [w_i; m_i]. The item offsets b_i
    /// already hold each item's mean, shrunk as the bias baseline shrinks it; m_i is what
    /// remains of it, estimated again from the same ratings. A weak prior on m_i undoes
    /// most of the offsets' shrinkage, so that an item rated highly by a handful of users
    /// tops nearly every user's recommendations for little gain in RMSE
    /// (bench/means-prior.md); tied to λ_W, chosen on held-out ratings, it needs no
    /// constant of its own.
    public func priors(loadings: Double) -> FactorPriors {
        FactorPriors(loadings: loadings, means: meansPrior ?? loadings)
    }
    /// The q values tried when q is not given, for data of `itemCount` items d: the first
    /// for the path of priors, the others at the prior it chose. Only q < d: the loadings
    /// W are d × q, and at q ≥ d the low-rank part WWᵀ can span every item direction, leaving
    /// σ²I no direction of its own (what `--factors` refuses when q is given). When neither
    /// of 10 and 20 is below d, q = d − 1, the most factors that still leave one, and 0 for
    /// d = 1 (the offsets and component means alone).
    public static func factorCandidates(itemCount: Int) -> [Int] {
        let candidates = [10, 20].filter { $0 < itemCount }
        return candidates.isEmpty ? [max(itemCount - 1, 0)] : candidates
    }
    /// The K values tried when K is not given.
    public static let componentCandidates = [1, 2]
}

/// The hyperparameters a factor fit used, and how the ones not given were chosen.
public struct FactorTuning: Sendable, Equatable {
    /// One point of the path of loading priors: its inner held-out RMSE.
    public struct Point: Sendable, Equatable {
        public var loadingsPrior: Double
        public var rootMeanSquareError: Double
        public var iterations: Int

        public init(loadingsPrior: Double, rootMeanSquareError: Double, iterations: Int) {
            self.loadingsPrior = loadingsPrior
            self.rootMeanSquareError = rootMeanSquareError
            self.iterations = iterations
        }
    }

    public var factorCount: Int
    public var componentCount: Int
    public var priors: FactorPriors
    /// λ_crit, the prior above which the loadings vanish (when the path was walked).
    public var criticalPrior: Double?
    /// The path of λ_W, strongest first (empty when λ_W was given).
    public var path: [Point]
    /// Inner held-out RMSE of each q and K tried (at the chosen prior).
    public var factorCountErrors: [Int: Double]
    public var componentCountErrors: [Int: Double]
    /// Training ratings held out for the choice (0 when everything was given).
    public var heldOutRatings: Int

    /// Every hyperparameter given: nothing was chosen.
    public init(given factorCount: Int, componentCount: Int, priors: FactorPriors) {
        self.factorCount = factorCount
        self.componentCount = componentCount
        self.priors = priors
        criticalPrior = nil
        path = []
        factorCountErrors = [:]
        componentCountErrors = [:]
        heldOutRatings = 0
    }
}

extension FactorTuning {
    /// The hyperparameters that decide a run besides K, as checkpoints record them: q and
    /// the priors, each Double in its shortest text that reads back to the same bits.
    package var runSettings: [String: String] {
        ["factors": String(factorCount), "prior-loadings": "\(priors.loadings)", "prior-means": "\(priors.means)"]
    }
}

/// Fits the factor family: chooses the hyperparameters not given from the training ratings
/// alone, then fits every seed at them.
///
/// The choice (`tune`), on an inner split of the training ratings (10% held out by numpy's
/// permutation with seed 0, as `HeldOutSplits` draws them):
///
/// 1. λ_crit, the critical loading prior: the largest λ_W at which W = 0 is not a stable
///    fixed point of EM. Linearising one M-step at W = 0 (m and σ² at their W = 0 optimum
///    for that λ_W's λ_m, R the residuals after m) gives w ← D⁻¹RᵀR w/σ² with
///    D = diag(n_i + σ²λ_W), unstable while the top eigenvalue of D^{-½}RᵀR D^{-½}/σ²
///    exceeds 1; that eigenvalue falls as λ_W grows, so λ_crit is found by bisection on
///    log λ_W (power iteration inside). It scales the path to the data: an item's prior
///    weighs like λ_W·σ² ratings.
/// 2. A path λ_W = λ_crit·2^{−k}, k = 1, 2, …, 12, at q = 10 (the first q candidate below
///    d, `FactorSettings.factorCandidates(itemCount:)`), each fit warm-started from the
///    previous one and scored on the inner held-out ratings; it stops after two rises in a
///    row and keeps the best. Starting below λ_crit matters: from a stronger prior EM sits
///    at W = 0 and never leaves.
/// 3. The other q (20, when below d) and then K = 2 at the chosen prior, kept where they
///    score better.
///
/// The final fit is on all the training ratings (new offsets), from random loadings for
/// K = 1, and for K > 1 from the K = 1 fit with the users' factor means clustered by k-means.
package struct FactorFitter {
    package var engine: Engine
    /// The final fits' stopping rule.
    package var rule: StoppingRule
    package var settings: FactorSettings

    /// Held-out share of the training ratings for the choice.
    package static let innerHoldout = 0.1

    /// Whether `observedCount` training ratings can choose the settings: the inner split
    /// holds out at least one rating and keeps at least one.
    package static func canTune(observedCount: Int) -> Bool {
        let heldOutCount = HeldOutSplits.holdoutCount(observedCount, fraction: innerHoldout)
        return heldOutCount >= 1 && heldOutCount < observedCount
    }

    /// Why `observedCount` ratings cannot choose the settings: the inner split would leave
    /// one side empty. Worded without the CLI's or a job file's spelling of the settings
    /// (`fit`, `eval`, `select` and `batch` refuse such data before, naming theirs).
    static func tooFewToTune(_ observedCount: Int) -> MixFillError {
        .runtime(message: "\(observedCount) training ratings are too few to choose the factor model's settings from; give the number of factors, K and the loadings prior")
    }
    /// The path's fits stop at this relative change or iteration count: they only rank priors.
    package static let pathRule = StoppingRule(relativeTolerance: 1e-5, maxIterations: 100)
    package static let pathLength = 12
    package static let pathPatience = 2

    package init(engine: Engine, rule: StoppingRule = StoppingRule(), settings: FactorSettings) {
        self.engine = engine
        self.rule = rule
        self.settings = settings
    }

    // MARK: Choosing the hyperparameters

    /// The hyperparameters for `matrix` (training ratings): those given, and the others
    /// chosen on an inner split of it.
    /// `observer` hears `choosingSettings()` after every iteration of the choice's fits, so
    /// a requested stop need not wait for the whole choice.
    package func tune(_ matrix: SparseRatingMatrix, observer: (any FitObserver<FactorMixture>)? = nil) throws(MixFillError) -> FactorTuning {
        if let q = settings.factorCount, let k = settings.componentCount, let loadings = settings.loadingsPrior {
            return FactorTuning(given: q, componentCount: k, priors: settings.priors(loadings: loadings))
        }
        guard Self.canTune(observedCount: matrix.observedCount) else { throw Self.tooFewToTune(matrix.observedCount) }
        let heldOutCount = HeldOutSplits.holdoutCount(matrix.observedCount, fraction: Self.innerHoldout)
        let order = HeldOutSplits.permutation(count: matrix.observedCount, seed: 0)
        var heldOut = [Bool](repeating: false, count: matrix.observedCount)
        for position in order.prefix(heldOutCount) { heldOut[position] = true }
        let (inner, validation) = matrix.splitting(heldOut: heldOut)
        let offsets = RatingOffsets(BiasBaseline(matrix: inner))
        let scale = RatingScale(of: (0..<inner.observedCount).lazy.map { inner.ratings[$0] })
            ?? RatingScale(minimum: -.infinity, maximum: .infinity)
        let input = RatingInput(inner)
        let loop = engine.factorLoop(for: input, rule: Self.pathRule)
        func score(_ model: FactorMixture) throws(MixFillError) -> Double {
            let states = try loop.userStates(model).states
            let predictor = FactorPredictor(model: model, states: states, scale: scale)
            return AccuracyMetrics.score(predictor, on: validation, scale: scale).rootMeanSquareError
        }
        return try Self.search(
            settings, itemCount: matrix.itemCount, heldOutRatings: validation.count, shards: engine.workers,
            criticalPrior: { () throws(MixFillError) in Self.criticalPrior(inner, offsets: offsets, meansPrior: settings.meansPrior) },
            randomStart: { factorCount, priors in
                FactorInitialization.random(matrix: inner, offsets: offsets, factorCount: factorCount, componentCount: 1,
                                            priors: priors, seed: 0)
            },
            run: { (model) throws(MixFillError) in
                try loop.run([EMState(initial: model)]) { (_) throws(MixFillError) in try observer?.choosingSettings() }[0]
            },
            score: score,
            clusteredStart: { (model, componentCount) throws(MixFillError) in
                FactorInitialization.clustered(model, states: try loop.userStates(model).states,
                                               componentCount: componentCount, seed: 0)
            })
    }

    /// The choice `tune` makes, over whatever holds the inner ratings (one process, or the
    /// ranks of a distributed fit, which give the same numbers) of `itemCount` items (the
    /// q candidates are those below it, `FactorSettings.factorCandidates(itemCount:)`):
    /// q = the first candidate and
    /// λ_W along the path from λ_crit/2 down by halves (warm-started, stopping after
    /// `pathPatience` rises of the held-out RMSE), unless given; then each other q at the
    /// chosen λ_W; then K > 1 from the best K = 1 fit's clustered start. `score` is a
    /// model's held-out RMSE. Candidates whose arrays would not fit in memory on `shards`
    /// shards (`FactorMemory`) are passed over; the first q, which every choice needs, is
    /// refused instead. `shards` is the engine's thread count, the same on every rank.
    package static func search(
        _ settings: FactorSettings, itemCount: Int, heldOutRatings: Int, shards: Int,
        criticalPrior: () throws(MixFillError) -> Double,
        randomStart: (_ factorCount: Int, _ priors: FactorPriors) -> FactorMixture,
        run: (FactorMixture) throws(MixFillError) -> FitResult<FactorMixture>,
        score: (FactorMixture) throws(MixFillError) -> Double,
        clusteredStart: (_ model: FactorMixture, _ componentCount: Int) throws(MixFillError) -> FactorMixture
    ) throws(MixFillError) -> FactorTuning {
        func fits(_ factorCount: Int, _ componentCount: Int) -> Bool {
            FactorMemory.problem(itemCount: itemCount, factorCount: factorCount, componentCount: componentCount,
                                 shards: shards, runs: 1) == nil
        }
        let candidates = FactorSettings.factorCandidates(itemCount: itemCount)
        let firstFactors = settings.factorCount ?? candidates[0]
        try FactorMemory.require(itemCount: itemCount, factorCount: firstFactors, componentCount: 1, shards: shards, runs: 1)
        var tuning = FactorTuning(given: firstFactors, componentCount: 1,
                                  priors: settings.priors(loadings: settings.loadingsPrior ?? 0))
        tuning.heldOutRatings = heldOutRatings
        var best: FactorMixture
        if let loadings = settings.loadingsPrior {
            let model = try run(randomStart(firstFactors, settings.priors(loadings: loadings))).model
            tuning.factorCountErrors[firstFactors] = try score(model)
            best = model
        } else {
            let critical = try criticalPrior()
            tuning.criticalPrior = critical
            var previousError = Double.infinity
            var rises = 0
            var current: FactorMixture?
            var bestError = Double.infinity
            var bestModel: FactorMixture?
            for step in 1...pathLength {
                let prior = settings.priors(loadings: critical * pow(2, -Double(step)))
                let start = current.map { withPriors($0, prior) } ?? randomStart(firstFactors, prior)
                let result = try run(start)
                current = result.model
                let error = try score(result.model)
                tuning.path.append(.init(loadingsPrior: prior.loadings, rootMeanSquareError: error, iterations: result.iterations))
                if error < bestError {
                    bestError = error
                    bestModel = result.model
                }
                rises = error > previousError ? rises + 1 : 0
                previousError = error
                if rises >= pathPatience { break }
            }
            guard let chosen = bestModel else { throw .runtime(message: "the path of loading priors ran no fit") }
            best = chosen
            tuning.priors = chosen.priors
            tuning.factorCountErrors[firstFactors] = bestError
        }
        if settings.factorCount == nil {
            for q in candidates.dropFirst() where fits(q, 1) {
                let model = try run(randomStart(q, tuning.priors)).model
                let error = try score(model)
                tuning.factorCountErrors[q] = error
                if error < tuning.factorCountErrors[tuning.factorCount] ?? .infinity {
                    tuning.factorCount = q
                    best = model
                }
            }
        }
        if let k = settings.componentCount {
            tuning.componentCount = k
        } else {
            tuning.componentCountErrors[1] = tuning.factorCountErrors[tuning.factorCount]
            for k in FactorSettings.componentCandidates where k > 1 && fits(tuning.factorCount, k) {
                let model = try run(clusteredStart(best, k)).model
                let error = try score(model)
                tuning.componentCountErrors[k] = error
                if error < tuning.componentCountErrors[tuning.componentCount] ?? .infinity {
                    tuning.componentCount = k
                }
            }
        }
        return tuning
    }

    /// `model` with other priors (a warm start along the path).
    private static func withPriors(_ model: FactorMixture, _ priors: FactorPriors) -> FactorMixture {
        var next = model
        next.priors = priors
        return next
    }

    /// λ_crit (see the type's documentation) for centred ratings of `matrix`.
    package static func criticalPrior(_ matrix: SparseRatingMatrix, offsets: RatingOffsets, meansPrior: Double?) -> Double {
        // One process holds every user: folding a sum over the users is taking it.
        criticalPrior(matrix, offsets: offsets, meansPrior: meansPrior, observedCount: matrix.observedCount) { initial, add in
            var state = initial
            add(&state)
            return state
        }
    }

    /// λ_crit for centred ratings of which `matrix` holds some users in order, the sums
    /// over all users (`observedCount` ratings in all) taken by `fold`: given a start and a
    /// step that adds `matrix`'s users' terms, it returns the total over every holder of
    /// users, added in user order (one process: the step applied to the start; ranks of a
    /// distributed fit: `ProcessGroup.foldInRankOrder`). Everything else works on item
    /// vectors that every holder computes alike, so every holder gets the same bits, and
    /// the bits of one process holding them all.
    package static func criticalPrior<Failure: Error>(
        _ matrix: SparseRatingMatrix, offsets: RatingOffsets, meansPrior: Double?, observedCount: Int,
        fold: ([Double], (inout [Double]) -> Void) throws(Failure) -> [Double]
    ) throws(Failure) -> Double {
        let d = matrix.itemCount
        var residuals = [Double](repeating: 0, count: matrix.observedCount)
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                residuals[position] = matrix.ratings[position] - offsets.baseline(user: user, item: matrix.items[position])
            }
        }
        // [ratings per item (d), Σ e per item (d), Σ e²].
        let totals = try fold([Double](repeating: 0, count: 2 * d + 1)) { state in
            var squares = state[2 * d]
            for position in 0..<matrix.observedCount {
                let item = matrix.items[position]
                let e = residuals[position]
                state[item] += 1
                state[d + item] += e
                squares += e * e
            }
            state[2 * d] = squares
        }
        let itemCounts = Array(totals[0..<d])
        let itemSums = Array(totals[d..<(2 * d)])
        let squares = totals[2 * d]
        let count = Double(max(1, observedCount))
        /// m and σ² at their W = 0 optimum for a means prior λ_m: m_i = S_i / (n_i + σ²λ_m)
        /// and σ² = Σ (e − m_i)² / N = (Σ e² − 2 Σ_i m_i S_i + Σ_i n_i m_i²) / N, from the
        /// item sums alone (no pass over the ratings, so it can be redone for every λ).
        func optimum(_ meansPrior: Double) -> (means: [Double], noise: Double) {
            var noise = squares / count
            var means = [Double](repeating: 0, count: d)
            for _ in 0..<50 {
                var explained = 0.0
                for item in 0..<d {
                    let mean = itemSums[item] / (itemCounts[item] + noise * meansPrior)
                    means[item] = mean
                    explained += mean * (2 * itemSums[item] - itemCounts[item] * mean)
                }
                let next = max((squares - explained) / count,
                               FactorFamily.noiseFloor(squaredResiduals: squares, ratings: count), .leastNormalMagnitude)
                let settled = abs(next - noise) <= 1e-12 * noise
                noise = next
                if settled { break }
            }
            return (means, noise)
        }
        // A given λ_m fixes m and σ² once; tied to λ_W (nil), they follow each λ tried.
        let fixed = meansPrior.map(optimum)
        var vector = [Double](repeating: 1, count: d)
        /// The top eigenvalue of D^{-½}RᵀR D^{-½}/σ² by power iteration from `vector`
        /// (left as the eigenvector, for the next prior's start), R the residuals after m.
        func topEigenvalue(_ prior: Double) throws(Failure) -> Double {
            let (means, noise) = fixed ?? optimum(prior)
            let scale = (0..<d).map { 1 / (itemCounts[$0] + noise * prior).squareRoot() }
            var value = 0.0
            for _ in 0..<200 {
                var userSums = [Double](repeating: 0, count: matrix.userCount)
                for user in 0..<matrix.userCount {
                    var sum = 0.0
                    for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                        let item = matrix.items[position]
                        sum += (residuals[position] - means[item]) * scale[item] * vector[item]
                    }
                    userSums[user] = sum
                }
                var next = try fold([Double](repeating: 0, count: d)) { state in
                    for user in 0..<matrix.userCount {
                        for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                            let item = matrix.items[position]
                            state[item] += (residuals[position] - means[item]) * userSums[user]
                        }
                    }
                }
                var norm = 0.0
                for item in 0..<d {
                    next[item] *= scale[item] / noise
                    norm += next[item] * next[item]
                }
                norm = norm.squareRoot()
                guard norm > 0, norm.isFinite else { return 0 }
                let settled = abs(norm - value) <= 1e-4 * norm
                value = norm
                for item in 0..<d { vector[item] = next[item] / norm }
                if settled { break }
            }
            return value
        }
        // Bisection on log₁₀ λ over [−3, 9] to a twentieth of a decade: the path steps by
        // factors of 2 (0.3 decades), so λ_crit needs no more.
        var low = -3.0
        var high = 9.0
        while high - low > 0.05 {
            let middle = 0.5 * (low + high)
            if try topEigenvalue(pow(10, middle)) > 1 { low = middle } else { high = middle }
        }
        return pow(10, low)
    }

    // MARK: Fitting

    /// Every seed's fit of `matrix` at `tuning`, as one batch through `EMLoop.fit`: the
    /// offsets fitted on `matrix`, random loadings from each seed, and for K > 1 the K = 1
    /// fit clustered (`FactorInitialization.clustered`).
    /// `loop`, when given, is `engine.factorLoop(for: RatingInput(matrix), rule: rule)` built
    /// by the caller, who may use it afterwards (the users' states of the fitted model).
    package func fit(_ matrix: SparseRatingMatrix, tuning: FactorTuning, start: FitStart<FactorMixture>,
                     loop: EMLoop<FactorFamily>? = nil,
                     observer: (any FitObserver<FactorMixture>)? = nil) throws(MixFillError) -> MultiStartFit<FactorMixture> {
        let loop = loop ?? engine.factorLoop(for: RatingInput(matrix), rule: rule)
        try FactorMemory.require(itemCount: matrix.itemCount, factorCount: tuning.factorCount,
                                 componentCount: tuning.componentCount, shards: loop.shards.count, runs: start.runCount)
        let pathLoop = loop.with(rule: Self.pathRule)
        let offsets = RatingOffsets(BiasBaseline(matrix: matrix))
        let fits = try loop.fit(componentCounts: [tuning.componentCount], start: start, initial: { (componentCount, seed) throws(MixFillError) in
            let single = FactorInitialization.random(matrix: matrix, offsets: offsets, factorCount: tuning.factorCount,
                                                     componentCount: 1, priors: tuning.priors, seed: UInt64(seed))
            guard componentCount > 1 else { return single }
            // The one-component fit the components start from, to the path's looser rule: a
            // start need not be converged, and it must not depend on the caller's cap.
            let first = try pathLoop.run([EMState(initial: single)])[0].model
            return FactorInitialization.clustered(first, states: try loop.userStates(first).states,
                                                  componentCount: componentCount, seed: UInt64(seed))
        }, observer: observer)
        return fits[0]
    }
}

/// What a factor fit reports: the hyperparameters and how they were chosen, every K's runs,
/// the errors against a gold matrix, the warnings.
package struct FactorFitOutcome: Sendable {
    package var tuning: FactorTuning
    package var fits: [MultiStartFit<FactorMixture>]
    /// Per K, against the gold matrix of a dense input, when given.
    package var goldErrors: [GoldErrors?]
    package var warnings: [FitWarning]
    package var seconds: Double
}

extension FactorFitter {
    /// The factor family's fit-and-report: the hyperparameters (those of `start`'s model for
    /// a warm start, else `tune`), then each K of `componentCounts` (nil: the chosen K) from
    /// every seed, and each best model's errors against `gold`. The choice of q and the
    /// priors does not depend on K (it is made at K = 1), so it is made once for all of them.
    package func run(on input: RatingInput, componentCounts: [Int]?, start: FitStart<FactorMixture>,
                     gold: DenseRatingMatrix? = nil, observer: (any FitObserver<FactorMixture>)? = nil)
        throws(MixFillError) -> FactorFitOutcome {
        let clock = ContinuousClock()
        let begin = clock.now
        let matrix = input.table.matrix
        var tuning: FactorTuning
        var counts: [Int]
        switch start {
        case let .model(model, _, _):
            tuning = FactorTuning(given: model.factorCount, componentCount: model.componentCount, priors: model.priors)
            counts = [model.componentCount]
        case .seeds:
            var fixed = settings
            if let componentCounts, let first = componentCounts.first { fixed.componentCount = first }
            tuning = try FactorFitter(engine: engine, rule: rule, settings: fixed).tune(matrix, observer: observer)
            counts = componentCounts ?? [tuning.componentCount]
        }
        var fits = [MultiStartFit<FactorMixture>]()
        var errors = [GoldErrors?]()
        var warnings = [FitWarning]()
        try observer?.settingsChosen(tuning.runSettings)
        let loop = engine.factorLoop(for: RatingInput(matrix), rule: rule)
        // The gold errors' E-step on the input as given (a dense matrix's kernel), as
        // `fill` computes the states it fills with.
        let goldLoop = gold != nil && input.denseMatrix != nil ? engine.factorLoop(for: input) : nil
        for count in counts {
            tuning.componentCount = count
            let fit = try self.fit(matrix, tuning: tuning, start: start, loop: loop, observer: observer)
            fits.append(fit)
            warnings.append(contentsOf: fit.warnings)
            if let gold, let dense = input.denseMatrix, let goldLoop {
                let model = fit.best.result.model
                let states = try goldLoop.userStates(model).states
                let predictor = FactorPredictor(model: model, states: states, scale: RatingScale(minimum: -.infinity, maximum: .infinity))
                errors.append(Completion.rootMeanSquareErrors(filling: dense, gold: gold) { predictor.predict(user: $0, item: $1) })
            } else {
                errors.append(nil)
            }
        }
        if componentCounts == nil, counts.count == 1 { tuning.componentCount = counts[0] }
        return FactorFitOutcome(tuning: tuning, fits: fits, goldErrors: errors, warnings: warnings,
                                seconds: (clock.now - begin).seconds)
    }
}

extension FactorFitOutcome {
    /// Each K's model file (the best run, with the tuning and that K), as `fit --model-out`
    /// and `batch` write them. `previousIterations` are a warm start's on the same data.
    package func modelFiles(for input: RatingInput, path: String?, previousIterations: Int = 0) -> [ModelFile] {
        fits.map { fit in
            var tuning = self.tuning
            tuning.componentCount = fit.componentCount
            return fit.modelFile(for: input, path: path, tuning: tuning, previousIterations: previousIterations)
        }
    }
}

extension MultiStartFit where Model == FactorMixture {
    /// The model file of the best run.
    package func modelFile(for input: RatingInput, path: String?, tuning: FactorTuning, previousIterations: Int = 0) -> ModelFile {
        let best = self.best
        return ModelFile(parameters: .factor(best.result.model), logLikelihood: best.result.objective, seed: best.seed,
                         iterations: previousIterations + best.result.iterations, converged: best.result.converged,
                         userCount: input.userCount, observedCount: input.observedCount,
                         training: TrainingDataRecord(describing: input, path: path), tuning: tuning)
    }
}

extension RatingInput {
    /// A matrix of records with index ids, as loaded data.
    init(_ matrix: SparseRatingMatrix) {
        self.init(storage: .records(RatingTable(matrix: matrix, users: .identity(matrix.userCount), items: .identity(matrix.itemCount))),
                  format: .triplets)
    }
}
