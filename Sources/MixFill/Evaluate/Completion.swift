#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A filled matrix's root-mean-square errors against the complete (gold) matrix: over all
/// entries (the course's figure, which includes the observed entries the model was given)
/// and over the entries missing from the data only (the honest figure; nil when none is
/// missing). Both count a 0 in the gold matrix as a rating of 0, and neither clips.
package struct GoldErrors: Sendable, Equatable {
    package var allEntries: Double
    package var missingEntries: Double?
}

/// Filling in missing ratings and scoring the result.
public enum Completion {
    /// The course's fill: a missing entry (u, i) becomes Σ_j p(j|u)·μ_ji, observed entries
    /// stay as they are. `posteriors` is users × K, row-major.
    public static func fill(_ data: DenseRatingMatrix, mixture: Mixture, posteriors: [Double]) -> DenseRatingMatrix {
        var values = data.values
        forEachFilledEntry(data, mixture: mixture, posteriors: posteriors) { index, prediction in
            values[index] = prediction
        }
        return DenseRatingMatrix(userCount: data.userCount, itemCount: data.itemCount, values: values)
    }

    /// The errors of the course's fill of `data` against `gold`, without building the
    /// filled matrix: each prediction is made where it is scored and dropped.
    package static func rootMeanSquareErrors(of mixture: Mixture, posteriors: [Double], data: DenseRatingMatrix,
                                            gold: DenseRatingMatrix) -> GoldErrors {
        precondition(mixture.itemCount == data.itemCount && posteriors.count == data.userCount * mixture.componentCount)
        return rootMeanSquareErrors(filling: data, gold: gold) { user, item in
            filledEntry(user: user, item: item, mixture: mixture, posteriors: posteriors)
        }
    }

    /// The errors against `gold` of filling `data`'s missing entries with `prediction(user,
    /// item)` (observed entries kept): for a model other than the course's. An item without
    /// any rating in `data` is scored as `fill` writes it, the mean rating
    /// (`unratedItemFallback`), not as the model's untrained means.
    package static func rootMeanSquareErrors(filling data: DenseRatingMatrix, gold: DenseRatingMatrix,
                                            prediction modelPrediction: (_ user: Int, _ item: Int) -> Double) -> GoldErrors {
        precondition(gold.userCount == data.userCount && gold.itemCount == data.itemCount)
        let fallback = unratedItemFallback(data)
        func prediction(_ user: Int, _ item: Int) -> Double {
            if let fallback, fallback.unrated[item] { return fallback.mean }
            return modelPrediction(user, item)
        }
        var allTotal = 0.0
        var missingTotal = 0.0
        var missingCount = 0
        for user in 0..<data.userCount {
            for item in 0..<data.itemCount {
                let index = user * data.itemCount + item
                let missing = data.values[index] == 0
                let difference = (missing ? prediction(user, item) : data.values[index]) - gold.values[index]
                allTotal += difference * difference
                if missing {
                    missingTotal += difference * difference
                    missingCount += 1
                }
            }
        }
        let all = (allTotal / Double(gold.values.count)).squareRoot()
        let missing = missingCount > 0 ? (missingTotal / Double(missingCount)).squareRoot() : nil
        return GoldErrors(allEntries: all, missingEntries: missing)
    }

    /// What `fill` writes for an item nobody rated in `data` (the model learnt nothing of
    /// it: its means are where the start put them): the mean rating, as the model file's
    /// record of the data has it, so the same bits as predict's item fallback. Nil when
    /// every item has a rating.
    package static func unratedItemFallback(_ data: DenseRatingMatrix) -> (mean: Double, unrated: [Bool])? {
        guard let record = TrainingDataRecord(describing: data, path: nil), record.itemRatingCounts.contains(0) else { return nil }
        return (record.ratingMean, record.itemRatingCounts.map { $0 == 0 })
    }

    /// Calls `body(index, Σ_j p(j|u)·μ_ji)` for every missing entry (u, i) of `data`, in
    /// index order (user-major).
    @inline(__always)
    private static func forEachFilledEntry(_ data: DenseRatingMatrix, mixture: Mixture, posteriors: [Double],
                                           _ body: (Int, Double) -> Void) {
        let componentCount = mixture.componentCount
        let itemCount = data.itemCount
        precondition(mixture.itemCount == itemCount && posteriors.count == data.userCount * componentCount)
        for user in 0..<data.userCount {
            for item in 0..<itemCount where data.values[user * itemCount + item] == 0 {
                body(user * itemCount + item, filledEntry(user: user, item: item, mixture: mixture, posteriors: posteriors))
            }
        }
    }

    /// Σ_j p(j|u)·μ_ji, summed in component order.
    @inline(__always)
    private static func filledEntry(user: Int, item: Int, mixture: Mixture, posteriors: [Double]) -> Double {
        let componentCount = mixture.componentCount
        var prediction = 0.0
        for j in 0..<componentCount {
            prediction += posteriors[user * componentCount + j] * mixture.means[j * mixture.itemCount + item]
        }
        return prediction
    }

    /// The course's Bayesian information criterion (larger is better):
    /// LL − ½·(K·d + K + (K − 1))·ln n.
    public static func bayesianInformationCriterion(logLikelihood: Double, mixture: Mixture, userCount: Int) -> Double {
        logLikelihood - 0.5 * Double(mixture.parameterCount) * log(Double(userCount))
    }
}
