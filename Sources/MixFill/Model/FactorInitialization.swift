/// Where a factor-family fit starts.
package enum FactorInitialization {
    /// The prior covariance of every item's θ_i divided by 100: the items' posteriors start
    /// much narrower than the prior, so the first E-step sees the loadings as given.
    static let startingCovarianceShare = 0.01

    /// A start from random loadings: w̄_ik ~ N(0, 0.1²) from SplitMix64(`seed`) item by
    /// item (0 for an item without ratings), σ² the mean squared centred rating, π uniform,
    /// Σ_i = diag(1/λ)/100. Small loadings start EM near W = 0 but off it: W = 0 is itself a
    /// fixed point of the updates. One component's mean starts at 0; with K > 1 each m_ji
    /// of a rated item is then drawn ~ N(0, 0.1²) from the same stream (after all the
    /// loadings, so K = 1 draws what it always drew): equal means are a fixed point too —
    /// every user's p(j|u) is then π_j, every component gets the same statistics, and the
    /// components never separate. (Fits with K > 1 start from `clustered` instead; this
    /// start serves `measure` and tests.)
    package static func random(matrix: SparseRatingMatrix, offsets: RatingOffsets, factorCount: Int, componentCount: Int,
                       priors: FactorPriors, seed: UInt64) -> FactorMixture {
        var rated = [Bool](repeating: false, count: matrix.itemCount)
        var squares = 0.0
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                let item = matrix.items[position]
                rated[item] = true
                let e = matrix.ratings[position] - offsets.baseline(user: user, item: item)
                squares += e * e
            }
        }
        return random(rated: rated, squaredResiduals: squares, observedCount: matrix.observedCount, offsets: offsets,
                      factorCount: factorCount, componentCount: componentCount, priors: priors, seed: seed)
    }

    /// The same start from what it reads of the data: which items have a rating, Σ e²_ui
    /// over every rating (added in user-major order) and the number of ratings. A
    /// distributed fit computes these through its ranks and passes each rank's own users'
    /// `offsets`; the item-side parameters depend on nothing else, so they are the same
    /// bits on every rank.
    package static func random(rated: [Bool], squaredResiduals squares: Double, observedCount: Int, offsets: RatingOffsets,
                               factorCount: Int, componentCount: Int, priors: FactorPriors, seed: UInt64) -> FactorMixture {
        let d = rated.count
        var random = SplitMix64(seed: seed)
        var loadings = [Double](repeating: 0, count: d * factorCount)
        for item in 0..<d {
            for k in 0..<factorCount {
                let value = 0.1 * random.nextGaussian()
                if rated[item] { loadings[item * factorCount + k] = value }
            }
        }
        var means = [Double](repeating: 0, count: d * componentCount)
        if componentCount > 1 {
            for item in 0..<d {
                for j in 0..<componentCount {
                    let value = 0.1 * random.nextGaussian()
                    if rated[item] { means[item * componentCount + j] = value }
                }
            }
        }
        let noise = observedCount > 0 ? squares / Double(observedCount) : 1
        return FactorMixture(
            componentCount: componentCount, factorCount: factorCount, itemCount: d, offsets: offsets, priors: priors,
            loadings: loadings, means: means,
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

    /// A K-component start from a one-component fit `single` and its users' states (p, z̄):
    /// the users' factor means z̄_u clustered by k-means (k-means++ seeding from
    /// SplitMix64(`seed`), then Lloyd steps until no user moves, at most 50), component j's
    /// mean m_j = m + W̄·c_j for cluster centre c_j (the single component's mean moved along
    /// the loadings to where those users' tastes lie), π_j the cluster's share. W̄, σ² and
    /// the loadings' posterior covariance are kept; each new mean gets the single mean's
    /// variance and no covariance with the loadings or the other means (a block-diagonal Σ,
    /// so positive definite; the first M-step sets it properly). Random starts of the means
    /// instead end in nearly uniform weights, and K-means starts score better.
    package static func clustered(_ single: FactorMixture, states: [Double], componentCount: Int, seed: UInt64) -> FactorMixture {
        precondition(single.componentCount == 1, "a start from one component")
        let q = single.factorCount
        let d = single.itemCount
        let userCount = states.count / (1 + q)
        let points = (0..<userCount).map { user in Array(states[(user * (1 + q) + 1)..<((user + 1) * (1 + q))]) }
        let centres = kMeans(points, clusters: componentCount, dimension: q, seed: seed)
        var counts = [Double](repeating: 0, count: componentCount)
        for point in points { counts[nearest(point, centres)] += 1 }
        let total = counts.reduce(0, +)
        let weights = counts.map { max($0, 1) / (total + Double(componentCount)) }
        let weightTotal = weights.reduce(0, +)

        var means = [Double](repeating: 0, count: d * componentCount)
        // Without factors there is nothing to cluster: the means start apart by small
        // random steps instead (identical means would stay identical).
        var jitter = SplitMix64(seed: seed)
        for item in 0..<d {
            for j in 0..<componentCount {
                var value = single.means[item]
                for r in 0..<q { value += single.loadings[item * q + r] * centres[j][r] }
                means[item * componentCount + j] = q == 0 ? value + 0.1 * jitter.nextGaussian() : value
            }
        }
        let oldDimension = q + 1
        let newDimension = q + componentCount
        var covariances = [Double](repeating: 0, count: d * SmallMatrices.packedCount(newDimension))
        for item in 0..<d {
            let old = item * SmallMatrices.packedCount(oldDimension)
            let new = item * SmallMatrices.packedCount(newDimension)
            for r in 0..<q {
                for c in r..<q {
                    covariances[new + SmallMatrices.packedIndex(r, c, newDimension)] = single.covariances[old + SmallMatrices.packedIndex(r, c, oldDimension)]
                }
            }
            let meanVariance = single.covariances[old + SmallMatrices.packedIndex(q, q, oldDimension)]
            for j in 0..<componentCount {
                covariances[new + SmallMatrices.packedIndex(q + j, q + j, newDimension)] = meanVariance
            }
        }
        return FactorMixture(componentCount: componentCount, factorCount: q, itemCount: d, offsets: single.offsets,
                             priors: single.priors, loadings: single.loadings, means: means, covariances: covariances,
                             noiseVariance: single.noiseVariance, weights: weights.map { $0 / weightTotal })
    }

    /// k-means++ then Lloyd's algorithm; with no factors (q = 0) every centre is empty.
    static func kMeans(_ points: [[Double]], clusters: Int, dimension: Int, seed: UInt64) -> [[Double]] {
        guard dimension > 0, !points.isEmpty else { return [[Double]](repeating: [], count: clusters) }
        var random = SplitMix64(seed: seed)
        var centres = [points[random.nextInt(below: points.count)]]
        var distances = points.map { squaredDistance($0, centres[0]) }
        while centres.count < clusters {
            let total = distances.reduce(0, +)
            var chosen = random.nextInt(below: points.count)
            if total > 0 {
                var target = random.nextUniform() * total
                for (index, distance) in distances.enumerated() {
                    target -= distance
                    if target < 0 {
                        chosen = index
                        break
                    }
                }
            }
            centres.append(points[chosen])
            for index in points.indices { distances[index] = min(distances[index], squaredDistance(points[index], points[chosen])) }
        }
        var assignment = [Int](repeating: -1, count: points.count)
        for _ in 0..<50 {
            var moved = false
            for index in points.indices {
                let cluster = nearest(points[index], centres)
                if cluster != assignment[index] {
                    assignment[index] = cluster
                    moved = true
                }
            }
            if !moved { break }
            var sums = [[Double]](repeating: [Double](repeating: 0, count: dimension), count: clusters)
            var sizes = [Double](repeating: 0, count: clusters)
            for (index, cluster) in assignment.enumerated() {
                sizes[cluster] += 1
                for r in 0..<dimension { sums[cluster][r] += points[index][r] }
            }
            for cluster in 0..<clusters where sizes[cluster] > 0 {
                centres[cluster] = sums[cluster].map { $0 / sizes[cluster] }
            }
        }
        return centres
    }

    static func nearest(_ point: [Double], _ centres: [[Double]]) -> Int {
        var best = 0
        var bestDistance = Double.infinity
        for (index, centre) in centres.enumerated() {
            let distance = squaredDistance(point, centre)
            if distance < bestDistance {
                best = index
                bestDistance = distance
            }
        }
        return best
    }

    static func squaredDistance(_ a: [Double], _ b: [Double]) -> Double {
        var sum = 0.0
        for index in a.indices { sum += (a[index] - b[index]) * (a[index] - b[index]) }
        return sum
    }
}
