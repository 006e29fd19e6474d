import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
import MixFill
#endif

/// Runs a job file into an output folder so that nothing is lost, nothing is left
/// half-written, and a rerun picks up where the last run stopped.
///
///     DIR/summary.json, DIR/summary.csv     every job's status and best fits (rewritten at the end)
///     DIR/<job>/job.json                     the job's settings and content hash
///     DIR/<job>/model-k<K>.json              the best model per K (unless "models": false)
///     DIR/<job>/result.json                  written last: its presence with a matching hash means done
///     DIR/<job>/log.jsonl                    one JSON event per line (the job's start and end, run starts and ends, checkpoints, warnings)
///     DIR/<job>/checkpoints/                 run checkpoints while the job is unfinished
///
/// Every file is written atomically (`AtomicFile`). A job is skipped when its
/// `result.json` says "ok" with the job's current content hash (the SHA-256 of its
/// settings and of its data and gold files' bytes) and its model files are there; a job
/// whose folder holds `job.json`
/// with the current hash continues from its checkpoints; any other job folder is cleared
/// of MixFill's files and the job starts over. A failing job records its error in
/// `result.json` and the batch goes on.
package struct BatchRunner: Sendable {
    package struct Options: Sendable {
        package var outputFolder: String
        /// Jobs run at once, each on its own thread; above 1 every job's BLAS runs on one
        /// thread so threads never stack.
        package var parallel: Int
        /// Periodic checkpoints for jobs that do not set "checkpoint_every".
        package var checkpointEvery: Int?
        /// Threads for jobs that do not set "threads" (when `parallel` is 1), used as the
        /// `Engine` uses them (the same as `mixfill fit --threads`).
        package var defaultThreads: Int
        /// Whether the batch may stop OpenBLAS's idle worker pool when a job runs BLAS on
        /// one thread beside threads of its own (`Engine.claimBLASThreads(stopIdlePool:)`):
        /// only for a caller that owns the process, the CLI.
        package var stopsIdleBLASPool: Bool

        package init(outputFolder: String, parallel: Int = 1, checkpointEvery: Int? = nil, defaultThreads: Int,
                    stopsIdleBLASPool: Bool = false) {
            self.outputFolder = outputFolder
            self.parallel = parallel
            self.checkpointEvery = checkpointEvery
            self.defaultThreads = defaultThreads
            self.stopsIdleBLASPool = stopsIdleBLASPool
        }
    }

    package enum JobOutcome: Sendable, Equatable {
        case completed(JobResult, skipped: Bool)
        case failed(JobResult)
        /// Interrupted while running, or never started because the batch was interrupted.
        case pending
    }

    package struct Outcome: Sendable {
        package var jobs: [(spec: JobSpec, outcome: JobOutcome)]
        package var summary: BatchSummary
        /// Set when a signal stopped the batch.
        package var interruption: MixFillError?
    }

    package let jobFile: JobFile
    package let options: Options
    package let report: @Sendable (FitEvent) -> Void
    package let stopRequested: @Sendable () -> Int32?

    package init(jobFile: JobFile, options: Options, report: @escaping @Sendable (FitEvent) -> Void = { _ in },
                stopRequested: @escaping @Sendable () -> Int32? = { nil }) {
        self.jobFile = jobFile
        self.options = options
        self.report = report
        self.stopRequested = stopRequested
    }

    package static let resultName = "result.json"
    package static let markerName = "job.json"
    package static let logName = "log.jsonl"
    package static let checkpointFolderName = "checkpoints"
    static let lockName = ".mixfill-batch.lock"

    package func run() throws(MixFillError) -> Outcome {
        let folder = options.outputFolder
        try Folders.create(folder, purpose: "output folder")
        let lock = try FolderLock(folder: folder, name: Self.lockName)
        defer { lock.release() }
        AtomicFile.removeStaleTemporaries(inFolder: folder)
        if options.parallel > 1 {
            // Every job runs on one thread: OpenBLAS on one too, set before the jobs start.
            BLASThreads.set(1)
            if options.stopsIdleBLASPool { BLASThreads.stopIdleThreads() }
        }

        let jobs = jobFile.jobs
        let outcomes = Mutex([JobOutcome](repeating: .pending, count: jobs.count))
        let nextJob = Mutex(0)
        let interruption = Mutex<MixFillError?>(nil)
        let workerCount = max(1, min(options.parallel, jobs.count))
        DispatchQueue.concurrentPerform(iterations: workerCount) { _ in
            while true {
                let index: Int? = nextJob.withLock { next in
                    guard next < jobs.count else { return nil }
                    next += 1
                    return next - 1
                }
                guard let index, interruption.withLock({ $0 == nil }) else { return }
                if let signal = stopRequested() {
                    interruption.withLock { stopped in
                        if stopped == nil {
                            stopped = .interrupted(signal: signal, message: "\(FitProgress.signalName(signal)) received: the batch stopped before job \(jobs[index].name); rerun the same command to continue")
                        }
                    }
                    return
                }
                do throws(MixFillError) {
                    let outcome = try runJob(jobs[index])
                    outcomes.withLock { $0[index] = outcome }
                } catch {
                    interruption.withLock { stopped in
                        if stopped == nil { stopped = error }
                    }
                }
            }
        }
        let finalOutcomes = outcomes.withLock { $0 }
        let summary = BatchSummary(jobs: zip(jobs, finalOutcomes).map { spec, outcome in
            switch outcome {
            case let .completed(result, _):
                return BatchSummary.Entry(name: spec.name, status: .ok, error: nil, fits: result.fits)
            case let .failed(result):
                return BatchSummary.Entry(name: spec.name, status: .failed, error: result.error, fits: nil)
            case .pending:
                return BatchSummary.Entry(name: spec.name, status: .pending, error: nil, fits: nil)
            }
        })
        try AtomicFile.write(summary.encoded(), to: folder + "/summary.json")
        try AtomicFile.write(summary.csv(), to: folder + "/summary.csv")
        return Outcome(jobs: Array(zip(jobs, finalOutcomes)).map { ($0, $1) }, summary: summary,
                       interruption: interruption.withLock { $0 })
    }

    /// Runs one job to an outcome; throws only `MixFillError.interrupted`.
    func runJob(_ job: JobSpec) throws(MixFillError) -> JobOutcome {
        let folder = options.outputFolder + "/" + job.name
        let log = JobLog(path: folder + "/" + Self.logName, job: job.name, forward: report)
        let clock = ContinuousClock()
        let start = clock.now
        var jobHash = ""
        do {
            try Folders.create(folder, purpose: "job folder")
            AtomicFile.removeStaleTemporaries(inFolder: folder)
            AtomicFile.removeStaleTemporaries(inFolder: folder + "/" + Self.checkpointFolderName)

            /// A data or gold file that cannot be read is named with the job file's place.
            func hash(_ path: String, field: String) throws(MixFillError) -> String {
                do {
                    return try FileBytes.sha256(path)
                } catch {
                    throw .badOption(option: "\(jobFile.path):\(job.line): \"\(field)\" in job \"\(job.name)\"", message: error.description)
                }
            }
            let dataHash = try hash(job.dataPath, field: "data")
            let goldHash = try job.goldPath.map { (path: String) throws(MixFillError) in try hash(path, field: "gold") }
            jobHash = Self.contentHash(job, dataHash: dataHash, goldHash: goldHash)

            if let existing = JobResult.readIfPresent(path: folder + "/" + Self.resultName),
               existing.status == .ok, existing.jobHash == jobHash,
               (existing.fits ?? []).allSatisfy({ fit in fit.model.map { access(folder + "/" + $0, F_OK) == 0 } ?? true }) {
                removeCheckpoints(folder)
                report(FitEvent(.jobSkip, job: job.name, message: "result is current (hash \(jobHash.prefix(12))…)"))
                return .completed(existing, skipped: true)
            }
            let marker = JobMarker.read(path: folder + "/" + Self.markerName)
            let resuming = marker?.jobHash == jobHash
            var threads = threadCount(for: job)
            if resuming {
                log.load()
                // The thread count cuts the users into shards and so decides the last bits of
                // every sum: a job continues on the count its checkpoints were written with,
                // whatever --parallel or its "threads" say now, and ends as it would have.
                if let recorded = marker?.threads, recorded != threads {
                    log.add(FitEvent(.warning, job: job.name, message: "continuing on \(recorded) thread\(recorded == 1 ? "" : "s"), as its checkpoints were written, not \(threads) (the threads decide the last bits of every sum)"))
                    threads = recorded
                }
            } else {
                clearJobFolder(folder)
                try JobMarker(job: job.name, jobHash: jobHash, settings: job.canonicalText, threads: threads)
                    .write(to: folder + "/" + Self.markerName)
            }
            log.add(FitEvent(.jobStart, job: job.name, message: resuming ? "continuing (hash \(jobHash.prefix(12))…)" : "starting (hash \(jobHash.prefix(12))…)"))
            if options.parallel > 1, threads == 1, let asked = job.threads, asked > 1 {
                log.add(FitEvent(.warning, job: job.name, message: "\"threads\": \(asked) is ignored: with --parallel \(options.parallel) every job runs on 1 thread"))
            }

            let result = try fitJob(job, jobHash: jobHash, threads: threads, folder: folder, log: log)
            log.add(FitEvent(.jobEnd, job: job.name, seconds: (clock.now - start).seconds))
            log.write()
            try AtomicFile.write(result.encoded(), to: folder + "/" + Self.resultName)
            removeCheckpoints(folder)
            return .completed(result, skipped: false)
        } catch {
            if case .interrupted = error {
                log.add(FitEvent(.jobStop, job: job.name, seconds: (clock.now - start).seconds,
                                 message: error.description, exitCode: error.exitCode))
                log.write()
                throw error
            }
            let failure = JobResult.Failure(message: error.description, exitCode: error.exitCode)
            let result = JobResult(job: job.name, jobHash: jobHash, status: .failed, error: failure)
            removeModels(folder)
            log.add(FitEvent(.jobFail, job: job.name, seconds: (clock.now - start).seconds,
                             message: error.description, exitCode: error.exitCode))
            log.write()
            if let bytes = try? result.encoded() { try? AtomicFile.write(bytes, to: folder + "/" + Self.resultName) }
            return .failed(result)
        }
    }

    /// The threads a new job runs on: its "threads" (else the batch's default) when jobs run
    /// one at a time; 1 under --parallel > 1, so that threads never stack. (A resumed job
    /// keeps the count of its checkpoints.)
    private func threadCount(for job: JobSpec) -> Int {
        options.parallel <= 1 ? job.threads ?? options.defaultThreads : 1
    }

    private func fitJob(_ job: JobSpec, jobHash: String, threads: Int, folder: String, log: JobLog) throws(MixFillError) -> JobResult {
        let input = try RatingInput.load(path: job.dataPath, format: job.format, rules: job.ratingRules)
        for warning in DataWarnings.textIds(path: job.dataPath, switches: input.textIdSwitches) {
            log.add(FitEvent(.warning, job: job.name, message: warning))
        }
        if input.duplicatePairs > 0 {
            log.add(FitEvent(.warning, job: job.name, message: DataWarnings.duplicates(path: job.dataPath, count: input.duplicatePairs)))
        }
        try input.requireRatings(name: job.dataPath)
        for count in job.componentCounts ?? [] where count > input.userCount {
            if job.componentCountsAreDefault {
                let list = (job.componentCounts ?? []).map(String.init).joined(separator: ",")
                throw .badOption(option: "\(jobFile.path):\(job.line): job \"\(job.name)\"", message: "K = \(count) (of fit's default K = \(list), the job giving no \"k\") is more than the \(counted(input.userCount, "user")) in \(job.dataPath); give \"k\" with values ≤ \(input.userCount)")
            }
            throw .badOption(option: "\(jobFile.path):\(job.line): \"k\" in job \"\(job.name)\"", message: "K = \(count) is more than the \(counted(input.userCount, "user")) in \(job.dataPath); choose K ≤ \(input.userCount)")
        }
        var gold: DenseRatingMatrix?
        if let goldPath = job.goldPath {
            guard let matrix = input.denseMatrix else {
                throw .badOption(option: "\(jobFile.path):\(job.line): \"gold\" in job \"\(job.name)\"", message: "compares dense matrices, but \(job.dataPath) holds rating records; leave \"gold\" out and score held-out records with 'mixfill eval'")
            }
            let complete = try DenseMatrixReader.read(path: goldPath)
            try complete.requireComplete(of: matrix, name: goldPath, dataName: job.dataPath)
            gold = complete
        }
        if let matrix = input.denseMatrix {
            for warning in DataWarnings.check(matrix, name: job.dataPath) {
                log.add(FitEvent(.warning, job: job.name, message: warning))
            }
        }
        let engine = try Engine.resolve(family: job.family, backend: job.backend, kernel: job.kernel, precision: job.precision, threads: threads,
                                        for: input, spelling: .jobFile(jobFile.path, line: job.line, job: job.name))
        engine.claimBLASThreads(stopIdlePool: options.stopsIdleBLASPool && options.parallel <= 1)
        let rule = StoppingRule(maxIterations: job.maxIterations)
        /// The checkpointing observer of the job's family; every family's runs go through it.
        func progress<Model: CheckpointModel>(_: Model.Type) -> RunProgress<Model> {
            RunProgress(context: RunProgress<Model>.Context(input: input, rule: rule,
                                                            varianceFloor: Model.family == .course ? Mixture.defaultVarianceFloor : nil,
                                                            engine: engine),
                        checkpointing: RunProgress<Model>.Checkpointing(
                            folder: folder + "/" + Self.checkpointFolderName, every: job.checkpointEvery ?? options.checkpointEvery,
                            resume: true, resumeHint: "rerun the same batch command to continue"),
                        job: job.name, report: { event in log.add(event) }, stopRequested: stopRequested)
        }
        // Model files remember their training data as `fit --model-out` writes them.
        let trainingPath = URL(fileURLWithPath: job.dataPath).standardizedFileURL.path
        var fits = [JobResult.Fit]()
        var models = [(name: String, file: ModelFile)]()
        var warnings = [FitWarning]()
        var factorSettings: JobResult.FactorSettings?
        switch job.family {
        case .mppca:
            if let q = job.factors, q >= input.itemCount {
                throw .badOption(option: "\(jobFile.path):\(job.line): \"factors\" in job \"\(job.name)\"", message: "q = \(q) is not below the \(counted(input.itemCount, "item")) of \(job.dataPath); give fewer factors")
            }
            if let q = job.factors, let problem = FactorMemory.problem(itemCount: input.itemCount, factorCount: q,
                                                                     componentCount: job.componentCounts?.max() ?? 1,
                                                                     shards: engine.workers, runs: job.seeds.count) {
                throw .badOption(option: "\(jobFile.path):\(job.line): \"factors\" in job \"\(job.name)\"", message: problem + "; give fewer \"factors\" or \"threads\"")
            }
            let asked = FactorSettings(factorCount: job.factors, componentCount: job.componentCounts?.first, loadingsPrior: job.priorLoadings)
            if asked.leavesAnyToChoose, !FactorFitter.canTune(observedCount: input.observedCount) {
                throw .badOption(option: "\(jobFile.path):\(job.line): \"data\" in job \"\(job.name)\"", message: "\(job.dataPath) has \(input.observedCount) rating\(input.observedCount == 1 ? "" : "s"), too few to choose mppca's settings from (a tenth of them is held out to choose them); give \"factors\", \"k\" and \"prior_loadings\", or more ratings")
            }
            // The fit `mixfill fit --family mppca` runs: the settings not given chosen from the
            // training ratings, then each K's seeds as one batch, the same runs bit for bit.
            let settings = FactorSettings(factorCount: job.factors, componentCount: nil, loadingsPrior: job.priorLoadings,
                                          meansPrior: job.priorMeans)
            let outcome = try FactorFitter(engine: engine, rule: rule, settings: settings)
                .run(on: input, componentCounts: job.componentCounts, start: .seeds(job.seeds), gold: gold,
                     observer: progress(FactorMixture.self))
            let files = outcome.modelFiles(for: input, path: trainingPath)
            for (fit, (file, errors)) in zip(outcome.fits, zip(files, outcome.goldErrors)) {
                let modelName = job.writeModels ? "model-k\(fit.componentCount).json" : nil
                if let modelName { models.append((modelName, file)) }
                fits.append(JobResult.Fit(fit, bic: nil, goldErrors: errors, model: modelName))
            }
            warnings = outcome.warnings
            factorSettings = JobResult.FactorSettings(factors: outcome.tuning.factorCount, priorLoadings: outcome.tuning.priors.loadings,
                                                      priorMeans: outcome.tuning.priors.means)
        case .course:
            // The fit `mixfill fit` runs: each K's seeds as one batch, the same runs bit for bit.
            let outcome = try FitJob(componentCounts: job.componentCounts ?? [], start: .seeds(job.seeds), rule: rule, gold: gold)
                .run(on: input, engine: engine, observer: progress(Mixture.self))
            for fit in outcome.fits {
                let modelName = job.writeModels ? "model-k\(fit.fit.componentCount).json" : nil
                if let modelName { models.append((modelName, fit.modelFile(for: input, path: trainingPath))) }
                fits.append(JobResult.Fit(fit.fit, bic: fit.bayesianInformationCriterion, goldErrors: fit.goldErrors, model: modelName))
            }
            warnings = outcome.warnings
        }
        for warning in warnings {
            let (componentCount, seed) = warning.run
            log.add(FitEvent(.warning, job: job.name, componentCount: componentCount, seed: seed,
                             message: warning.text(maxIterationsOption: "max_iterations")))
        }
        for model in models {
            try model.file.write(to: folder + "/" + model.name)
        }
        return JobResult(job: job.name, jobHash: jobHash, status: .ok,
                         data: JobResult.DataSummary(path: job.data, format: input.format.rawValue, users: input.userCount,
                                                     items: input.itemCount, observed: input.observedCount),
                         backend: job.backend.rawValue, kernel: engine.kernel.layoutName,
                         precision: job.precision == .double ? nil : job.precision.rawValue, seeds: job.seeds,
                         maxIterations: job.maxIterations, fits: fits,
                         family: job.family == .course ? nil : job.family.rawValue, settings: factorSettings)
    }

    /// SHA-256 over the job's result-deciding settings and the bytes of its data and gold
    /// files, under a version tag that changes whenever results would.
    package static func contentHash(_ job: JobSpec, dataHash: String, goldHash: String?) -> String {
        var hasher = ContentHasher()
        hasher.update("mixfill-job 1\n")
        hasher.update(job.canonicalText)
        hasher.update("data-sha256=\(dataHash)\n")
        hasher.update("gold-sha256=\(goldHash ?? "")\n")
        return hasher.finalizeHex()
    }

    /// Removes the files MixFill writes in a job folder, and nothing else.
    private func clearJobFolder(_ folder: String) {
        unlink(folder + "/" + Self.resultName)
        unlink(folder + "/" + Self.markerName)
        unlink(folder + "/" + Self.logName)
        removeModels(folder)
        removeCheckpoints(folder)
    }

    private func removeModels(_ folder: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names where name.hasPrefix("model-k") && name.hasSuffix(".json") {
            unlink(folder + "/" + name)
        }
    }

    private func removeCheckpoints(_ folder: String) {
        let checkpoints = folder + "/" + Self.checkpointFolderName
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints)) ?? []
        for name in names where name.hasSuffix(".ckpt") || AtomicFile.isTemporaryName(name) {
            unlink(checkpoints + "/" + name)
        }
        rmdir(checkpoints)
    }
}

