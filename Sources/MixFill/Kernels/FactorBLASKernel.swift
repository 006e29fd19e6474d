#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The factor family's E-step (`FactorNaiveKernel`'s formulas) as GEMMs on blocks of users.
///
/// B users at a time are densified into two reused B × d buffers: the centred residuals E_b
/// (e_ui = x_ui − μ₀ − b_u − b_i, 0 where missing) and the 0/1 mask M_b. With item tables
/// built once per iteration from the model (D = q + K, row i of each):
///
///     mask table     T_M = [ KR | C | S ]   d × (q(q+1)/2 + Kq + K)
///         KR_i = packed upper triangle of w̄_i w̄_iᵀ + Sww_i
///         C_i  = (c_ij)_j,  c_ij = w̄_i m̄_ji + Swm_i[·, j]
///         S_i  = (s_ij)_j,  s_ij = m̄_ji² + Smm_i[j, j]
///     residual table T_E = [ W̄ | M̄ ]        d × (q + K)
///
/// every user's sums over their observed items O come from two GEMMs, M_b·T_M and E_b·T_E:
///
///     A   = I + (M_b·KR)_u / σ²                         (unpacked, then Cholesky)
///     b_j = (E_b·W̄)_u − (M_b·C)_uj
///     r_j = Σ_O e² − 2 (E_b·M̄)_uj + (M_b·S)_uj
///
/// which are the naive kernel's A, b_j and r_j with the sums over O reordered (r_j expanded
/// as Σ(e − m̄)² = Σe² − 2Σe·m̄ + Σm̄²). Then, user by user, the Cholesky factor of A, p(j|u),
/// z̄_j and the moments E_u[z̃z̃ᵀ] (packed) and E_u[z̃] go into the block's rows of Z2
/// (B × D(D+1)/2) and Z1 (B × D), and the record's item sums are two more GEMMs:
///
///     G += M_bᵀ·Z2      h += E_bᵀ·Z1      (d × D(D+1)/2 and d × D, written in place in
///                                          the record's interleaved item rows)
///
/// A user without ratings has zero rows in M_b and E_b and contributes nothing.
///
/// Memory is O(B·d + d·q²) whatever the number of users: no n × d matrix is built. After a
/// block only the entries it set are cleared, so densifying costs O(ratings of the block).
/// The kernel never sets OpenBLAS's thread count: one kernel over all users runs its GEMMs
/// on OpenBLAS's threads (the engine's `.blocked` policy), shards of users run one per
/// thread on single-threaded OpenBLAS (`.dense`).
final class FactorBLASKernel: StatisticsKernel {
    let matrix: SparseRatingMatrix
    let users: Range<Int>
    let itemCount: Int
    let name = "blas"
    /// Users per block.
    let blockSize: Int
    var userCount: Int { users.count }

    /// All workspaces, carved into regions by `regions` for the model shape they were made for.
    private var workspace: [Double] = []
    private var regions: Regions?

    /// Users per block so that E_b and M_b together take 16 MiB (as `BlockedKernel`'s block
    /// buffer): a size that stays in a server core's share of the last-level cache with room
    /// for the GEMMs' packed panels, so the four products of a block read it from cache; at
    /// least 32 and at most 1024 users.
    static func defaultBlockSize(itemCount: Int) -> Int {
        min(1024, max(32, (16 << 20) / max(1, 16 * itemCount)))
    }

    init(_ matrix: SparseRatingMatrix, users: Range<Int>? = nil, blockSize: Int? = nil) {
        let users = users ?? 0..<matrix.userCount
        precondition(users.lowerBound >= 0 && users.upperBound <= matrix.userCount, "users out of range")
        self.matrix = matrix
        self.users = users
        itemCount = matrix.itemCount
        self.blockSize = max(1, min(blockSize ?? Self.defaultBlockSize(itemCount: matrix.itemCount), max(1, users.count)))
    }

    /// `count` kernels over consecutive, nearly equal ranges of users (at least one user
    /// each, cut as `BLASKernel.shards` cuts them), in user order.
    static func shards(of matrix: SparseRatingMatrix, count: Int, blockSize: Int? = nil) -> [FactorBLASKernel] {
        let shardCount = max(1, min(count, matrix.userCount))
        return (0..<shardCount).map { shard in
            let start = shard * matrix.userCount / shardCount
            let end = (shard + 1) * matrix.userCount / shardCount
            return FactorBLASKernel(matrix, users: start..<end, blockSize: blockSize)
        }
    }

