/// How the E-step runs on this machine: which kernel, cut into which shards, and who owns
/// the threads. Every command that fits or runs E-steps (`fit`, `batch`, `fill`, `eval`,
/// `select`, `measure`, `predict`/`recommend`, `bench`) builds its engine here, so the same
/// data, kernel, precision and thread count give the same arithmetic — and the same bits —
/// whichever command runs it.
///
/// The thread policy, for `threads` = N:
///
/// - the dense BLAS kernel: the users cut into N shards run on N threads, each on
///   single-threaded OpenBLAS (`Parallelism.shardWorkers`). Measured faster than one shard
///   on N-threaded OpenBLAS, whose threads synchronise on every one of the kernel's
///   block-sized GEMMs (README, Performance). The shards' sums are added in shard order,
///   so a result depends on N (about 1e-15 relative) but never on timing;
/// - the sparse kernel: its own N threads, OpenBLAS at one thread;
/// - the blocked kernel: one shard, its GEMMs on N-threaded OpenBLAS;
/// - the naive kernel: one shard on one thread (the textbook loops, never tuned).
///
/// Swift threads are never stacked on multi-threaded OpenBLAS: building an engine sets
/// OpenBLAS's thread count to what its `parallelism` needs.
public struct FitEngine {
    /// How the engine's threads are used, when a benchmark wants a particular way rather
    /// than the policy above (`mixfill bench` compares them).
    public enum Threading: Sendable, Equatable {
        /// The policy above.
        case standard
        /// The dense BLAS kernel as one shard on `threads`-threaded OpenBLAS.
        case oneShardOnBLASThreads
    }

    /// How the options that choose an engine are spelled where the user gave them, for
    /// error messages: on the command line (`--precision`) or in a job file
    /// (`jobs.json:4: "precision" in job "a"`).
    public struct Spelling: Sendable {
        /// Where option `name` ("precision", "kernel", "backend") was given.
        public var place: @Sendable (_ name: String) -> String
        /// Option `name` set to the first of `values`, or the others: "--kernel sparse or blocked".
        public var setting: @Sendable (_ name: String, _ values: [String]) -> String
        /// The option itself: "--precision".
        public var option: @Sendable (_ name: String) -> String

        public init(place: @escaping @Sendable (String) -> String,
                    setting: @escaping @Sendable (String, [String]) -> String,
                    option: @escaping @Sendable (String) -> String) {
            self.place = place
            self.setting = setting
            self.option = option
        }

        /// The CLI's options: `--precision`, `--kernel dense`.
        public static let commandLine = Spelling(
            place: { "--" + $0 },
            setting: { name, values in "--\(name) " + values.joined(separator: " or ") },
            option: { "--" + $0 })

        /// A job file's fields: `"kernel": "dense"`, placed at the job's line.
        public static func jobFile(_ path: String, line: Int, job: String) -> Spelling {
            Spelling(
                place: { "\(path):\(line): \"\($0)\" in job \"\(job)\"" },
                setting: { name, values in "\"\(name)\": " + values.map { "\"\($0)\"" }.joined(separator: " or ") },
                option: { "\"\($0)\"" })
        }
    }

    /// The E-step's shards, in user order.
    public let shards: [any StatisticsKernel]
    /// How the shards share the threads.
    public let parallelism: Parallelism
    /// The kernel that runs (`auto` decided; `--backend naive` is `dense`).
    public let kernel: KernelChoice
    public let backend: Backend
    public let precision: Precision
    /// The thread count asked for.
    public let threads: Int

