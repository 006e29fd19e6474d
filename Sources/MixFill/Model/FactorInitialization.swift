/// Where a factor-family fit starts.
package enum FactorInitialization {
    /// The prior covariance of every item's θ_i divided by 100: the items' posteriors start
    /// much narrower than the prior, so the first E-step sees the loadings as given.
    static let startingCovarianceShare = 0.01

    /// A start from random loadings: w̄_ik ~ N(0, 0.1²) from SplitMix64(`seed`) item by
    /// item (0 for an item without ratings), every component mean 0, σ² the mean squared
    /// centred rating, π uniform, Σ_i = diag(1/λ)/100. Small loadings start EM near W = 0
    /// but off it: W = 0 is itself a fixed point of the updates.
    package static func random(matrix: SparseRatingMatrix, offsets: RatingOffsets, factorCount: Int, componentCount: Int,
                       priors: FactorPriors, seed: UInt64) -> FactorMixture {
        let d = matrix.itemCount
        var rated = [Bool](repeating: false, count: d)
        var squares = 0.0
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                let item = matrix.items[position]
                rated[item] = true
                let e = matrix.ratings[position] - offsets.baseline(user: user, item: item)
                squares += e * e
            }
        }
        var random = SplitMix64(seed: seed)
        var loadings = [Double](repeating: 0, count: d * factorCount)
        for item in 0..<d {
            for k in 0..<factorCount {
                let value = 0.1 * random.nextGaussian()
                if rated[item] { loadings[item * factorCount + k] = value }
            }
        }
        let noise = matrix.observedCount > 0 ? squares / Double(matrix.observedCount) : 1
        return FactorMixture(
            componentCount: componentCount, factorCount: factorCount, itemCount: d, offsets: offsets, priors: priors,
            loadings: loadings, means: [Double](repeating: 0, count: d * componentCount),
            covariances: startingCovariances(itemCount: d, factorCount: factorCount, componentCount: componentCount, priors: priors),
            noiseVariance: noise > 0 ? noise : 1,
            weights: [Double](repeating: 1 / Double(componentCount), count: componentCount))
    }

    /// Σ_i = diag(1/λ)·`startingCovarianceShare` for every item, packed.
    static func startingCovariances(itemCount: Int, factorCount: Int, componentCount: Int, priors: FactorPriors) -> [Double] {
        let dimension = factorCount + componentCount
        var one = [Double](repeating: 0, count: SmallMatrices.packedCount(dimension))
        for index in 0..<dimension {
            let precision = index < factorCount ? priors.loadings : priors.means
            one[SmallMatrices.packedIndex(index, index, dimension)] = startingCovarianceShare / precision
        }
        var all = [Double]()
        all.reserveCapacity(itemCount * one.count)
        for _ in 0..<itemCount { all += one }
        return all
    }
}
