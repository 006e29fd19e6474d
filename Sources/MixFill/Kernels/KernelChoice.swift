#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which data layout the E-step runs on (`--kernel`).
public enum KernelChoice: String, CaseIterable, Sendable {
    /// Sparse for record data and for dense matrices below the measured density crossover;
    /// the dense BLAS kernel for denser matrices (see `automatic`).
    case auto
    /// The whole n × d matrix: `--backend blas` (GEMMs) or `naive` (the textbook loops).
    case dense
    /// GEMMs on blocks of users densified into a reused buffer (memory O(block · d)).
    case blocked
    /// Observed ratings only, O(ratings · K) per iteration (`SparseKernel`).
    case sparse

    /// For a dense matrix, the density (observed / (users × items)) below which `auto` runs
    /// the sparse kernel instead of the dense BLAS one. Measured by `Scripts/bench-scale
    /// crossover` (synthetic 2000 × 2000, densities 1–90%, K = 4 and 12; README, "Choosing a
    /// kernel"): the sparse kernel was faster at every density up to 90%, by 3× or more
    /// below 30% and by 1.04–3× above; on the course's netflix matrix (77%) the two are
    /// near level at K = 12 and the GEMV wins at K = 1. So a dense file — already in memory in
    /// the BLAS kernel's layout, where batched restarts widen the GEMMs — keeps the BLAS
    /// kernel unless it is clearly sparse.
    public static let sparseBelowDensity = 0.25

    /// The kernel `auto` runs. Record data always gets the sparse kernel: it never lost to
    /// the GEMM kernels in the measurements above, and it never builds an n × d matrix
    /// (the blocked kernel, the bounded-memory GEMM path, is there on request).
    public static func automatic(density: Double, isRecords: Bool) -> KernelChoice {
        if isRecords { return .sparse }
        return density < sparseBelowDensity ? .sparse : .dense
    }

    /// Bytes the dense kernels take for n × d data: the matrix (8·n·d) and the BLAS kernel's
    /// mask M (8·n·d; its X is the matrix's own array).
    public static func denseBytes(userCount: Int, itemCount: Int) -> Double {
        16 * Double(userCount) * Double(itemCount)
    }

    /// Physical memory of this machine, in bytes.
    public static var physicalMemoryBytes: Double {
        Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
}

extension RatingInput {
    /// The kernel `choice` resolves to for this data (`auto` decided; `--backend naive`
    /// always means the dense textbook loops).
    public func resolvedKernel(_ choice: KernelChoice, backend: Backend) -> KernelChoice {
        if backend == .naive { return .dense }
        if choice == .auto { return KernelChoice.automatic(density: density, isRecords: isRecords) }
        return choice
    }

    /// Why `precision` cannot run on the kernel that `choice` and `backend` resolve to for
    /// this data, or nil when it can. Single precision is the dense BLAS kernel's only (the
    /// other kernels compute in double); the caller adds what to change.
    public func precisionConflict(_ precision: Precision, choice: KernelChoice, backend: Backend) -> String? {
        guard precision == .single else { return nil }
        if backend != .blas {
            return "'single' needs the blas backend; the \(backend.rawValue) backend computes in double only"
        }
        let resolved = resolvedKernel(choice, backend: backend)
        guard resolved == .dense else {
            return "'single' runs on the dense BLAS kernel only, and this fit runs the \(resolved.rawValue) kernel"
        }
        return nil
    }

    /// `precisionConflict` as the error of the precision option, spelled as `spelling`
    /// spells the options: "--precision: …; add --kernel dense or leave --precision out".
    public func precisionError(_ precision: Precision, choice: KernelChoice, backend: Backend,
                               spelling: FitEngine.Spelling = .commandLine) -> MixFillError? {
        precisionConflict(precision, choice: choice, backend: backend).map { conflict in
            .badOption(option: spelling.place("precision"), message: "\(conflict); add \(spelling.setting("kernel", ["dense"])) or leave \(spelling.option("precision")) out")
        }
    }

