/// How MixFill runs EM on this machine: which model family's statistics, which kernel
/// computes them, in which precision, and how the threads are used. A value of this type
/// names only combinations that can run (the mppca family has no single-precision kernel);
/// `Engine.check` holds the rules a request must satisfy before any data is read,
/// `Engine.resolve` is the one place a request (the CLI's options, a job's fields) becomes
/// an engine, and `courseShards(for:)` / `factorShards(for:)` the one place kernels are
/// built.
///
/// The thread policy, for `threads` = N:
///
/// - the dense BLAS kernel: the users cut into N shards run on N threads, each on
///   single-threaded OpenBLAS (`Threading.standard`). One shard on N-threaded OpenBLAS
///   (`Threading.oneShardOnBLASThreads`) makes OpenBLAS's threads synchronise on every
///   one of the kernel's block-sized GEMMs; `mixfill bench` compares the two;
/// - the sparse kernel: N shards on N threads; it never calls BLAS;
/// - the blocked kernel: one shard, its GEMMs on N-threaded OpenBLAS;
/// - the naive kernel: one shard on one thread (the textbook loops, never tuned).
///
/// Shards are summed in shard order, so a result depends on the shard count (about 1e-15
/// relative) but never on timing. Swift threads are never stacked on multi-threaded
/// OpenBLAS: `blasThreads` is 1 whenever the engine runs threads of its own. OpenBLAS's
/// thread count is one setting for the whole process, so the engine does not set it
/// while it runs: its owner (a command, a batch job) calls `claimBLASThreads` once.
public struct Engine: Sendable, Equatable {
    /// The E-step's kernel: only combinations that run.
    public enum Kernel: Sendable, Hashable {
        /// Plain loops over the dense matrix: the oracle and the benchmark baseline.
        case naive
        /// GEMMs on the dense matrix (`BLASKernel`), in double or single precision.
        case dense(Precision)
        /// GEMMs on blocks of users densified from records (`BlockedKernel`).
        case blocked
        /// Observed ratings only (`SparseKernel`).
        case sparse

        /// The kernel's name in reports: `naive`, `dense`, `blocked`, `sparse`.
        public var name: String {
            switch self {
            case .naive: return "naive"
            case .dense: return "dense"
            case .blocked: return "blocked"
            case .sparse: return "sparse"
            }
        }

        /// The kernel as `--kernel` names it, the reports' and checkpoints' `"kernel"`: the
        /// naive backend's loops run on the dense layout, so they report `dense` beside
        /// `"backend": "naive"`.
        public var layoutName: String { self == .naive ? KernelChoice.dense.rawValue : name }

        /// The arithmetic's precision (only the dense kernel has a single-precision form).
        public var precision: Precision {
            if case let .dense(precision) = self { return precision }
            return .double
        }

        /// Whether the kernel runs on the whole n × d matrix (the course family's naive and
        /// dense kernels), rather than on records.
        package var readsWholeMatrix: Bool {
            switch self {
            case .naive, .dense: return true
            case .blocked, .sparse: return false
            }
        }

        /// The backend the kernel belongs to, as `--backend` names it.
        public var backend: Backend { self == .naive ? .naive : .blas }
    }

    /// How the dense BLAS kernel uses the threads (see the type's documentation); the
    /// other kernels have one policy each.
    public enum Threading: Sendable, Equatable {
        case standard
        case oneShardOnBLASThreads
    }

    /// The model family whose statistics the kernels compute.
    public let family: ModelFamily
    public let kernel: Kernel
    /// The thread count asked for (1 or more).
    public let threads: Int
    public let threading: Threading

    /// What runs the sparse kernels' vector passes in this process: "avx2" (the C passes
    /// compiled for AVX2, where the processor has it) or "swift" (`VectorPasses`).
    public static var sparsePasses: String { VectorPasses.selected.rawValue }

    /// An engine for a combination known to be valid (`resolve` checks a request); only
    /// the course family has a single-precision kernel.
    package init(family: ModelFamily = .course, kernel: Kernel, threads: Int, threading: Threading = .standard) {
        precondition(family == .course || kernel.precision == .double, "the mppca family computes in double precision only")
        self.family = family
        self.kernel = kernel
        self.threads = max(1, threads)
        self.threading = threading
    }

