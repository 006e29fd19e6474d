#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The factor family's E-step done the textbook way, user by user, rating by rating, with
/// nothing precomputed: the reference the fast kernels are checked against.
///
/// For user u with observed items O, centred ratings e_O (e_ui = x_ui − μ₀ − b_u − b_i),
/// and the items' posteriors θ_i = [w_i; m_i] ~ N(θ̄_i, Σ_i) (blocks Sww, Swm, Smm):
///
///     A   = I_q + Σ_{i∈O} (w̄_i w̄_iᵀ + Sww_i) / σ²                   (q × q, Cholesky)
///     b_j = Σ_{i∈O} [w̄_i (e_ui − m̄_ji) − Swm_i[·, j]]
///     r_j = Σ_{i∈O} [(e_ui − m̄_ji)² + Smm_i[j, j]]
///     log N_j = −n_u/2·log(2πσ²) − ½ log det A − (r_j − b_jᵀA⁻¹b_j/σ²) / (2σ²)
///     p(j|u) = softmax_j (log π_j + log N_j),  LL_u = logsumexp_j,  z̄_j = A⁻¹b_j/σ²
///
/// (Woodbury and the matrix determinant lemma: the n_u × n_u covariance is never formed.)
/// With Σ = 0 these are the point-estimate formulas of ARCHITECTURE.md's low-rank section.
final class FactorNaiveKernel: StatisticsKernel {
    let matrix: SparseRatingMatrix
    let users: Range<Int>
    let name = "naive"
    var userCount: Int { users.count }

    init(_ matrix: SparseRatingMatrix, users: Range<Int>? = nil) {
        self.matrix = matrix
        self.users = users ?? 0..<matrix.userCount
    }

    func computeStatistics(_ models: [FactorMixture], layout: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>) {
        for (index, model) in models.enumerated() {
            let record = UnsafeMutableBufferPointer(rebasing: buffer[layout.record(index)])
            for position in record.indices { record[position] = 0 }
            let fields = FactorRecord(model)
            let dimension = model.dimension
            let packed = SmallMatrices.packedCount(dimension)
            forEachUser(model) { user, items, residuals, state in
                record[FactorRecord.logLikelihood] += state.logLikelihood
                record[FactorRecord.activeUsers] += 1
                record[FactorRecord.ratingCount] += Double(items.count)
                for e in residuals { record[FactorRecord.squaredResiduals] += e * e }
                for j in 0..<model.componentCount { record[FactorRecord.responsibilities + j] += state.posteriors[j] }
                let (second, first) = state.moments(model)
                for (item, e) in zip(items, residuals) {
                    let base = fields.items + item * fields.itemStride
                    for index in 0..<packed { record[base + index] += second[index] }
                    for index in 0..<dimension { record[base + packed + index] += e * first[index] }
                }
            }
        }
    }

    func userStates(_ model: FactorMixture) -> (states: [Double], logLikelihood: Double) {
        let width = model.componentCount * (1 + model.factorCount)
        var states = [Double](repeating: 0, count: users.count * width)
        var logLikelihood = 0.0
        for user in users {
            for j in 0..<model.componentCount { states[(user - users.lowerBound) * width + j] = model.weights[j] }
        }
        forEachUser(model) { user, _, _, state in
            logLikelihood += state.logLikelihood
            let base = (user - users.lowerBound) * width
            for j in 0..<model.componentCount { states[base + j] = state.posteriors[j] }
            for index in state.factorMeans.indices { states[base + model.componentCount + index] = state.factorMeans[index] }
        }
        return (states, logLikelihood)
    }

    /// Runs `body` for every user of the shard with at least one rating: their item indices,
    /// centred ratings and E-step.
    private func forEachUser(_ model: FactorMixture,
                             _ body: (_ user: Int, _ items: [Int], _ residuals: [Double], _ state: FactorUserState) -> Void) {
        for user in users {
            let start = matrix.rowStarts[user]
            let end = matrix.rowStarts[user + 1]
            guard end > start else { continue }
            var items = [Int]()
            var residuals = [Double]()
            for position in start..<end {
                let item = matrix.items[position]
                items.append(item)
                residuals.append(matrix.ratings[position] - model.offsets.baseline(user: user, item: item))
            }
            body(user, items, residuals, FactorUserState(model, items: items, residuals: residuals))
        }
    }
}