    /// Builds the E-step kernel. `threads` is the number of Swift threads for the sparse
    /// kernel (the GEMM kernels use OpenBLAS's threads, set by the caller). `precision`
    /// is the dense BLAS kernel's; a precision that conflicts with the kernel
    /// (`precisionConflict`) is refused as a bad `--precision`.
    ///
    /// For record input the dense kernel must build the n × d matrix: it is refused when
    /// that would take more than half of this machine's memory (`auto` never picks it for
    /// records), and when a rating is 0 (the dense format's "missing").
    ///
    /// This is one kernel; `FitEngine` builds the shards and threads a fit runs on.
    /// Errors name the options as `spelling` spells them (the command line's by default).
    public func makeKernel(_ choice: KernelChoice, backend: Backend, threads: Int, precision: Precision = .double,
                           spelling: FitEngine.Spelling = .commandLine) throws(MixFillError) -> any StatisticsKernel {
        if let error = precisionError(precision, choice: choice, backend: backend, spelling: spelling) {
            throw error
        }
        let resolved = resolvedKernel(choice, backend: backend)
        if backend == .naive, choice != .auto, choice != .dense {
            throw .badOption(option: spelling.place("backend"), message: "'naive' is the dense textbook kernel and cannot run with \(spelling.setting("kernel", [choice.rawValue])); drop \(spelling.setting("backend", ["naive"])) or use \(spelling.setting("kernel", ["dense"]))")
        }
        switch resolved {
        case .sparse:
            return SparseKernel(table.matrix, threadCount: threads)
        case .blocked:
            return BlockedKernel(table.matrix)
        case .dense, .auto:
            let matrix = try densified(spelling: spelling)
            return backend == .blas ? BLASKernel(matrix, precision: precision) : backend.makeKernel(for: matrix)
        }
    }

    /// `densified(refusal:)` with the refusal an error of the kernel option, as `spelling`
    /// spells it: "…; use --kernel sparse or blocked".
    public func densified(spelling: FitEngine.Spelling) throws(MixFillError) -> DenseRatingMatrix {
        try densified {
            .badOption(option: spelling.place("kernel"), message: "\($0); use \(spelling.setting("kernel", ["sparse", "blocked"]))")
        }
    }

    /// The data as a dense course matrix: the matrix itself for dense input; record data
    /// densified, refused when that would take more than half of this machine's memory or
    /// when a rating is 0 (the dense format's "missing"): then `refusal` makes the error
    /// from the reason.
    public func densified(refusal: (String) -> MixFillError) throws(MixFillError) -> DenseRatingMatrix {
        switch storage {
        case let .dense(matrix):
            return matrix
        case let .records(table):
            let needed = KernelChoice.denseBytes(userCount: userCount, itemCount: itemCount)
            let available = KernelChoice.physicalMemoryBytes / 2
            guard needed <= available else {
                throw refusal("the dense form needs \(Self.gigabytes(needed)) GB for \(userCount) users × \(itemCount) items but half of this machine's memory is \(Self.gigabytes(available)) GB")
            }
            let matrix = table.matrix
            var values = [Double](repeating: 0, count: matrix.userCount * matrix.itemCount)
            for user in 0..<matrix.userCount {
                for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                    let rating = matrix.ratings[position]
                    guard rating != 0 else {
                        throw refusal("user \(table.users.id(user)) has a rating of 0, which the dense form reads as missing")
                    }
                    values[user * matrix.itemCount + matrix.items[position]] = rating
                }
            }
            return DenseRatingMatrix(userCount: matrix.userCount, itemCount: matrix.itemCount, values: values)
        }
    }

    /// Bytes as GB for messages: one decimal below 10 GB, whole GB above (in exponent
    /// form beyond 10¹⁵ GB, where a size is only ever a typo).
    public static func gigabytes(_ bytes: Double) -> String {
        let tenths = (bytes / 1e8).rounded()
        if tenths < 100 { return String(tenths / 10) }
        return tenths < 1e16 ? String(Int(tenths / 10)) : String((tenths / 10).rounded())
    }
}