    /// Doubles of workspace the kernel holds for its last model's shape: O(B·d + d·q²),
    /// independent of the number of users.
    var workspaceCount: Int { workspace.count }

    func computeStatistics(_ models: [FactorMixture], layout: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>) {
        for (index, model) in models.enumerated() {
            let record = UnsafeMutableBufferPointer(rebasing: buffer[layout.record(index)])
            precondition(record.count == FactorRecord(model).length, "a factor record for the model's shape")
            // Zeros, then every value added: the record holds 0 + x.
            for position in record.indices { record[position] = 0 }
            _ = run(model, record: record, states: nil)
        }
    }

    func userStates(_ model: FactorMixture) -> (states: [Double], logLikelihood: Double) {
        let width = model.componentCount * (1 + model.factorCount)
        var states = [Double](repeating: 0, count: users.count * width)
        let logLikelihood = states.withUnsafeMutableBufferPointer { states in
            run(model, record: nil, states: states)
        }
        return (states, logLikelihood)
    }

    /// One pass over the shard's users in blocks: the statistics added to `record` (when
    /// given), every user's [p_1…p_K, z̄_1…z̄_K] written to `states` (when given; users without
    /// ratings get p = π, z̄ = 0). Returns the shard's log-likelihood.
    private func run(_ model: FactorMixture, record: UnsafeMutableBufferPointer<Double>?,
                     states: UnsafeMutableBufferPointer<Double>?) -> Double {
        let shape = Shape(model)
        if regions?.shape != shape {
            let made = Regions(shape: shape, blockSize: blockSize, itemCount: itemCount)
            regions = made
            workspace = [Double](repeating: 0, count: made.total)
        }
        guard let regions else { return .nan }
        let fields = FactorRecord(model)
        let d = itemCount
        let q = shape.factorCount
        let componentCount = shape.componentCount
        let stateWidth = componentCount * (1 + q)
        let noise = model.noiseVariance
        var logLikelihood = 0.0
        workspace.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let w = Workspace(base: base, regions: regions)
            for j in 0..<componentCount { w.logWeights[j] = log(model.weights[j]) }
            Self.fillTables(model, shape: shape, maskTable: w.maskTable, residualTable: w.residualTable)
            let solver = UserSolver(shape: shape, noise: noise, scratch: w)
            var first = users.lowerBound
            while first < users.upperBound {
                let count = min(blockSize, users.upperBound - first)
                matrix.withRows(FactorBlockWriter(residuals: w.residuals, mask: w.mask, squares: w.squares, counts: w.counts,
                                                  first: first, count: count, itemCount: d, offsets: model.offsets, set: true))
                BLAS.gemm(transposeA: false, transposeB: false, m: count, n: shape.maskWidth, k: d,
                          a: w.mask, lda: d, b: w.maskTable, ldb: shape.maskWidth, c: w.maskProducts, ldc: shape.maskWidth)
                BLAS.gemm(transposeA: false, transposeB: false, m: count, n: shape.residualWidth, k: d,
                          a: w.residuals, lda: d, b: w.residualTable, ldb: shape.residualWidth,
                          c: w.residualProducts, ldc: shape.residualWidth)
                for row in 0..<count {
                    let second = w.second + row * shape.packedDimension
                    let firstMoments = w.first + row * shape.dimension
                    let ratings = w.counts[row]
                    guard ratings > 0 else {
                        for index in 0..<shape.packedDimension { second[index] = 0 }
                        for index in 0..<shape.dimension { firstMoments[index] = 0 }
                        if let states {
                            let state = (first + row - users.lowerBound) * stateWidth
                            for j in 0..<componentCount { states[state + j] = model.weights[j] }
                        }
                        continue
                    }
                    let userLogLikelihood = solver.solve(masked: w.maskProducts + row * shape.maskWidth,
                                                         residual: w.residualProducts + row * shape.residualWidth,
                                                         squares: w.squares[row], count: ratings)
                    logLikelihood += userLogLikelihood
                    if let record {
                        record[FactorRecord.logLikelihood] += userLogLikelihood
                        record[FactorRecord.activeUsers] += 1
                        record[FactorRecord.squaredResiduals] += w.squares[row]
                        record[FactorRecord.ratingCount] += ratings
                        for j in 0..<componentCount { record[FactorRecord.responsibilities + j] += w.densities[j] }
                        solver.writeMoments(second: second, first: firstMoments)
                    }
                    if let states {
                        let state = (first + row - users.lowerBound) * stateWidth
                        for j in 0..<componentCount { states[state + j] = w.densities[j] }
                        for index in 0..<(componentCount * q) { states[state + componentCount + index] = w.solved[index] }
                    }
                }
                if let record, let recordBase = record.baseAddress {
                    let items = recordBase + fields.items
                    BLAS.gemm(transposeA: true, transposeB: false, m: d, n: shape.packedDimension, k: count,
                              a: w.mask, lda: d, b: w.second, ldb: shape.packedDimension, beta: 1,
                              c: items, ldc: fields.itemStride)
                    BLAS.gemm(transposeA: true, transposeB: false, m: d, n: shape.dimension, k: count,
                              a: w.residuals, lda: d, b: w.first, ldb: shape.dimension, beta: 1,
                              c: items + shape.packedDimension, ldc: fields.itemStride)
                }
                matrix.withRows(FactorBlockWriter(residuals: w.residuals, mask: w.mask, squares: w.squares, counts: w.counts,
                                                  first: first, count: count, itemCount: d, offsets: model.offsets, set: false))
                first += count
            }
        }
        return logLikelihood
    }

    /// The item tables T_M = [KR | C | S] and T_E = [W̄ | M̄] of `model` (see the type's
    /// documentation).
    private static func fillTables(_ model: FactorMixture, shape: Shape, maskTable: UnsafeMutablePointer<Double>,
                                   residualTable: UnsafeMutablePointer<Double>) {
        let q = shape.factorCount
        let componentCount = shape.componentCount
        let dimension = shape.dimension
        let packed = shape.packedDimension
        model.loadings.withUnsafeBufferPointer { loadings in
            model.means.withUnsafeBufferPointer { means in
                model.covariances.withUnsafeBufferPointer { covariances in
                    for item in 0..<model.itemCount {
                        let w = UnsafeBufferPointer(rebasing: loadings[(item * q)..<(item * q + q)])
                        let m = UnsafeBufferPointer(rebasing: means[(item * componentCount)..<(item * componentCount + componentCount)])
                        let sigma = UnsafeBufferPointer(rebasing: covariances[(item * packed)..<(item * packed + packed)])
                        let row = maskTable + item * shape.maskWidth
                        var index = 0
                        for r in 0..<q {
                            for c in r..<q {
                                row[index] = w[r] * w[c] + sigma[SmallMatrices.packedIndex(r, c, dimension)]
                                index += 1
                            }
                        }
                        for j in 0..<componentCount {
                            for r in 0..<q {
                                row[index] = w[r] * m[j] + sigma[SmallMatrices.packedIndex(r, q + j, dimension)]
                                index += 1
                            }
                        }
                        for j in 0..<componentCount {
                            row[index] = m[j] * m[j] + sigma[SmallMatrices.packedIndex(q + j, q + j, dimension)]
                            index += 1
                        }
                        let residualRow = residualTable + item * shape.residualWidth
                        for r in 0..<q { residualRow[r] = w[r] }
                        for j in 0..<componentCount { residualRow[q + j] = m[j] }
                    }
                }
            }
        }
    }
}

