import MixFill
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The course model's observer, by the name it always had.
package typealias FitProgress = RunProgress<Mixture>

/// A fit's observer for the commands: reports every run's start, iterations, checkpoints
/// and end as `FitEvent`s, and — with `checkpointing` — saves each run's state to its own
/// checkpoint file `FOLDER/k<K>-seed<s>.ckpt`, written
///
/// - every `every` iterations (when set), atomically;
/// - when `stopRequested` reports a signal: after the current iteration, then the fit
///   throws `MixFillError.interrupted` (exit code 128 + signal);
/// - when a run ends (converged or at its cap), so a resumed fit does not redo it.
///
/// Resuming loads each run's checkpoint (refusing one written for other data or other
/// settings, the thread count included) and continues it; the result is bit for bit the
/// one an uninterrupted fit gives, because the EM loop depends on nothing but the saved
/// state, and the batched E-step gives every run exactly its own statistics (in double
/// precision whatever the batch; single-precision SGEMM sums depend on the batch's width,
/// which a resumed batch reproduces when its runs were saved together — by a signal or a
/// periodic checkpoint — but not after a SIGKILL between two of their checkpoint writes).
///
/// Every family runs through this one observer; a family's checkpoints differ only in
/// what `CheckpointModel` adds. Settings a fit chooses itself before its runs (the factor
/// family's q and priors, from the training ratings) reach it through `settingsChosen` and
/// join each run's identity.
package final class RunProgress<Model: CheckpointModel>: FitObserver {

    package struct Checkpointing: Sendable {
        /// Where the run files go (created if missing).
        package var folder: String
        /// Iterations between periodic checkpoints; nil writes them only when a run ends
        /// or the fit is stopped.
        package var every: Int?
        /// Continue from the checkpoints found in `folder`.
        package var resume: Bool
        /// What to tell the user to continue an interrupted fit.
        package var resumeHint: String

        package init(folder: String, every: Int?, resume: Bool, resumeHint: String) {
            self.folder = folder
            self.every = every
            self.resume = resume
            self.resumeHint = resumeHint
        }
    }

    /// What the checkpoints of this fit record besides each run's K and seed.
    package struct Context: Sendable {
        /// `RatingInput.fingerprint` of the data.
        package var fingerprint: String
        package var userCount: Int
        package var itemCount: Int
        package var observedCount: Int
        package var rule: StoppingRule
        /// The course's variance floor; nil for a family without one.
        package var varianceFloor: Double?
        package var engine: Engine
        /// The number of MPI ranks of a distributed fit (nil for one process): like the
        /// thread count, it decides how the users are cut into shards.
        package var ranks: Int?

        package init(input: RatingInput, rule: StoppingRule, varianceFloor: Double?, engine: Engine) {
            self.init(fingerprint: input.fingerprint, userCount: input.userCount, itemCount: input.itemCount,
                      observedCount: input.observedCount, rule: rule, varianceFloor: varianceFloor, engine: engine)
        }

        /// The context of data described by its fingerprint and counts (a distributed fit's
        /// ranks each hold a part of it).
        package init(fingerprint: String, userCount: Int, itemCount: Int, observedCount: Int, rule: StoppingRule,
                     varianceFloor: Double?, engine: Engine, ranks: Int? = nil) {
            self.fingerprint = fingerprint
            self.userCount = userCount
            self.itemCount = itemCount
            self.observedCount = observedCount
            self.rule = rule
            self.varianceFloor = varianceFloor
            self.engine = engine
            self.ranks = ranks
        }
    }

    let context: Context
    let checkpointing: Checkpointing?
    /// The batch job this fit belongs to, for events.
    let job: String?
    let report: (FitEvent) -> Void
    /// The number of a signal asking the fit to stop, or nil.
    let stopRequested: () -> Int32?
    /// Hears the running count of EM iterations while the factor family chooses its
    /// settings (a terminal's status line: that choice reports no runs of its own).
    package var onChoosing: ((Int) -> Void)?
    private var choosingIterations = 0

    /// Per run of the K in progress: its checkpoint path, whether it has ended, and the
    /// iteration it was resumed from.
    private var paths: [String?] = []
    private var ended: [Bool] = []
    private var resumedFrom: [Int?] = []
    /// The K `savedRuns` prepared the arrays above for (a warm start skips it).
    private var preparedFor: Int?
    /// Settings the fit chose before its runs (`settingsChosen`).
    private var chosenSettings: [String: String] = [:]

    package init(context: Context, checkpointing: Checkpointing?, job: String? = nil,
                 report: @escaping (FitEvent) -> Void = { _ in }, stopRequested: @escaping () -> Int32? = { nil }) {
        self.context = context
        self.checkpointing = checkpointing
        self.job = job
        self.report = report
        self.stopRequested = stopRequested
    }

    package static func checkpointName(componentCount: Int, seed: UInt32) -> String {
        "k\(componentCount)-seed\(seed).ckpt"
    }

    package func identity(componentCount: Int, seed: UInt32) -> CheckpointIdentity {
        CheckpointIdentity(family: Model.family, dataFingerprint: context.fingerprint, userCount: context.userCount, itemCount: context.itemCount,
                            observedCount: context.observedCount, componentCount: componentCount, seed: seed,
                            relativeTolerance: context.rule.relativeTolerance, varianceFloor: context.varianceFloor,
                            maxIterations: context.rule.maxIterations,
                            settings: settings.merging(chosenSettings) { $1 },
                            threads: context.engine.threads)
    }

    /// The engine's settings that change a run's arithmetic, and a distributed fit's rank count.
    private var settings: [String: String] {
        var settings = CheckpointIdentity.settings(of: context.engine)
        if let ranks = context.ranks { settings["ranks"] = String(ranks) }
        return settings
    }

    package func settingsChosen(_ settings: [String: String]) throws(MixFillError) {
        chosenSettings = settings
    }

    package func savedRuns(componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> [SavedRun<Model>?] {
        paths = seeds.map { seed in
            checkpointing.map { $0.folder + "/" + Self.checkpointName(componentCount: componentCount, seed: seed) }
        }
        ended = seeds.map { _ in false }
        resumedFrom = seeds.map { _ in nil }
        preparedFor = componentCount
        if let checkpointing { try Folders.create(checkpointing.folder, purpose: "checkpoint folder") }
        var saved = [SavedRun<Model>?](repeating: nil, count: seeds.count)
        if let checkpointing, checkpointing.resume {
            for index in seeds.indices {
                guard let path = paths[index], access(path, F_OK) == 0 else { continue }
                let checkpoint = try ModelCheckpoint<Model>.read(path: path)
                if let mismatch = checkpoint.identity.mismatch(continuing: identity(componentCount: componentCount, seed: seeds[index])) {
                    throw .badFile(file: path, message: "this checkpoint \(mismatch); give the data and options it was written with, or delete \(checkpointing.folder) to start over")
                }
                saved[index] = SavedRun(state: checkpoint.state, seconds: checkpoint.seconds)
                resumedFrom[index] = checkpoint.state.iterations
            }
        }
        if let checkpointing, let signal = stopRequested() {
            throw .interrupted(signal: signal, message: "\(Self.signalName(signal)) received: stopped before K = \(componentCount), \(Self.seedList(seeds)); finished runs are saved in \(checkpointing.folder); \(checkpointing.resumeHint)")
        }
        return saved
    }

    /// A stop requested while the factor family chooses its settings ends the fit at once:
    /// nothing of the choice is saved, and resuming makes it again (it is deterministic).
    package func choosingSettings() throws(MixFillError) {
        choosingIterations += 1
        onChoosing?(choosingIterations)
        guard let checkpointing, let signal = stopRequested() else { return }
        throw .interrupted(signal: signal, message: "\(Self.signalName(signal)) received: stopped while choosing the settings, before any run (nothing to save: the choice is made again on resuming); \(checkpointing.resumeHint)")
    }

    package func runsStarting(componentCount: Int, seeds: [UInt32], states: [EMState<Model>]) throws(MixFillError) {
        if preparedFor != componentCount {
            // A warm start asks for no saved states: nothing is checkpointed.
            paths = seeds.map { _ in nil }
            ended = seeds.map { _ in false }
            resumedFrom = seeds.map { _ in nil }
        }
        preparedFor = nil
        for index in seeds.indices {
            report(FitEvent(.runStart, job: job, componentCount: componentCount, seed: seeds[index],
                            maxIterations: context.rule.maxIterations, resumedFrom: resumedFrom[index]))
        }
    }

    package func iterationEnded(componentCount: Int, seeds: [UInt32], progress: [RestartProgress<Model>]) throws(MixFillError) {
        let maxIterations = context.rule.maxIterations
        var savedNow = Set<Int>()
        for restart in progress {
            let index = restart.index
            let current = restart.state
            let trace = current.trace
            let last = trace[trace.count - 1]
            let elapsed = restart.seconds
            report(FitEvent(.iteration, job: job, componentCount: componentCount, seed: seeds[index],
                            iteration: current.iterations, maxIterations: maxIterations, logLikelihood: last,
                            logLikelihoodChange: trace.count > 1 ? last - trace[trace.count - 2] : nil,
                            tolerance: context.rule.relativeTolerance, seconds: elapsed))
            if current.converged || current.iterations >= maxIterations {
                // The run is over: save it now, so that a later interruption does not redo it.
                if let path = paths[index] {
                    try save(current, componentCount: componentCount, seed: seeds[index], seconds: elapsed, to: path)
                }
                report(FitEvent(.runEnd, job: job, componentCount: componentCount, seed: seeds[index],
                                iteration: current.iterations, maxIterations: maxIterations,
                                logLikelihood: last, converged: current.converged, seconds: elapsed))
                ended[index] = true
            } else if let every = checkpointing?.every, let path = paths[index], current.iterations % every == 0 {
                try save(current, componentCount: componentCount, seed: seeds[index], seconds: elapsed, to: path)
                savedNow.insert(index)
            }
        }
        guard let checkpointing, let signal = stopRequested() else { return }
        let stopped = progress.filter { !ended[$0.index] }
        // Runs that ended in this iteration are saved; the next K stops before it starts.
        guard !stopped.isEmpty else { return }
        for restart in stopped where !savedNow.contains(restart.index) {
            guard let path = paths[restart.index] else { continue }
            try save(restart.state, componentCount: componentCount, seed: seeds[restart.index],
                     seconds: restart.seconds, to: path)
        }
        let summary = Self.stopSummary(componentCount: componentCount,
                                       stopped: stopped.map { (seeds[$0.index], $0.state.iterations) },
                                       paths: stopped.map { paths[$0.index] ?? "" }, folder: checkpointing.folder)
        throw .interrupted(signal: signal, message: "\(Self.signalName(signal)) received: \(summary); \(checkpointing.resumeHint)")
    }

    package func runsEnded(componentCount: Int, seeds: [UInt32], results: [FitResult<Model>]) throws(MixFillError) {
        for index in seeds.indices where !ended[index] {
            // Finished before this batch (from its checkpoint): saved again, reported as ended.
            let result = results[index]
            let elapsed = result.seconds
            if let path = paths[index] {
                let final = EMState(model: result.model, trace: result.trace, converged: result.converged)
                try save(final, componentCount: componentCount, seed: seeds[index], seconds: elapsed, to: path)
            }
            report(FitEvent(.runEnd, job: job, componentCount: componentCount, seed: seeds[index],
                            iteration: result.iterations, maxIterations: context.rule.maxIterations,
                            logLikelihood: result.objective, converged: result.converged, seconds: elapsed))
        }
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

    private func save(_ state: EMState<Model>, componentCount: Int, seed: UInt32, seconds: Double, to path: String) throws(MixFillError) {
        try ModelCheckpoint(identity: identity(componentCount: componentCount, seed: seed), state: state, seconds: seconds).write(to: path)
        report(FitEvent(.checkpoint, job: job, componentCount: componentCount, seed: seed, iteration: state.iterations, path: path))
    }

    package static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        default: return "signal \(signal)"
        }
    }
}
