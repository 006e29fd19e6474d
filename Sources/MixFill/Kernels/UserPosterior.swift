/// The E-step for one user given as a list of (item index, rating): fold-in.
///
///     f(j) = log(p_j + 1e-16) − |C|/2·log(2πσ²_j) − Σ_{i∈C} (x_i − μ_ji)² / (2σ²_j)
///     p(j | ratings) = exp(f(j) − logsumexp f)
///
/// the same terms, in the same order, as the naive kernel's row for a training user, so a
/// training user folded in with their own ratings gets their training posterior. A user
/// with no rating gets the weights p_j back (up to the 1e-16): the population's posterior.
/// The mixture is not changed: fold-in places a new user among the components that
/// already exist, without refitting.
///
/// Fallback: when the posterior is not finite — every f(j) −∞ or NaN, which the readers'
/// ±1e100 rating limit keeps finite data from reaching, but a squared distance can still
/// overflow for a mixture whose means or variances are extreme — the posterior is the
/// weights p_j, as for a user with no ratings: predictions then come from the population,
/// never NaN. The log-likelihood is returned as computed (then −∞ or NaN), so a caller
/// can tell.
package enum UserPosterior {
    /// `ratings` hold item indices in 0..<d; each item should appear once.
    package static func compute(_ mixture: Mixture, ratings: [(item: Int, rating: Double)]) -> (posterior: [Double], logLikelihood: Double) {
        compute(mixture, terms: ComponentTerms(mixture), ratings: ratings)
    }

    /// As above with the component terms computed once for many users.
    package static func compute(_ mixture: Mixture, terms: ComponentTerms,
                               ratings: [(item: Int, rating: Double)]) -> (posterior: [Double], logLikelihood: Double) {
        let itemCount = mixture.itemCount
        var row = [Double](repeating: 0, count: mixture.componentCount)
        let count = Double(ratings.count)
        for j in 0..<mixture.componentCount {
            var squaredDistance = 0.0
            for (item, rating) in ratings {
                precondition(item >= 0 && item < itemCount, "item index out of range")
                let difference = rating - mixture.means[j * itemCount + item]
                squaredDistance += difference * difference
            }
            row[j] = terms.logDensity(j, observedCount: count, squaredDistance: squaredDistance)
        }
        let logLikelihood = row.withUnsafeMutableBufferPointer { normaliseLogDensities($0) }
        guard logLikelihood.isFinite, row.allSatisfy(\.isFinite) else {
            return (mixture.weights, logLikelihood)
        }
        return (row, logLikelihood)
    }
}
