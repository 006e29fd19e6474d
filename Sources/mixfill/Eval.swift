import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score models on ratings they were not trained on: the mixture beside the baselines.",
        discussion: """
            Hold ratings out with exactly one of --test, --holdout, --folds or --gold; every \
            model is trained on the rest and scored by RMSE and MAE on the held-out ratings, \
            predictions clipped to the training ratings' range, and by precision, recall and \
            NDCG of its top --top items per user (all items the user did not rate in \
            training ranked; relevant: a held-out rating ≥ --relevance; docs/evaluation.md). \
            A --test file of records is matched to DATA by id: a user DATA lacks gets the \
            model's prediction for a user with no ratings, an item DATA lacks the mean \
            training rating. Models: 'mean' (the mean \
            training rating), 'bias' (mean + user bias + item bias, regularised ALS, \
            λ_user = 15, λ_item = 10), 'course' (the course mixture for each K of -k, best \
            log-likelihood over --seeds) and 'mppca' (the accurate mixture of probabilistic \
            PCA on centred ratings; --factors, -k and the priors not given are chosen from \
            each split's training ratings alone).
            """
    )

    @Argument(help: ArgumentHelp(DataArgument.help, valueName: "DATA"))
    var data: String

    @OptionGroup(title: HelpHeading.heldOut) var heldOut: HeldOutOptions

    @OptionGroup(title: HelpHeading.heldOut) var ranking: RankingOptions

    @OptionGroup(title: HelpHeading.model) var modelOptions: EvalModelOptions

    @OptionGroup(title: HelpHeading.input) var dataOptions: DataOptions

    @OptionGroup(title: HelpHeading.engine) var engine: EngineOptions

    @OptionGroup(title: HelpHeading.output) var output: JSONOption

    /// The models to score: `--models`, or its deprecated spelling `--model`.
    var models: String { modelOptions.models ?? modelOptions.deprecatedModels ?? EvalModelOptions.defaultModels }
    var k: String? { modelOptions.k }
    var seeds: String? { modelOptions.seeds }
    var factor: FactorOptions { modelOptions.factor }
    var maxIterations: Int { modelOptions.maxIterations }
    var top: Int { ranking.top }
    var relevance: Double { ranking.relevance }
    var json: Bool { output.json }

    func validate() throws {
        if modelOptions.models != nil, modelOptions.deprecatedModels != nil {
            throw ValidationError("--models, --model: --model is the old spelling of --models; give the list once")
        }
        let scored = try Self.models(models, k: k, factor: factor)
        if !scored.contains(where: { if case .factor = $0 { return true } else { return false } }) {
            try factor.refuseUnlessFitted(remedy: "add mppca to --models")
        }
        _ = try IntegerList.seeds(seeds ?? "0")
        if maxIterations < 1 {
            throw ValidationError("--max-iterations: \(maxIterations) is not allowed; give 1 or more")
        }
        if !heldOut.isGiven {
            throw ValidationError("give the ratings to score: --test FILE, --holdout F, --folds K or --gold FILE")
        }
        if top < 1 {
            throw ValidationError("--top: \(top) is not allowed; give a list length of 1 or more")
        }
        if !relevance.isFinite {
            throw ValidationError("--relevance: \(relevance) is not a rating; give a finite number, e.g. 4")
        }
        try requireOneStandardInput([("DATA", data), ("--test", heldOut.test), ("--gold", heldOut.gold)])
    }

    /// `mean,bias,course,mppca` with `-k 1,12` → mean, bias, course K=1, course K=12,
    /// mppca K=1, mppca K=2; without -k, course K=12 and mppca with K chosen.
    static func models(_ text: String, k: String?, factor: FactorOptions) throws -> [EvaluatedModel] {
        var models = [EvaluatedModel]()
        for name in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch name {
            case "mean": models.append(.globalMean)
            case "bias": models.append(.bias)
            case "course": models.append(contentsOf: try IntegerList.componentCounts(k ?? "12").map { .course(componentCount: $0) })
            case ModelFamily.mppca.rawValue:
                let counts: [Int?] = try k.map { try IntegerList.componentCounts($0) } ?? [nil]
                models.append(contentsOf: counts.map { .factor(factor.settings(componentCount: $0)) })
            case _ where name.hasSuffix(".json") || name.contains("/"):
                // `--model FILE` means a model file in every other command.
                throw ValidationError("--models: '\(name)' looks like a model file, but eval fits the models it scores on each split's training ratings: give model names from mean, bias, course, mppca (a comma-separated list); a saved model predicts held-out pairs with 'mixfill predict --model FILE --pairs TEST'")
            default:
                throw ValidationError("--models: '\(name)' is not a model; choose from mean, bias, course, mppca (a comma-separated list)")
            }
        }
        var seen = Set<EvaluatedModel>()
        return models.filter { seen.insert($0).inserted }
    }

    /// The status line of split `split` (0-based) of `count` while its `models` models are
    /// trained and scored: "fold 2 of 5: training and scoring mppca (3 of 3)", without the
    /// fold for one split.
    static func status(split: Int, of count: Int, models: Int) -> (Int, EvaluatedModel) -> Void {
        { index, model in
            let place = count > 1 ? "fold \(split + 1) of \(count): " : ""
            let which = models > 1 ? " (\(index + 1) of \(models))" : ""
            Display.shared.status("\(place)training and scoring \(model.name)\(which)")
        }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let models = try Self.models(self.models, k: k, factor: factor)
        let seedList = try IntegerList.seeds(seeds ?? "0-4")
        let factorSeeds = try IntegerList.seeds(seeds ?? "0")
        let threadCount = engine.threadCount
        let loaded = try LoadedRatings.load(data, dataOptions)
        try loaded.input.requireRatings(name: data)
        let factorCounts = models.compactMap { model -> Int? in
            if case let .factor(settings) = model { return settings.componentCount ?? 1 } else { return nil }
        }
        try factor.check(itemCount: loaded.itemCount, componentCounts: factorCounts, threads: threadCount, runs: factorSeeds.count)
        try IntegerList.requireAtMostUsers(models.compactMap(\.componentCount), users: loaded.userCount, data: data,
                                           given: k, defaultList: "12")
        let courseKernel = try models.contains { if case .course = $0 { return true } else { return false } }
            ? engine.courseKernel(for: loaded) : nil
        let (splits, missingEntries) = try heldOut.splits(of: loaded, options: dataOptions)
        try FactorOptions.requireEnoughToChoose(models, splits: splits, data: data)
        let ranking = RankingSettings(cutoff: top, relevance: relevance)
        // DATA's ratings (a split's training and held-out ratings, except that --test's and
        // --gold's are another file's), and only when some model ranks (mean gives every
        // item one score).
        if models.contains(where: { $0 != .globalMean }), let first = splits.first,
           let scale = RatingScale(of: [first.training, heldOut.test == nil && heldOut.gold == nil ? first.test : []].joined().lazy.map(\.rating)),
           let warning = self.ranking.scaleWarning(scale, data: StandardInput.displayName(data)) {
            Terminal.warning(warning)
        }
        let loadSeconds = (clock.now - start).seconds
        let evaluator = Evaluator(seeds: seedList, factorSeeds: factorSeeds, backend: engine.backend,
                                  stoppingRule: StoppingRule(maxIterations: maxIterations),
                                  threads: threadCount, stopsIdleBLASPool: true, courseKernel: courseKernel)
        var scoresBySplit = [[ModelScore]]()
        Display.shared.configureForStatus()
        for (index, split) in splits.enumerated() {
            scoresBySplit.append(try evaluator.evaluate(models, userCount: loaded.userCount, itemCount: loaded.itemCount,
                                                        training: split.training, test: split.test, unmatched: split.unmatched,
                                                        missingEntries: missingEntries, ranking: ranking,
                                                        progress: Self.status(split: index, of: splits.count, models: models.count)))
        }
        Display.shared.finish()
        for (index, scores) in scoresBySplit.enumerated() {
            for score in scores {
                guard let fit = score.fit, !fit.unconvergedSeeds.isEmpty else { continue }
                let place = splits.count > 1 ? "fold \(index + 1), " : ""
                Terminal.warning("\(place)K = \(fit.componentCount), seeds \(fit.unconvergedSeeds.map(String.init).joined(separator: ",")) stopped at --max-iterations \(maxIterations) before converging")
            }
        }
        for index in models.indices {
            let fits = scoresBySplit.enumerated().compactMap { split, scores in scores[index].fit.map { (String(split + 1), $0) } }
            for warning in courseFitWarnings(fits, across: splits.count > 1 ? .folds : nil) { Terminal.warning(warning) }
        }
        let report = EvalReport(
            data: EvalReport.DataSummary(loaded),
            held_out: try requireProtocol(splits),
            ranking: EvalReport.RankingProtocol(k: top, relevance: relevance),
            seeds: models.contains { $0.name == "course" } ? seedList : nil,
            backend: engine.backend.rawValue, threads: threadCount,
            results: models.indices.map { index in
                EvalReport.Result(model: models[index], kernel: evaluator.kernel(of: models[index]), splits: splits,
                                  scores: scoresBySplit.map { $0[index] })
            },
            timing: EvalReport.Timing(load_seconds: loadSeconds, total_seconds: (clock.now - start).seconds))
        if json {
            try printJSON(report)
        } else {
            try printText(report.table(heldOutLine: heldOut.summary(splits, observed: loaded.observedCount,
                                                                        missingEntryCount: missingEntries?.count ?? 0)))
        }
    }

    private func requireProtocol(_ splits: [HeldOutSplits.Split]) throws -> HeldOutOptions.Method {
        guard var description = heldOut.description else { throw MixFillError.runtime(message: "no held-out ratings") }
        if heldOut.test != nil, let split = splits.first { description.count(split.unmatched) }
        return description
    }
}

