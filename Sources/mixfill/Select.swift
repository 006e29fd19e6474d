import ArgumentParser
import Foundation
import MixFill
import MixFillTools

extension SelectionCriterion: ExpressibleByArgument {}

struct Select: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Choose the number of components K (and, for mppca, q and the priors) by BIC or by held-out RMSE.",
        discussion: """
            For each K, fits all of DATA from every seed and keeps the best run (its \
            log-likelihood and the course BIC, LL − ½·(K·d + 2K − 1)·ln n). With --holdout, \
            --folds, --test or --gold it also trains on the training part and reports the \
            held-out RMSE and MAE (clipped to the rating range). --criterion picks K: 'bic' \
            (largest BIC) or 'heldout' (smallest held-out RMSE); ties go to the smaller K. \
            With --family mppca it sweeps K × q (--factors) × λ_W (--prior-loadings; left \
            out, each candidate chooses its own from its training ratings) and picks the \
            smallest held-out RMSE.
            """
    )

    @Argument(help: ArgumentHelp(DataArgument.help, valueName: "DATA"))
    var data: String

    @OptionGroup(title: HelpHeading.model) var modelOptions: SelectModelOptions

    @OptionGroup(title: HelpHeading.heldOut) var heldOut: HeldOutOptions

    @OptionGroup(title: HelpHeading.input) var dataOptions: DataOptions

    @OptionGroup(title: HelpHeading.engine) var engine: EngineOptions

    @OptionGroup(title: HelpHeading.output) var output: SelectOutputOptions

    var family: ModelFamily { modelOptions.family }
    var k: String? { modelOptions.k }
    var seeds: String? { modelOptions.seeds }
    var factors: String? { modelOptions.factors }
    var priorLoadings: String? { modelOptions.priorLoadings }
    var priorMeans: Double? { modelOptions.priorMeans }
    var criterion: SelectionCriterion { modelOptions.criterion }
    var maxIterations: Int { modelOptions.maxIterations }
    var json: Bool { output.json }
    var csv: Bool { output.csv }
    var svg: String? { output.svg }

    func validate() throws {
        try refuseStandardOutput([("--svg", svg)])
        _ = try IntegerList.componentCounts(k ?? "1")
        _ = try IntegerList.seeds(seeds ?? "0")
        if family == .mppca {
            _ = try Self.factorCandidates(factors, priorLoadings, itemCount: nil)
            if !heldOut.isGiven {
                throw ValidationError("--family mppca: select chooses its settings by held-out RMSE; add --holdout F, --folds K, --test FILE or --gold FILE")
            }
            if modelOptions.givenCriterion == .bic {
                throw ValidationError("--criterion bic: mppca has no BIC (its objective carries priors); select chooses mppca's settings by held-out RMSE. Leave --criterion out or give heldout")
            }
            if let priorMeans, !(priorMeans > 0 && priorMeans.isFinite) {
                throw ValidationError("--prior-means: \(priorMeans) is not allowed; give a positive prior precision, e.g. 100")
            }
        } else {
            let given = FactorOptions.given(factors: factors != nil, priorLoadings: priorLoadings != nil, priorMeans: priorMeans != nil)
            if !given.isEmpty { throw FactorOptions.refusal(given, remedy: "add --family mppca") }
        }
        if maxIterations < 1 {
            throw ValidationError("--max-iterations: \(maxIterations) is not allowed; give 1 or more")
        }
        if json && csv {
            throw ValidationError("--json, --csv: choose one output format")
        }
        if criterion == .heldout && !heldOut.isGiven {
            throw ValidationError("--criterion heldout: needs held-out ratings; add --holdout F, --folds K, --test FILE or --gold FILE")
        }
    }

    func run() throws {
        if family == .mppca {
            try runFactor()
            return
        }
        let clock = ContinuousClock()
        let start = clock.now
        let componentCounts = Array(Set(try IntegerList.componentCounts(k ?? "1-16"))).sorted()
        let seedList = try IntegerList.seeds(seeds ?? "0-4")
        let threadCount = engine.threadCount
        let loaded = try LoadedRatings.load(data, dataOptions)
        try loaded.input.requireRatings(name: data)
        let input = loaded.input
        try IntegerList.requireAtMostUsers(componentCounts, users: input.userCount, data: data, given: k, defaultList: "1-16")
        let courseKernel = try engine.courseKernel(for: loaded)
        let (splits, _) = try heldOut.splits(of: loaded, options: dataOptions)
        let evaluator = Evaluator(seeds: seedList, backend: engine.backend, stoppingRule: StoppingRule(maxIterations: maxIterations),
                                  threads: threadCount, stopsIdleBLASPool: true, courseKernel: courseKernel)
        let fullDataEngine = evaluator.courseEngine(density: input.density, isRecords: input.isRecords)
        // --test and --gold train on all of DATA: their fit is the BIC fit.
        let splitsTrainOnAll = heldOut.test != nil || heldOut.gold != nil
        let models = componentCounts.map { EvaluatedModel.course(componentCount: $0) }
        Display.shared.configureForStatus()
        let scoresBySplit = try splits.enumerated().map { index, split in
            try evaluator.evaluate(models, userCount: input.userCount, itemCount: input.itemCount,
                                   training: split.training, test: split.test, unmatched: split.unmatched,
                                   progress: Eval.status(split: index, of: splits.count, models: models.count))
        }
        Display.shared.finish()
        var fullFits = [CourseFit]()
        if splitsTrainOnAll, let scores = scoresBySplit.first {
            fullFits = scores.compactMap(\.fit)
        } else {
            fullDataEngine.claimBLASThreads(stopIdlePool: evaluator.stopsIdleBLASPool)
            fullFits = try evaluator.fitCourse(input, componentCounts: componentCounts)
        }
        var candidates = [ComponentCountCandidate]()
        for (index, fit) in fullFits.enumerated() {
            var candidate = ComponentCountCandidate(
                componentCount: fit.componentCount, bestSeed: fit.bestSeed, logLikelihood: fit.logLikelihood,
                bayesianInformationCriterion: fit.bayesianInformationCriterion, iterations: fit.iterations, converged: fit.converged)
            if !scoresBySplit.isEmpty {
                candidate.heldOutRootMeanSquareError = MeanAndSpread(scoresBySplit.map { $0[index].metrics.rootMeanSquareError })
                candidate.heldOutMeanAbsoluteError = MeanAndSpread(scoresBySplit.map { $0[index].metrics.meanAbsoluteError })
            }
            candidates.append(candidate)
            if !fit.unconvergedSeeds.isEmpty {
                Terminal.warning("K = \(fit.componentCount), seeds \(fit.unconvergedSeeds.map(String.init).joined(separator: ",")) stopped at --max-iterations \(maxIterations) before converging")
            }
        }
        for warning in courseFitWarnings(fullFits.map { (String($0.componentCount), $0) }, across: fullFits.count > 1 ? .componentCounts : nil) {
            Terminal.warning(warning)
        }
        guard let chosen = ModelSelection.choose(candidates, by: criterion) else {
            throw MixFillError.runtime(message: "no K could be chosen by \(criterion.rawValue)")
        }
        let report = SelectReport(
            data: EvalReport.DataSummary(loaded), held_out: heldOut.description, seeds: seedList,
            backend: engine.backend.rawValue, kernel: fullDataEngine.kernel.layoutName, threads: threadCount, criterion: criterion.rawValue,
            chosen_k: candidates[chosen].componentCount,
            candidates: candidates.map(SelectReport.Candidate.init),
            total_seconds: (clock.now - start).seconds)
        if let svg {
            try AtomicFile.write(Array(report.chart().utf8), to: svg)
        }
        if json {
            try printJSON(report)
        } else if csv {
            try printText(report.csv())
        } else {
            try printText(report.table(heldOutLine: heldOut.isGiven ? heldOut.summary(splits, observed: input.observedCount) : nil))
        }
    }
}

