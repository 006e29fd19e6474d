import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Fit: ParsableCommand {
    /// `-k`'s default for the course family as the option spells it (`1,12`).
    static let courseDefaultK = (ModelFamily.course.defaultComponentCounts ?? []).map(String.init).joined(separator: ",")

    static let configuration = CommandConfiguration(
        abstract: "Fit mixtures for each K from several seeds and keep the best.",
        discussion: """
            For each K, EM runs from every seed's start and the run with the best objective \
            is kept. course: the course's numpy-compatible initialisation, the highest \
            log-likelihood. mppca: q and the priors (and K without -k) not given are chosen \
            first on a held-out part of DATA's ratings; random loadings (clustered from the \
            K = 1 fit for K > 1), the highest ELBO (the variational lower bound on the log \
            evidence). With several K, \
            --model-out FILE.json writes FILE-k<K>.json per K. --init-model continues from a \
            saved model instead (one run, no seeds; an mppca model keeps its q and priors): on \
            the data it was fitted on, exactly \
            where that fit stopped; on new data with the same items, from its mixture. With \
            --checkpoint-every, each restart of the batch saves its state; SIGINT or SIGTERM \
            then checkpoints and exits with 130 or 143, and --resume continues bit for bit.
            """
    )

    @Argument(help: ArgumentHelp(DataArgument.help, valueName: "DATA"))
    var data: String

    @OptionGroup(title: HelpHeading.model) var modelOptions: FitModelOptions

    @OptionGroup var input: InputOptions

    @OptionGroup(title: HelpHeading.input) var inputExtras: FitInputExtras

    @OptionGroup(title: HelpHeading.engine) var engine: EngineOptions

    @OptionGroup(title: HelpHeading.engine) var engineExtras: FitEngineExtras

    @OptionGroup(title: HelpHeading.checkpoints) var checkpoints: CheckpointOptions

    @OptionGroup(title: HelpHeading.output) var output: FitOutputOptions

    @OptionGroup(title: HelpHeading.output) var logging: LogOptions

    var family: ModelFamily? { modelOptions.family }
    var k: String? { modelOptions.k }
    var seeds: String? { modelOptions.seeds }
    var factor: FactorOptions { modelOptions.factor }
    var initModel: String? { modelOptions.initModel }
    var maxIterations: Int { modelOptions.maxIterations }
    var gold: String? { inputExtras.gold }
    var precision: Precision { engineExtras.precision }
    var distributed: Bool { engineExtras.distributed }
    var modelOut: String? { output.modelOut }
    var json: Bool { output.json }

    func validate() throws {
        try refuseStandardOutput([("--model-out", modelOut), ("--checkpoint-dir", checkpoints.isActive ? checkpoints.checkpointDir : nil)])
        _ = try IntegerList.componentCounts(k ?? "1")
        _ = try IntegerList.seeds(seeds ?? "0")
        if initModel != nil, checkpoints.isActive {
            throw ValidationError("--checkpoint-every: a warm start (--init-model) is one run from a saved model; save it with --model-out instead of checkpoints")
        }
        if initModel != nil, seeds != nil {
            throw ValidationError("--seeds: a warm start (--init-model) continues one saved mixture and draws no seeds; leave --seeds out")
        }
        if maxIterations < 1 {
            throw ValidationError("--max-iterations: \(maxIterations) is not allowed; give 1 or more")
        }
        // Without --init-model the family is --family's (course by default); with one, the
        // model's, checked once it is read (`FactorOptions.check(warmStart:path:)`).
        if family == .course || (family == nil && initModel == nil) {
            try factor.refuseUnlessFitted(remedy: "add --family mppca")
        }
        // The engine's rules that need no data, before it is read (a warm start's family
        // is checked once the model is read, by `Engine.resolve`).
        do {
            try Engine.check(family: family ?? .course, backend: engine.backend, kernel: input.kernel, precision: precision)
        } catch {
            throw ValidationError(error.error(.commandLine).description)
        }
    }

    /// Refuses a --family other than a warm start's model's, and mppca options that disagree
    /// with it (one process and `--distributed` alike).
    func checkOptions(against warmStart: WarmStart?) throws {
        guard let warmStart else { return }
        if let family, family != warmStart.model.family {
            let article = warmStart.model.family == .mppca ? "an" : "a"
            throw MixFillError.badOption(option: "--family", message: "\(family.rawValue) disagrees with --init-model \(warmStart.path), \(article) \(warmStart.model.family.rawValue) model; leave --family out")
        }
        try factor.check(warmStart: warmStart.model, path: warmStart.path)
    }

    /// The family the fit runs: the warm start's model's, else `--family`'s (course by
    /// default); a `--family` that disagrees with the warm start is refused before.
    func fitFamily(_ warmStart: WarmStart?) -> ModelFamily {
        warmStart?.model.family ?? family ?? .course
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        if distributed {
            try runDistributed()
            return
        }
        logging.configureDisplay()
        try checkpoints.prepare()
        for target in try modelTargets() { try AtomicFile.checkCanCreate(target) }
        let loaded = try LoadedRatings.load(data, input.data)
        let warmStart = try initModel.map { path throws in try WarmStart(path: path, data: loaded) }
        let loadSeconds = (clock.now - start).seconds
        try checkOptions(against: warmStart)
        if fitFamily(warmStart) == .mppca {
            try runFactor(loaded, warmStart: warmStart, loadSeconds: loadSeconds, clock: clock, start: start)
            return
        }
        let componentCounts = try warmStart.map { start throws in
            let count = start.model.componentCount
            if let k, try IntegerList.componentCounts(k) != [count] {
                throw MixFillError.badOption(option: "-k", message: "\(k) disagrees with the \(count) components of --init-model \(start.path); leave -k out or give -k \(count)")
            }
            return [count]
        } ?? IntegerList.componentCounts(k ?? Self.courseDefaultK)
        let seedList = try IntegerList.seeds(seeds ?? "0-4")
        try loaded.input.requireRatings(name: data)
        try IntegerList.requireAtMostUsers(componentCounts, users: loaded.userCount, data: data, given: k, defaultList: Self.courseDefaultK)
        if let matrix = loaded.input.denseMatrix {
            for warning in DataWarnings.check(matrix, name: data) { Terminal.warning(warning) }
        }
        let goldMatrix = try self.goldMatrix(for: loaded)

        let fitEngine = try engine.makeEngine(for: loaded.input, kernel: input.kernel, precision: precision)
        let rule = StoppingRule(maxIterations: maxIterations)
        let fitStart = warmStart?.courseStart ?? .seeds(seedList)
        let job = FitJob(componentCounts: componentCounts, start: fitStart, rule: rule, gold: goldMatrix)
        let outcome = try job.run(on: loaded.input, engine: fitEngine,
                                  observer: checkpoints.observer(for: Mixture.self, input: loaded.input, engine: fitEngine, rule: rule))
        var reports = [FitReport.KReport]()
        var written = [String]()
        for fit in outcome.fits {
            let componentCount = fit.fit.componentCount
            if let modelOut {
                let path = componentCounts.count == 1 ? modelOut : Self.modelPath(modelOut, componentCount: componentCount)
                try fit.modelFile(for: loaded.input, path: loaded.recordedPath, previousIterations: warmStart?.previousIterations ?? 0)
                    .write(to: path)
                written.append(path)
            }
            reports.append(FitReport.KReport(fit))
        }
        for warning in outcome.warnings {
            Terminal.warning(warning.text(maxIterationsOption: "--max-iterations"))
        }
        let fitSeconds = outcome.seconds
        var report = FitReport(
            data: FitReport.DataSummary(loaded),
            backend: fitEngine.kernel.backend.rawValue, kernel: fitEngine.kernel.layoutName,
            precision: precision.rawValue, threads: fitEngine.threads,
            warm_start: warmStart?.summary,
            fits: reports,
            timing: FitReport.Timing(load_seconds: loadSeconds, fit_seconds: fitSeconds,
                                     total_seconds: (clock.now - start).seconds))
        try report.print(json: json, written: written)
    }

    /// `--gold`'s complete matrix, checked against DATA (the same shape, every observed
    /// rating the same), or nil without `--gold`; both families score their fills with it.
    func goldMatrix(for loaded: LoadedRatings) throws -> DenseRatingMatrix? {
        guard let gold else { return nil }
        guard let matrix = loaded.input.denseMatrix else {
            throw MixFillError.badOption(option: "--gold", message: "compares dense matrices, but \(data) holds rating records; score held-out records with 'mixfill eval' or 'mixfill fill --pairs'")
        }
        let complete = try DenseMatrixReader.read(path: gold)
        try complete.requireComplete(of: matrix, name: gold, dataName: data)
        return complete
    }

    /// The files `--model-out NAME` will write, as far as the options tell before the data
    /// is read: NAME for one K (a warm start's, or mppca's K still to be chosen), else
    /// NAME-k<K> for each K.
    func modelTargets() throws -> [String] {
        guard let modelOut else { return [] }
        guard initModel == nil else { return [modelOut] }
        let counts = try k.map(IntegerList.componentCounts)
            ?? (family == .mppca ? [] : IntegerList.componentCounts(Self.courseDefaultK))
        return counts.count > 1 ? counts.map { Self.modelPath(modelOut, componentCount: $0) } : [modelOut]
    }

    /// `model.json` → `model-k12.json`; a name without extension gets `-k12` appended.
    static func modelPath(_ path: String, componentCount: Int) -> String {
        let slash = path.lastIndex(of: "/")
        if let dot = path.lastIndex(of: "."), slash.map({ dot > $0 }) ?? true, dot != path.startIndex {
            return String(path[..<dot]) + "-k\(componentCount)" + String(path[dot...])
        }
        return path + "-k\(componentCount)"
    }
}