/// `eval`'s models (the help's "Model" heading).
struct EvalModelOptions: ParsableArguments {
    static let defaultModels = "mean,bias,course"

    @Option(name: .customLong("models"), help: ArgumentHelp(
        "Models to score, a comma-separated list of mean, bias, course, mppca (default: \(defaultModels)).", valueName: "LIST"))
    var models: String?

    /// `--model LIST`, the spelling before `--models`: kept so scripts keep working, hidden
    /// because `--model` means a model file everywhere else.
    @Option(name: .customLong("model"), help: ArgumentHelp("Deprecated: the old spelling of --models.", valueName: "LIST", visibility: .hidden))
    var deprecatedModels: String?

    @Option(name: .short, parsing: .unconditional, help: ArgumentHelp(
        "Components: a list or range, e.g. 12 or 1,4,12 (default: 12 for course, one model scored; chosen from each split's training ratings for mppca).",
        valueName: "K-LIST"))
    var k: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seeds: a list or range, e.g. 0-4 (default: 0-4 for course, 0 for mppca).", valueName: "SEEDS"))
    var seeds: String?

    @OptionGroup var factor: FactorOptions

    @Option(name: .customLong("max-iterations"), parsing: .unconditional, help: ArgumentHelp("Stop an EM run after this many iterations.", valueName: "N"))
    var maxIterations: Int = 1000
}