    /// Threads the shards (and the runs' M-steps) are spread over.
    public var workers: Int {
        switch kernel {
        case .naive, .blocked: return 1
        case .dense: return threading == .standard ? threads : 1
        case .sparse: return threads
        }
    }

    /// OpenBLAS threads inside each GEMM.
    public var blasThreads: Int {
        switch kernel {
        case .naive, .sparse: return 1
        case .blocked: return threads
        case .dense: return threading == .standard ? 1 : threads
        }
    }

    /// Shards the users are cut into (never more than the users).
    public func shardCount(userCount: Int) -> Int {
        max(1, min(workers, userCount))
    }

    /// Sets OpenBLAS's thread count to `blasThreads`. With `stopIdlePool`, when this engine
    /// runs threads of its own on single-threaded OpenBLAS, also stops OpenBLAS's pool of
    /// idle workers, which otherwise spin for a while after each multi-threaded call beside
    /// this engine's threads. Only for a caller that owns the process (no other thread may be
    /// inside BLAS): the CLI.
    public func claimBLASThreads(stopIdlePool: Bool = false) {
        BLAS.setThreadCount(blasThreads)
        if stopIdlePool && blasThreads == 1 && threads > 1 {
            BLAS.stopIdleThreads()
        }
    }

    /// Refuses a request that cannot run on any data: single precision for the mppca
    /// family, or off the dense BLAS kernel; the naive backend with a non-dense kernel.
    /// What depends on the data (`auto`'s choice, whether records can be densified) is
    /// `resolve`'s. A job file calls this when it is read, before any job runs.
    public static func check(family: ModelFamily, backend: Backend, kernel choice: KernelChoice,
                             precision: Precision) throws(EngineConflict) {
        if family == .mppca, precision == .single { throw .singleNeedsCourse }
        if backend == .naive {
            guard choice == .auto || choice == .dense else { throw .naiveNeedsDense(kernel: choice) }
            guard precision == .double else { throw .singleNeedsBLAS }
        }
        if precision == .single, choice == .blocked || choice == .sparse {
            throw .singleNeedsDense(kernel: choice == .blocked ? .blocked : .sparse)
        }
    }

    /// The engine a request asks for on `input`: `auto` decided by the data, the naive
    /// backend meaning the dense textbook loops. Throws the conflict when the request
    /// cannot run (`check`'s, single precision where `auto` picks another kernel than the
    /// dense one, a course model's dense kernel for records that do not fit in memory or
    /// hold a 0). The mppca family's kernels all read records (its dense kernel densifies
    /// blocks of users), so only the course family's dense kernels need the whole matrix.
    /// `density`, when given, is what `auto` decides by instead of `input`'s (a rank's block
    /// of users decides as the whole data would).
    public static func resolve(family: ModelFamily = .course, backend: Backend = .blas, kernel choice: KernelChoice = .auto,
                               precision: Precision = .double, threads: Int,
                               threading: Threading = .standard, for input: RatingInput,
                               density: Double? = nil) throws(EngineConflict) -> Engine {
        try check(family: family, backend: backend, kernel: choice, precision: precision)
        let needsWholeMatrix = family == .course && input.isRecords
        if backend == .naive {
            if needsWholeMatrix { try input.checkDensifiable() }
            return Engine(family: family, kernel: .naive, threads: threads, threading: threading)
        }
        let resolved = choice == .auto ? KernelChoice.automatic(density: density ?? input.density, isRecords: input.isRecords) : choice
        let kernel: Kernel
        switch resolved {
        case .auto, .dense:
            if needsWholeMatrix { try input.checkDensifiable() }
            kernel = .dense(precision)
        case .blocked: kernel = .blocked
        case .sparse: kernel = .sparse
        }
        if precision == .single, kernel != .dense(.single) { throw .singleNeedsDense(kernel: kernel) }
        return Engine(family: family, kernel: kernel, threads: threads, threading: threading)
    }