/// `fit`'s model options (the help's "Model" heading).
struct FitModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Model family: course (the course's mixture, the default) or mppca (the accurate mixture of probabilistic PCA on centred ratings).",
        valueName: "FAMILY"))
    var family: ModelFamily?

    @Option(name: .short, parsing: .unconditional, help: ArgumentHelp(
        "Numbers of components: a list or range, e.g. 1,12 or 1-16 (default: \(Fit.courseDefaultK) for course, the course's two K; chosen from the training ratings for mppca; with --init-model, the model's K).",
        valueName: "K-LIST"))
    var k: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seeds: a list or range, e.g. 0-4 or 0,1,2 (default: 0-4 for course, 0 for mppca).", valueName: "SEEDS"))
    var seeds: String?

    @OptionGroup var factor: FactorOptions

    @Option(name: .customLong("init-model"), help: ArgumentHelp(
        "Warm start: continue from this saved model (same items as DATA).", valueName: "FILE"))
    var initModel: String?

    @Option(name: .customLong("max-iterations"), parsing: .unconditional, help: ArgumentHelp("Stop a run after this many EM iterations.", valueName: "N"))
    var maxIterations: Int = 1000
}

/// `fit`'s input besides DATA.
struct FitInputExtras: ParsableArguments {
    @Option(help: ArgumentHelp("The complete matrix, to report RMSE over all entries and over the missing ones.", valueName: "FILE"))
    var gold: String?
}