/// `eval`'s ranking metrics: the list length and what counts as relevant.
struct RankingOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Length of each user's ranked list for precision, recall and NDCG (N ≥ 1).", valueName: "N"))
    var top: Int = 10

    @Option(name: .customLong("relevance"), parsing: .unconditional, help: ArgumentHelp(
        "A held-out rating of at least R makes its item relevant for the ranking metrics (default: \(shortNumber(defaultRelevance)), for 1–5 stars).",
        valueName: "R"))
    var givenRelevance: Double?

    /// Four stars of five: MovieLens's and the ranking literature's usual threshold.
    static let defaultRelevance = 4.0
    var relevance: Double { givenRelevance ?? Self.defaultRelevance }

    /// The warning for data whose ratings (`scale`, in the file `data`) are not stars out of
    /// five when `--relevance` is not given: the default threshold then means little (on
    /// 1–10 nearly every rating is relevant; on 0–1 none is). Nil when it fits or was given.
    func scaleWarning(_ scale: RatingScale, data: String) -> String? {
        guard givenRelevance == nil, scale.minimum < 0 || scale.maximum > 5 || scale.maximum < Self.defaultRelevance else { return nil }
        return "ratings in \(data) run from \(shortNumber(scale.minimum)) to \(shortNumber(scale.maximum)); the ranking metrics count a held-out rating ≥ \(shortNumber(Self.defaultRelevance)) as relevant, a threshold meant for 1–5 stars: give --relevance R for this scale"
    }
}

