/// The BLAS kernel's GEMM form on blocks of users, for record data too dense for the
/// sparse kernel to win: B users at a time are written into a reused B × 2d buffer
/// Z_b = [X_b | M_b] (ratings, then the 0/1 mask), and
///
///     ‖x_{C_u} − μ_{j,C_u}‖² = ‖x_u‖² + (Z_b·[−2μ | μ∘μ]ᵀ)_{uj}     one B × 2d × K GEMM
///     [N | D] += P_bᵀ·Z_b                                          one K × B × 2d GEMM
///
/// Memory is O(B·d) whatever the number of users: no n × d matrix is ever built. After a
/// block only the entries it set are cleared again, so rebuilding costs O(ratings of the
/// block), not O(B·d). GEMMs use OpenBLAS's threads (`--threads`); no Swift threads run.
///
/// As in `BLASKernel`, the block holds x − c and the coefficients use μ − c, with c the
/// rounded median rating (`BLASKernel.ratingOffset(of:)`): the distance is unchanged, its
/// expanded terms are small, so ratings far from 0 keep their digits; a distance that
/// rounding takes below 0 is clamped to 0; and the rating sums get c·D back
/// (Σ p·x = Σ p·(x − c) + c·Σ p·m).
final class BlockedKernel: StatisticsKernel {
    let userCount: Int
    let itemCount: Int
    let name = "blocked"
    let matrix: SparseRatingMatrix
    /// Users per block.
    let blockSize: Int

    /// c, subtracted from every rating written into the block.
    let ratingOffset: Double
    /// ‖x_u‖², for the record's Σ p‖x‖².
    private let squaredNorms: [Double]
    /// ‖x_u − c‖², for the distances.
    private let shiftedSquaredNorms: [Double]
    private let ratingCounts: [Double]

    private var block: [Double]                // B × 2d, zero outside the current block's ratings
    private var workspaceComponents = 0
    private var coefficients: [Double] = []    // K × 2d: [−2μ | μ∘μ]
    private var products: [Double] = []        // B × K
    private var blockSums: [Double] = []       // K × 2d
    private var totals: [Double] = []          // K × 2d

    /// Block rows so that the buffer is 16 MiB, a size that stays in a server core's share
    /// of the last-level cache with room for the GEMM's panels; at least 64 and at most
    /// 1024 users.
    static func defaultBlockSize(itemCount: Int) -> Int {
        min(1024, max(64, (16 << 20) / max(1, 16 * itemCount)))
    }