/// `fit`'s engine option besides `EngineOptions` and `--kernel`.
struct FitEngineExtras: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Floating-point precision of the dense BLAS kernel: double (default; the course's numbers) or single (Float32 data and SGEMM, about twice as fast; log-likelihoods within 1e-5).",
        valueName: "PRECISION"))
    var precision: Precision = .double

    @Flag(help: "Under mpirun: each rank fits its share of the users, statistics reduced every iteration (course and mppca families; needs a build from Scripts/build-mpi).")
    var distributed = false
}

/// `fit`'s outputs besides the progress options.
struct FitOutputOptions: ParsableArguments {
    @Option(name: .customLong("model-out"), help: ArgumentHelp(
        "Write the best model per K here (JSON; with several K, FILE-k<K>.json each).", valueName: "FILE"))
    var modelOut: String?

    @Flag(help: "Print one JSON object on stdout instead of tables (keys: docs/json.md).")
    var json = false
}

/// `fit --init-model`: one EM run from a saved mixture.
///
/// On the data the model was fitted on (same fingerprint) the run continues that fit: it
/// starts from the saved mixture with the saved log-likelihood as the previous one, so it
/// stops exactly where an uninterrupted fit would have, and the written model counts the
/// iterations of both. On other data with the same items it is a new run started from
/// the saved mixture (new data about the same items, or more iterations on a model
/// whose data changed).
struct WarmStart {
    var path: String
    var model: ModelFile
    var sameData: Bool