/// `--json` for the commands whose report has a JSON form (docs/json.md).
struct JSONOption: ParsableArguments {
    @Flag(help: "Print one JSON object on stdout instead of tables (keys: docs/json.md).")
    var json = false
}

/// What `mixfill eval` reports (field names are the JSON's).
struct EvalReport: Encodable {
    typealias DataSummary = FitReport.DataSummary

    struct Spread: Encodable {
        var mean: Double
        var std: Double

        init(mean: Double, std: Double) {
            self.mean = mean
            self.std = std
        }

        init(_ values: [Double]) {
            let spread = MeanAndSpread(values)
            mean = spread.mean
            std = spread.standardDeviation
        }
    }

    struct Fit: Encodable {
        var best_seed: UInt32
        var log_likelihood: Double
        var bic: Double
        var iterations: Int
        var converged: Bool
    }

    /// An mppca fit: the hyperparameters it used and how they were chosen (the keys of
    /// `fit --family mppca`'s settings), then its best run, all in one flat object.
    struct FactorFit: Encodable {
        var settings: FactorFitReport.Settings
        var k: Int
        var best_seed: UInt32
        var objective: Double
        var iterations: Int
        var converged: Bool

        private enum CodingKeys: String, CodingKey {
            case k, best_seed, objective, iterations, converged
        }

        init(_ summary: FactorFitSummary) {
            settings = FactorFitReport.Settings(summary.tuning)
            k = summary.tuning.componentCount
            best_seed = summary.bestSeed
            objective = summary.objective
            iterations = summary.iterations
            converged = summary.converged
        }

        func encode(to encoder: any Encoder) throws {
            try settings.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(k, forKey: .k)
            try container.encode(best_seed, forKey: .best_seed)
            try container.encode(objective, forKey: .objective)
            try container.encode(iterations, forKey: .iterations)
            try container.encode(converged, forKey: .converged)
        }
    }

    struct SplitResult: Encodable {
        var split: Int
        var training_ratings: Int
        var test_ratings: Int
        var rmse: Double
        var mae: Double
        var seconds: Double
        var fit: Fit?
        var factor_fit: FactorFit?
        /// With --gold: RMSE over every entry missing from DATA as `fit --gold` computes it
        /// (unclipped; a 0 in the gold counts as a rating of 0).
        var rmse_missing_entries: Double?
        var ranking: SplitRanking?
    }

    /// How the ranking metrics were taken (the same for every model).
    struct RankingProtocol: Encodable {
        /// N of the top-N lists.
        var k: Int
        /// The held-out rating from which an item is relevant.
        var relevance: Double
    }

    /// One split's ranking metrics (`RankingMetrics`).
    struct SplitRanking: Encodable {
        var k: Int
        var users: Int
        var relevant: Int
        var precision: Double
        var recall: Double
        var ndcg: Double
        var seconds: Double

        init(_ metrics: RankingMetrics, seconds: Double) {
            k = metrics.settings.cutoff
            users = metrics.userCount
            relevant = metrics.relevantCount
            precision = metrics.precision
            recall = metrics.recall
            ndcg = metrics.normalizedDiscountedCumulativeGain
            self.seconds = seconds
        }
    }

