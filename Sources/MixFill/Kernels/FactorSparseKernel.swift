#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLanes

/// The factor family's E-step on the observed ratings, organised for speed: the same
/// mathematics as `FactorNaiveKernel` (its doc comment has the formulas), with every
/// per-item quantity that does not depend on the user computed once per iteration.
///
/// Item table, one contiguous row per item, the first q + K entries multiplied by the
/// centred rating e_ui when a user's ratings are summed and the rest added as they are:
///
///     [w̄_i (q) | m̄_i (K) | P_i = w̄_i w̄_iᵀ + Sww_i (packed, q(q+1)/2) | c_i1 … c_iK (q each) | s_i (K)]
///     c_ij = w̄_i m̄_ji + Swm_i[·, j],   s_ij = m̄_ji² + Smm_i[j, j]
///
/// ([P_i | c_i | s_i] written by `FactorMixture.writeItemSquares`, as the BLAS kernel's T_M),
/// so that summing the rows of a user's items gives Σ e w̄, Σ e m̄_j, Σ P, Σ c_j, Σ s_j (and
/// Σ e² beside them) and, regrouping the naive kernel's sums,
///
///     A = I + Σ P_i / σ²,   b_j = Σ e w̄_i − Σ c_ij,   r_j = Σ e² − 2 Σ e m̄_ji + Σ s_ij.
///
/// A small Cholesky A = UᵀU gives log det A, and V = U⁻¹ gives z̄_j = V Vᵀ b_j / σ²,
/// b_jᵀA⁻¹b_j = ‖Vᵀb_j‖² and A⁻¹ = V Vᵀ; then the user's moments
/// [E_u[z̃] | E_u[z̃z̃ᵀ] packed] are formed once, and every rated item's accumulator row
/// [h_i | G_i] gets [e·E_u[z̃] | E_u[z̃z̃ᵀ]]. Users without ratings contribute nothing.
///
/// Order of work: an item's rows (table and accumulators) are hundreds of bytes and read
/// once per rating, so visiting them user by user streams d such rows from memory for
/// every user. Instead the shard's users are cut into blocks and each block is done item
/// by item: pass one adds each rated item's table row to its raters' sums, the per-user
/// step turns sums into moments, pass two adds the raters' moments into the item's
/// accumulator row. Each pass goes over the block's items once per block of 16 columns
/// (SIMD lanes, `ComponentLanes`), and every row (users' sums and moments, items' table and
/// accumulators) is stored a block of lanes at a time, so a pass touches one slice of the
/// users' rows: the block of users is as large as lets that slice stay in a core's private
/// cache, and an item's rows are read once per block. Those rows start on cache lines
/// (`AlignedDoubles`), so wide vector loads stay whole. The regrouping (`FactorUserBlocks`,
/// 6 bytes per rating, built at the first E-step) keeps positions only; the centred
/// ratings e_ui = x_ui − μ₀ − b_u − b_i of a block are computed once from the matrix and
/// the model's offsets before its passes.
///
/// A block of lanes is scaled (every lane times e), plain, or mixed where it straddles
/// the e-scaled and plain columns (a per-lane coefficient: e where scaled, 1 elsewhere;
/// both exact, but for e = −0, which becomes +0).
///
/// Results: within a block items are visited in ascending order and each item's raters in
/// ascending user order, so every user's sums and every item's accumulators are added in
/// the naive kernel's order; they differ from its values only by the regrouping above and
/// by A⁻¹ and z̄ coming from a differently ordered computation. T shards are deterministic
/// for that T.
final class FactorSparseKernel: StatisticsKernel {
    let matrix: SparseRatingMatrix
    /// The matrix's users this shard covers.
    let users: Range<Int>
    let name = "sparse"
    var userCount: Int { users.count }

    /// One user's own work (a q × q Cholesky, the triangular inverse, the posteriors and the
    /// moments) in units of one rating's work in both passes: for q ≈ 10, about q³ against
    /// about q². It only decides how evenly shards finish.
    static let perUserCost = 8

    /// Bytes one slice of a block's per-user rows (its users × one block of 16 lanes) may
    /// take: a quarter of a core's private level-2 cache, so that the slice a pass works on
    /// stays there while the item rows stream past it. The blocking changes only the order
    /// of memory traffic, never the order of any sum, so results do not depend on it.
    static let defaultSliceBytes: Int = {
        #if os(Linux)
        let size = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
        if size > 0 { return min(1 << 20, max(1 << 17, size / 4)) }
        #endif
        return 1 << 18
    }()