    /// The course model's E-step shards for `input`, in user order.
    package func courseShards(for input: RatingInput) throws(EngineConflict) -> [any StatisticsKernel<Mixture>] {
        precondition(family == .course, "course shards from an engine of the \(family.rawValue) family")
        switch kernel {
        case .naive:
            return [NaiveKernel(try input.densified())]
        case let .dense(precision):
            let matrix = try input.densified()
            return BLASKernel.shards(of: matrix, count: shardCount(userCount: matrix.userCount), precision: precision)
        case .blocked:
            return [BlockedKernel(input.table.matrix)]
        case .sparse:
            let matrix = input.table.matrix
            return SparseKernel.shards(of: matrix, count: shardCount(userCount: matrix.userCount))
        }
    }

    /// The factor family's E-step shards for `input`, in user order. Every kernel reads the
    /// ratings as records (`RatingInput.table`); the dense matrix is never needed. Both GEMM
    /// policies run `FactorBLASKernel`, which densifies blocks of users itself: `.dense` as
    /// one shard per worker on single-threaded OpenBLAS, `.blocked` as one shard on
    /// OpenBLAS's threads.
    package func factorShards(for input: RatingInput) -> [any StatisticsKernel<FactorMixture>] {
        precondition(family == .mppca, "mppca shards from an engine of the \(family.rawValue) family")
        let matrix = input.table.matrix
        switch kernel {
        case .dense:
            return FactorBLASKernel.shards(of: matrix, count: shardCount(userCount: matrix.userCount))
        case .blocked:
            return [FactorBLASKernel(matrix)]
        case .naive:
            return [FactorNaiveKernel(matrix)]
        case .sparse:
            return FactorSparseKernel.shards(of: matrix, count: shardCount(userCount: matrix.userCount))
        }
    }

    /// The factor family's EM loop on `input`.
    package func factorLoop(for input: RatingInput, rule: StoppingRule = StoppingRule(),
                            reducer: any StatisticsReducer = ThreadReducer()) -> EMLoop<FactorFamily> {
        EMLoop(family: FactorFamily(), shards: factorShards(for: input), workers: workers, reducer: reducer, rule: rule)
    }

    /// The course model's EM loop on `input`.
    package func courseLoop(for input: RatingInput, rule: StoppingRule = StoppingRule(),
                            varianceFloor: Double = Mixture.defaultVarianceFloor,
                            reducer: any StatisticsReducer = ThreadReducer()) throws(EngineConflict) -> EMLoop<CourseFamily> {
        EMLoop(family: CourseFamily(varianceFloor: varianceFloor), shards: try courseShards(for: input), workers: workers,
               reducer: reducer, rule: rule)
    }
}

/// Why a requested engine cannot run. The callers say it in their own words (the CLI's
/// options, a job file's fields).
public enum EngineConflict: Error, Sendable, Equatable {
    /// `single` precision with the mppca family, which computes in double only.
    case singleNeedsCourse
    /// `single` precision with the naive backend, which computes in double only.
    case singleNeedsBLAS
    /// `single` precision with a kernel other than the dense BLAS one.
    case singleNeedsDense(kernel: Engine.Kernel)
    /// The naive backend (the dense textbook loops) with another kernel.
    case naiveNeedsDense(kernel: KernelChoice)
    /// Record data too large to densify in half of this machine's memory.
    case denseTooLarge(userCount: Int, itemCount: Int, neededBytes: Double, availableBytes: Double)
    /// Record data with a rating of 0, which the dense form reads as missing.
    case zeroRating(user: String)

    /// The reason, without the option's name or what to change.
    public var reason: String {
        switch self {
        case .singleNeedsCourse:
            return "mppca computes in double precision only"
        case .singleNeedsBLAS:
            return "'single' needs the blas backend; the naive backend computes in double only"
        case let .singleNeedsDense(kernel):
            return "'single' runs on the dense BLAS kernel only, and this fit runs the \(kernel.name) kernel"
        case let .naiveNeedsDense(kernel):
            return "'naive' is the dense textbook kernel and cannot run with kernel \(kernel.rawValue)"
        case let .denseTooLarge(users, items, needed, available):
            return "the dense form needs \(RatingInput.gigabytes(needed)) GB for \(users) users × \(items) items but half of this machine's memory is \(RatingInput.gigabytes(available)) GB"
        case let .zeroRating(user):
            return "user \(user) has a rating of 0, which the dense form reads as missing"
        }
    }
}