    /// A model's ranking metrics over the splits: mean and standard deviation of each.
    struct RankingSummary: Encodable {
        var k: Int
        var precision: Spread
        var recall: Spread
        var ndcg: Spread
    }

    struct Result: Encodable {
        var model: String
        var k: Int?
        /// The kernel the model's fits ran, as `--kernel` names it; nil for mean and bias.
        var kernel: String?
        var rmse: Spread
        var mae: Spread
        /// Nil for the global mean (no ranking), and when a split had no user to rank.
        var ranking: RankingSummary?
        var splits: [SplitResult]

        /// The table's K: as given, else the K each split's training ratings chose for
        /// mppca (one value, or the smallest–largest when the splits chose differently).
        var componentColumn: String {
            if let k { return String(k) }
            let chosen = splits.compactMap { $0.factor_fit?.k }
            guard let low = chosen.min(), let high = chosen.max() else { return "-" }
            return low == high ? String(low) : "\(low)–\(high)"
        }

        init(model: EvaluatedModel, kernel: String?, splits: [HeldOutSplits.Split], scores: [ModelScore]) {
            self.model = model.name
            k = model.componentCount
            self.kernel = kernel
            rmse = Spread(scores.map(\.metrics.rootMeanSquareError))
            mae = Spread(scores.map(\.metrics.meanAbsoluteError))
            let rankings = scores.compactMap(\.ranking)
            if let first = rankings.first, rankings.count == scores.count {
                ranking = RankingSummary(k: first.settings.cutoff, precision: Spread(rankings.map(\.precision)),
                                         recall: Spread(rankings.map(\.recall)),
                                         ndcg: Spread(rankings.map(\.normalizedDiscountedCumulativeGain)))
            }
            self.splits = scores.indices.map { index in
                let score = scores[index]
                return SplitResult(
                    split: index + 1, training_ratings: splits[index].training.count, test_ratings: score.metrics.count,
                    rmse: score.metrics.rootMeanSquareError, mae: score.metrics.meanAbsoluteError, seconds: score.seconds,
                    fit: score.fit.map {
                        Fit(best_seed: $0.bestSeed, log_likelihood: $0.logLikelihood, bic: $0.bayesianInformationCriterion,
                            iterations: $0.iterations, converged: $0.converged)
                    },
                    factor_fit: score.factorFit.map(FactorFit.init),
                    rmse_missing_entries: score.missingEntryRootMeanSquareError,
                    ranking: score.ranking.map { SplitRanking($0, seconds: score.rankingSeconds) })
            }
        }
    }

    struct Timing: Encodable {
        var load_seconds: Double
        var total_seconds: Double
    }

    var data: DataSummary
    var held_out: HeldOutOptions.Method
    var ranking: RankingProtocol
    /// The course fits' seeds; nil when no course model is scored (mppca's seeds are in
    /// its results' `factor_fit`).
    var seeds: [UInt32]?
    /// The arithmetic, as `--backend` names it (the kernels are per result).
    var backend: String
    var threads: Int
    var results: [Result]
    var timing: Timing