    init(_ matrix: SparseRatingMatrix, blockSize: Int? = nil) {
        self.matrix = matrix
        userCount = matrix.userCount
        itemCount = matrix.itemCount
        self.blockSize = max(1, min(blockSize ?? Self.defaultBlockSize(itemCount: matrix.itemCount), max(1, matrix.userCount)))
        let offset = BLASKernel.ratingOffset(of: matrix)
        ratingOffset = offset
        var norms = [Double](repeating: 0, count: matrix.userCount)
        var shiftedNorms = [Double](repeating: 0, count: matrix.userCount)
        var counts = [Double](repeating: 0, count: matrix.userCount)
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                let rating = matrix.ratings[position]
                norms[user] += rating * rating
                shiftedNorms[user] += (rating - offset) * (rating - offset)
            }
            counts[user] = Double(matrix.ratingCount(ofUser: user))
        }
        squaredNorms = norms
        shiftedSquaredNorms = shiftedNorms
        ratingCounts = counts
        block = [Double](repeating: 0, count: self.blockSize * 2 * matrix.itemCount)
    }

    private func prepareWorkspaces(_ mixture: Mixture) {
        let componentCount = mixture.componentCount
        let width = 2 * itemCount
        if workspaceComponents != componentCount {
            workspaceComponents = componentCount
            coefficients = [Double](repeating: 0, count: componentCount * width)
            products = [Double](repeating: 0, count: blockSize * componentCount)
            blockSums = [Double](repeating: 0, count: componentCount * width)
            totals = [Double](repeating: 0, count: componentCount * width)
        }
        for j in 0..<componentCount {
            for i in 0..<itemCount {
                let mean = mixture.means[j * itemCount + i] - ratingOffset
                coefficients[j * width + i] = -2 * mean
                coefficients[j * width + itemCount + i] = mean * mean
            }
        }
    }

    /// Writes users `first ..< first + count` into `block` (`set == true`) or clears them.
    private func fillBlock(first: Int, count: Int, set: Bool) {
        let width = 2 * itemCount
        let itemCount = self.itemCount
        block.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            matrix.withRows(BlockWriter(block: SharedMutableBuffer(base: base), first: first, count: count,
                                        width: width, itemCount: itemCount, offset: ratingOffset, set: set))
        }
    }

    /// Runs the E-step on one block: `products` holds the posteriors afterwards; returns the LL.
    private func blockPosteriors(first: Int, count: Int, terms: ComponentTerms, componentCount: Int) -> Double {
        let width = 2 * itemCount
        block.withUnsafeBufferPointer { z in
            coefficients.withUnsafeBufferPointer { b in
                products.withUnsafeMutableBufferPointer { g in
                    guard let z = z.baseAddress, let b = b.baseAddress, let g = g.baseAddress else { return }
                    if componentCount == 1 {
                        BLAS.gemv(transpose: false, m: count, n: width, a: z, lda: width, x: b, y: g)
                    } else {
                        BLAS.gemm(transposeA: false, transposeB: true, m: count, n: componentCount, k: width,
                                  a: z, lda: width, b: b, ldb: width, c: g, ldc: componentCount)
                    }
                }
            }
        }
        var logLikelihood = 0.0
        products.withUnsafeMutableBufferPointer { g in
            for row in 0..<count {
                let user = first + row
                let posteriors = UnsafeMutableBufferPointer(rebasing: g[(row * componentCount)..<((row + 1) * componentCount)])
                for j in 0..<componentCount {
                    let distance = shiftedSquaredNorms[user] + posteriors[j]
                    posteriors[j] = terms.logDensity(j, observedCount: ratingCounts[user],
                                                     squaredDistance: distance < 0 ? 0 : distance)
                }
                logLikelihood += normaliseLogDensities(posteriors)
            }
        }
        return logLikelihood
    }

    func computeStatistics(_ models: [Mixture], layout: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>) {
        for (index, mixture) in models.enumerated() {
            let record = UnsafeMutableBufferPointer(rebasing: buffer[layout.record(index)])
            for position in record.indices { record[position] = 0 }
            accumulate(mixture, into: record)
        }
    }

    /// Adds the matrix's statistics for `mixture` to `record` (a `CourseRecord`).
    private func accumulate(_ mixture: Mixture, into record: UnsafeMutableBufferPointer<Double>) {
        let fields = CourseRecord(mixture)
        prepareWorkspaces(mixture)
        let componentCount = mixture.componentCount
        let terms = ComponentTerms(mixture)
        let width = 2 * itemCount
        for index in totals.indices { totals[index] = 0 }
        var first = 0
        while first < userCount {
            let count = min(blockSize, userCount - first)
            fillBlock(first: first, count: count, set: true)
            record[CourseRecord.logLikelihood] += blockPosteriors(first: first, count: count, terms: terms, componentCount: componentCount)
            for row in 0..<count {
                let user = first + row
                for j in 0..<componentCount {
                    let posterior = products[row * componentCount + j]
                    record[CourseRecord.responsibilities + j] += posterior
                    record[fields.weightedSquaredNorms + j] += posterior * squaredNorms[user]
                    record[fields.weightedCounts + j] += posterior * ratingCounts[user]
                }
            }
            products.withUnsafeBufferPointer { p in
                block.withUnsafeBufferPointer { z in
                    blockSums.withUnsafeMutableBufferPointer { s in
                        guard let p = p.baseAddress, let z = z.baseAddress, let s = s.baseAddress else { return }
                        if componentCount == 1 {
                            BLAS.gemv(transpose: true, m: count, n: width, a: z, lda: width, x: p, y: s)
                        } else {
                            BLAS.gemm(transposeA: true, transposeB: false, m: componentCount, n: width, k: count,
                                      a: p, lda: componentCount, b: z, ldb: width, c: s, ldc: width)
                        }
                    }
                }
            }
            for index in totals.indices { totals[index] += blockSums[index] }
            fillBlock(first: first, count: count, set: false)
            first += count
        }
        for j in 0..<componentCount {
            for i in 0..<itemCount {
                let observedWeight = totals[j * width + itemCount + i]
                record[fields.ratingSums + j * itemCount + i] += totals[j * width + i] + ratingOffset * observedWeight
                record[fields.observedWeights + j * itemCount + i] += observedWeight
            }
        }
        record[CourseRecord.userCount] += Double(userCount)
    }

    func userStates(_ mixture: Mixture) -> (states: [Double], logLikelihood: Double) {
        prepareWorkspaces(mixture)
        let componentCount = mixture.componentCount
        let terms = ComponentTerms(mixture)
        var all = [Double]()
        all.reserveCapacity(userCount * componentCount)
        var logLikelihood = 0.0
        var first = 0
        while first < userCount {
            let count = min(blockSize, userCount - first)
            fillBlock(first: first, count: count, set: true)
            logLikelihood += blockPosteriors(first: first, count: count, terms: terms, componentCount: componentCount)
            all.append(contentsOf: products[0..<(count * componentCount)])
            fillBlock(first: first, count: count, set: false)
            first += count
        }
        return (all, logLikelihood)
    }
}

/// Writes (or clears) a block of users' shifted ratings x − c and mask entries into the
/// dense block buffer.
private struct BlockWriter: SparseRowsVisitor {
    let block: SharedMutableBuffer
    let first: Int
    let count: Int
    let width: Int
    let itemCount: Int
    let offset: Double
    let set: Bool

    func visit<Index: RowIndex, Ratings: RatingReader>(_ rows: SparseRows<Index, Ratings>) {
        for row in 0..<count {
            let user = first + row
            let line = block.base + row * width
            for position in rows.rowStarts[user]..<rows.rowStarts[user + 1] {
                let item = Int(rows.items[position])
                line[item] = set ? rows.ratings.rating(at: position) - offset : 0
                line[itemCount + item] = set ? 1 : 0
            }
        }
    }
}
