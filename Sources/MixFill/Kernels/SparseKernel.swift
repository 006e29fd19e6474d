#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLanes

/// The E-step and the M-step sums in O(ratings · K), touching only observed ratings.
///
/// For each user u (ratings x_ui, i ∈ C_u):
///
///     d_j = Σ_{i∈C_u} (x_ui − μ_ji)²                  one pass over the row
///     f_j = log(p_j + 1e-16) − |C_u|/2·log(2πσ²_j) − d_j/(2σ²_j),  p(j|u) = softmax_j f
///     N_ji += p(j|u)·x_ui,  D_ji += p(j|u)              a second pass over the same row
///
/// plus LL, n̂_j, Σ p‖x_u‖² and Σ p|C_u| — exactly the statistics the naive kernel sums,
/// with each d_j summed over the row in the same (ascending item) order.
///
/// Layout: the means are kept item-major (d × K, K padded to a multiple of 4), so one rating
/// reads its K means as one contiguous vector, and so are the accumulators ([N_i· | D_i·]
/// per item, 2K contiguous values); `ComponentLanes` does the arithmetic on all K at once.
/// A row is short enough to stay in L1 between its two passes, so the data are streamed
/// from memory once per iteration.
///
/// Posteriors are often peaked — once a user has a few dozen ratings most p(j|u) are
/// exactly 0 — and adding p·x = 0 changes no sum, so when at most a quarter of the
/// components have p(j|u) > 0 only those are updated (scalar code), the same sums bit
/// for bit.
///
/// Shards: a kernel covers a contiguous range of users and runs on the thread it is given;
/// `shards(of:count:)` cuts the users into ranges of about equal work (ratings plus a
/// per-user cost) for the engine's threads, each shard with its own d × 2K accumulators.
/// The kernel never calls BLAS, so its threads are never stacked on BLAS threads.
///
/// Results: one shard does the naive kernel's arithmetic in the same order, so the same
/// bits (tested on whole runs); T shards are deterministic for that T (the partition and
/// the order of the reduction are fixed), equal to the naive kernel's up to the rounding
/// of adding T partial sums instead of one running sum.
final class SparseKernel: StatisticsKernel {
    let userCount: Int
    let itemCount: Int
    let name = "sparse"
    let matrix: SparseRatingMatrix
    /// The matrix's users this shard covers.
    let users: Range<Int>
    /// The code that runs `distances` and `accumulate` (`VectorPasses.selected` unless a test asks).
    let passes: VectorPasses

    /// ‖x_u‖² and |C_u| per user of the shard.
    private let squaredNorms: [Double]
    private let ratingCounts: [Double]

    // Workspaces, sized for `workspaceComponents` components and reused across iterations.
    private var workspaceComponents = 0
    private var groups = ComponentGroups(componentCount: 1)
    /// μ item-major: d × paddedCount.
    private var itemMajorMeans: [Double] = []
    /// Per item: [N_i· | D_i·], each paddedCount wide.
    private var accumulators: [Double] = []
    /// LL, then n̂, Σp‖x‖², Σp|C| (paddedCount each).
    private var scalars: [Double] = []

    /// The work of one user, in ratings: its logsumexp and bookkeeping cost about as much
    /// as this many ratings' updates (a guess that only affects how evenly shards finish).
    static let perUserCost = 16

