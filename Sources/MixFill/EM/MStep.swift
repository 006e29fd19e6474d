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
            var crossTerm = 0.0
            var squareTerm = 0.0
            for i in 0..<itemCount {
                let index = j * itemCount + i
                let observedWeight = statistics.observedWeights[index]
                if observedWeight >= 1 {
                    next.means[index] = statistics.ratingSums[index] / observedWeight
                }
                let mean = next.means[index]
                crossTerm += mean * statistics.ratingSums[index]
                squareTerm += mean * mean * observedWeight
            }
            let denominator = statistics.weightedObservedCounts[j]
            if denominator > 0 {
                let numerator = statistics.weightedSquaredNorms[j] - 2 * crossTerm + squareTerm
                next.variances[j] = max(numerator / denominator, varianceFloor)
            }
            // A component that no longer explains any rating keeps its variance: there is
            // nothing to estimate it from, and its weight (≈ 0) already silences it.
        }
        return next
    }
}
