/// The mixture's prediction for a known user: the posterior-weighted mean,
///
///     r̂_ui = Σ_j p(j | u)·μ_ji
///
/// (the course's fill), with p(j | u) from an E-step over the user's training ratings.
///
/// An item with no training rating has no mean worth the name (each μ_ji is still the
/// initial value, often the 0 of a missing entry), so such items get `fallback`, the mean
/// training rating, instead. `predict`, `recommend` and `eval` all use this rule.
public struct MixturePredictor: RatingPredictor {
    public let mixture: Mixture
    /// Users × K, row-major.
    public let posteriors: [Double]
    public let itemRatingCounts: [Int]
    public let fallback: Double

    public init(mixture: Mixture, posteriors: [Double], itemRatingCounts: [Int], fallback: Double) {
        precondition(posteriors.count % mixture.componentCount == 0 && itemRatingCounts.count == mixture.itemCount)
        self.mixture = mixture
        self.posteriors = posteriors
        self.itemRatingCounts = itemRatingCounts
        self.fallback = fallback
    }

    public var userCount: Int { posteriors.count / mixture.componentCount }

    public func predict(user: Int, item: Int) -> Double {
        Self.expectedRating(posteriors: posteriors, offset: user * mixture.componentCount, item: item,
                            mixture: mixture, itemRatingCounts: itemRatingCounts, fallback: fallback)
    }

    /// Σ_j p_j·μ_ji: a user without ratings has the weights as posterior.
    public func newUserPrediction(item: Int) -> Double {
        Self.expectedRating(posteriors: mixture.weights, offset: 0, item: item,
                            mixture: mixture, itemRatingCounts: itemRatingCounts, fallback: fallback)
    }

    /// Every item's Σ_j p(j|u)·μ_ji as K passes of scores_i += p(j|u)·μ_ji over the means'
    /// contiguous rows, j = 0 first: the terms of `expectedRating`, added in its order.
    public func scores(user: Int, into scores: inout [Double]) {
        let itemCount = mixture.itemCount
        precondition(scores.count == itemCount, "one score per item")
        let offset = user * mixture.componentCount
        scores.withUnsafeMutableBufferPointer { scores in
            mixture.means.withUnsafeBufferPointer { means in
                for item in 0..<itemCount { scores[item] = 0 }
                for j in 0..<mixture.componentCount {
                    let weight = posteriors[offset + j]
                    let row = j * itemCount
                    for item in 0..<itemCount { scores[item] += weight * means[row + item] }
                }
            }
        }
        for item in 0..<itemCount where itemRatingCounts[item] == 0 { scores[item] = fallback }
    }

    /// Σ_j posteriors[offset + j]·μ_ji, or `fallback` for an item without training ratings.
    @inline(__always)
    public static func expectedRating(posteriors: [Double], offset: Int, item: Int, mixture: Mixture,
                                      itemRatingCounts: [Int], fallback: Double) -> Double {
        if itemRatingCounts[item] == 0 { return fallback }
        var prediction = 0.0
        let itemCount = mixture.itemCount
        for j in 0..<mixture.componentCount {
            prediction += posteriors[offset + j] * mixture.means[j * itemCount + item]
        }
        return prediction
    }
}