    init(_ matrix: SparseRatingMatrix, users: Range<Int>? = nil, passes: VectorPasses = .selected) {
        let users = users ?? 0..<matrix.userCount
        precondition(users.lowerBound >= 0 && users.upperBound <= matrix.userCount, "users out of range")
        precondition(VectorPasses.isAvailable(passes), "\(passes) passes on a processor without them")
        self.passes = passes
        self.matrix = matrix
        self.users = users
        userCount = users.count
        itemCount = matrix.itemCount
        var norms = [Double](repeating: 0, count: users.count)
        var counts = [Double](repeating: 0, count: users.count)
        for (local, user) in users.enumerated() {
            var norm = 0.0
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                let rating = matrix.ratings[position]
                norm += rating * rating
            }
            norms[local] = norm
            counts[local] = Double(matrix.ratingCount(ofUser: user))
        }
        squaredNorms = norms
        ratingCounts = counts
    }

    /// `count` kernels over consecutive ranges of about equal work (at most one per user),
    /// in user order: the shards of one E-step.
    static func shards(of matrix: SparseRatingMatrix, count: Int, passes: VectorPasses = .selected) -> [SparseKernel] {
        let parts = max(1, min(count, matrix.userCount))
        let boundaries = balancedBoundaries(rowStarts: matrix.rowStarts, parts: parts)
        return (0..<parts).map { SparseKernel(matrix, users: boundaries[$0]..<boundaries[$0 + 1], passes: passes) }
    }

    /// Splits users into `parts` contiguous ranges of about equal ratings + per-user cost
    /// (`perUserCost`: what one user's own work costs, in ratings).
    static func balancedBoundaries(rowStarts: [Int], parts: Int, perUserCost: Int = SparseKernel.perUserCost) -> [Int] {
        let userCount = rowStarts.count - 1
        let total = Double(rowStarts[userCount] + perUserCost * userCount)
        var boundaries = [0]
        var user = 0
        for part in 1..<max(1, parts) {
            let target = total * Double(part) / Double(parts)
            while user < userCount, Double(rowStarts[user] + perUserCost * user) < target { user += 1 }
            boundaries.append(user)
        }
        boundaries.append(userCount)
        return boundaries
    }

    private func prepareWorkspaces(_ mixture: Mixture) {
        let componentCount = mixture.componentCount
        if workspaceComponents != componentCount {
            workspaceComponents = componentCount
            groups = ComponentGroups(componentCount: componentCount)
            let padded = groups.paddedCount
            itemMajorMeans = [Double](repeating: 0, count: itemCount * padded)
            accumulators = [Double](repeating: 0, count: itemCount * 2 * padded)
            scalars = [Double](repeating: 0, count: 1 + 3 * padded)
        }
        let padded = groups.paddedCount
        itemMajorMeans.withUnsafeMutableBufferPointer { table in
            mixture.means.withUnsafeBufferPointer { means in
                for j in 0..<componentCount {
                    for item in 0..<itemCount {
                        table[item * padded + j] = means[j * itemCount + item]
                    }
                }
            }
        }
    }

    func computeStatistics(_ models: [Mixture], layout: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>) {
        for (index, mixture) in models.enumerated() {
            let record = UnsafeMutableBufferPointer(rebasing: buffer[layout.record(index)])
            prepareWorkspaces(mixture)
            run(mixture, posteriorsOut: nil)
            let fields = CourseRecord(mixture)
            precondition(record.count == fields.length, "a course record for the mixture's shape")
            let componentCount = mixture.componentCount
            let padded = groups.paddedCount
            record[CourseRecord.logLikelihood] = 0 + scalars[0]
            record[CourseRecord.userCount] = 0 + Double(userCount)
            for j in 0..<componentCount {
                record[CourseRecord.responsibilities + j] = 0 + scalars[1 + j]
                record[fields.weightedSquaredNorms + j] = 0 + scalars[1 + padded + j]
                record[fields.weightedCounts + j] = 0 + scalars[1 + 2 * padded + j]
            }
            let itemStride = 2 * padded
            accumulators.withUnsafeBufferPointer { sums in
                for item in 0..<itemCount {
                    for j in 0..<componentCount {
                        let slot = item * itemStride + j
                        record[fields.ratingSums + j * itemCount + item] = 0 + sums[slot]
                        record[fields.observedWeights + j * itemCount + item] = 0 + sums[slot + padded]
                    }
                }
            }
        }
    }

    func userStates(_ mixture: Mixture) -> (states: [Double], logLikelihood: Double) {
        prepareWorkspaces(mixture)
        var posteriors = [Double](repeating: 0, count: userCount * mixture.componentCount)
        posteriors.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            run(mixture, posteriorsOut: SharedMutableBuffer(base: base))
        }
        return (posteriors, scalars[0])
    }

    /// One pass over the shard's users. With `posteriorsOut`, writes p(j|u) there (the
    /// shard's users × K) and skips the M-step sums; otherwise fills the accumulators and
    /// scalars.
    private func run(_ mixture: Mixture, posteriorsOut: SharedMutableBuffer?) {
        let terms = ComponentTerms(mixture)
        let componentCount = mixture.componentCount
        let groups = self.groups
        let itemCount = self.itemCount
        let users = self.users
        itemMajorMeans.withUnsafeBufferPointer { means in
            accumulators.withUnsafeMutableBufferPointer { sums in
                scalars.withUnsafeMutableBufferPointer { scalars in
                    squaredNorms.withUnsafeBufferPointer { norms in
                        ratingCounts.withUnsafeBufferPointer { counts in
                            guard let means = means.baseAddress, let sums = sums.baseAddress,
                                  let scalars = scalars.baseAddress else { return }
                            let pass = SparsePass(
                                means: means, sums: sums, scalars: scalars,
                                squaredNorms: norms.baseAddress ?? means, ratingCounts: counts.baseAddress ?? means,
                                posteriorsOut: posteriorsOut, terms: terms, componentCount: componentCount,
                                groups: groups.groups, paddedCount: groups.paddedCount, itemCount: itemCount,
                                users: users, passes: passes)
                            matrix.withRows(pass)
                        }
                    }
                }
            }
        }
    }
}

