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
///     A   = I + (M_b·KR)_u / σ²                         (packed, then Cholesky)
///     b_j = (E_b·W̄)_u − (M_b·C)_uj
///     r_j = Σ_O e² − 2 (E_b·M̄)_uj + (M_b·S)_uj
///
/// which are the naive kernel's A, b_j and r_j with the sums over O reordered (r_j expanded
/// as Σ(e − m̄)² = Σe² − 2Σe·m̄ + Σm̄²). Then the Cholesky factor of A, p(j|u), z̄_j and the
/// moments E_u[z̃z̃ᵀ] (packed) and E_u[z̃] of every user go into the block's columns of Z2ᵀ
/// (D(D+1)/2 × B) and Z1ᵀ (D × B) — many users at a time, see `LaneSolver` — and the
/// record's item sums are two more GEMMs:
///
///     G += M_bᵀ·Z2      h += E_bᵀ·Z1      (d × D(D+1)/2 and d × D, written in place in
///                                          the record's interleaved item rows)
///
/// The products are taken transposed (T_Mᵀ·M_bᵀ, T_Eᵀ·E_bᵀ, and Z2, Z1 read transposed) so
/// that each element of the per-user algebra is a row along the block's users. A user
/// without ratings has zero rows in M_b and E_b and zero moments: they contribute nothing.
///
/// Memory is O(B·(d + D²) + d·D²) whatever the number of users: no n × d matrix is built. After a
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

    /// Users per block: 256, or fewer when E_b and M_b would take more than 64 MiB (many
    /// items), at least 32. A few hundred users make GEMMs wide enough to run at their rate
    /// while the block's products and moments (O(B·D²)) stay in cache between the GEMMs that
    /// write and read them and the lane runs; bench/factor-blas.md compares other sizes.
    static func defaultBlockSize(itemCount: Int) -> Int {
        min(256, max(32, (64 << 20) / max(1, 16 * itemCount)))
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

    /// Doubles of workspace the kernel holds for its last model's shape: O(B·(d + D²) + d·D²),
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
        let stride = blockSize
        var logLikelihood = 0.0
        workspace.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let w = Workspace(base: base, regions: regions)
            for j in 0..<componentCount { w.logWeights[j] = log(model.weights[j]) }
            Self.fillTables(model, shape: shape, maskTable: w.maskTable, residualTable: w.residualTable)
            let solver = LaneSolver(shape: shape, noise: model.noiseVariance, stride: stride, workspace: w)
            var first = users.lowerBound
            while first < users.upperBound {
                let count = min(blockSize, users.upperBound - first)
                matrix.withRows(FactorBlockWriter(residuals: w.residuals, mask: w.mask, squares: w.squares, counts: w.counts,
                                                  first: first, count: count, itemCount: d, offsets: model.offsets, set: true))
                // Element-major products (a row per table column, the block's users along it), so
                // that the per-user algebra runs along rows, many users at once.
                BLAS.gemm(transposeA: true, transposeB: true, m: shape.maskWidth, n: count, k: d,
                          a: w.maskTable, lda: shape.maskWidth, b: w.mask, ldb: d, c: w.maskProducts, ldc: stride)
                BLAS.gemm(transposeA: true, transposeB: true, m: shape.residualWidth, n: count, k: d,
                          a: w.residualTable, lda: shape.residualWidth, b: w.residuals, ldb: d,
                          c: w.residualProducts, ldc: stride)
                var lane = 0
                while lane < count {
                    let lanes = min(LaneSolver.width, count - lane)
                    solver.solve(from: lane, count: lanes)
                    lane += lanes
                }
                for row in 0..<count {
                    let ratings = w.counts[row]
                    let state = (first + row - users.lowerBound) * stateWidth
                    guard ratings > 0 else {
                        // No ratings: nothing to add (zero rows of M_b and E_b meet zero moments).
                        for index in 0..<shape.packedDimension { w.second[index * stride + row] = 0 }
                        for index in 0..<shape.dimension { w.first[index * stride + row] = 0 }
                        if let states {
                            for j in 0..<componentCount { states[state + j] = model.weights[j] }
                        }
                        continue
                    }
                    let userLogLikelihood = w.logLikelihoods[row]
                    logLikelihood += userLogLikelihood
                    if let record {
                        record[FactorRecord.logLikelihood] += userLogLikelihood
                        record[FactorRecord.activeUsers] += 1
                        record[FactorRecord.squaredResiduals] += w.squares[row]
                        record[FactorRecord.ratingCount] += ratings
                        for j in 0..<componentCount {
                            record[FactorRecord.responsibilities + j] += w.first[(q + j) * stride + row]
                        }
                    }
                    if let states {
                        for j in 0..<componentCount { states[state + j] = w.first[(q + j) * stride + row] }
                        for index in 0..<(componentCount * q) {
                            states[state + componentCount + index] = w.factorMeans[index * stride + row]
                        }
                    }
                }
                if let record, let recordBase = record.baseAddress {
                    let items = recordBase + fields.items
                    BLAS.gemm(transposeA: true, transposeB: true, m: d, n: shape.packedDimension, k: count,
                              a: w.mask, lda: d, b: w.second, ldb: stride, beta: 1,
                              c: items, ldc: fields.itemStride)
                    BLAS.gemm(transposeA: true, transposeB: true, m: d, n: shape.dimension, k: count,
                              a: w.residuals, lda: d, b: w.first, ldb: stride, beta: 1,
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
    /// documentation); T_M's rows are `FactorMixture.writeItemSquares`'s, as in the sparse
    /// kernel's table.
    private static func fillTables(_ model: FactorMixture, shape: Shape, maskTable: UnsafeMutablePointer<Double>,
                                   residualTable: UnsafeMutablePointer<Double>) {
        let q = shape.factorCount
        let componentCount = shape.componentCount
        let packed = shape.packedDimension
        model.loadings.withUnsafeBufferPointer { loadings in
            model.means.withUnsafeBufferPointer { means in
                model.covariances.withUnsafeBufferPointer { covariances in
                    for item in 0..<model.itemCount {
                        let w = UnsafeBufferPointer(rebasing: loadings[(item * q)..<(item * q + q)])
                        let m = UnsafeBufferPointer(rebasing: means[(item * componentCount)..<(item * componentCount + componentCount)])
                        let sigma = UnsafeBufferPointer(rebasing: covariances[(item * packed)..<(item * packed + packed)])
                        FactorMixture.writeItemSquares(loadings: w, means: m, covariance: sigma,
                                                       into: UnsafeMutableBufferPointer(start: maskTable + item * shape.maskWidth,
                                                                                        count: shape.maskWidth))
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

/// Where each workspace starts in the kernel's one workspace array. Block arrays hold a
/// row of B values (one per user of the block) per element; lane arrays a row of
/// `LaneSolver.width` values per element.
private struct Regions {
    let shape: Shape
    let residuals: Int, mask: Int, squares: Int, counts: Int
    let maskTable: Int, residualTable: Int, maskProducts: Int, residualProducts: Int
    let second: Int, first: Int, factorMeans: Int, logLikelihoods: Int, logWeights: Int
    let factor: Int, inverseFactor: Int, reciprocals: Int, right: Int, solved: Int, densities: Int
    let logDeterminants: Int, scratch: Int
    let total: Int

    init(shape: Shape, blockSize: Int, itemCount: Int) {
        self.shape = shape
        let q = shape.factorCount
        let componentCount = shape.componentCount
        let lanes = LaneSolver.width
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
        maskProducts = take(shape.maskWidth * blockSize)
        residualProducts = take(shape.residualWidth * blockSize)
        second = take(shape.packedDimension * blockSize)
        first = take(shape.dimension * blockSize)
        factorMeans = take(componentCount * q * blockSize)
        logLikelihoods = take(blockSize)
        logWeights = take(componentCount)
        factor = take(shape.packedFactors * lanes)
        inverseFactor = take(shape.packedFactors * lanes)
        reciprocals = take(q * lanes)
        right = take(componentCount * q * lanes)
        solved = take(componentCount * q * lanes)
        densities = take(componentCount * lanes)
        logDeterminants = take(lanes)
        scratch = take(max(lanes, componentCount))
        total = next
    }
}

/// Pointers to the regions, valid inside the closure that holds the workspace.
private struct Workspace {
    let residuals, mask, squares, counts: UnsafeMutablePointer<Double>
    let maskTable, residualTable, maskProducts, residualProducts: UnsafeMutablePointer<Double>
    let second, first, factorMeans, logLikelihoods, logWeights: UnsafeMutablePointer<Double>
    let factor, inverseFactor, reciprocals, right, solved, densities, logDeterminants, scratch: UnsafeMutablePointer<Double>

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
        factorMeans = base + regions.factorMeans
        logLikelihoods = base + regions.logLikelihoods
        logWeights = base + regions.logWeights
        factor = base + regions.factor
        inverseFactor = base + regions.inverseFactor
        reciprocals = base + regions.reciprocals
        right = base + regions.right
        solved = base + regions.solved
        densities = base + regions.densities
        logDeterminants = base + regions.logDeterminants
        scratch = base + regions.scratch
    }
}

/// The per-user E-step for a run of up to `width` consecutive users of a block at once
/// ("lanes"): every step of the algebra is a loop along the lanes, one independent user per
/// iteration, which the compiler turns into vector instructions (a user at a time, the small
/// factorisations and solves are chains of dependent scalar operations). The lane arrays are
/// element-major with rows of `width`; the block arrays (products in, moments out) have rows
/// of `stride`.
///
/// For each user: A = I + Σ(w̄w̄ᵀ + Sww)/σ², its Cholesky factor U (AᵀA = UᵀU), the K right
/// sides b_j and r_j, x_j = A⁻¹b_j by two triangular solves, log det A = 2 Σ log U_kk,
/// log N_j and p(j|u) (a softmax per user), z̄_j = x_j/σ², and A⁻¹ = U⁻¹U⁻ᵀ from the
/// triangular inverse X = U⁻¹: A⁻¹_rc = Σ_{k ≥ max(r,c)} X_rk X_ck. Outputs go to the block's
/// columns: Z2 (`second`), Z1 (`first`, whose last K rows are p), z̄ (`factorMeans`) and
/// the log-likelihoods.
///
/// A = I + (positive semi-definite) has every pivot² ≥ 1 (each Schur complement of A is at
/// least I's), so the factorisation only meets a non-positive pivot on non-finite input;
/// then the NaN it produces (√ of a negative) runs into the log-likelihood, which the EM
/// loop refuses.
private struct LaneSolver {
    /// Users per lane run: the lane arrays stay in the core's nearest caches.
    static let width = 32

    let shape: Shape
    let noise: Double
    let halfLogNoise: Double
    let stride: Int
    let w: Workspace

    init(shape: Shape, noise: Double, stride: Int, workspace: Workspace) {
        self.shape = shape
        self.noise = noise
        halfLogNoise = 0.5 * (log(2 * Double.pi) + log(noise))
        self.stride = stride
        w = workspace
    }

    /// Lane row of element `index` in the lane array `base`.
    @inline(__always)
    private func lane(_ base: UnsafeMutablePointer<Double>, _ index: Int) -> UnsafeMutablePointer<Double> {
        base + index * Self.width
    }

    /// Row `index` of the block array `base`, from the first user of this run.
    @inline(__always)
    private func block(_ base: UnsafeMutablePointer<Double>, _ index: Int, _ start: Int) -> UnsafeMutablePointer<Double> {
        base + index * stride + start
    }

    /// Packed index of (r, c), r ≤ c, in q × q.
    @inline(__always)
    private func packedFactor(_ r: Int, _ c: Int) -> Int { SmallMatrices.packedIndex(r, c, shape.factorCount) }

    /// The E-step of the block's users `start ..< start + n`.
    func solve(from start: Int, count n: Int) {
        let q = shape.factorCount
        let componentCount = shape.componentCount
        let inverseNoise = 1 / noise

        // A, packed upper triangle.
        for r in 0..<q {
            for c in r..<q {
                let index = packedFactor(r, c)
                let sums = block(w.maskProducts, index, start)
                let a = lane(w.factor, index)
                let identity: Double = r == c ? 1 : 0
                for l in 0..<n { a[l] = identity + sums[l] / noise }
            }
        }
        // b_j = Σ w̄e − Σ c_j, and a copy to solve in place.
        for j in 0..<componentCount {
            for r in 0..<q {
                let products = block(w.residualProducts, r, start)
                let cross = block(w.maskProducts, shape.packedFactors + j * q + r, start)
                let b = lane(w.right, j * q + r)
                let x = lane(w.solved, j * q + r)
                for l in 0..<n {
                    let value = products[l] - cross[l]
                    b[l] = value
                    x[l] = value
                }
            }
        }
        // Cholesky, column by column: U_jj = √(A_jj − Σ_{k<j} U_kj²), U_jc = (A_jc − Σ_{k<j} U_kj U_kc)/U_jj.
        let logDeterminants = w.logDeterminants
        for l in 0..<n { logDeterminants[l] = 0 }
        for j in 0..<q {
            let diagonal = lane(w.factor, packedFactor(j, j))
            for k in 0..<j {
                let u = lane(w.factor, packedFactor(k, j))
                for l in 0..<n { diagonal[l] -= u[l] * u[l] }
            }
            let reciprocal = lane(w.reciprocals, j)
            for l in 0..<n {
                let pivot = diagonal[l].squareRoot()
                diagonal[l] = pivot
                reciprocal[l] = 1 / pivot
            }
            for l in 0..<n { logDeterminants[l] += log(diagonal[l]) }
            for c in (j + 1)..<max(j + 1, q) {
                let target = lane(w.factor, packedFactor(j, c))
                for k in 0..<j {
                    let left = lane(w.factor, packedFactor(k, j))
                    let right = lane(w.factor, packedFactor(k, c))
                    for l in 0..<n { target[l] -= left[l] * right[l] }
                }
                for l in 0..<n { target[l] *= reciprocal[l] }
            }
        }
        // x_j = A⁻¹ b_j: Uᵀy = b, then Ux = y.
        for j in 0..<componentCount {
            let x = w.solved + j * q * Self.width
            for r in 0..<q {
                let target = lane(x, r)
                for k in 0..<r {
                    let u = lane(w.factor, packedFactor(k, r))
                    let known = lane(x, k)
                    for l in 0..<n { target[l] -= u[l] * known[l] }
                }
                let reciprocal = lane(w.reciprocals, r)
                for l in 0..<n { target[l] *= reciprocal[l] }
            }
            for r in Swift.stride(from: q - 1, through: 0, by: -1) {
                let target = lane(x, r)
                for k in (r + 1)..<max(r + 1, q) {
                    let u = lane(w.factor, packedFactor(r, k))
                    let known = lane(x, k)
                    for l in 0..<n { target[l] -= u[l] * known[l] }
                }
                let reciprocal = lane(w.reciprocals, r)
                for l in 0..<n { target[l] *= reciprocal[l] }
            }
        }
        // log N_j, then p(j|u) and the log-likelihood user by user.
        for j in 0..<componentCount {
            let f = lane(w.densities, j)
            let residualMeans = block(w.residualProducts, q + j, start)
            let meanSquares = block(w.maskProducts, shape.packedFactors + componentCount * q + j, start)
            let logWeight = w.logWeights[j]
            for l in 0..<n {
                let count = w.counts[start + l]
                let squaredDistance = w.squares[start + l] - 2 * residualMeans[l] + meanSquares[l]
                f[l] = logWeight - count * halfLogNoise - logDeterminants[l] - squaredDistance / (2 * noise)
            }
            for r in 0..<q {
                let b = lane(w.right, j * q + r)
                let x = lane(w.solved, j * q + r)
                for l in 0..<n { f[l] += b[l] * x[l] / (2 * noise * noise) }
            }
        }
        let row = UnsafeMutableBufferPointer(start: w.scratch, count: componentCount)
        for l in 0..<n {
            for j in 0..<componentCount { row[j] = w.densities[j * Self.width + l] }
            w.logLikelihoods[start + l] = normaliseLogDensities(row)
            for j in 0..<componentCount { block(w.first, q + j, start)[l] = row[j] }
        }
        // z̄_j = x_j/σ², kept for the states.
        for index in 0..<(componentCount * q) {
            let x = lane(w.solved, index)
            let means = block(w.factorMeans, index, start)
            for l in 0..<n {
                x[l] *= inverseNoise
                means[l] = x[l]
            }
        }
        // X = U⁻¹ (upper): X_rr = 1/U_rr, X_rc = −(Σ_{k=r}^{c−1} X_rk U_kc)/U_cc.
        for r in 0..<q {
            let diagonal = lane(w.inverseFactor, packedFactor(r, r))
            let reciprocal = lane(w.reciprocals, r)
            for l in 0..<n { diagonal[l] = reciprocal[l] }
            for c in (r + 1)..<max(r + 1, q) {
                let target = lane(w.inverseFactor, packedFactor(r, c))
                for l in 0..<n { target[l] = 0 }
                for k in r..<c {
                    let x = lane(w.inverseFactor, packedFactor(r, k))
                    let u = lane(w.factor, packedFactor(k, c))
                    for l in 0..<n { target[l] -= x[l] * u[l] }
                }
                let reciprocalC = lane(w.reciprocals, c)
                for l in 0..<n { target[l] *= reciprocalC[l] }
            }
        }
        // Z2 and Z1: [[A⁻¹ + Σ_j p_j z̄_j z̄_jᵀ, (p_j z̄_j)_j], [·, diag(p)]] and [Σ_j p_j z̄_j; p].
        var index = 0
        for r in 0..<q {
            let mean = block(w.first, r, start)
            for l in 0..<n { mean[l] = 0 }
            for j in 0..<componentCount {
                let p = block(w.first, q + j, start)
                let z = lane(w.solved, j * q + r)
                for l in 0..<n { mean[l] += p[l] * z[l] }
            }
            for c in r..<q {
                let target = block(w.second, index, start)
                for l in 0..<n { target[l] = 0 }
                for k in c..<q {
                    let xr = lane(w.inverseFactor, packedFactor(r, k))
                    let xc = lane(w.inverseFactor, packedFactor(c, k))
                    for l in 0..<n { target[l] += xr[l] * xc[l] }
                }
                for j in 0..<componentCount {
                    let p = block(w.first, q + j, start)
                    let zr = lane(w.solved, j * q + r)
                    let zc = lane(w.solved, j * q + c)
                    for l in 0..<n { target[l] += p[l] * zr[l] * zc[l] }
                }
                index += 1
            }
            for j in 0..<componentCount {
                let target = block(w.second, index, start)
                let p = block(w.first, q + j, start)
                let z = lane(w.solved, j * q + r)
                for l in 0..<n { target[l] = p[l] * z[l] }
                index += 1
            }
        }
        for j in 0..<componentCount {
            for other in j..<componentCount {
                let target = block(w.second, index, start)
                if other == j {
                    let p = block(w.first, q + j, start)
                    for l in 0..<n { target[l] = p[l] }
                } else {
                    for l in 0..<n { target[l] = 0 }
                }
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
