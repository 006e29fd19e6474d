/// The course's M-step, from summed sufficient statistics alone (n̂_j = Σ_u p(j|u)):
///
///     p_j  = n̂_j / n
///     μ_ji = N_ji / D_ji            where D_ji ≥ 1; elsewhere μ_ji keeps its previous value
///     σ²_j = max( (Σ_u p(j|u)‖x_{C_u}‖² − 2 Σ_i μ_ji N_ji + Σ_i μ²_ji D_ji) / Σ_u p(j|u)|C_u| , 0.25 )
///
/// The variance numerator is Σ_u p(j|u)·‖x_{C_u} − μ_{j,C_u}‖² with the new means, expanded
/// so that no second pass over the data is needed. The soft-count rule (D_ji ≥ 1) keeps a
/// mean from being set by a fraction of one rating; the floor 0.25 keeps a component from
/// collapsing onto a few identical users (its LL would grow without bound).
public enum MStep {
    /// The course's variance floor.
    public static let defaultVarianceFloor = 0.25

    public static func update(_ previous: Mixture, with statistics: SufficientStatistics,
                              varianceFloor: Double = defaultVarianceFloor) -> Mixture {
        let componentCount = previous.componentCount
        let itemCount = previous.itemCount
        precondition(statistics.componentCount == componentCount && statistics.itemCount == itemCount)
        precondition(statistics.userCount > 0, "statistics cover no users")
        var next = previous
        let userCount = Double(statistics.userCount)
        for j in 0..<componentCount {
            next.weights[j] = statistics.responsibilities[j] / userCount
        }
        // Σ_i μ_ji N_ji and Σ_i μ²_ji D_ji, each summed in four interleaved partial sums so
        // the loop runs in vector registers (the per-item updates are independent).
        var crossTerms = [Double](repeating: 0, count: componentCount)
        var squareTerms = [Double](repeating: 0, count: componentCount)
        next.means.withUnsafeMutableBufferPointer { means in
            statistics.ratingSums.withUnsafeBufferPointer { ratingSums in
                statistics.observedWeights.withUnsafeBufferPointer { observedWeights in
                    for j in 0..<componentCount {
                        let base = j * itemCount
                        for index in base..<(base + itemCount) where observedWeights[index] >= 1 {
                            means[index] = ratingSums[index] / observedWeights[index]
                        }
                        var cross = (0.0, 0.0, 0.0, 0.0)
                        var square = (0.0, 0.0, 0.0, 0.0)
                        var index = base
                        let vectorEnd = base + itemCount - itemCount % 4
                        while index < vectorEnd {
                            let m0 = means[index], m1 = means[index + 1], m2 = means[index + 2], m3 = means[index + 3]
                            cross.0 += m0 * ratingSums[index]
                            cross.1 += m1 * ratingSums[index + 1]
                            cross.2 += m2 * ratingSums[index + 2]
                            cross.3 += m3 * ratingSums[index + 3]
                            square.0 += m0 * m0 * observedWeights[index]
                            square.1 += m1 * m1 * observedWeights[index + 1]
                            square.2 += m2 * m2 * observedWeights[index + 2]
                            square.3 += m3 * m3 * observedWeights[index + 3]
                            index += 4
                        }
                        var crossTerm = (cross.0 + cross.1) + (cross.2 + cross.3)
                        var squareTerm = (square.0 + square.1) + (square.2 + square.3)
                        while index < base + itemCount {
                            crossTerm += means[index] * ratingSums[index]
                            squareTerm += means[index] * means[index] * observedWeights[index]
                            index += 1
                        }
                        crossTerms[j] = crossTerm
                        squareTerms[j] = squareTerm
                    }
                }
            }
        }
        for j in 0..<componentCount {
            let denominator = statistics.weightedObservedCounts[j]
            if denominator > 0 {
                let numerator = statistics.weightedSquaredNorms[j] - 2 * crossTerms[j] + squareTerms[j]
                next.variances[j] = max(numerator / denominator, varianceFloor)
            }
            // A component that no longer explains any rating keeps its variance: there is
            // nothing to estimate it from, and its weight (≈ 0) already silences it.
        }
        return next
    }
}