    func table(heldOutLine: String) -> String {
        var out = data.line + "\n"
        out += heldOutLine + "\n"
        out += "predictions clipped to the training ratings' range"
        // The seeds line is the course model's (mppca's seeds and settings are in its own
        // lines below); the backend and threads are those of any mixture fitted.
        if let seeds, let course = results.first(where: { $0.model == "course" }) {
            let kernel = course.kernel.map { ", kernel \($0)" } ?? ""
            out += "; course: best of seeds \(seeds.map(String.init).joined(separator: ",")), backend \(backend)\(kernel), threads \(threads)"
        } else if results.contains(where: { $0.model == ModelFamily.mppca.rawValue }) {
            out += "; backend \(backend), threads \(threads)"
        }
        out += "\n\n"
        let splitCount = results.first?.splits.count ?? 0
        let rankingHeader = ["P@\(ranking.k)", "R@\(ranking.k)", "NDCG@\(ranking.k)"]
        if splitCount == 1 {
            let gold = results.contains { $0.splits[0].rmse_missing_entries != nil }
            // A course fit's best seed and log-likelihood; the columns only when one is scored.
            let fitted = results.contains { $0.splits[0].fit != nil }
            var table = TextTable(header: ["model", "K", "RMSE", "MAE"] + rankingHeader + (gold ? ["RMSE, missing entries*"] : [])
                                  + (fitted ? ["best seed", "log-likelihood"] : []) + ["seconds"], leftAligned: [0])
            for result in results {
                let split = result.splits[0]
                var row = [result.model, result.componentColumn, fixed(result.rmse.mean, 10), fixed(result.mae.mean, 10)]
                row += split.ranking.map { [fixed($0.precision, 4), fixed($0.recall, 4), fixed($0.ndcg, 4)] } ?? ["-", "-", "-"]
                if gold { row.append(split.rmse_missing_entries.map { fixed($0, 10) } ?? "-") }
                if fitted {
                    row.append(split.fit.map { String($0.best_seed) } ?? "-")
                    row.append(split.fit.map { String($0.log_likelihood) } ?? "-")
                }
                row.append(fixed(split.seconds, 3))
                table.rows.append(row)
            }
            out += table.rendered
            if gold {
                out += "\n* as 'fit --gold' computes it: over every entry missing from the data, predictions not clipped,\n  a 0 in the gold matrix (a rating it does not know either) counted as a rating of 0\n"
            }
        } else {
            // Each model's seconds are its training and scoring over all the splits.
            var table = TextTable(header: ["model", "K", "RMSE mean ± sd", "MAE mean ± sd"] + rankingHeader
                                  + ["seconds, \(splitCount) folds"], leftAligned: [0])
            for result in results {
                table.rows.append([result.model, result.componentColumn,
                                   fixed(result.rmse.mean, 6) + " ± " + fixed(result.rmse.std, 6),
                                   fixed(result.mae.mean, 6) + " ± " + fixed(result.mae.std, 6)]
                                  + (result.ranking.map { [fixed($0.precision.mean, 4), fixed($0.recall.mean, 4), fixed($0.ndcg.mean, 4)] } ?? ["-", "-", "-"])
                                  + [fixed(result.splits.reduce(0) { $0 + $1.seconds }, 3)])
            }
            out += table.rendered
            out += "\nRMSE per fold\n"
            var folds = TextTable(header: ["model", "K"] + (1...splitCount).map { "fold \($0)" }, leftAligned: [0])
            for result in results {
                folds.rows.append([result.model, result.componentColumn] + result.splits.map { fixed($0.rmse, 6) })
            }
            out += folds.rendered
        }
        out += factorSettingsLines(splitCount: splitCount)
        out += "\n" + rankingNote(splitCount: splitCount)
        out += "\ntiming: load \(fixed(timing.load_seconds, 3)) s, total \(fixed(timing.total_seconds, 3)) s\n"
        return out
    }

    /// The settings each mppca result used (q, K, λ_W, λ_m), chosen from its split's
    /// training ratings where not given: one line for a single split, else one per fold.
    func factorSettingsLines(splitCount: Int) -> String {
        var out = ""
        for result in results {
            let fits = result.splits.compactMap(\.factor_fit)
            guard !fits.isEmpty else { continue }
            let name = result.model + (result.k.map { " K = \($0)" } ?? "")
            func settings(_ fit: FactorFit) -> String {
                let priors = fit.settings.prior_means == fit.settings.prior_loadings
                    ? "λ_W = λ_m = \(priorText(fit.settings.prior_loadings))"
                    : "λ_W = \(priorText(fit.settings.prior_loadings)), λ_m = \(priorText(fit.settings.prior_means))"
                return "q = \(fit.settings.factors), K = \(fit.k), \(priors)"
            }
            if splitCount == 1, let fit = fits.first {
                out += "\n\(name) settings (chosen from the training ratings where not given): \(settings(fit))\n"
            } else {
                out += "\n\(name) settings (chosen from each fold's training ratings where not given)\n"
                for split in result.splits {
                    guard let fit = split.factor_fit else { continue }
                    out += "  fold \(split.split): \(settings(fit))\n"
                }
            }
        }
        return out
    }