/// One user's E-step under a factor mixture, straight from the formulas (`FactorNaiveKernel`;
/// also the fold-in of a user given by their ratings).
package struct FactorUserState {
    /// p(j|u), K values.
    package var posteriors: [Double]
    /// z̄_j, K × q row-major.
    package var factorMeans: [Double]
    /// A⁻¹, q × q row-major.
    package var factorCovariance: [Double]
    package var logLikelihood: Double

    package init(_ model: FactorMixture, items: [Int], residuals: [Double]) {
        let q = model.factorCount
        let componentCount = model.componentCount
        let dimension = model.dimension
        let packed = SmallMatrices.packedCount(dimension)
        let noise = model.noiseVariance
        var a = [Double](repeating: 0, count: q * q)
        for r in 0..<q { a[r * q + r] = 1 }
        var b = [Double](repeating: 0, count: componentCount * q)
        var squares = [Double](repeating: 0, count: componentCount)
        for (item, e) in zip(items, residuals) {
            let sigma = item * packed
            for r in 0..<q {
                for c in 0..<q {
                    let (low, high) = (min(r, c), max(r, c))
                    let covariance = model.covariances[sigma + SmallMatrices.packedIndex(low, high, dimension)]
                    a[r * q + c] += (model.loadings[item * q + r] * model.loadings[item * q + c] + covariance) / noise
                }
            }
            for j in 0..<componentCount {
                let mean = model.means[item * componentCount + j]
                for r in 0..<q {
                    let cross = model.covariances[sigma + SmallMatrices.packedIndex(r, q + j, dimension)]
                    b[j * q + r] += model.loadings[item * q + r] * (e - mean) - cross
                }
                let meanVariance = model.covariances[sigma + SmallMatrices.packedIndex(q + j, q + j, dimension)]
                squares[j] += (e - mean) * (e - mean) + meanVariance
            }
        }
        var inverse = [Double](repeating: 0, count: q * q)
        var logDeterminant = 0.0
        var solved = b
        a.withUnsafeMutableBufferPointer { a in
            inverse.withUnsafeMutableBufferPointer { inverse in
                solved.withUnsafeMutableBufferPointer { solved in
                    guard let a = a.baseAddress, let inverse = inverse.baseAddress, let solved = solved.baseAddress else { return }
                    // A = I + (positive semi-definite) is positive definite.
                    guard SmallMatrices.cholesky(a, q) else {
                        logDeterminant = .nan
                        return
                    }
                    logDeterminant = SmallMatrices.logDeterminant(a, q)
                    var column = [Double](repeating: 0, count: q)
                    column.withUnsafeMutableBufferPointer { column in
                        guard let column = column.baseAddress else { return }
                        SmallMatrices.inverse(a, q, into: inverse, column: column)
                    }
                    for j in 0..<componentCount { SmallMatrices.solve(a, q, solved + j * q) }
                }
            }
        }
        let count = Double(items.count)
        let constant = -0.5 * count * (log(2 * Double.pi) + log(noise)) - 0.5 * logDeterminant
        var densities = [Double](repeating: 0, count: componentCount)
        for j in 0..<componentCount {
            var quadratic = 0.0
            for r in 0..<q { quadratic += b[j * q + r] * solved[j * q + r] }
            densities[j] = log(model.weights[j]) + constant - (squares[j] - quadratic / noise) / (2 * noise)
        }
        logLikelihood = densities.withUnsafeMutableBufferPointer { normaliseLogDensities($0) }
        posteriors = densities
        factorMeans = solved.map { $0 / noise }
        factorCovariance = inverse
    }

    /// E_u[z̃z̃ᵀ] (packed, D = q + K) and E_u[z̃] (D) from this state.
    func moments(_ model: FactorMixture) -> (second: [Double], first: [Double]) {
        let q = model.factorCount
        let componentCount = model.componentCount
        let dimension = model.dimension
        var second = [Double](repeating: 0, count: SmallMatrices.packedCount(dimension))
        var first = [Double](repeating: 0, count: dimension)
        for r in 0..<q {
            for c in r..<q {
                var value = factorCovariance[r * q + c]
                for j in 0..<componentCount { value += posteriors[j] * factorMeans[j * q + r] * factorMeans[j * q + c] }
                second[SmallMatrices.packedIndex(r, c, dimension)] = value
            }
            for j in 0..<componentCount {
                second[SmallMatrices.packedIndex(r, q + j, dimension)] = posteriors[j] * factorMeans[j * q + r]
                first[r] += posteriors[j] * factorMeans[j * q + r]
            }
        }
        for j in 0..<componentCount {
            second[SmallMatrices.packedIndex(q + j, q + j, dimension)] = posteriors[j]
            first[q + j] = posteriors[j]
        }
        return (second, first)
    }
}