    // Workspaces, shaped by `layout` and reused across iterations.
    private var layout: FactorSparseLayout?
    private(set) var blocks: FactorUserBlocks?
    /// `defaultSliceBytes`, or smaller in tests that need many blocks.
    let sliceBytes: Int
    /// Users per block of `blocks`: as many as keep one slice of their rows (16 lanes of
    /// Doubles each) within `sliceBytes`, at least 16 and at most what a block's UInt16
    /// user index holds, and no more than the shard has: the per-block scratch holds two
    /// rows of D(D + 3)/2 Doubles per block user, large for large q, and a shard with fewer
    /// users is one block either way (the same blocks, so the same bits). Fixed by
    /// `sliceBytes` and the shard, so the regrouping is built once.
    let blockUsers: Int
    /// The code that runs the two passes (`VectorPasses.selected` unless a test asks).
    let passes: VectorPasses
    /// d × layout.tableStride, stored a block of lanes at a time (`FactorSparseLayout.scatter`).
    private var table = AlignedDoubles(count: 0)
    /// d × layout.sumStride: [h_i | G_i] per item, stored as `table` is.
    private var sums = AlignedDoubles(count: 0)
    /// LL, users with a rating, ratings, Σ e², then Σ p_j (K).
    private var scalars: [Double] = []
    /// Per-block scratch (`FactorSparseLayout.scratchCount`).
    private var scratch = AlignedDoubles(count: 0)

    init(_ matrix: SparseRatingMatrix, users: Range<Int>? = nil, sliceBytes: Int = FactorSparseKernel.defaultSliceBytes,
         passes: VectorPasses = .selected) {
        let users = users ?? 0..<matrix.userCount
        self.sliceBytes = sliceBytes
        blockUsers = max(16, min(Int(UInt16.max), sliceBytes / (8 * FactorSparseLayout.widestLanes), users.count))
        precondition(VectorPasses.isAvailable(passes), "\(passes) passes on a processor without them")
        self.passes = passes
        precondition(users.lowerBound >= 0 && users.upperBound <= matrix.userCount, "users out of range")
        self.matrix = matrix
        self.users = users
    }

    /// `count` kernels over consecutive ranges of about equal work (at most one per user),
    /// in user order: the shards of one E-step.
    static func shards(of matrix: SparseRatingMatrix, count: Int,
                       sliceBytes: Int = FactorSparseKernel.defaultSliceBytes,
                       passes: VectorPasses = .selected) -> [FactorSparseKernel] {
        let parts = max(1, min(count, matrix.userCount))
        let boundaries = SparseKernel.balancedBoundaries(rowStarts: matrix.rowStarts, parts: parts, perUserCost: perUserCost)
        return (0..<parts).map {
            FactorSparseKernel(matrix, users: boundaries[$0]..<boundaries[$0 + 1], sliceBytes: sliceBytes, passes: passes)
        }
    }

    func computeStatistics(_ models: [FactorMixture], layout batch: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>) {
        for (index, model) in models.enumerated() {
            let record = UnsafeMutableBufferPointer(rebasing: buffer[batch.record(index)])
            let fields = FactorRecord(model)
            precondition(record.count == fields.length, "a factor record for the model's shape")
            let layout = prepare(model)
            run(model, layout, statesOut: nil)
            record[FactorRecord.logLikelihood] = 0 + scalars[0]
            record[FactorRecord.activeUsers] = 0 + scalars[1]
            record[FactorRecord.ratingCount] = 0 + scalars[2]
            record[FactorRecord.squaredResiduals] = 0 + scalars[3]
            for j in 0..<model.componentCount { record[FactorRecord.responsibilities + j] = 0 + scalars[4 + j] }
            let dimension = layout.dimension
            let packed = SmallMatrices.packedCount(dimension)
            var row = [Double](repeating: 0, count: layout.sumStride)
            sums.withUnsafeBufferPointer { sums in
                for item in 0..<model.itemCount {
                    layout.gather(item: item, from: sums, blocks: layout.sumBlocks, into: &row)
                    let base = fields.items + item * fields.itemStride
                    for index in 0..<packed { record[base + index] = 0 + row[dimension + index] }
                    for index in 0..<dimension { record[base + packed + index] = 0 + row[index] }
                }
            }
        }
    }

    func userStates(_ model: FactorMixture) -> (states: [Double], logLikelihood: Double) {
        let layout = prepare(model)
        let width = model.componentCount * (1 + model.factorCount)
        var states = [Double](repeating: 0, count: users.count * width)
        states.withUnsafeMutableBufferPointer { states in
            guard let base = states.baseAddress else { return }
            // Users without ratings keep the prior: p = π, z̄ = 0.
            for local in 0..<users.count {
                for j in 0..<model.componentCount { base[local * width + j] = model.weights[j] }
            }
            run(model, layout, statesOut: SharedMutableBuffer(base: base))
        }
        return (states, scalars[0])
    }

