/// A kind of mixture the EM loop fits: how one model's statistics are laid out, how an
/// iteration's objective is read from them, and the M-step. A family is a set of
/// statistics and an M-step, never a loop of its own.
package protocol EMFamily: Sendable {
    associatedtype Model: Sendable & Equatable

    /// Doubles in one model's statistics record.
    func recordLength(_ model: Model) -> Int

    /// The objective of the E-step that produced `record` with `model`: the log-likelihood,
    /// plus the log-prior of `model` for a family with priors. An EM iteration never lowers
    /// it (up to rounding). `workers` threads are its to use, as the M-step's; the result
    /// must not depend on them.
    func objective(_ model: Model, record: UnsafeBufferPointer<Double>, workers: Int) -> Double

    /// The M-step: the next model from `model` and its summed statistics. `workers` threads
    /// are the M-step's to use (the loop's threads not taken by other runs' M-steps); the
    /// result must not depend on them.
    func maximise(_ model: Model, record: UnsafeBufferPointer<Double>, workers: Int) -> Model

    /// Whether EM's guarantee holds for an M-step from `model`: the objective of the next
    /// E-step is at least this one's. It fails only for a model outside the set the M-step
    /// maximises over (the course's initial variances below the floor, which the next
    /// M-step raises to it).
    func guaranteesAscent(from model: Model) -> Bool
}

/// When the EM loop stops.
public struct StoppingRule: Sendable, Equatable {
    /// Stop after the E-step whose objective satisfies new − old ≤ tolerance·|new|. The
    /// course's 1e-6 is relative, so the rule means the same on 20 users and on 480,000.
    public var relativeTolerance: Double
    /// Give up after this many E-steps and report the fit as not converged.
    public var maxIterations: Int

    public init(relativeTolerance: Double = 1e-6, maxIterations: Int = 1000) {
        self.relativeTolerance = relativeTolerance
        self.maxIterations = maxIterations
    }
}

/// Where a run stands between two iterations: the model after the last M-step and the
/// objective of every E-step so far. The loop needs nothing else (the stopping rule
/// compares the next objective with the last one in the trace, or with
/// `previousObjective` before the first), so a run continued from a saved state computes
/// exactly, bit for bit, what it would have computed uninterrupted.
public struct EMState<Model: Sendable & Equatable>: Sendable, Equatable {
    public var model: Model
    /// The objective of every E-step so far, in order.
    public var trace: [Double]
    /// Whether the last E-step met the stopping rule.
    public var converged: Bool
    /// What the first E-step of the trace is compared with: nil for a run from an
    /// initialisation, the saved fit's last objective for a warm start.
    public var previousObjective: Double?

    /// The state before the first iteration.
    public init(initial: Model, previousObjective: Double? = nil) {
        self.init(model: initial, trace: [], converged: false, previousObjective: previousObjective)
    }

    public init(model: Model, trace: [Double], converged: Bool, previousObjective: Double? = nil) {
        self.model = model
        self.trace = trace
        self.converged = converged
        self.previousObjective = previousObjective
    }

    /// Number of E-steps run.
    public var iterations: Int { trace.count }
}

/// One EM run.
public struct FitResult<Model: Sendable & Equatable>: Sendable {
    /// The model after the last M-step.
    public var model: Model
    /// The objective of the last E-step (the one that met the stopping rule).
    public var objective: Double
    /// Number of E-steps run.
    public var iterations: Int
    public var converged: Bool
    /// The objective of every E-step, in order.
    public var trace: [Double]
    /// Iterations whose objective fell below the one before by more than rounding allows
    /// (`EMLoop.fallTolerance`): EM guarantees it never falls, so a fall means the data or
    /// the arithmetic is at its limits, and the caller warns.
    public var falls: [Int]
    /// This run's share of the loop's wall time (see `EMLoop.run`).
    public var seconds: Double
}

/// A run after an iteration it took part in, as the loop's observer sees it.
public struct RestartProgress<Model: Sendable & Equatable>: Sendable {
    /// The run's position in the loop's input.
    public var index: Int
    /// Its state after the iteration (the M-step done, `converged` decided).
    public var state: EMState<Model>
    /// Its share of the loop's wall time so far.
    public var seconds: Double
}

