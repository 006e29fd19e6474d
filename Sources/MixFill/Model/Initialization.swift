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
        try courseMixture(userCount: data.userCount, itemCount: data.itemCount, componentCount: componentCount, seed: seed,
                          totals: data.columnTotals, row: { data.denseRow($0) })
    }

    /// The same from what shards of users can supply: the data's `columnTotals` (added up
    /// over the shards) and `row(u)`, user u's dense row, asked for the K chosen users in
    /// component order (a distributed fit broadcasts each from the rank holding it). The
    /// variances need no pass over the data: expanding the square,
    ///
    ///     Σ_u Σ_i (x_ui − μ_ji)² = n·Σ_i μ_ji² − 2·Σ_i μ_ji·S_i + Σ x²,   S_i = Σ_u x_ui,
    ///
    /// O(d) per component (on 100 million ratings K passes would dominate the start); the
    /// three terms are of the same order and positive-dominated, so no precision is lost.
    package static func courseMixture(userCount: Int, itemCount: Int, componentCount: Int, seed: UInt32, totals: [Double],
                                      row: (Int) throws(MixFillError) -> [Double]) throws(MixFillError) -> Mixture {
        precondition(totals.count == itemCount + 1, "S_1 … S_d, then Σ x²")
        guard componentCount >= 1 else {
            throw .badOption(option: "-k", message: "K = \(componentCount) is not allowed; K must be at least 1")
        }
        guard componentCount <= userCount else {
            throw .badOption(option: "-k", message: "K = \(componentCount) is more than the \(counted(userCount, "user")) in the data; choose K ≤ \(userCount)")
        }
        let users = initialUsers(userCount: userCount, componentCount: componentCount, seed: seed)
        var means = [Double]()
        means.reserveCapacity(componentCount * itemCount)
        for user in users { means.append(contentsOf: try row(user)) }
        let entryCount = Double(userCount) * Double(itemCount)
        let variances = (0..<componentCount).map { component in
            var centerSquares = 0.0
            var cross = 0.0
            for item in 0..<itemCount {
                let value = means[component * itemCount + item]
                centerSquares += value * value
                cross += value * totals[item]
            }
            let variance = (Double(userCount) * centerSquares - 2 * cross + totals[itemCount]) / entryCount
            return variance > 0 && variance.isFinite ? variance : Mixture.defaultVarianceFloor
        }
        return Mixture(
            componentCount: componentCount,
            itemCount: itemCount,
            means: means,
            variances: variances,
            weights: Array(repeating: 1.0 / Double(componentCount), count: componentCount)
        )
    }
}
