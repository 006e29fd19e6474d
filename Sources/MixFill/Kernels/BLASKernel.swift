/// The E-step and M-step sums as matrix products on OpenBLAS.
///
/// The data are stored once as the stacked row-major matrix Z = [X | M] (n × 2d): ratings
/// with 0 at missing entries, then the 0/1 mask. With B = [−2μ | μ∘μ] (K × 2d),
///
///     ‖x_{C_u} − μ_{j,C_u}‖² = ‖x_u‖² + (Z·Bᵀ)_{uj}        one n × 2d × K GEMM
///     [N | D] = Pᵀ·Z                                        one K × n × 2d GEMM
///
/// so an iteration is two GEMMs (GEMVs when K = 1) plus O(n·K + K·d) loops. All buffers
/// are allocated once per K and reused across iterations.
public final class BLASKernel: StatisticsKernel {
    public let userCount: Int
    public let itemCount: Int
    public let name = "blas"

    /// Z = [X | M], n × 2d, row-major.
    private let stacked: [Double]
    /// ‖x_u‖² and |C_u| per user.
    private let squaredNorms: [Double]
    private let observedCounts: [Double]

    // Workspaces, sized for `workspaceComponents` components.
    private var workspaceComponents = 0
    private var coefficients: [Double] = []   // B, K × 2d
    private var products: [Double] = []       // Z·Bᵀ then posteriors, n × K
    private var sums: [Double] = []           // [N | D], K × 2d

    public init(_ data: DenseRatingMatrix) {
        userCount = data.userCount
        itemCount = data.itemCount
        let width = 2 * data.itemCount
        var stacked = [Double](repeating: 0, count: data.userCount * width)
        var squaredNorms = [Double](repeating: 0, count: data.userCount)
        var observedCounts = [Double](repeating: 0, count: data.userCount)
        for user in 0..<data.userCount {
            var norm = 0.0
            var count = 0.0
            for item in 0..<data.itemCount {
                let rating = data.values[user * data.itemCount + item]
                if rating != 0 {
                    stacked[user * width + item] = rating
                    stacked[user * width + data.itemCount + item] = 1
                    norm += rating * rating
                    count += 1
                }
            }
            squaredNorms[user] = norm
            observedCounts[user] = count
        }
        self.stacked = stacked
        self.squaredNorms = squaredNorms
        self.observedCounts = observedCounts
    }

    private func prepareWorkspaces(_ componentCount: Int) {
        guard workspaceComponents != componentCount else { return }
        workspaceComponents = componentCount
        coefficients = [Double](repeating: 0, count: componentCount * 2 * itemCount)
        products = [Double](repeating: 0, count: userCount * componentCount)
        sums = [Double](repeating: 0, count: componentCount * 2 * itemCount)
    }

    /// Fills `products` with posteriors p(j|u) (n × K) and returns the log-likelihood.
    private func computePosteriors(_ mixture: Mixture) -> Double {
        let componentCount = mixture.componentCount
        prepareWorkspaces(componentCount)
        let width = 2 * itemCount
        for j in 0..<componentCount {
            for i in 0..<itemCount {
                let mean = mixture.means[j * itemCount + i]
                coefficients[j * width + i] = -2 * mean
                coefficients[j * width + itemCount + i] = mean * mean
            }
        }
        stacked.withUnsafeBufferPointer { z in
            coefficients.withUnsafeBufferPointer { b in
                products.withUnsafeMutableBufferPointer { g in
                    guard let z = z.baseAddress, let b = b.baseAddress, let g = g.baseAddress else { return }
                    if componentCount == 1 {
                        BLAS.gemv(transpose: false, m: userCount, n: width, a: z, lda: width, x: b, y: g)
                    } else {
                        BLAS.gemm(transposeA: false, transposeB: true, m: userCount, n: componentCount, k: width,
                                  a: z, lda: width, b: b, ldb: width, c: g, ldc: componentCount)
                    }
                }
            }
        }
        let terms = ComponentTerms(mixture)
        var logLikelihood = 0.0
        products.withUnsafeMutableBufferPointer { g in
            for user in 0..<userCount {
                let row = UnsafeMutableBufferPointer(rebasing: g[(user * componentCount)..<((user + 1) * componentCount)])
                let count = observedCounts[user]
                let norm = squaredNorms[user]
                for j in 0..<componentCount {
                    row[j] = terms.logDensity(j, observedCount: count, squaredDistance: norm + row[j])
                }
                logLikelihood += normaliseLogDensities(row)
            }
        }
        return logLikelihood
    }

    public func accumulate(_ mixture: Mixture, into statistics: inout SufficientStatistics) {
        let componentCount = mixture.componentCount
        statistics.logLikelihood += computePosteriors(mixture)
        let width = 2 * itemCount
        products.withUnsafeBufferPointer { p in
            for user in 0..<userCount {
                let norm = squaredNorms[user]
                let count = observedCounts[user]
                for j in 0..<componentCount {
                    let posterior = p[user * componentCount + j]
                    statistics.responsibilities[j] += posterior
                    statistics.weightedSquaredNorms[j] += posterior * norm
                    statistics.weightedObservedCounts[j] += posterior * count
                }
            }
        }
        products.withUnsafeBufferPointer { p in
            stacked.withUnsafeBufferPointer { z in
                sums.withUnsafeMutableBufferPointer { s in
                    guard let p = p.baseAddress, let z = z.baseAddress, let s = s.baseAddress else { return }
                    if componentCount == 1 {
                        BLAS.gemv(transpose: true, m: userCount, n: width, a: z, lda: width, x: p, y: s)
                    } else {
                        BLAS.gemm(transposeA: true, transposeB: false, m: componentCount, n: width, k: userCount,
                                  a: p, lda: componentCount, b: z, ldb: width, c: s, ldc: width)
                    }
                }
            }
        }
        for j in 0..<componentCount {
            for i in 0..<itemCount {
                statistics.ratingSums[j * itemCount + i] += sums[j * width + i]
                statistics.observedWeights[j * itemCount + i] += sums[j * width + itemCount + i]
            }
        }
        statistics.userCount += userCount
    }

    public func posteriors(_ mixture: Mixture) -> (posteriors: [Double], logLikelihood: Double) {
        let logLikelihood = computePosteriors(mixture)
        return (Array(products[0..<(userCount * mixture.componentCount)]), logLikelihood)
    }
}
