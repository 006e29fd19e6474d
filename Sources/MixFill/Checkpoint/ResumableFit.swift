#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A multi-seed fit that can be stopped and continued: restarts run one at a time through
/// `ExpectationMaximization.run(resuming:observer:)`, each with its own checkpoint file
/// `FOLDER/k<K>-seed<s>.ckpt`, written
///
/// - every `every` iterations (when set), atomically;
/// - when `stopRequested` reports a signal: after the current iteration, then the fit
///   throws `MixFillError.interrupted` (exit code 128 + signal);
/// - when a run ends (converged or at its cap), so a resumed fit does not redo it.
///
/// Resuming loads each run's checkpoint (refusing one written for other data or other
/// settings) and continues it; the result is bit for bit the one an uninterrupted fit
/// gives, because the EM loop depends on nothing but the saved state.
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
    /// The batch job this fit belongs to, for events.
    public var job: String?
    public var report: (FitEvent) -> Void
    /// The number of a signal asking the fit to stop, or nil.
    public var stopRequested: () -> Int32?
    private let fingerprint: String

    /// `fingerprint` identifies the data in checkpoints (`RatingInput.fingerprint`, as model
    /// files record it); a dense matrix's own is used when it is left out.
    public init(em: ExpectationMaximization, data: any RatingData, fingerprint: String? = nil, settings: [String: String],
                checkpointing: Checkpointing?, threads: Int, job: String? = nil,
                report: @escaping (FitEvent) -> Void = { _ in }, stopRequested: @escaping () -> Int32? = { nil }) {
        precondition(checkpointing == nil || fingerprint != nil || data is DenseRatingMatrix,
                     "checkpoints of record data need the data's fingerprint")
        self.em = em
        self.data = data
        self.settings = settings
        self.checkpointing = checkpointing
        self.threads = threads
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
            runs.append(try run(componentCount: componentCount, seed: seed))
        }
        return MultiStartFit(componentCount: componentCount, runs: runs)
    }

    private func run(componentCount: Int, seed: UInt32) throws(MixFillError) -> SeededRun {
        let clock = ContinuousClock()
        let start = clock.now
        let identity = identity(componentCount: componentCount, seed: seed)
        let path = checkpointing.map { $0.folder + "/" + Self.checkpointName(componentCount: componentCount, seed: seed) }
        var state: EMState?
        var earlierSeconds = 0.0
        if let checkpointing, let path, checkpointing.resume, access(path, F_OK) == 0 {
            let saved = try Checkpoint.read(path: path)
            if let mismatch = saved.identity.mismatch(continuing: identity) {
                throw .badFile(file: path, message: "this checkpoint \(mismatch); give the data and options it was written with, or delete \(checkpointing.folder) to start over")
            }
            state = saved.state
            earlierSeconds = saved.seconds
        }
        if let checkpointing, let signal = stopRequested() {
            throw .interrupted(signal: signal, message: "\(Self.signalName(signal)) received: stopped before K = \(componentCount), seed \(seed); finished runs are saved in \(checkpointing.folder); \(checkpointing.resumeHint)")
        }
        let initial: EMState
        if let state {
            initial = state
        } else {
            initial = EMState(initial: try Initialization.courseMixture(data: data, componentCount: componentCount, seed: seed))
        }
        report(FitEvent(.runStart, job: job, componentCount: componentCount, seed: seed,
                        maxIterations: em.stoppingRule.maxIterations,
                        resumedFrom: state.map(\.iterations)))

        let maxIterations = em.stoppingRule.maxIterations
        let tolerance = em.stoppingRule.relativeTolerance
        let elapsed = { earlierSeconds + (clock.now - start).seconds }
        let result = try em.run(resuming: initial) { (current: EMState) throws(MixFillError) in
            let trace = current.logLikelihoodTrace
            let last = trace[trace.count - 1]
            report(FitEvent(.iteration, job: job, componentCount: componentCount, seed: seed,
                            iteration: current.iterations, maxIterations: maxIterations, logLikelihood: last,
                            logLikelihoodChange: trace.count > 1 ? last - trace[trace.count - 2] : nil,
                            tolerance: tolerance, seconds: elapsed()))
            guard let checkpointing, let path, !current.converged, current.iterations < maxIterations else { return }
            var saved = false
            if let every = checkpointing.every, current.iterations % every == 0 {
                try save(current, identity: identity, seconds: elapsed(), to: path)
                saved = true
            }
            if let signal = stopRequested() {
                if !saved { try save(current, identity: identity, seconds: elapsed(), to: path) }
                throw .interrupted(signal: signal, message: "\(Self.signalName(signal)) received: K = \(componentCount), seed \(seed) saved at iteration \(current.iterations) in \(path); \(checkpointing.resumeHint)")
            }
        }
        let seconds = elapsed()
        if let path {
            let final = EMState(mixture: result.mixture, logLikelihoodTrace: result.logLikelihoodTrace, converged: result.converged)
            try save(final, identity: identity, seconds: seconds, to: path)
        }
        report(FitEvent(.runEnd, job: job, componentCount: componentCount, seed: seed,
                        iteration: result.iterations, maxIterations: maxIterations,
                        logLikelihood: result.logLikelihood, converged: result.converged, seconds: seconds))
        return SeededRun(seed: seed, result: result, seconds: seconds)
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