/// The EM loop: every family, kernel, shard count, batch size and caller runs this one.
///
/// Each iteration: every shard computes its statistics for the models of the runs still
/// going (one batch; a single run is a batch of one), the reducer sums the shards' buffers,
/// and each run reads its record of the sum, tests its objective and takes its M-step. A
/// run leaves the batch when it converges or reaches the iteration cap, so batched kernels'
/// GEMMs narrow as the batch thins. What a caller wants besides the results (progress,
/// checkpoints, signals) it gets from `observer`, which sees every run after each
/// iteration it ran in and may throw to stop the loop there.
///
/// A run's result depends only on its own state, the shards and the reducer — not on the
/// other runs of the batch (every kernel computes each model's record as it would alone;
/// the BLAS kernel's batched GEMMs are exact in double precision, see `BLASKernel`) and
/// not on the worker count (every buffer is summed in shard order).
package struct EMLoop<Family: EMFamily> {
    package typealias Model = Family.Model

    package let family: Family
    package let shards: [any StatisticsKernel<Model>]
    /// Threads the shards (then the runs' M-steps) are spread over; worker w takes items
    /// w, w + workers, …
    package let workers: Int
    package let reducer: any StatisticsReducer
    package private(set) var rule: StoppingRule
    /// The shards with their statistics buffers, reused from one iteration to the next.
    private let slots: [Slot]

    /// A fall of the objective below this fraction of its size is rounding: the sums over
    /// users lose about 1e-16 relative per addition, far below this.
    package static var fallTolerance: Double { 1e-12 }

    package init(family: Family, shards: [any StatisticsKernel<Model>], workers: Int = 1,
                 reducer: any StatisticsReducer = ThreadReducer(), rule: StoppingRule = StoppingRule()) {
        precondition(!shards.isEmpty, "EM needs at least one shard")
        self.family = family
        self.shards = shards
        self.workers = max(1, workers)
        self.reducer = reducer
        self.rule = rule
        slots = shards.map { Slot(kernel: $0) }
    }

    /// Users over all shards.
    package var userCount: Int { shards.reduce(0) { $0 + $1.userCount } }

    /// This loop under another stopping rule: the same shards, with their workspaces and
    /// buffers (a kernel's regrouping of the ratings is built once, not once per loop). The
    /// two must not run at the same time.
    package func with(rule: StoppingRule) -> EMLoop {
        var loop = self
        loop.rule = rule
        return loop
    }

    /// Runs EM from every state until each meets the stopping rule or the iteration cap.
    /// Each run's `seconds` is its share of the wall time: every iteration's time split
    /// among the runs in it in proportion to their record lengths (the E-step's work).
    ///
    /// `earlierSeconds[r]` is time run r spent before this call (a resumed run's), counted
    /// in its `seconds`.
    ///
    /// Throws when a run's objective stops being finite (the error of the first such run in
    /// input order, after the others have finished), or what `observer` throws.
    package func run(_ states: [EMState<Model>], earlierSeconds: [Double]? = nil,
                     observer: (([RestartProgress<Model>]) throws(MixFillError) -> Void)? = nil)
        throws(MixFillError) -> [FitResult<Model>] {
        precondition(earlierSeconds.map { $0.count == states.count } ?? true, "one earlier time per run")
        let runs = states.map { RunState(state: $0) }
        for (run, seconds) in zip(runs, earlierSeconds ?? []) { run.seconds = seconds }
        var active = runs.filter { $0.isRunning(rule) }
        let clock = ContinuousClock()
        while !active.isEmpty {
            let start = clock.now
            let (layout, sum) = try statistics(active.map(\.state.model))
            let lengths = (0..<layout.modelCount).map { layout.record($0).count }
            let running = active
            let family = self.family
            let rule = self.rule
            // Runs' M-steps side by side, and the threads left over inside each.
            let spare = max(1, workers / max(1, running.count))
            forEachConcurrently(running.count, workers: workers) { position in
                sum.withUnsafeBufferPointer { buffer in
                    running[position].advance(family: family, record: UnsafeBufferPointer(rebasing: buffer[layout.record(position)]),
                                              rule: rule, workers: spare)
                }
            }
            let elapsed = (clock.now - start).seconds
            let work = Double(layout.length)
            for (run, length) in zip(active, lengths) {
                run.seconds += elapsed * Double(length) / work
            }
            if let observer {
                let ran = runs.indices.filter { index in runs[index].failure == nil && active.contains { $0 === runs[index] } }
                try observer(ran.map { RestartProgress(index: $0, state: runs[$0].state, seconds: runs[$0].seconds) })
            }
            active = active.filter { $0.isRunning(rule) }
        }
        if let failure = runs.lazy.compactMap(\.failure).first {
            throw failure
        }
        return runs.map(\.result)
    }

    /// One E-step for every model: each shard's statistics on the loop's workers, summed
    /// by the reducer. Model r's record is `layout.record(r)` of the sum.
    package func statistics(_ models: [Model]) throws(MixFillError) -> (layout: BatchLayout, sum: [Double]) {
        let layout = BatchLayout(lengths: models.map(family.recordLength))
        let slots = self.slots
        forEachConcurrently(slots.count, workers: workers) { index in
            slots[index].compute(models, layout: layout)
        }
        var sum = [Double]()
        try reducer.reduce(slots.map(\.buffer), into: &sum)
        return (layout, sum)
    }

    /// One E-step's per-user states for `model`, users in shard order, the shards run on
    /// the loop's workers, and the total log-likelihood (added in shard order). Refuses a
    /// model whose E-step is not finite, as the loop does.
    package func userStates(_ model: Model) throws(MixFillError) -> (states: [Double], logLikelihood: Double) {
        let parts = shards.map { _ in StatesSlot() }
        let slots = self.slots
        forEachConcurrently(parts.count, workers: workers) { index in
            parts[index].value = slots[index].kernel.userStates(model)
        }
        var states = [Double]()
        var logLikelihood = 0.0
        for part in parts {
            states.append(contentsOf: part.value.states)
            logLikelihood += part.value.logLikelihood
        }
        guard logLikelihood.isFinite, states.allSatisfy(\.isFinite) else {
            throw .runtime(message: "the E-step of the fitted model is not finite (log-likelihood \(logLikelihood)); check the data for extreme values")
        }
        return (states, logLikelihood)
    }

    /// One shard with its statistics buffer; exactly one worker uses it per E-step.
    private final class Slot: @unchecked Sendable {
        let kernel: any StatisticsKernel<Model>
        let buffer = ShardBuffer()

        init(kernel: any StatisticsKernel<Model>) { self.kernel = kernel }

        func compute(_ models: [Model], layout: BatchLayout) {
            buffer.prepare(length: layout.length)
            buffer.values.withUnsafeMutableBufferPointer { values in
                kernel.computeStatistics(models, layout: layout, into: values)
            }
        }
    }

    /// One shard's user states, written by exactly one worker.
    private final class StatesSlot: @unchecked Sendable {
        var value: (states: [Double], logLikelihood: Double) = ([], 0)
    }

    /// One run's progress through the loop; each iteration exactly one worker advances it.
    private final class RunState: @unchecked Sendable {
        var state: EMState<Model>
        var falls: [Int] = []
        /// Whether the M-step that led to the current model kept EM's guarantee.
        var ascentGuaranteed = true
        var failure: MixFillError?
        var seconds = 0.0

        init(state: EMState<Model>) { self.state = state }

        /// Tests the E-step's objective, then takes the M-step.
        func advance(family: Family, record: UnsafeBufferPointer<Double>, rule: StoppingRule, workers: Int) {
            let objective = family.objective(state.model, record: record, workers: workers)
            guard objective.isFinite else {
                failure = .runtime(message: "the objective became \(objective) at iteration \(state.iterations + 1); check the data for extreme values")
                return
            }
            let previous = state.trace.last ?? state.previousObjective
            state.trace.append(objective)
            if let previous, ascentGuaranteed, previous - objective > EMLoop.fallTolerance * abs(objective) {
                falls.append(state.iterations)
            }
            ascentGuaranteed = family.guaranteesAscent(from: state.model)
            state.model = family.maximise(state.model, record: record, workers: workers)
            if let previous, objective - previous <= rule.relativeTolerance * abs(objective) {
                state.converged = true
            }
        }

        func isRunning(_ rule: StoppingRule) -> Bool {
            failure == nil && !state.converged && state.iterations < rule.maxIterations
        }

        var result: FitResult<Model> {
            FitResult(model: state.model, objective: state.trace.last ?? -.infinity, iterations: state.iterations,
                      converged: state.converged, trace: state.trace, falls: falls, seconds: seconds)
        }
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    package var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}