/// `select`'s candidates and how one is chosen (the help's "Model" heading).
struct SelectModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Model family: course (the default) or mppca.", valueName: "FAMILY"))
    var family: ModelFamily = .course

    @Option(name: .short, parsing: .unconditional, help: ArgumentHelp(
        "Candidate numbers of components: a list or range, e.g. 1-16 (default: 1-16 for course, 1,2,4 for mppca; a sweep, so wider than fit's).",
        valueName: "K-LIST"))
    var k: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seeds: a list or range, e.g. 0-4 (default: 0-4 for course, 0 for mppca).", valueName: "SEEDS"))
    var seeds: String?

    // The mppca options' values are read `.unconditional`ly, as `FactorOptions` reads
    // them, so that a value starting with '-' reaches `validate()` and its message.
    @Option(parsing: .unconditional, help: ArgumentHelp(
        "mppca: candidate latent factors q, a list or range, e.g. 10,20 or 2-12 (default 10,20, those below the number of items d; else d − 1).", valueName: "Q-LIST"))
    var factors: String?

    @Option(name: .customLong("prior-loadings"), parsing: .unconditional, help: ArgumentHelp(
        "mppca: candidate prior precisions λ_W, a comma-separated list (default: each candidate chooses its own).", valueName: "LIST"))
    var priorLoadings: String?

    @Option(name: .customLong("prior-means"), parsing: .unconditional, help: ArgumentHelp(
        "mppca: prior precision λ_m of the component means (default: each candidate's λ_W).", valueName: "λ"))
    var priorMeans: Double?

    @Option(name: .customLong("criterion"), help: ArgumentHelp(
        "How to choose K: bic or heldout (needs --holdout, --folds, --test or --gold) (default: bic; mppca: heldout, its only one).",
        valueName: "CRITERION"))
    var givenCriterion: SelectionCriterion?

    var criterion: SelectionCriterion { givenCriterion ?? .bic }

    @Option(name: .customLong("max-iterations"), parsing: .unconditional, help: ArgumentHelp("Stop an EM run after this many iterations.", valueName: "N"))
    var maxIterations: Int = 1000
}