    /// Shapes the workspaces for `model` and fills the item table from it.
    private func prepare(_ model: FactorMixture) -> FactorSparseLayout {
        let layout: FactorSparseLayout
        if let current = self.layout, current.fits(model) {
            layout = current
        } else {
            layout = FactorSparseLayout(factorCount: model.factorCount, componentCount: model.componentCount,
                                        itemCount: model.itemCount)
            self.layout = layout
            if blocks == nil {
                blocks = matrix.withRows(FactorUserBlocks.Builder(users: users, itemCount: matrix.itemCount, blockUsers: blockUsers))
            }
            table = AlignedDoubles(count: model.itemCount * layout.tableStride)
            sums = AlignedDoubles(count: model.itemCount * layout.sumStride)
            scalars = [Double](repeating: 0, count: 4 + model.componentCount)
            scratch = AlignedDoubles(count: layout.scratchCount(blockUsers: blockUsers, blockEntries: blocks?.largestBlock ?? 0))
        }
        let q = model.factorCount
        let componentCount = model.componentCount
        let dimension = layout.dimension
        let packed = SmallMatrices.packedCount(dimension)
        var line = [Double](repeating: 0, count: layout.tableStride)
        table.withUnsafeMutableBufferPointer { table in
            model.loadings.withUnsafeBufferPointer { loadings in
                model.means.withUnsafeBufferPointer { means in
                    model.covariances.withUnsafeBufferPointer { covariances in
                        for item in 0..<model.itemCount {
                            let w = UnsafeBufferPointer(rebasing: loadings[(item * q)..<(item * q + q)])
                            let m = UnsafeBufferPointer(rebasing: means[(item * componentCount)..<(item * componentCount + componentCount)])
                            let sigma = UnsafeBufferPointer(rebasing: covariances[(item * packed)..<(item * packed + packed)])
                            for r in 0..<q { line[r] = w[r] }
                            for j in 0..<componentCount { line[q + j] = m[j] }
                            line.withUnsafeMutableBufferPointer { line in
                                let squares = layout.squaresStart..<(layout.meanSquaresStart + componentCount)
                                FactorMixture.writeItemSquares(loadings: w, means: m, covariance: sigma,
                                                               into: UnsafeMutableBufferPointer(rebasing: line[squares]))
                            }
                            layout.scatter(line, item: item, blocks: layout.tableBlocks, into: table)
                        }
                    }
                }
            }
        }
        return layout
    }