/// `job.json`: which settings and content hash a job folder's files belong to.
struct JobMarker: Codable {
    var job: String
    var jobHash: String
    var settings: String
    /// The threads the job runs on, which its checkpoints depend on (absent in markers
    /// written before it was recorded).
    var threads: Int?

    enum CodingKeys: String, CodingKey {
        case job, jobHash = "job_hash", settings, threads
    }

    func write(to path: String) throws(MixFillError) {
        try AtomicFile.write(BatchJSON.encode(self, what: "job.json"), to: path)
    }

    static func read(path: String) -> JobMarker? {
        guard let bytes = try? FileBytes.read(path) else { return nil }
        return try? JSONDecoder().decode(JobMarker.self, from: Data(bytes))
    }
}

/// A job's `log.jsonl`, kept in memory and rewritten whole (atomically) at run ends and
/// at the job's end, so the file on disk is always a complete set of lines. Iteration
/// events go only to the live reporter.
///
/// The log is a record, not a result: a write that fails (a full disk, a folder in its
/// place) is reported once per job as a warning through the reporter (stderr), and the
/// job goes on — its models and `result.json` are still written.
final class JobLog: @unchecked Sendable {
    // Used by the one thread running the job; @unchecked because events arrive through
    // closures the compiler cannot see are confined to it.
    let path: String
    let job: String
    let forward: @Sendable (FitEvent) -> Void
    private var lines = [String]()
    private var failureReported = false