    /// What P@N, R@N and NDCG@N mean, and over how many users they were averaged.
    func rankingNote(splitCount: Int) -> String {
        let users = results.flatMap { $0.splits.compactMap { $0.ranking?.users } }
        let n = ranking.k
        var note = "P@\(n), R@\(n), NDCG@\(n): each user's top \(n) among the items they did not rate in training (items with a training rating);"
        note += " relevant: held-out rating ≥ \(shortNumber(ranking.relevance)); recall = hits / relevant items; binary-gain NDCG\n"
        if let low = users.min(), let high = users.max() {
            let averaged = low == high ? counted(low, "user") : "\(low)–\(high) users"
            note += "averaged over the \(averaged) with a relevant held-out item\(splitCount > 1 ? " in each split, then over the splits" : "")"
            note += results.contains { $0.model == "mean" } ? "; mean: no ranking (one score for every item)\n" : "\n"
        } else if !results.contains(where: { $0.model != "mean" }) {
            // Only `mean` was scored: it gives every item one score, so nothing was ranked,
            // whatever the held-out ratings are.
            note += "mean: no ranking (one score for every item); add bias, course or mppca to --models for P@\(n), R@\(n) and NDCG@\(n)\n"
        } else {
            note += "no user has a relevant held-out item: nothing to rank\n"
        }
        return note
    }
}

/// Where the course fits of one model came from, for their warnings: eval's folds,
/// select's K.
enum CourseFitPlace {
    case folds
    case componentCounts
}

/// The warnings of one model's course fits (`CourseFit.warnings`, which `fit` prints),
/// said once: eval fits a model once per fold and select once per K (`place`, nil for one
/// fit). A fallen objective is named per fit; the unlearned-means warning is one line
/// listing where it held, worded with the largest share. Runs that hit the iteration cap
/// are the caller's, which names them with their seeds.
func courseFitWarnings(_ fits: [(label: String, fit: CourseFit)], across place: CourseFitPlace?) -> [String] {
    var lines = [String]()
    var unlearned = [(label: String, warning: FitWarning, share: Double)]()
    for (label, fit) in fits {
        for warning in fit.warnings {
            switch warning {
            case let .unlearnedMeans(_, _, share):
                unlearned.append((label, warning, share))
            case .objectiveFell:
                lines.append((place == .folds ? "fold \(label): " : "") + warning.text(maxIterationsOption: "--max-iterations"))
            case .unconverged:
                continue
            }
        }
    }
    if let worst = unlearned.max(by: { $0.share < $1.share }) {
        let labels = unlearned.map(\.label).joined(separator: ", ")
        let prefix: String
        switch place {
        case nil: prefix = ""
        case .folds: prefix = unlearned.count == 1 ? "fold \(worst.label): " : "folds \(labels) (largest in fold \(worst.label)): "
        case .componentCounts: prefix = unlearned.count == 1 ? "" : "K = \(labels) (largest at K = \(worst.label)): "
        }
        lines.append(prefix + worst.warning.text(maxIterationsOption: "--max-iterations"))
    }
    return lines
}

/// A number as people write it: 4, 3.5, 1e+100 (C's %g).
private func shortNumber(_ value: Double) -> String {
    String(format: "%g", value)
}

extension Evaluator {
    /// The kernel `model`'s fits run, as `--kernel` names it; nil for the baselines.
    func kernel(of model: EvaluatedModel) -> String? {
        switch model {
        case .course: return courseKernel?.layoutName
        case .factor: return factorEngine.kernel.layoutName
        case .globalMean, .bias: return nil
        }
    }
}
