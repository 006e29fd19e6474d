#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A multi-seed fit that can be stopped and continued. A K's restarts run as one batch
/// (`fitBatched`, through `ExpectationMaximization.runBatched(resuming:parallelism:observer:)`)
/// or one at a time (`fit`), each with its own checkpoint file `FOLDER/k<K>-seed<s>.ckpt`,
/// written
///
/// - every `every` iterations (when set), atomically;
/// - when `stopRequested` reports a signal: after the current iteration, then the fit
///   throws `MixFillError.interrupted` (exit code 128 + signal);
/// - when a run ends (converged or at its cap), so a resumed fit does not redo it.
///
/// Resuming loads each run's checkpoint (refusing one written for other data or other
/// settings) and continues it; the result is bit for bit the one an uninterrupted fit
/// gives, because the EM loop depends on nothing but the saved state and the batched
/// E-step gives every restart exactly its solo statistics (in double precision whatever
/// the batch; single-precision SGEMM sums depend on the batch's width, which a resumed
/// batch reproduces when its restarts were saved together — by a signal or a periodic
/// checkpoint — but not after a SIGKILL between two of their checkpoint writes).
public struct ResumableFit {
    public struct Checkpointing: Sendable {
        /// Where the run files go (created if missing).
        public var folder: String
        /// Iterations between periodic checkpoints; nil writes them only when a run ends
        /// or the fit is stopped.
        public var every: Int?
        /// Continue from the checkpoints found in `folder`.
        public var resume: Bool
        /// What to tell the user to continue an interrupted fit.
        public var resumeHint: String

        public init(folder: String, every: Int?, resume: Bool, resumeHint: String) {
            self.folder = folder
            self.every = every
            self.resume = resume
            self.resumeHint = resumeHint
        }
    }

    public let em: ExpectationMaximization
    public let data: any RatingData
    /// Settings that change the arithmetic, recorded in checkpoints (`backend`, …).
    public let settings: [String: String]
    public let checkpointing: Checkpointing?
    public let threads: Int
    /// How a batch's E-steps use the threads (the engine's; see `FitEngine`).
    public let parallelism: Parallelism
    /// The batch job this fit belongs to, for events.
    public var job: String?
    public var report: (FitEvent) -> Void
    /// The number of a signal asking the fit to stop, or nil.
    public var stopRequested: () -> Int32?
    private let fingerprint: String

    /// `fingerprint` identifies the data in checkpoints (`RatingInput.fingerprint`, as model
    /// files record it); a dense matrix's own is used when it is left out.
    public init(em: ExpectationMaximization, data: any RatingData, fingerprint: String? = nil, settings: [String: String],
                checkpointing: Checkpointing?, threads: Int, parallelism: Parallelism? = nil, job: String? = nil,
                report: @escaping (FitEvent) -> Void = { _ in }, stopRequested: @escaping () -> Int32? = { nil }) {
        precondition(checkpointing == nil || fingerprint != nil || data is DenseRatingMatrix,
                     "checkpoints of record data need the data's fingerprint")
        self.em = em
        self.data = data
        self.settings = settings
        self.checkpointing = checkpointing
        self.threads = threads
        self.parallelism = parallelism ?? (em.shardWorkers > 1 ? .shardWorkers(em.shardWorkers) : .blasThreads(BLASThreads.current))
        self.job = job
        self.report = report
        self.stopRequested = stopRequested
        self.fingerprint = checkpointing == nil ? "" : fingerprint ?? (data as? DenseRatingMatrix)?.fingerprint ?? ""
    }

    public static func checkpointName(componentCount: Int, seed: UInt32) -> String {
        "k\(componentCount)-seed\(seed).ckpt"
    }

    public func identity(componentCount: Int, seed: UInt32) -> Checkpoint.Identity {
        Checkpoint.Identity(dataFingerprint: fingerprint, userCount: data.userCount, itemCount: data.itemCount,
                            observedCount: data.observedCount, componentCount: componentCount, seed: seed,
                            relativeTolerance: em.stoppingRule.relativeTolerance,
                            varianceFloor: em.stoppingRule.varianceFloor,
                            maxIterations: em.stoppingRule.maxIterations, settings: settings)
    }

