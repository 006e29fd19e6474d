import ArgumentParser
import MixFill

/// The factor family's hyperparameters on the command line (`fit`, `eval`, `select`,
/// `measure`): whatever is left out is chosen from the training ratings.
///
/// The values are read `.unconditional`ly, so that `--factors -1` reaches `validate()` and
/// its message instead of ArgumentParser's "missing value" (a leading '-' would otherwise
/// read as the next option).
struct FactorOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "mppca: latent factors q (default: chosen from the training ratings among 10 and 20, those below the number of items d; else d − 1).",
        valueName: "Q"))
    var factors: Int?

    @Option(name: .customLong("prior-loadings"), parsing: .unconditional, help: ArgumentHelp(
        "mppca: prior precision λ_W of the loadings (default: chosen from the training ratings).", valueName: "λ"))
    var priorLoadings: Double?

    @Option(name: .customLong("prior-means"), parsing: .unconditional, help: ArgumentHelp(
        "mppca: prior precision λ_m of the component means (default: λ_W, one prior for loadings and means).",
        valueName: "λ"))
    var priorMeans: Double?

    /// The options given, as the command line spells them.
    var given: [String] {
        Self.given(factors: factors != nil, priorLoadings: priorLoadings != nil, priorMeans: priorMeans != nil)
    }

    /// The mppca options given, as the command line spells them (`select` has its own
    /// list-valued ones under the same names).
    static func given(factors: Bool, priorLoadings: Bool, priorMeans: Bool) -> [String] {
        [("--factors", factors), ("--prior-loadings", priorLoadings), ("--prior-means", priorMeans)].filter(\.1).map(\.0)
    }

    /// The refusal of mppca options `given` where no mppca model is fitted; `remedy` says
    /// how to ask for one (`select`, `fit` and `eval` word it alike).
    static func refusal(_ given: [String], remedy: String) -> ValidationError {
        ValidationError("\(given.joined(separator: ", ")): these are the mppca family's; \(remedy)")
    }

    /// Refuses any of these options given where no mppca model is fitted.
    func refuseUnlessFitted(remedy: String) throws {
        if !given.isEmpty { throw Self.refusal(given, remedy: remedy) }
    }

    /// Refuses values that disagree with a warm start's model (`path`): a warm start
    /// continues that model's q and priors, so a different one would be silently ignored.
    /// Equal values are accepted; a course model takes none of them.
    func check(warmStart model: ModelFile, path: String) throws {
        guard let factor = model.factorMixture else {
            if !given.isEmpty {
                throw MixFillError.badOption(option: given.joined(separator: ", "), message: "these are the mppca family's, but --init-model \(path) is a \(model.family.rawValue) model; leave them out")
            }
            return
        }
        if let factors, factors != factor.factorCount {
            throw MixFillError.badOption(option: "--factors", message: "\(factors) disagrees with the q = \(factor.factorCount) factors of --init-model \(path); leave --factors out or give --factors \(factor.factorCount)")
        }
        for (name, value, saved, symbol) in [("--prior-loadings", priorLoadings, factor.priors.loadings, "λ_W"),
                                             ("--prior-means", priorMeans, factor.priors.means, "λ_m")] {
            if let value, value != saved {
                throw MixFillError.badOption(option: name, message: "\(value.formatted()) disagrees with \(symbol) = \(saved.formatted()) of --init-model \(path); leave \(name) out or give \(name) \(saved.formatted())")
            }
        }
    }

    func validate() throws {
        if let factors, factors < 0 {
            throw ValidationError("--factors: \(factors) is not allowed; give 0 or more latent factors")
        }
        for (name, value) in [("--prior-loadings", priorLoadings), ("--prior-means", priorMeans)] {
            if let value, !(value > 0 && value.isFinite) {
                throw ValidationError("\(name): \(value) is not allowed; give a positive prior precision, e.g. 100")
            }
        }
    }

    /// The settings for K (nil: chosen).
    func settings(componentCount: Int?) -> FactorSettings {
        FactorSettings(factorCount: factors, componentCount: componentCount, loadingsPrior: priorLoadings, meansPrior: priorMeans)
    }

    /// Refuses, as bad input naming `data`, training ratings too few to choose the settings
    /// left out (the choice holds out a tenth of them), before any fit.
    func requireEnoughToChoose(ratings: Int, componentCounts: [Int]?, data: String) throws {
        guard settings(componentCount: componentCounts?.first).leavesAnyToChoose else { return }
        try Self.requireEnoughToChoose(ratings: ratings, data: data, place: "")
    }

    /// The same for `eval`'s and `select`'s mppca `models` trained on each of `splits`.
    static func requireEnoughToChoose(_ models: [EvaluatedModel], splits: [HeldOutSplits.Split], data: String) throws {
        let choosing = models.contains { model in
            guard case let .factor(settings) = model else { return false }
            return settings.leavesAnyToChoose
        }
        guard choosing, let smallest = splits.map(\.training.count).min() else { return }
        try requireEnoughToChoose(ratings: smallest, data: data, place: splits.count > 1 ? " in its smallest split" : "")
    }

    private static func requireEnoughToChoose(ratings: Int, data: String, place: String) throws {
        guard !FactorFitter.canTune(observedCount: ratings) else { return }
        throw MixFillError.badFile(file: data, message: "\(ratings) training \(ratings == 1 ? "rating" : "ratings")\(place) \(ratings == 1 ? "is" : "are") too few to choose mppca's settings from (a tenth of them is held out to choose them); give --factors, -k and --prior-loadings, or more ratings")
    }

    /// Refuses q ≥ d (the loadings would have more columns than the data has items) and a
    /// q and K whose arrays would not fit in memory (`FactorMemory`), before any work: the
    /// largest K given (1 when K is chosen, which passes over a K > 1 that does not fit)
    /// with q, or with the first q the choice tries when q is not given.
    func check(itemCount: Int, componentCounts: [Int]?, threads: Int, runs: Int) throws {
        try Self.check(factors: factors.map { [$0] }, itemCount: itemCount, componentCounts: componentCounts,
                       threads: threads, runs: runs)
    }

    /// `check` for every q of `factors` (`select`'s list; nil: q is chosen).
    static func check(factors: [Int]?, itemCount: Int, componentCounts: [Int]?, threads: Int, runs: Int) throws {
        let k = componentCounts?.max() ?? 1
        for q in factors ?? [FactorSettings.factorCandidates(itemCount: itemCount)[0]] {
            if q >= itemCount {
                throw MixFillError.badOption(option: "--factors", message: "q = \(q) is not below the \(counted(itemCount, "item")) of the data; give fewer factors")
            }
            if let problem = FactorMemory.problem(itemCount: itemCount, factorCount: q, componentCount: k, shards: threads, runs: runs) {
                let option = factors == nil ? "-k" : "--factors"
                throw MixFillError.badOption(option: option, message: problem + "; give fewer \(factors == nil ? "components" : "factors") or --threads")
            }
        }
    }
}

extension Double {
    /// The shortest text that reads back as this value ("10", "0.25").
    func formatted() -> String {
        self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self)
    }
}

/// A prior precision as the text reports print it: one decimal from 10 up (204.9), 4
/// significant digits below (0.005, 3.142), so that a small λ never prints as 0.0.
func priorText(_ value: Double) -> String {
    abs(value) >= 10 ? fixed(value, 1) : String(format: "%.4g", value)
}