/// `select`'s outputs.
struct SelectOutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object on stdout instead of a table (keys: docs/json.md).")
    var json = false

    @Flag(help: "Print CSV on stdout instead of a table: one row per K.")
    var csv = false

    @Option(help: ArgumentHelp("Write a chart against K here (SVG): BIC and held-out RMSE (course), held-out RMSE per q and λ_W (mppca).", valueName: "FILE"))
    var svg: String?
}

/// What `mixfill select` reports (field names are the JSON's).
struct SelectReport: Encodable {
    struct Candidate: Encodable {
        var k: Int
        var best_seed: UInt32
        var log_likelihood: Double
        var bic: Double
        var iterations: Int
        var converged: Bool
        var heldout_rmse: EvalReport.Spread?
        var heldout_mae: EvalReport.Spread?

        init(_ candidate: ComponentCountCandidate) {
            k = candidate.componentCount
            best_seed = candidate.bestSeed
            log_likelihood = candidate.logLikelihood
            bic = candidate.bayesianInformationCriterion
            iterations = candidate.iterations
            converged = candidate.converged
            heldout_rmse = candidate.heldOutRootMeanSquareError.map { EvalReport.Spread(mean: $0.mean, std: $0.standardDeviation) }
            heldout_mae = candidate.heldOutMeanAbsoluteError.map { EvalReport.Spread(mean: $0.mean, std: $0.standardDeviation) }
        }
    }

    var data: EvalReport.DataSummary
    var held_out: HeldOutOptions.Method?
    var seeds: [UInt32]
    /// The arithmetic (`--backend`) and the kernel the fits ran (`--kernel`'s names).
    var backend: String
    var kernel: String
    var threads: Int
    var criterion: String
    var chosen_k: Int
    var candidates: [Candidate]
    var total_seconds: Double

    var hasHeldOut: Bool { candidates.contains { $0.heldout_rmse != nil } }