    /// The engine for loaded data. Throws `MixFillError.badOption` (at `spelling`'s place)
    /// when the precision, kernel and backend cannot run together or on this data: single
    /// precision off the dense BLAS kernel, `naive` with a non-dense kernel, a dense kernel
    /// for records that would not fit in memory or hold a rating of 0.
    ///
    /// `stopIdleBLASPool`: after setting OpenBLAS to one thread, also stop its pool of
    /// idle workers, which otherwise spin for ~0.1 s beside this engine's threads (a
    /// course fit: 0.24 → 0.17 s). Only for a caller that owns the process (no other thread
    /// may be inside BLAS): the CLI.
    public init(input: RatingInput, kernel choice: KernelChoice = .auto, backend: Backend = .blas,
                precision: Precision = .double, threads: Int, threading: Threading = .standard,
                spelling: Spelling = .commandLine, stopIdleBLASPool: Bool = false) throws(MixFillError) {
        let threads = max(1, threads)
        if let error = input.precisionError(precision, choice: choice, backend: backend, spelling: spelling) {
            throw error
        }
        let resolved = input.resolvedKernel(choice, backend: backend)
        let shards: [any StatisticsKernel]
        let parallelism: Parallelism
        if backend == .blas, resolved == .dense, threading == .standard {
            let matrix = try input.densified(spelling: spelling)
            shards = BLASKernel.shards(of: matrix, count: threads, precision: precision)
            parallelism = .shardWorkers(shards.count)
        } else {
            shards = [try input.makeKernel(choice, backend: backend, threads: threads, precision: precision, spelling: spelling)]
            // Only the blocked kernel and the one-shard dense BLAS kernel compute on OpenBLAS's threads.
            let onBLASThreads = backend == .blas && (resolved == .blocked || resolved == .dense)
            parallelism = .blasThreads(onBLASThreads ? threads : 1)
        }
        self.shards = shards
        self.parallelism = parallelism
        self.kernel = resolved == .auto ? .dense : resolved
        self.backend = backend
        self.precision = precision
        self.threads = threads
        claimThreads(stopIdleBLASPool: stopIdleBLASPool)
    }

    /// Sets OpenBLAS's threads to what this engine's `parallelism` needs (one when the
    /// engine runs threads of its own), and with `stopIdleBLASPool` stops OpenBLAS's idle
    /// pool then (see `init`). Building an engine does this; call it again when another
    /// engine has run in between (benchmarks that compare engines).
    public func claimThreads(stopIdleBLASPool: Bool = false) {
        BLASThreads.set(parallelism.blasThreadCount)
        if stopIdleBLASPool && parallelism.blasThreadCount == 1 && threads > 1 {
            BLASThreads.stopIdleThreads()
        }
    }

    /// The engine for a dense matrix (the dense kernel of `backend`).
    public init(matrix: DenseRatingMatrix, backend: Backend = .blas, precision: Precision = .double, threads: Int,
                threading: Threading = .standard, spelling: Spelling = .commandLine,
                stopIdleBLASPool: Bool = false) throws(MixFillError) {
        try self.init(input: RatingInput(storage: .dense(matrix), format: .dense), kernel: .dense, backend: backend,
                      precision: precision, threads: threads, threading: threading, spelling: spelling,
                      stopIdleBLASPool: stopIdleBLASPool)
    }

    /// The name of the kernel that runs, as the CLI reports it: `naive`, `blas`, `blocked`
    /// or `sparse`.
    public var name: String { shards[0].name }

    /// The settings that change the arithmetic, as checkpoints record them.
    public var settings: [String: String] {
        ["backend": backend.rawValue, "kernel": kernel.rawValue, "precision": precision.rawValue]
    }

    /// The EM loop over this engine's shards; one-restart runs (`run(from:)`, checkpointed
    /// runs, `eStep`) keep the shards on the engine's threads too.
    public func expectationMaximization(_ stoppingRule: StoppingRule = StoppingRule()) -> ExpectationMaximization {
        var em = ExpectationMaximization(shards: shards, stoppingRule: stoppingRule)
        em.shardWorkers = parallelism.workerCount
        return em
    }

    /// Fits K components from every seed as one batch (`fitBatched`) on this engine's threads.
    public func fit(data: some RatingData, componentCount: Int, seeds: [UInt32],
                    stoppingRule: StoppingRule = StoppingRule()) throws(MixFillError) -> MultiStartFit {
        try expectationMaximization(stoppingRule).fitBatched(data: data, componentCount: componentCount, seeds: seeds,
                                                             parallelism: parallelism)
    }
}
