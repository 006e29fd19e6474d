#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which data layout the E-step runs on, as asked for (`--kernel`); `Engine` decides
/// `auto` from the data.
public enum KernelChoice: String, CaseIterable, Sendable {
    /// Sparse for record data and for dense matrices below `sparseBelowDensity`; the dense
    /// BLAS kernel for denser matrices.
    case auto
    /// The whole n × d matrix: GEMMs, or the textbook loops with the naive backend.
    case dense
    /// GEMMs on blocks of users densified into a reused buffer (memory O(block · d)).
    case blocked
    /// Observed ratings only, O(ratings · K) per iteration.
    case sparse

    /// For a dense matrix, the density (observed / (users × items)) below which `auto` runs
    /// the sparse kernel instead of the dense BLAS one. The sparse kernel costs O(ratings·K)
    /// and the dense one O(n·d·K) in GEMMs that run many times faster per operation, so the
    /// crossover is a density; `Scripts/bench-scale crossover` measures it (bench/). A dense
    /// file is already in memory in the BLAS kernel's layout, where batched restarts widen
    /// the GEMMs, so it keeps that kernel unless it is clearly sparse.
    public static let sparseBelowDensity = 0.25

    /// The kernel `auto` runs. Record data always gets the sparse kernel: it never builds an
    /// n × d matrix (the blocked kernel, the bounded-memory GEMM path, is there on request).
    static func automatic(density: Double, isRecords: Bool) -> KernelChoice {
        if isRecords { return .sparse }
        return density < sparseBelowDensity ? .sparse : .dense
    }

    /// Bytes the dense kernels take for n × d data: the matrix (8·n·d) and the BLAS kernel's
    /// mask M (8·n·d).
    static func denseBytes(userCount: Int, itemCount: Int) -> Double {
        16 * Double(userCount) * Double(itemCount)
    }

    /// Physical memory of this machine, in bytes.
    package static var physicalMemoryBytes: Double {
        Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// Which arithmetic the E-step's loops run on, as asked for (`--backend`).
public enum Backend: String, CaseIterable, Sendable {
    /// Plain loops over users, components and observed items on the dense matrix: the
    /// oracle and the baseline.
    case naive
    /// The GEMM forms on OpenBLAS (and, for sparse data, the sparse kernel's own loops).
    case blas
}

extension RatingInput {
    /// The data as a dense course matrix: the matrix itself for dense input; record data
    /// densified, refused when that would take more than half of this machine's memory or
    /// when a rating is 0 (the dense format's "missing").
    package func densified() throws(EngineConflict) -> DenseRatingMatrix {
        switch storage {
        case let .dense(matrix):
            return matrix
        case let .records(table):
            try checkDensifiable()
            let matrix = table.matrix
            var values = [Double](repeating: 0, count: matrix.userCount * matrix.itemCount)
            for user in 0..<matrix.userCount {
                for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                    values[user * matrix.itemCount + matrix.items[position]] = matrix.ratings[position]
                }
            }
            return DenseRatingMatrix(userCount: matrix.userCount, itemCount: matrix.itemCount, values: values)
        }
    }

    /// Refuses what `densified()` refuses (too large for half of this machine's memory, a
    /// rating of 0), without building the matrix: for commands that densify only parts
    /// of the data later (eval's course model densifies each split's training ratings).
    package func checkDensifiable() throws(EngineConflict) {
        guard case let .records(table) = storage else { return }
        let needed = KernelChoice.denseBytes(userCount: userCount, itemCount: itemCount)
        let available = KernelChoice.physicalMemoryBytes / 2
        guard needed <= available else {
            throw .denseTooLarge(userCount: userCount, itemCount: itemCount, neededBytes: needed, availableBytes: available)
        }
        let matrix = table.matrix
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] where matrix.ratings[position] == 0 {
                throw .zeroRating(user: table.users.name(user))
            }
        }
    }

    /// Bytes as GB for messages: one decimal below 10 GB, whole GB above (in exponent
    /// form beyond 10¹⁵ GB, where a size is only ever a typo).
    package static func gigabytes(_ bytes: Double) -> String {
        let tenths = (bytes / 1e8).rounded()
        if tenths < 100 { return String(tenths / 10) }
        return tenths < 1e16 ? String(Int(tenths / 10)) : String((tenths / 10).rounded())
    }
}