/// One E-step pass of `SparseKernel` over its shard's rows, as pointers into the kernel's
/// arrays (valid for the duration of `SparseKernel.run`).
private struct SparsePass: SparseRowsVisitor {
    let means: UnsafePointer<Double>
    let sums: UnsafeMutablePointer<Double>
    let scalars: UnsafeMutablePointer<Double>
    /// Indexed by user − users.lowerBound.
    let squaredNorms: UnsafePointer<Double>
    let ratingCounts: UnsafePointer<Double>
    let posteriorsOut: SharedMutableBuffer?
    let terms: ComponentTerms
    let componentCount: Int
    let groups: [(offset: Int, width: Int)]
    let paddedCount: Int
    let itemCount: Int
    let users: Range<Int>
    let passes: VectorPasses

    func visit<Index: RowIndex, Ratings: RatingReader>(_ rows: SparseRows<Index, Ratings>) {
        let padded = paddedCount
        let componentCount = self.componentCount
        let sums = self.sums
        if posteriorsOut == nil { sums.initialize(repeating: 0, count: itemCount * 2 * padded) }
        // distances, posteriors, then the shard's n̂, Σp‖x‖², Σp|C| — one local buffer.
        var local = [Double](repeating: 0, count: 5 * padded)
        var nonzero = [Int](repeating: 0, count: padded)
        var logLikelihood = 0.0
        let avx2 = passes == .avx2
        precondition(MemoryLayout<Index>.size == 2 || MemoryLayout<Index>.size == 4, "16- or 32-bit item indices")
        let wideItems: Int32 = MemoryLayout<Index>.size == 4 ? 1 : 0
        let storage = rows.ratings.storage
        let items = UnsafeRawPointer(rows.items)
        local.withUnsafeMutableBufferPointer { local in
            nonzero.withUnsafeMutableBufferPointer { nonzero in
                guard let distance = local.baseAddress, let nonzero = nonzero.baseAddress else { return }
                let posterior = distance + padded
                let weightSums = distance + 2 * padded
                let normSums = distance + 3 * padded
                let countSums = distance + 4 * padded
                for user in users {
                    let shardUser = user - users.lowerBound
                    let start = rows.rowStarts[user]
                    let end = rows.rowStarts[user + 1]
                    for group in groups {
                        if avx2 {
                            mixfill_course_distances_avx2(group.width, wideItems, items, storage.palette, storage.codes, storage.values,
                                                          start, end, means + group.offset, padded, distance + group.offset)
                            continue
                        }
                        switch group.width {
                        case 4: Self.distances(SIMD4<Double>.self, rows, start, end, means, padded, group.offset, distance)
                        case 8: Self.distances(SIMD8<Double>.self, rows, start, end, means, padded, group.offset, distance)
                        case 12: Self.distances(Lanes12.self, rows, start, end, means, padded, group.offset, distance)
                        default: Self.distances(SIMD16<Double>.self, rows, start, end, means, padded, group.offset, distance)
                        }
                    }
                    let count = ratingCounts[shardUser]
                    for j in 0..<componentCount {
                        posterior[j] = terms.logDensity(j, observedCount: count, squaredDistance: distance[j])
                    }
                    logLikelihood += normaliseLogDensitiesSkippingUnderflow(UnsafeMutableBufferPointer(start: posterior, count: componentCount))
                    if let out = posteriorsOut {
                        (out.base + shardUser * componentCount).update(from: posterior, count: componentCount)
                        continue
                    }
                    let norm = squaredNorms[shardUser]
                    var nonzeroCount = 0
                    for j in 0..<componentCount {
                        let p = posterior[j]
                        weightSums[j] += p
                        normSums[j] += p * norm
                        countSums[j] += p * count
                        if p != 0 {
                            nonzero[nonzeroCount] = j
                            nonzeroCount += 1
                        }
                    }
                    // Posteriors are usually peaked: all but one or two are exactly 0 once a
                    // user has a few dozen ratings. Adding p·x = 0 changes no sum, so then
                    // only the non-zero components are updated — the same sums, bit for bit.
                    if nonzeroCount * 4 <= padded {
                        Self.accumulateFew(rows, start, end, posterior, nonzero, nonzeroCount, sums, padded)
                        continue
                    }
                    for group in groups {
                        if avx2 {
                            mixfill_course_accumulate_avx2(group.width, wideItems, items, storage.palette, storage.codes, storage.values,
                                                           start, end, posterior + group.offset, sums + group.offset, padded)
                            continue
                        }
                        switch group.width {
                        case 4: Self.accumulate(SIMD4<Double>.self, rows, start, end, posterior, sums, padded, group.offset)
                        case 8: Self.accumulate(SIMD8<Double>.self, rows, start, end, posterior, sums, padded, group.offset)
                        case 12: Self.accumulate(Lanes12.self, rows, start, end, posterior, sums, padded, group.offset)
                        default: Self.accumulate(SIMD16<Double>.self, rows, start, end, posterior, sums, padded, group.offset)
                        }
                    }
                }
                scalars[0] = logLikelihood
                for j in 0..<padded {
                    scalars[1 + j] = weightSums[j]
                    scalars[1 + padded + j] = normSums[j]
                    scalars[1 + 2 * padded + j] = countSums[j]
                }
            }
        }
    }