/// The sizes that depend on the model: q, K, D = q + K and the tables' widths.
private struct Shape: Equatable {
    let factorCount: Int
    let componentCount: Int

    init(_ model: FactorMixture) {
        factorCount = model.factorCount
        componentCount = model.componentCount
    }

    var dimension: Int { factorCount + componentCount }
    var packedFactors: Int { SmallMatrices.packedCount(factorCount) }
    var packedDimension: Int { SmallMatrices.packedCount(dimension) }
    /// Columns of T_M: KR, C, S.
    var maskWidth: Int { packedFactors + componentCount * factorCount + componentCount }
    /// Columns of T_E: W̄, M̄.
    var residualWidth: Int { factorCount + componentCount }
}

/// Where each workspace starts in the kernel's one workspace array.
private struct Regions {
    let shape: Shape
    let residuals: Int, mask: Int, squares: Int, counts: Int
    let maskTable: Int, residualTable: Int, maskProducts: Int, residualProducts: Int
    let second: Int, first: Int
    let factor: Int, inverse: Int, column: Int, right: Int, solved: Int, densities: Int, logWeights: Int
    let total: Int

    init(shape: Shape, blockSize: Int, itemCount: Int) {
        self.shape = shape
        let q = shape.factorCount
        let componentCount = shape.componentCount
        var next = 0
        func take(_ count: Int) -> Int {
            defer { next += count }
            return next
        }
        residuals = take(blockSize * itemCount)
        mask = take(blockSize * itemCount)
        squares = take(blockSize)
        counts = take(blockSize)
        maskTable = take(itemCount * shape.maskWidth)
        residualTable = take(itemCount * shape.residualWidth)
        maskProducts = take(blockSize * shape.maskWidth)
        residualProducts = take(blockSize * shape.residualWidth)
        second = take(blockSize * shape.packedDimension)
        first = take(blockSize * shape.dimension)
        factor = take(q * q)
        inverse = take(q * q)
        column = take(q)
        right = take(componentCount * q)
        solved = take(componentCount * q)
        densities = take(componentCount)
        logWeights = take(componentCount)
        total = next
    }
}