    /// One pass over the shard's users. With `statesOut`, writes each rated user's
    /// [p (K) | z̄ (K × q)] there (the shard's users × K(1 + q)) and skips pass two;
    /// otherwise fills `sums` and `scalars`.
    private func run(_ model: FactorMixture, _ layout: FactorSparseLayout, statesOut: SharedMutableBuffer?) {
        guard let blocks else { preconditionFailure("prepare builds the blocks") }
        let logWeights = model.weights.map { log($0) }
        table.withUnsafeBufferPointer { table in
            sums.withUnsafeMutableBufferPointer { sums in
                scalars.withUnsafeMutableBufferPointer { scalars in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        model.offsets.userOffsets.withUnsafeBufferPointer { userOffsets in
                            model.offsets.itemOffsets.withUnsafeBufferPointer { itemOffsets in
                                logWeights.withUnsafeBufferPointer { logWeights in
                                    blocks.withPointers { regrouped in
                                        guard let table = table.baseAddress, let sums = sums.baseAddress,
                                              let scalars = scalars.baseAddress, let scratch = scratch.baseAddress,
                                              let userOffsets = userOffsets.baseAddress, let itemOffsets = itemOffsets.baseAddress,
                                              let logWeights = logWeights.baseAddress else { return }
                                        let pass = FactorSparsePass(
                                            table: table, sums: sums, scalars: scalars, scratch: scratch,
                                            userOffsets: userOffsets, itemOffsets: itemOffsets, logWeights: logWeights,
                                            blocks: regrouped, statesOut: statesOut, layout: layout,
                                            globalMean: model.offsets.globalMean, noise: model.noiseVariance, users: users,
                                            passes: passes)
                                        matrix.withRows(pass)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A shard's ratings regrouped for item-major passes: its users cut into blocks of at most
/// `blockUsers`, and within each block the ratings listed by item (ascending), each item's
/// raters in ascending user order. Only where each rating is: the ratings stay in the matrix.
struct FactorUserBlocks: Sendable {
    let blockUsers: Int
    /// Block b covers the matrix's users userStarts[b] ..< userStarts[b + 1].
    let userStarts: [Int]
    /// Block b's rated items are items[itemStarts[b] ..< itemStarts[b + 1]], ascending.
    let itemStarts: [Int]
    let items: [UInt32]
    /// The entries of rated item t of block b are entryStarts[t + b] ..< entryStarts[t + b + 1]
    /// (one sentinel per block); entries are numbered from the shard's first rating.
    let entryStarts: [Int]
    /// Per entry: the rater's index in its block, and the rating's position in the matrix
    /// relative to the block's first rating.
    let entryUsers: [UInt16]
    let entryPositions: [UInt32]
    /// The most ratings in one block.
    let largestBlock: Int

    var blockCount: Int { userStarts.count - 1 }

    /// Pointer views of the arrays, valid inside `body`.
    func withPointers<Result>(_ body: (FactorBlockPointers) -> Result) -> Result {
        userStarts.withUnsafeBufferPointer { userStarts in
            itemStarts.withUnsafeBufferPointer { itemStarts in
                items.withUnsafeBufferPointer { items in
                    entryStarts.withUnsafeBufferPointer { entryStarts in
                        entryUsers.withUnsafeBufferPointer { entryUsers in
                            entryPositions.withUnsafeBufferPointer { entryPositions in
                                // Empty arrays may have no base address; a shard without ratings never reads them.
                                let spareInt = [Int](repeating: 0, count: 1)
                                let spareItem = [UInt32](repeating: 0, count: 1)
                                let spareUser = [UInt16](repeating: 0, count: 1)
                                return spareInt.withUnsafeBufferPointer { spareInt in
                                    spareItem.withUnsafeBufferPointer { spareItem in
                                        spareUser.withUnsafeBufferPointer { spareUser in
                                            guard let int = spareInt.baseAddress, let item = spareItem.baseAddress,
                                                  let user = spareUser.baseAddress else {
                                                preconditionFailure("one-element arrays have storage")
                                            }
                                            return body(FactorBlockPointers(
                                                blockUsers: blockUsers, blockCount: blockCount,
                                                userStarts: userStarts.baseAddress ?? int,
                                                itemStarts: itemStarts.baseAddress ?? int,
                                                items: items.baseAddress ?? item,
                                                entryStarts: entryStarts.baseAddress ?? int,
                                                entryUsers: entryUsers.baseAddress ?? user,
                                                entryPositions: entryPositions.baseAddress ?? item))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Builds the regrouping of `users` from the matrix's rows: a counting sort by item of
    /// each block's ratings.
    struct Builder: SparseRowsVisitor {
        let users: Range<Int>
        let itemCount: Int
        let blockUsers: Int

        func visit<Index: RowIndex, Ratings: RatingReader>(_ rows: SparseRows<Index, Ratings>) -> FactorUserBlocks {
            let shardStart = rows.rowStarts[users.lowerBound]
            let total = rows.rowStarts[users.upperBound] - shardStart
            var userStarts = [users.lowerBound]
            var itemStarts = [0]
            var items = [UInt32]()
            var entryStarts = [Int]()
            var entryUsers = [UInt16](repeating: 0, count: total)
            var entryPositions = [UInt32](repeating: 0, count: total)
            // Per item: its count in the block, then the next free entry.
            var cursors = [Int](repeating: 0, count: itemCount)
            var largestBlock = 0
            var first = users.lowerBound
            while first < users.upperBound {
                var last = min(users.upperBound, first + blockUsers)
                // Positions relative to the block's first rating must fit in 32 bits.
                while last > first + 1 && rows.rowStarts[last] - rows.rowStarts[first] > Int(UInt32.max) {
                    last = first + (last - first) / 2
                }
                let blockStart = rows.rowStarts[first]
                let blockEnd = rows.rowStarts[last]
                largestBlock = max(largestBlock, blockEnd - blockStart)
                let itemBase = items.count
                for position in blockStart..<blockEnd {
                    let item = Int(rows.items[position])
                    if cursors[item] == 0 { items.append(UInt32(item)) }
                    cursors[item] += 1
                }
                items[itemBase...].sort()
                var next = blockStart - shardStart
                for t in itemBase..<items.count {
                    entryStarts.append(next)
                    let item = Int(items[t])
                    let count = cursors[item]
                    cursors[item] = next
                    next += count
                }
                entryStarts.append(next)
                for user in first..<last {
                    for position in rows.rowStarts[user]..<rows.rowStarts[user + 1] {
                        let item = Int(rows.items[position])
                        let slot = cursors[item]
                        entryUsers[slot] = UInt16(user - first)
                        entryPositions[slot] = UInt32(position - blockStart)
                        cursors[item] = slot + 1
                    }
                }
                for t in itemBase..<items.count { cursors[Int(items[t])] = 0 }
                userStarts.append(last)
                itemStarts.append(items.count)
                first = last
            }
            return FactorUserBlocks(blockUsers: blockUsers, userStarts: userStarts, itemStarts: itemStarts, items: items,
                                    entryStarts: entryStarts, entryUsers: entryUsers, entryPositions: entryPositions,
                                    largestBlock: largestBlock)
        }
    }
}

/// `FactorUserBlocks` as pointers, valid inside `FactorUserBlocks.withPointers`.
struct FactorBlockPointers {
    let blockUsers: Int
    let blockCount: Int
    let userStarts: UnsafePointer<Int>
    let itemStarts: UnsafePointer<Int>
    let items: UnsafePointer<UInt32>
    let entryStarts: UnsafePointer<Int>
    let entryUsers: UnsafePointer<UInt16>
    let entryPositions: UnsafePointer<UInt32>
}

/// How a block of table (or accumulator) columns is combined with a rating's e.
enum FactorLaneKind: Equatable {
    /// Every lane multiplied by e.
    case scaled
    /// Every lane as it is.
    case plain
    /// The first `scaledLanes` lanes multiplied by e, the others as they are.
    case mixed(scaledLanes: Int)

    /// The kind as `Modules/CLanes` spells it: (0 plain | 1 scaled | 2 mixed, scaled lanes).
    var code: (kind: Int, scaledLanes: Int) {
        switch self {
        case .plain: return (0, 0)
        case .scaled: return (1, 0)
        case let .mixed(scaledLanes): return (2, scaledLanes)
        }
    }
}

/// `width` (8 or 16) consecutive columns from `offset`.
struct FactorLaneBlock: Equatable {
    let offset: Int
    let width: Int
    let kind: FactorLaneKind
}

/// Where everything sits in the kernel's rows, for q factors and K components.
struct FactorSparseLayout: Equatable {
    let factorCount: Int
    let componentCount: Int
    let itemCount: Int

    var dimension: Int { factorCount + componentCount }
    /// Table row (and a user's sums): [w̄ (q) | m̄ (K) | P (q(q+1)/2) | c (K q) | s (K)], the
    /// first q + K scaled by e.
    var squaresStart: Int { factorCount + componentCount }
    var crossStart: Int { squaresStart + SmallMatrices.packedCount(factorCount) }
    var meanSquaresStart: Int { crossStart + componentCount * factorCount }
    let tableStride: Int
    /// Accumulator row (and a user's moments): [h (D) | G (packed, D(D+1)/2)], h scaled by e.
    let sumStride: Int
    let tableBlocks: [FactorLaneBlock]
    let sumBlocks: [FactorLaneBlock]

    init(factorCount: Int, componentCount: Int, itemCount: Int) {
        self.factorCount = factorCount
        self.componentCount = componentCount
        self.itemCount = itemCount
        let dimension = factorCount + componentCount
        let tableCount = dimension + SmallMatrices.packedCount(factorCount) + componentCount * factorCount + componentCount
        let sumCount = dimension + SmallMatrices.packedCount(dimension)
        tableStride = Self.roundUp(tableCount)
        sumStride = Self.roundUp(sumCount)
        tableBlocks = Self.blocks(stride: tableStride, scaledCount: dimension)
        sumBlocks = Self.blocks(stride: sumStride, scaledCount: dimension)
    }

    func fits(_ model: FactorMixture) -> Bool {
        model.factorCount == factorCount && model.componentCount == componentCount && model.itemCount == itemCount
    }

    /// A row's length rounded up to whole blocks of 8.
    static func roundUp(_ count: Int) -> Int { max(8, (count + 7) / 8 * 8) }

    /// Blocks of 16 lanes, the last one 8 when the stride is not a multiple of 16; each
    /// scaled, plain, or mixed where it straddles the end of the scaled columns. Fewer,
    /// wider blocks mean fewer passes over a block's items and raters.
    static func blocks(stride: Int, scaledCount: Int) -> [FactorLaneBlock] {
        var blocks = [FactorLaneBlock]()
        var offset = 0
        while offset < stride {
            let width = offset + 16 <= stride ? 16 : 8
            let kind: FactorLaneKind
            if offset + width <= scaledCount {
                kind = .scaled
            } else if offset >= scaledCount {
                kind = .plain
            } else {
                kind = .mixed(scaledLanes: scaledCount - offset)
            }
            blocks.append(FactorLaneBlock(offset: offset, width: width, kind: kind))
            offset += width
        }
        return blocks
    }

    // Scratch, in Doubles from the start of the kernel's scratch array: one user's
    // matrices first, then the rows of a block of `blockUsers` users.
    var matrixOffset: Int { 0 }
    var triangleOffset: Int { matrixOffset + factorCount * factorCount }
    var inverseOffset: Int { triangleOffset + factorCount * factorCount }
    var columnOffset: Int { inverseOffset + factorCount * factorCount }
    var solvedOffset: Int { columnOffset + factorCount }
    var densitiesOffset: Int { solvedOffset + componentCount * factorCount }
    /// The scaled/plain coefficients of a mixed block: its lanes of 1/0, then of 0/1.
    var masksOffset: Int { densitiesOffset + componentCount }
    /// One user's sums and moments as contiguous rows, for the per-user step.
    var userRowOffset: Int { Self.roundUp(masksOffset + 2 * Self.widestLanes) }
    var momentRowOffset: Int { userRowOffset + tableStride }
    var userSumsOffset: Int { momentRowOffset + sumStride }
    func momentsOffset(_ blockUsers: Int) -> Int { userSumsOffset + blockUsers * tableStride }
    func userBasesOffset(_ blockUsers: Int) -> Int { momentsOffset(blockUsers) + blockUsers * sumStride }
    func userSquaresOffset(_ blockUsers: Int) -> Int { userBasesOffset(blockUsers) + blockUsers }
    /// The centred ratings of the block's entries, in entry order.
    func residualsOffset(_ blockUsers: Int) -> Int { userSquaresOffset(blockUsers) + blockUsers }

    func scratchCount(blockUsers: Int, blockEntries: Int) -> Int { residualsOffset(blockUsers) + max(1, blockEntries) }

    /// Rows of `itemCount` items (table, accumulators) are stored a block of lanes at a
    /// time: every item's lanes of the first block, then of the second, … so that a pass
    /// over one block of lanes reads them in order. Column offset + c of an item's row is at
    /// itemCount × offset + item × width + c.
    func scatter(_ row: [Double], item: Int, blocks: [FactorLaneBlock], into rows: UnsafeMutableBufferPointer<Double>) {
        for lanes in blocks {
            let base = itemCount * lanes.offset + item * lanes.width
            for c in 0..<lanes.width { rows[base + c] = row[lanes.offset + c] }
        }
    }

    /// Item `item`'s row back from rows stored as `scatter` stores them.
    func gather(item: Int, from rows: UnsafeBufferPointer<Double>, blocks: [FactorLaneBlock], into row: inout [Double]) {
        for lanes in blocks {
            let base = itemCount * lanes.offset + item * lanes.width
            for c in 0..<lanes.width { row[lanes.offset + c] = rows[base + c] }
        }
    }

    /// The widest block of lanes: a block of users' slice of rows is blockUsers × this.
    static let widestLanes = 16
}

/// One E-step of `FactorSparseKernel` over its shard, as pointers into the kernel's arrays
/// and the model's (valid for the duration of `FactorSparseKernel.run`).
private struct FactorSparsePass: SparseRowsVisitor {
    let table: UnsafePointer<Double>
    let sums: UnsafeMutablePointer<Double>
    let scalars: UnsafeMutablePointer<Double>
    let scratch: UnsafeMutablePointer<Double>
    let userOffsets: UnsafePointer<Double>
    let itemOffsets: UnsafePointer<Double>
    let logWeights: UnsafePointer<Double>
    let blocks: FactorBlockPointers
    let statesOut: SharedMutableBuffer?
    let layout: FactorSparseLayout
    let globalMean: Double
    let noise: Double
    let users: Range<Int>
    let passes: VectorPasses

    func visit<Index: RowIndex, Ratings: RatingReader>(_ rows: SparseRows<Index, Ratings>) {
        let layout = self.layout
        let blocks = self.blocks
        let componentCount = layout.componentCount
        let tableStride = layout.tableStride
        let sumStride = layout.sumStride
        let statistics = statesOut == nil
        if statistics {
            sums.initialize(repeating: 0, count: layout.itemCount * sumStride)
        }
        let blockUsers = blocks.blockUsers
        let userSums = scratch + layout.userSumsOffset
        let moments = scratch + layout.momentsOffset(blockUsers)
        let userBases = scratch + layout.userBasesOffset(blockUsers)
        let userSquares = scratch + layout.userSquaresOffset(blockUsers)
        let residuals = scratch + layout.residualsOffset(blockUsers)
        let masks = scratch + layout.masksOffset
        var totals = UserTotals()
        for j in 0..<componentCount { scalars[4 + j] = 0 }
        // log(2πσ²), as log 2π + log σ²: every rated user's Gaussian normaliser has n_u of it.
        let logTwoPiNoise = log(2 * Double.pi) + log(noise)

        for block in 0..<blocks.blockCount {
            let first = blocks.userStarts[block]
            let count = blocks.userStarts[block + 1] - first
            let blockStart = rows.rowStarts[first]
            let ratings = rows.ratings
            userSums.initialize(repeating: 0, count: count * tableStride)
            for local in 0..<count {
                // e_ui = x_ui − μ₀ − b_u − b_i, added as `RatingOffsets.baseline` adds them.
                userBases[local] = globalMean + userOffsets[first + local]
                userSquares[local] = 0
            }
            let itemRange = blocks.itemStarts[block]..<blocks.itemStarts[block + 1]
            let firstEntry = blocks.entryStarts[itemRange.lowerBound + block]

            // The block's centred ratings, entry by entry, and each rater's Σ e² (in item order).
            for t in itemRange {
                let item = Int(blocks.items[t])
                let offset = itemOffsets[item]
                for k in blocks.entryStarts[t + block]..<blocks.entryStarts[t + block + 1] {
                    let local = Int(blocks.entryUsers[k])
                    let e = ratings.rating(at: blockStart + Int(blocks.entryPositions[k])) - (userBases[local] + offset)
                    residuals[k - firstEntry] = e
                    userSquares[local] += e * e
                }
            }

            // Pass one: every rated item's table row into its raters' sums, one block of
            // lanes at a time over all the block's items, so that only that slice of the
            // users' rows (count × width) is in use.
            for lanes in layout.tableBlocks {
                let slice = userSums + count * lanes.offset
                let (kind, scaledLanes) = lanes.kind.code
                for t in itemRange {
                    let start = blocks.entryStarts[t + block]
                    let entries = blocks.entryStarts[t + block + 1] - start
                    let row = table + layout.itemCount * lanes.offset + Int(blocks.items[t]) * lanes.width
                    if passes == .avx2 {
                        mixfill_spread_avx2(lanes.width, kind, scaledLanes, row, blocks.entryUsers + start,
                                            residuals + (start - firstEntry), entries, slice)
                    } else if lanes.width == 16 {
                        Self.spread(SIMD16<Double>.self, row, lanes.kind, blocks.entryUsers + start,
                                    residuals + (start - firstEntry), entries, slice, masks)
                    } else {
                        Self.spread(SIMD8<Double>.self, row, lanes.kind, blocks.entryUsers + start,
                                    residuals + (start - firstEntry), entries, slice, masks)
                    }
                }
            }

            // Each rated user's posteriors, factor means and moments.
            let userRow = scratch + layout.userRowOffset
            let momentRow = scratch + layout.momentRowOffset
            for local in 0..<count {
                let user = first + local
                let ratingCount = rows.rowStarts[user + 1] - rows.rowStarts[user]
                guard ratingCount > 0 else { continue }
                for lanes in layout.tableBlocks {
                    (userRow + lanes.offset).update(from: userSums + count * lanes.offset + local * lanes.width, count: lanes.width)
                }
                userStep(user: user, ratingCount: ratingCount, sums: userRow, squares: userSquares[local],
                         logTwoPiNoise: logTwoPiNoise, moments: momentRow, totals: &totals)
                guard statistics else { continue }
                for lanes in layout.sumBlocks {
                    (moments + count * lanes.offset + local * lanes.width).update(from: momentRow + lanes.offset, count: lanes.width)
                }
            }
            guard statistics else { continue }

            // Pass two: every rated item's accumulator row gets its raters' moments, a
            // block of lanes at a time as in pass one. Users without ratings are never
            // raters, so their (unwritten) moments are never read.
            for lanes in layout.sumBlocks {
                let slice = moments + count * lanes.offset
                let (kind, scaledLanes) = lanes.kind.code
                for t in itemRange {
                    let start = blocks.entryStarts[t + block]
                    let entries = blocks.entryStarts[t + block + 1] - start
                    let row = sums + layout.itemCount * lanes.offset + Int(blocks.items[t]) * lanes.width
                    if passes == .avx2 {
                        mixfill_collect_avx2(lanes.width, kind, scaledLanes, row, blocks.entryUsers + start,
                                             residuals + (start - firstEntry), entries, slice)
                    } else if lanes.width == 16 {
                        Self.collect(SIMD16<Double>.self, row, lanes.kind, blocks.entryUsers + start,
                                     residuals + (start - firstEntry), entries, slice, masks)
                    } else {
                        Self.collect(SIMD8<Double>.self, row, lanes.kind, blocks.entryUsers + start,
                                     residuals + (start - firstEntry), entries, slice, masks)
                    }
                }
            }
        }
        scalars[0] = totals.logLikelihood
        scalars[1] = totals.activeUsers
        scalars[2] = totals.ratings
        scalars[3] = totals.squares
    }

    /// The shard's sums over its rated users, added in user order.
    struct UserTotals {
        var logLikelihood = 0.0
        var activeUsers = 0.0
        var ratings = 0.0
        var squares = 0.0
    }

    /// One rated user's E-step from their sums of table rows: posteriors and factor means
    /// (into `statesOut`, or into the totals and `moments`).
    @inline(__always)
    private func userStep(user: Int, ratingCount: Int, sums userSums: UnsafePointer<Double>, squares: Double,
                          logTwoPiNoise: Double, moments: UnsafeMutablePointer<Double>, totals: inout UserTotals) {
        let layout = self.layout
        let q = layout.factorCount
        let componentCount = layout.componentCount
        let dimension = layout.dimension
        let a = scratch + layout.matrixOffset
        let triangle = scratch + layout.triangleOffset
        let inverse = scratch + layout.inverseOffset
        let column = scratch + layout.columnOffset
        let solved = scratch + layout.solvedOffset
        let densities = scratch + layout.densitiesOffset

        // A = I + Σ P / σ² (its upper triangle; `cholesky` reads no other).
        var index = layout.squaresStart
        for r in 0..<q {
            for c in r..<q {
                a[r * q + c] = (r == c ? 1 : 0) + userSums[index] / noise
                index += 1
            }
        }
        // b_j = Σ e w̄ − Σ c_j, kept in `solved` until solved for.
        for j in 0..<componentCount {
            for r in 0..<q { solved[j * q + r] = userSums[r] - userSums[layout.crossStart + j * q + r] }
        }
        let factored = SmallMatrices.cholesky(a, q)
        let logDeterminant = factored ? SmallMatrices.logDeterminant(a, q) : .nan
        if factored {
            SmallMatrices.invertTriangle(a, q, into: triangle)
        } else {
            triangle.initialize(repeating: .nan, count: q * q)
        }
        let constant = -0.5 * Double(ratingCount) * logTwoPiNoise - 0.5 * logDeterminant
        for j in 0..<componentCount {
            let b = solved + j * q
            // r_j = Σ e² − 2 Σ e m̄_j + Σ s_j.
            let residualSquares = squares - 2 * userSums[q + j] + userSums[layout.meanSquaresStart + j]
            // With A = UᵀU and V = U⁻¹: y = Vᵀb, bᵀA⁻¹b = ‖y‖², A⁻¹b = V y.
            var quadratic = 0.0
            for c in 0..<q {
                var value = 0.0
                for r in 0...c { value += triangle[r * q + c] * b[r] }
                column[c] = value
                quadratic += value * value
            }
            for r in 0..<q {
                var value = 0.0
                for c in r..<q { value += triangle[r * q + c] * column[c] }
                b[r] = value / noise
            }
            densities[j] = logWeights[j] + constant - (residualSquares - quadratic / noise) / (2 * noise)
        }
        totals.logLikelihood += normaliseLogDensities(UnsafeMutableBufferPointer(start: densities, count: componentCount))
        // `solved` now holds z̄_j = A⁻¹ b_j / σ², `densities` p(j|u).

        if let out = statesOut {
            let row = out.base + (user - users.lowerBound) * componentCount * (1 + q)
            for j in 0..<componentCount { row[j] = densities[j] }
            for index in 0..<(componentCount * q) { row[componentCount + index] = solved[index] }
            return
        }
        totals.activeUsers += 1
        totals.ratings += Double(ratingCount)
        totals.squares += squares
        for j in 0..<componentCount { scalars[4 + j] += densities[j] }

        // [E_u[z̃] | E_u[z̃z̃ᵀ] packed], as `FactorUserState.moments` forms them.
        // A⁻¹ = V Vᵀ, its upper triangle.
        for r in 0..<q {
            for c in r..<q {
                var value = 0.0
                for k in c..<q { value += triangle[r * q + k] * triangle[c * q + k] }
                inverse[r * q + c] = value
            }
        }
        let second = moments + dimension
        for r in 0..<q {
            var first = 0.0
            for c in r..<q {
                var value = inverse[r * q + c]
                for j in 0..<componentCount { value += densities[j] * solved[j * q + r] * solved[j * q + c] }
                second[SmallMatrices.packedIndex(r, c, dimension)] = value
            }
            for j in 0..<componentCount {
                second[SmallMatrices.packedIndex(r, q + j, dimension)] = densities[j] * solved[j * q + r]
                first += densities[j] * solved[j * q + r]
            }
            moments[r] = first
        }
        for j in 0..<componentCount {
            for k in j..<componentCount {
                second[SmallMatrices.packedIndex(q + j, q + k, dimension)] = j == k ? densities[j] : 0
            }
            moments[q + j] = densities[j]
        }
        for index in (dimension + SmallMatrices.packedCount(dimension))..<layout.sumStride { moments[index] = 0 }
    }

    /// The coefficient lanes of a mixed block: (scale, unit) with coefficient = e·scale +
    /// unit, which is e in a scaled lane (+0 for e = −0) and 1 in a plain one.
    @inline(__always)
    private static func coefficients<Lanes: ComponentLanes>(_: Lanes.Type, _ scaledLanes: Int,
                                                            _ masks: UnsafeMutablePointer<Double>) -> (Lanes, Lanes) {
        let width = Lanes.width
        for lane in 0..<width {
            masks[lane] = lane < scaledLanes ? 1 : 0
            masks[width + lane] = lane < scaledLanes ? 0 : 1
        }
        return (Lanes(loading: masks), Lanes(loading: masks + width))
    }

    /// Pass one for one item and one block of columns: each rater's sums += the item's
    /// table columns, times e where scaled.
    @inline(__always)
    private static func spread<Lanes: ComponentLanes>(
        _: Lanes.Type, _ row: UnsafePointer<Double>, _ kind: FactorLaneKind, _ raters: UnsafePointer<UInt16>,
        _ residuals: UnsafePointer<Double>, _ count: Int, _ base: UnsafeMutablePointer<Double>,
        _ masks: UnsafeMutablePointer<Double>
    ) {
        let value = Lanes(loading: row)
        let stride = Lanes.width
        switch kind {
        case .plain:
            for k in 0..<count {
                let slot = base + Int(raters[k]) &* stride
                (Lanes(loading: slot) + value).store(to: slot)
            }
        case .scaled:
            for k in 0..<count {
                let slot = base + Int(raters[k]) &* stride
                (Lanes(loading: slot) + value * Lanes(broadcast: residuals[k])).store(to: slot)
            }
        case let .mixed(scaledLanes):
            let (scale, unit) = coefficients(Lanes.self, scaledLanes, masks)
            for k in 0..<count {
                let slot = base + Int(raters[k]) &* stride
                let coefficient = Lanes(broadcast: residuals[k]) * scale + unit
                (Lanes(loading: slot) + value * coefficient).store(to: slot)
            }
        }
    }

    /// Pass two for one item and one block of columns: the item's accumulators += each
    /// rater's moments, times e where scaled, summed in the lanes over the raters.
    @inline(__always)
    private static func collect<Lanes: ComponentLanes>(
        _: Lanes.Type, _ row: UnsafeMutablePointer<Double>, _ kind: FactorLaneKind, _ raters: UnsafePointer<UInt16>,
        _ residuals: UnsafePointer<Double>, _ count: Int, _ base: UnsafePointer<Double>,
        _ masks: UnsafeMutablePointer<Double>
    ) {
        var sum = Lanes(loading: row)
        let stride = Lanes.width
        switch kind {
        case .plain:
            for k in 0..<count {
                sum = sum + Lanes(loading: base + Int(raters[k]) &* stride)
            }
        case .scaled:
            for k in 0..<count {
                sum = sum + Lanes(loading: base + Int(raters[k]) &* stride) * Lanes(broadcast: residuals[k])
            }
        case let .mixed(scaledLanes):
            let (scale, unit) = coefficients(Lanes.self, scaledLanes, masks)
            for k in 0..<count {
                let coefficient = Lanes(broadcast: residuals[k]) * scale + unit
                sum = sum + Lanes(loading: base + Int(raters[k]) &* stride) * coefficient
            }
        }
        sum.store(to: row)
    }
}
