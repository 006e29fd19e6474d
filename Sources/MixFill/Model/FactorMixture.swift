/// The offsets ratings are centred by before the factor family models them: the bias
/// baseline μ₀ + b_u + b_i (regularised least squares, `BiasBaseline`), fitted on the
/// training ratings and saved with the model, so that e_ui = x_ui − μ₀ − b_u − b_i.
public struct RatingOffsets: Sendable, Equatable {
    /// μ₀, the mean training rating.
    public var globalMean: Double
    /// b_u per training user, in the training data's user order.
    public var userOffsets: [Double]
    /// b_i per item.
    public var itemOffsets: [Double]

    public init(globalMean: Double, userOffsets: [Double], itemOffsets: [Double]) {
        self.globalMean = globalMean
        self.userOffsets = userOffsets
        self.itemOffsets = itemOffsets
    }

    /// The offsets of `baseline`.
    public init(_ baseline: BiasBaseline) {
        self.init(globalMean: baseline.mean, userOffsets: baseline.userBiases, itemOffsets: baseline.itemBiases)
    }

    /// μ₀ + b_u + b_i.
    @inline(__always)
    public func baseline(user: Int, item: Int) -> Double {
        globalMean + userOffsets[user] + itemOffsets[item]
    }
}

/// The prior precisions of the factor family: each row of loadings w_i ~ N(0, I/λ_W), each
/// component mean m_ji ~ N(0, 1/λ_m). They keep rarely rated items near their offsets, and
/// their strength decides accuracy (see `FactorSettings` for how the defaults are chosen).
public struct FactorPriors: Sendable, Equatable {
    public var loadings: Double
    public var means: Double

    public init(loadings: Double, means: Double) {
        self.loadings = loadings
        self.means = means
    }
}

/// A mixture of probabilistic PCA with missing entries (the `mppca` family), on ratings
/// centred by `offsets`: component j has weight π_j and mean m_j ∈ R^d; the loadings
/// W ∈ R^{d×q} and the noise σ² are shared by the components, so that a user's observed
/// centred ratings e_O are N(m_{jO}, W_O W_Oᵀ + σ² I) under component j. q = 0 is a
/// spherical mixture with one σ²; K = 1 is probabilistic PCA.
///
/// Item i's parameters θ_i = [w_i; m_1i … m_Ki] (D = q + K values) carry a Gaussian
/// posterior N(θ̄_i, Σ_i) (variational Bayes over the item parameters, point estimates of
/// σ² and π): `loadings` and `means` hold θ̄, `covariances` Σ. Keeping Σ rather than point
/// estimates is what stops the loadings of rarely rated items from overfitting; the
/// prototype that chose this form is described in docs/accuracy.md.
public struct FactorMixture: Sendable, Equatable {
    public let componentCount: Int
    public let factorCount: Int
    public let itemCount: Int
    public var offsets: RatingOffsets
    public var priors: FactorPriors
    /// w̄_i, row-major d × q.
    public var loadings: [Double]
    /// m̄_ji at `i * K + j`, row-major d × K.
    public var means: [Double]
    /// Σ_i packed (upper triangle, row by row; see `SmallMatrices`), D(D+1)/2 per item.
    public var covariances: [Double]
    /// σ², shared by the components.
    public var noiseVariance: Double
    /// π_j.
    public var weights: [Double]

    public init(componentCount: Int, factorCount: Int, itemCount: Int, offsets: RatingOffsets, priors: FactorPriors,
                loadings: [Double], means: [Double], covariances: [Double], noiseVariance: Double, weights: [Double]) {
        let dimension = factorCount + componentCount
        precondition(componentCount >= 1 && factorCount >= 0 && itemCount >= 1, "K ≥ 1, q ≥ 0, d ≥ 1")
        precondition(loadings.count == itemCount * factorCount && means.count == itemCount * componentCount
                     && covariances.count == itemCount * SmallMatrices.packedCount(dimension)
                     && weights.count == componentCount && offsets.itemOffsets.count == itemCount,
                     "factor mixture arrays of its shape")
        precondition(noiseVariance > 0 && noiseVariance.isFinite, "σ² must be positive and finite")
        precondition(priors.loadings > 0 && priors.means > 0, "prior precisions must be positive")
        self.componentCount = componentCount
        self.factorCount = factorCount
        self.itemCount = itemCount
        self.offsets = offsets
        self.priors = priors
        self.loadings = loadings
        self.means = means
        self.covariances = covariances
        self.noiseVariance = noiseVariance
        self.weights = weights
    }

    /// D = q + K, the size of an item's parameter vector θ_i.
    public var dimension: Int { factorCount + componentCount }

    /// The prior precision of θ_i's entry `index` (loadings first, then means).
    @inline(__always)
    func priorPrecision(_ index: Int) -> Double {
        index < factorCount ? priors.loadings : priors.means
    }
}

extension FactorMixture {
    /// This model with user offsets for the users of `matrix` (the same items), each
    /// b_u = Σ (x_ui − μ₀ − b_i) / (λ_u + n_u): the bias baseline's user step with the
    /// items' offsets fixed, as a new user is folded in. For data other than the training
    /// data, whose users the saved offsets do not describe.
    package func refittingUserOffsets(to matrix: SparseRatingMatrix,
                                      userPrior: Double = BiasBaseline.defaultUserRegularisation) -> FactorMixture {
        precondition(matrix.itemCount == itemCount, "data with the model's items")
        var userOffsets = [Double](repeating: 0, count: matrix.userCount)
        for user in 0..<matrix.userCount {
            var sum = 0.0
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                sum += matrix.ratings[position] - offsets.globalMean - offsets.itemOffsets[matrix.items[position]]
            }
            let count = Double(matrix.ratingCount(ofUser: user))
            userOffsets[user] = count > 0 ? sum / (userPrior + count) : 0
        }
        var copy = self
        copy.offsets.userOffsets = userOffsets
        return copy
    }
}

extension FactorMixture {
    /// The part of an item's row of the factor kernels' item tables that is added to a
    /// user's sums without the rating as a factor, written to `row` (exactly its length):
    ///
    ///     [P (packed, q(q+1)/2) | c_1 … c_K (q each) | s (K)]
    ///     P = w̄ w̄ᵀ + Sww,   c_j = w̄ m̄_j + Swm[·, j],   s_j = m̄_j² + Smm[j, j]
    ///
    /// from the item's w̄ (`loadings`, q), m̄ (`means`, K) and packed Σ = [Sww Swm; Swmᵀ Smm]
    /// (`covariance`, D(D+1)/2 with D = q + K). Every entry is one product plus one entry of
    /// Σ, so the sparse and the BLAS kernel, which both build their tables here, hold the
    /// same values.
    static func writeItemSquares(loadings w: UnsafeBufferPointer<Double>, means m: UnsafeBufferPointer<Double>,
                                 covariance sigma: UnsafeBufferPointer<Double>, into row: UnsafeMutableBufferPointer<Double>) {
        let q = w.count
        let componentCount = m.count
        let dimension = q + componentCount
        // The loops below index through buffer pointers, unchecked in release builds.
        precondition(sigma.count == SmallMatrices.packedCount(dimension)
                     && row.count == SmallMatrices.packedCount(q) + componentCount * q + componentCount,
                     "an item's covariance and row for its q and K")
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
    }
}