/// Pointers to the regions, valid inside the closure that holds the workspace.
private struct Workspace {
    let residuals, mask, squares, counts: UnsafeMutablePointer<Double>
    let maskTable, residualTable, maskProducts, residualProducts: UnsafeMutablePointer<Double>
    let second, first: UnsafeMutablePointer<Double>
    let factor, inverse, column, right, solved, densities, logWeights: UnsafeMutablePointer<Double>

    init(base: UnsafeMutablePointer<Double>, regions: Regions) {
        residuals = base + regions.residuals
        mask = base + regions.mask
        squares = base + regions.squares
        counts = base + regions.counts
        maskTable = base + regions.maskTable
        residualTable = base + regions.residualTable
        maskProducts = base + regions.maskProducts
        residualProducts = base + regions.residualProducts
        second = base + regions.second
        first = base + regions.first
        factor = base + regions.factor
        inverse = base + regions.inverse
        column = base + regions.column
        right = base + regions.right
        solved = base + regions.solved
        densities = base + regions.densities
        logWeights = base + regions.logWeights
    }
}

/// One user's E-step from their rows of M_b·T_M and E_b·T_E, in the workspace's per-user
/// scratch, log π_j read from `logWeights`: afterwards `densities` holds p(j|u), `solved`
/// z̄_j (K × q), `inverse` A⁻¹.
private struct UserSolver {
    let shape: Shape
    let noise: Double
    let logNoise: Double
    let factor, inverse, column, right, solved, densities, logWeights: UnsafeMutablePointer<Double>

    init(shape: Shape, noise: Double, scratch: Workspace) {
        self.shape = shape
        self.noise = noise
        logNoise = log(2 * Double.pi) + log(noise)
        factor = scratch.factor
        inverse = scratch.inverse
        column = scratch.column
        right = scratch.right
        solved = scratch.solved
        densities = scratch.densities
        logWeights = scratch.logWeights
    }