    /// Fits K components from every seed, one restart at a time.
    public func fit(componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> MultiStartFit {
        precondition(!seeds.isEmpty, "at least one seed")
        if checkpointing != nil { try createFolder() }
        var runs = [SeededRun]()
        for seed in seeds {
            runs.append(contentsOf: try run(componentCount: componentCount, seeds: [seed]))
        }
        return MultiStartFit(componentCount: componentCount, runs: runs)
    }

    /// Fits K components from every seed as one batch: the same runs, bit for bit, as
    /// `fit` (and as `ExpectationMaximization.fitBatched`), in the batched loop's time.
    public func fitBatched(componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> MultiStartFit {
        precondition(!seeds.isEmpty, "at least one seed")
        if checkpointing != nil { try createFolder() }
        return MultiStartFit(componentCount: componentCount, runs: try run(componentCount: componentCount, seeds: seeds))
    }

    /// Runs `seeds` for K as one batch, each from its checkpoint when resuming.
    private func run(componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> [SeededRun] {
        let identities = seeds.map { identity(componentCount: componentCount, seed: $0) }
        let paths = seeds.map { seed in
            checkpointing.map { $0.folder + "/" + Self.checkpointName(componentCount: componentCount, seed: seed) }
        }
        var saved = [EMState?](repeating: nil, count: seeds.count)
        var earlierSeconds = [Double](repeating: 0, count: seeds.count)
        if let checkpointing, checkpointing.resume {
            for index in seeds.indices {
                guard let path = paths[index], access(path, F_OK) == 0 else { continue }
                let checkpoint = try Checkpoint.read(path: path)
                if let mismatch = checkpoint.identity.mismatch(continuing: identities[index]) {
                    throw .badFile(file: path, message: "this checkpoint \(mismatch); give the data and options it was written with, or delete \(checkpointing.folder) to start over")
                }
                saved[index] = checkpoint.state
                earlierSeconds[index] = checkpoint.seconds
            }
        }
        if let checkpointing, let signal = stopRequested() {
            throw .interrupted(signal: signal, message: "\(Self.signalName(signal)) received: stopped before K = \(componentCount), \(Self.seedList(seeds)); finished runs are saved in \(checkpointing.folder); \(checkpointing.resumeHint)")
        }
        let clock = ContinuousClock()
        let start = clock.now
        var initials = [EMState]()
        for index in seeds.indices {
            if let state = saved[index] {
                initials.append(state)
            } else {
                initials.append(EMState(initial: try Initialization.courseMixture(data: data, componentCount: componentCount, seed: seeds[index])))
            }
        }
        // Initialisation time goes to the runs in equal parts, as their checkpoints' seconds.
        let initialSeconds = (clock.now - start).seconds / Double(seeds.count)
        let maxIterations = em.stoppingRule.maxIterations
        let tolerance = em.stoppingRule.relativeTolerance
        for index in seeds.indices {
            report(FitEvent(.runStart, job: job, componentCount: componentCount, seed: seeds[index],
                            maxIterations: maxIterations, resumedFrom: saved[index].map(\.iterations)))
        }
        var ended = [Bool](repeating: false, count: seeds.count)
        let earlier = earlierSeconds
        let seconds = { (index: Int, share: Double) in earlier[index] + initialSeconds + share }
        let batch = try em.runBatched(resuming: initials, parallelism: parallelism) { (progress: [BatchedRestartProgress]) throws(MixFillError) in
            var savedNow = Set<Int>()
            for restart in progress {
                let index = restart.index
                let current = restart.state
                let trace = current.logLikelihoodTrace
                let last = trace[trace.count - 1]
                let elapsed = seconds(index, restart.seconds)
                report(FitEvent(.iteration, job: job, componentCount: componentCount, seed: seeds[index],
                                iteration: current.iterations, maxIterations: maxIterations, logLikelihood: last,
                                logLikelihoodChange: trace.count > 1 ? last - trace[trace.count - 2] : nil,
                                tolerance: tolerance, seconds: elapsed))
                if current.converged || current.iterations >= maxIterations {
                    // The run is over: save it now, so that a later interruption does not redo it.
                    if let path = paths[index] {
                        try save(current, identity: identities[index], seconds: elapsed, to: path)
                    }
                    report(FitEvent(.runEnd, job: job, componentCount: componentCount, seed: seeds[index],
                                    iteration: current.iterations, maxIterations: maxIterations,
                                    logLikelihood: last, converged: current.converged, seconds: elapsed))
                    ended[index] = true
                } else if let every = checkpointing?.every, let path = paths[index], current.iterations % every == 0 {
                    try save(current, identity: identities[index], seconds: elapsed, to: path)
                    savedNow.insert(index)
                }
            }
            guard let checkpointing, let signal = stopRequested() else { return }
            let stopped = progress.filter { !ended[$0.index] }
            // Runs that ended in this iteration are saved; the next K stops before it starts.
            guard !stopped.isEmpty else { return }
            for restart in stopped where !savedNow.contains(restart.index) {
                guard let path = paths[restart.index] else { continue }
                try save(restart.state, identity: identities[restart.index], seconds: seconds(restart.index, restart.seconds), to: path)
            }
            throw .interrupted(signal: signal, message: "\(Self.signalName(signal)) received: \(Self.stopSummary(componentCount: componentCount, stopped: stopped.map { (seeds[$0.index], $0.state.iterations) }, paths: stopped.map { paths[$0.index] ?? "" }, folder: checkpointing.folder)); \(checkpointing.resumeHint)")
        }
        var runs = [SeededRun]()
        for index in seeds.indices {
            let result = batch.results[index]
            let elapsed = seconds(index, batch.seconds[index])
            if !ended[index] {
                // Finished before this batch (from its checkpoint): saved again, reported as ended.
                if let path = paths[index] {
                    let final = EMState(mixture: result.mixture, logLikelihoodTrace: result.logLikelihoodTrace, converged: result.converged)
                    try save(final, identity: identities[index], seconds: elapsed, to: path)
                }
                report(FitEvent(.runEnd, job: job, componentCount: componentCount, seed: seeds[index],
                                iteration: result.iterations, maxIterations: maxIterations,
                                logLikelihood: result.logLikelihood, converged: result.converged, seconds: elapsed))
            }
            runs.append(SeededRun(seed: seeds[index], result: result, seconds: elapsed))
        }
        return runs
    }

    /// "seed 3" or "seeds 0, 1, 2".
    static func seedList(_ seeds: [UInt32]) -> String {
        seeds.count == 1 ? "seed \(seeds[0])" : "seeds " + seeds.map(String.init).joined(separator: ", ")
    }

    /// What a signal saved: "K = 5, seed 1 saved at iteration 4 in FOLDER/k5-seed1.ckpt", or
    /// for several runs "K = 12, seeds 0, 1 saved at iteration 7 in FOLDER".
    static func stopSummary(componentCount: Int, stopped: [(seed: UInt32, iterations: Int)], paths: [String], folder: String) -> String {
        let iterations = Set(stopped.map(\.iterations)).sorted()
        let at = iterations.count == 1 ? "iteration \(iterations[0])" : "iterations \(iterations.map(String.init).joined(separator: ", "))"
        let place = stopped.count == 1 ? paths[0] : folder
        return "K = \(componentCount), \(seedList(stopped.map(\.seed))) saved at \(at) in \(place)"
    }

    private func save(_ state: EMState, identity: Checkpoint.Identity, seconds: Double, to path: String) throws(MixFillError) {
        try Checkpoint(identity: identity, state: state, seconds: seconds, threads: threads).write(to: path)
        report(FitEvent(.checkpoint, job: job, componentCount: identity.componentCount, seed: identity.seed,
                        iteration: state.iterations, path: path))
    }

    private func createFolder() throws(MixFillError) {
        guard let folder = checkpointing?.folder else { return }
        try Folders.create(folder, purpose: "checkpoint folder")
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        default: return "signal \(signal)"
        }
    }
}