    func table(heldOutLine: String?) -> String {
        var out = ""
        out += data.line + "\n"
        if let heldOutLine { out += heldOutLine + "\n" }
        out += "fits of all the data: best of seeds \(seeds.map(String.init).joined(separator: ",")), backend \(backend), kernel \(kernel), threads \(threads)\n\n"
        let folds = (held_out?.folds ?? 1) > 1
        var header = ["", "K", "best seed", "log-likelihood", "BIC"]
        if hasHeldOut { header += folds ? ["held-out RMSE (mean ± sd)", "held-out MAE"] : ["held-out RMSE", "held-out MAE"] }
        var table = TextTable(header: header, leftAligned: [0])
        for candidate in candidates {
            var row = [candidate.k == chosen_k ? "*" : "", String(candidate.k), String(candidate.best_seed),
                       fixed(candidate.log_likelihood, 3), fixed(candidate.bic, 3)]
            if let rmse = candidate.heldout_rmse, let mae = candidate.heldout_mae {
                row.append(folds ? fixed(rmse.mean, 6) + " ± " + fixed(rmse.std, 6) : fixed(rmse.mean, 10))
                row.append(folds ? fixed(mae.mean, 6) : fixed(mae.mean, 10))
            }
            table.rows.append(row)
        }
        out += table.rendered
        let rule = criterion == "bic" ? "the largest BIC" : "the smallest held-out RMSE"
        out += "\nchosen: K = \(chosen_k) (\(rule))\n"
        out += "total: \(fixed(total_seconds, 3)) s\n"
        return out
    }

    func csv() -> String {
        var out = "k,best_seed,log_likelihood,bic,iterations,converged,heldout_rmse,heldout_rmse_std,heldout_mae,heldout_mae_std,chosen\n"
        for candidate in candidates {
            let fields: [String] = [
                String(candidate.k), String(candidate.best_seed), String(candidate.log_likelihood), String(candidate.bic),
                String(candidate.iterations), String(candidate.converged),
                candidate.heldout_rmse.map { String($0.mean) } ?? "", candidate.heldout_rmse.map { String($0.std) } ?? "",
                candidate.heldout_mae.map { String($0.mean) } ?? "", candidate.heldout_mae.map { String($0.std) } ?? "",
                String(candidate.k == chosen_k),
            ]
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }

    /// A chart panel's title for the held-out RMSE of `method`.
    static func heldOutTitle(_ method: HeldOutOptions.Method?) -> String {
        guard let method else { return "held-out RMSE" }
        switch method.kind {
        case "folds": return "\(method.folds ?? 0)-fold held-out RMSE (smaller is better)"
        case "holdout": return "held-out RMSE, \(fixed(100 * (method.fraction ?? 0), 0))% holdout (smaller is better)"
        case "gold": return "RMSE on the gold's revealed entries (smaller is better)"
        default: return "RMSE on the test ratings (smaller is better)"
        }
    }

    /// BIC against K, and held-out RMSE against K below it when there is one; the chosen K
    /// is marked in both panels.
    func chart() -> String {
        let ks = candidates.map { Double($0.k) }
        var panels = [SVGLineChart.Panel(
            title: "BIC (larger is better)", yLabel: "BIC",
            points: zip(ks, candidates.map(\.bic)).map { SVGLineChart.Point(x: $0, y: $1) })]
        if hasHeldOut {
            panels.append(SVGLineChart.Panel(
                title: Self.heldOutTitle(held_out), yLabel: "RMSE",
                points: candidates.compactMap { candidate in
                    candidate.heldout_rmse.map { SVGLineChart.Point(x: Double(candidate.k), y: $0.mean) }
                }))
        }
        let name = data.path.split(separator: "/").last.map(String.init) ?? data.path
        return SVGLineChart(
            title: "mixfill select \(name): \(data.users) × \(data.items), seeds \(seeds.map(String.init).joined(separator: ","))",
            xLabel: "K (components)", panels: panels, markedX: Double(chosen_k),
            markLabel: "chosen K = \(chosen_k) (\(criterion))").rendered
    }
}