    /// The user's log-likelihood, logsumexp_j (log π_j + log N_j), from the masked sums
    /// [Σ(w̄w̄ᵀ + Sww) packed | Σc_j | Σs_j], the residual sums [Σw̄e | Σe·m̄_j], Σe² and n_u.
    @inline(__always)
    func solve(masked: UnsafePointer<Double>, residual: UnsafePointer<Double>, squares: Double, count: Double) -> Double {
        let q = shape.factorCount
        let componentCount = shape.componentCount
        var index = 0
        for r in 0..<q {
            factor[r * q + r] = 1 + masked[index] / noise
            index += 1
            for c in (r + 1)..<max(r + 1, q) {
                let value = masked[index] / noise
                factor[r * q + c] = value
                factor[c * q + r] = value
                index += 1
            }
        }
        let crossSums = masked + shape.packedFactors
        let meanSquareSums = crossSums + componentCount * q
        for j in 0..<componentCount {
            for r in 0..<q {
                let value = residual[r] - crossSums[j * q + r]
                right[j * q + r] = value
                solved[j * q + r] = value
            }
        }
        // A = I + (positive semi-definite) is positive definite; a failed factorisation means
        // non-finite input, and the log-likelihood says so.
        let logDeterminant: Double
        if SmallMatrices.cholesky(factor, q) {
            logDeterminant = SmallMatrices.logDeterminant(factor, q)
            SmallMatrices.inverse(factor, q, into: inverse, column: column)
            for j in 0..<componentCount { SmallMatrices.solve(factor, q, solved + j * q) }
        } else {
            logDeterminant = .nan
        }
        let constant = -0.5 * count * logNoise - 0.5 * logDeterminant
        for j in 0..<componentCount {
            var quadratic = 0.0
            for r in 0..<q { quadratic += right[j * q + r] * solved[j * q + r] }
            let squaredDistance = squares - 2 * residual[q + j] + meanSquareSums[j]
            densities[j] = logWeights[j] + constant - (squaredDistance - quadratic / noise) / (2 * noise)
        }
        for index in 0..<(componentCount * q) { solved[index] /= noise }
        return normaliseLogDensities(UnsafeMutableBufferPointer(start: densities, count: componentCount))
    }

    /// E_u[z̃z̃ᵀ] (packed) into `second` and E_u[z̃] into `first`, from the last `solve`:
    /// [[A⁻¹ + Σ_j p_j z̄_j z̄_jᵀ, (p_j z̄_j)_j], [·, diag(p)]] and [Σ_j p_j z̄_j; p].
    @inline(__always)
    func writeMoments(second: UnsafeMutablePointer<Double>, first: UnsafeMutablePointer<Double>) {
        let q = shape.factorCount
        let componentCount = shape.componentCount
        var index = 0
        for r in 0..<q {
            var mean = 0.0
            for j in 0..<componentCount { mean += densities[j] * solved[j * q + r] }
            first[r] = mean
            for c in r..<q {
                var value = inverse[r * q + c]
                for j in 0..<componentCount { value += densities[j] * solved[j * q + r] * solved[j * q + c] }
                second[index] = value
                index += 1
            }
            for j in 0..<componentCount {
                second[index] = densities[j] * solved[j * q + r]
                index += 1
            }
        }
        for j in 0..<componentCount {
            first[q + j] = densities[j]
            for other in j..<componentCount {
                second[index] = other == j ? densities[j] : 0
                index += 1
            }
        }
    }
}

/// Writes a block of users' centred residuals, mask entries, Σe² and rating counts into the
/// block buffers (`set`), or clears the entries it wrote (`!set`).
private struct FactorBlockWriter: SparseRowsVisitor {
    let residuals: UnsafeMutablePointer<Double>
    let mask: UnsafeMutablePointer<Double>
    let squares: UnsafeMutablePointer<Double>
    let counts: UnsafeMutablePointer<Double>
    let first: Int
    let count: Int
    let itemCount: Int
    let offsets: RatingOffsets
    let set: Bool

    func visit<Index: RowIndex, Ratings: RatingReader>(_ rows: SparseRows<Index, Ratings>) {
        for row in 0..<count {
            let user = first + row
            let residualRow = residuals + row * itemCount
            let maskRow = mask + row * itemCount
            let start = rows.rowStarts[user]
            let end = rows.rowStarts[user + 1]
            guard set else {
                for position in start..<end {
                    let item = Int(rows.items[position])
                    residualRow[item] = 0
                    maskRow[item] = 0
                }
                continue
            }
            let userBaseline = offsets.globalMean + offsets.userOffsets[user]
            var sum = 0.0
            for position in start..<end {
                let item = Int(rows.items[position])
                // μ₀ + b_u + b_i added in `RatingOffsets.baseline`'s order, as the naive kernel does.
                let e = rows.ratings.rating(at: position) - (userBaseline + offsets.itemOffsets[item])
                residualRow[item] = e
                maskRow[item] = 1
                sum += e * e
            }
            squares[row] = sum
            counts[row] = Double(end - start)
        }
    }
}
