/// The course's initialisation, numpy-compatible so that a seed means what it meant there:
///
///     np.random.seed(seed)
///     μ = X[np.random.choice(n, K, replace=False)]        # zeros included
///     σ²_j = mean over all n·d entries of (x_ui − μ_ji)²
///     p_j = 1 / K
///
/// One departure: a σ²_j of exactly 0 (every entry equals the chosen user's: identical
/// users), where the course's numpy takes log(0) and runs on NaN, becomes the M-step's
/// variance floor (0.25). Any positive variance is kept as the course computes it, even
/// below the floor: sparse data (ml-latest-small) has initial variances near 0.23, and
/// raising them would change the fits a numpy user gets from the same seeds.
package enum Initialization {
    /// The users whose rows become the initial means, in component order.
    package static func initialUsers(userCount: Int, componentCount: Int, seed: UInt32) -> [Int] {
        var generator = MersenneTwister(seed: seed)
        return generator.choiceWithoutReplacement(populationSize: userCount, count: componentCount)
    }

    /// The initial mixture for `componentCount` components and `seed`.
    /// Throws when K is not in 1...n (the option is named `-k`).
    package static func courseMixture(data: some RatingData, componentCount: Int, seed: UInt32) throws(MixFillError) -> Mixture {
        guard componentCount >= 1 else {
            throw .badOption(option: "-k", message: "K = \(componentCount) is not allowed; K must be at least 1")
        }
        guard componentCount <= data.userCount else {
            throw .badOption(option: "-k", message: "K = \(componentCount) is more than the \(data.userCount) users in the data; choose K ≤ \(data.userCount)")
        }
        let users = initialUsers(userCount: data.userCount, componentCount: componentCount, seed: seed)
        var means = [Double]()
        means.reserveCapacity(componentCount * data.itemCount)
        for user in users { means.append(contentsOf: data.denseRow(user)) }
        let entryCount = Double(data.userCount) * Double(data.itemCount)
        let variances = (0..<componentCount).map { component in
            let start = component * data.itemCount
            let variance = data.squaredDeviationTotal(from: means[start..<(start + data.itemCount)]) / entryCount
            return variance > 0 && variance.isFinite ? variance : Mixture.defaultVarianceFloor
        }
        return Mixture(
            componentCount: componentCount,
            itemCount: data.itemCount,
            means: means,
            variances: variances,
            weights: Array(repeating: 1.0 / Double(componentCount), count: componentCount)
        )
    }
}