    init(path: String, data: LoadedRatings) throws {
        try self.init(path: path, dataPath: data.path, users: data.userCount, items: data.items, fingerprint: data.fingerprint)
    }

    /// The same from what it reads of the data: its path, number of users, item ids and
    /// fingerprint (a distributed fit's ranks know these without the whole data).
    init(path: String, dataPath: String, users userCount: Int, items: IdMap, fingerprint: String) throws {
        self.path = path
        let model = try ModelFile.read(path: path)
        self.model = model
        guard model.itemCount == items.count else {
            throw MixFillError.badFile(file: dataPath, message: "has \(items.count) items but --init-model \(path) was fitted on \(model.itemCount); a warm start needs the model's items")
        }
        if model.items != items {
            let found = items.indices(in: model.items)
            let index = found.firstIndex { $0 == nil } ?? found.indices.first { found[$0] != $0 } ?? 0
            let missing = items.name(index)
            throw MixFillError.badFile(file: dataPath, message: "has the \(items.count) items of --init-model \(path) in number but not by id (item \(missing) is not one of the model's); a warm start needs the model's items")
        }
        guard model.componentCount <= userCount else {
            throw MixFillError.badOption(option: "--init-model", message: "the model's K = \(model.componentCount) is more than the \(counted(userCount, "user")) in \(dataPath)")
        }
        sameData = model.training?.fingerprint == fingerprint
    }

    /// Iterations already run on this data by the saved fit.
    var previousIterations: Int { sameData ? model.iterations : 0 }

    /// The saved course mixture as a fit's start (nil for another family): on the data it
    /// was fitted on, its first E-step is compared with the saved log-likelihood.
    var courseStart: FitStart<Mixture>? {
        model.mixture.map { .model($0, seed: model.seed, previousObjective: sameData ? model.logLikelihood : nil) }
    }

    /// The saved mppca model as a fit's start for `matrix`, the users `users` of the data
    /// (all of them on one process, a rank's block under --distributed); nil for another
    /// family. On the data it was fitted on it keeps those users' saved offsets and
    /// continues after the saved objective; on other data the saved offsets describe other
    /// users, so each user's is refitted (`refittingUserOffsets`: each b_u needs only its
    /// user's ratings, so a rank refits its users as one process would).
    func factorStart(users: Range<Int>, matrix: SparseRatingMatrix) -> FitStart<FactorMixture>? {
        guard var start = model.factorMixture else { return nil }
        if sameData && start.offsets.userOffsets.count >= users.upperBound {
            start.offsets.userOffsets = Array(start.offsets.userOffsets[users])
        } else {
            start = start.refittingUserOffsets(to: matrix)
        }
        return .model(start, seed: model.seed, previousObjective: sameData ? model.logLikelihood : nil)
    }

    /// What the report says of it.
    var summary: FitReport.WarmStartSummary {
        FitReport.WarmStartSummary(model: path, same_data: sameData, previous_iterations: previousIterations)
    }
}