    init(path: String, job: String, forward: @escaping @Sendable (FitEvent) -> Void) {
        self.path = path
        self.job = job
        self.forward = forward
    }

    func load() {
        guard let bytes = try? FileBytes.read(path) else { return }
        lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func add(_ event: FitEvent) {
        forward(event)
        guard event.kind != .iteration else { return }
        lines.append(event.jsonLine(time: Date().ISO8601Format()))
        if event.kind == .runEnd { write() }
    }

    /// Writes the log; a failure is reported (once), not thrown.
    func write() {
        do {
            try AtomicFile.write(Array((lines.joined(separator: "\n") + "\n").utf8), to: path)
        } catch {
            guard !failureReported else { return }
            failureReported = true
            forward(FitEvent(.warning, job: job, message: "cannot write the job's log: \(error.description); the job goes on and its result is still written"))
        }
    }
}

/// An exclusive advisory lock (flock) on a file in a folder, so two batches never write
/// into the same output folder at once. The kernel drops it when the process dies.
struct FolderLock {
    let descriptor: Int32

    init(folder: String, name: String) throws(MixFillError) {
        let path = folder + "/" + name
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .runtime(message: "\(folder): cannot create the lock file \(name): \(FileBytes.describe(errno)); choose a writable output folder")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            close(descriptor)
            throw .runtime(message: "\(folder): another mixfill batch is writing into this folder; wait for it to finish or choose another --out")
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