    /// [N_ij | D_ij] += [p_j·x_ui | p_j] for the listed components j only.
    @inline(__always)
    private static func accumulateFew<Index: RowIndex, Ratings: RatingReader>(
        _ rows: SparseRows<Index, Ratings>, _ start: Int, _ end: Int, _ posterior: UnsafePointer<Double>,
        _ components: UnsafePointer<Int>, _ componentCount: Int, _ sums: UnsafeMutablePointer<Double>, _ padded: Int
    ) {
        let stride = 2 * padded
        if componentCount == 1 {
            let j = components[0]
            let p = posterior[j]
            let shifted = sums + j
            var position = start
            while position < end {
                let slot = shifted + Int(rows.items[position]) &* stride
                slot[0] += p * rows.ratings.rating(at: position)
                slot[padded] += p
                position &+= 1
            }
            return
        }
        var position = start
        while position < end {
            let slot = sums + Int(rows.items[position]) &* stride
            let rating = rows.ratings.rating(at: position)
            for index in 0..<componentCount {
                let j = components[index]
                slot[j] += posterior[j] * rating
                slot[padded + j] += posterior[j]
            }
            position &+= 1
        }
    }

    /// distance[offset ..< offset + width] = Σ over the row of (x_ui − μ_i,·)².
    @inline(__always)
    private static func distances<Lanes: ComponentLanes, Index: RowIndex, Ratings: RatingReader>(
        _: Lanes.Type, _ rows: SparseRows<Index, Ratings>, _ start: Int, _ end: Int,
        _ means: UnsafePointer<Double>, _ padded: Int, _ offset: Int, _ distance: UnsafeMutablePointer<Double>
    ) {
        var sum = Lanes.zero
        var position = start
        let shifted = means + offset
        while position < end {
            let item = Int(rows.items[position])
            // μ − x rather than x − μ: the same square, bit for bit, and on two-operand SSE
            // the freshly loaded means can be overwritten instead of copying x first.
            let difference = Lanes(loading: shifted + item &* padded) - Lanes(broadcast: rows.ratings.rating(at: position))
            sum = sum + difference * difference
            position &+= 1
        }
        sum.store(to: distance + offset)
    }

    /// [N_i· | D_i·] += [p·x_ui | p] over the group's components, for every rating of the row.
    @inline(__always)
    private static func accumulate<Lanes: ComponentLanes, Index: RowIndex, Ratings: RatingReader>(
        _: Lanes.Type, _ rows: SparseRows<Index, Ratings>, _ start: Int, _ end: Int,
        _ posterior: UnsafePointer<Double>, _ sums: UnsafeMutablePointer<Double>, _ padded: Int, _ offset: Int
    ) {
        let weights = Lanes(loading: posterior + offset)
        let stride = 2 * padded
        let shifted = sums + offset
        var position = start
        while position < end {
            let slot = shifted + Int(rows.items[position]) &* stride
            let rating = Lanes(broadcast: rows.ratings.rating(at: position))
            (Lanes(loading: slot) + weights * rating).store(to: slot)
            (Lanes(loading: slot + padded) + weights).store(to: slot + padded)
            position &+= 1
        }
    }
}
