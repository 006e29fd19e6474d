#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Filling in missing ratings and scoring the result.
public enum Completion {
    /// The course's fill: a missing entry (u, i) becomes Σ_j p(j|u)·μ_ji, observed entries
    /// stay as they are. `posteriors` is users × K, row-major.
    public static func fill(_ data: DenseRatingMatrix, mixture: Mixture, posteriors: [Double]) -> DenseRatingMatrix {
        let componentCount = mixture.componentCount
        let itemCount = data.itemCount
        precondition(mixture.itemCount == itemCount && posteriors.count == data.userCount * componentCount)
        var values = data.values
        for user in 0..<data.userCount {
            for item in 0..<itemCount where values[user * itemCount + item] == 0 {
                var prediction = 0.0
                for j in 0..<componentCount {
                    prediction += posteriors[user * componentCount + j] * mixture.means[j * itemCount + item]
                }
                values[user * itemCount + item] = prediction
            }
        }
        return DenseRatingMatrix(userCount: data.userCount, itemCount: itemCount, values: values)
    }

    /// Root-mean-square error of `predicted` against `gold`: over all entries (the course's
    /// figure, which includes the observed entries the model was given), and over the
    /// entries missing from `observed` only (the honest figure; nil when none is missing).
    public static func rootMeanSquareErrors(predicted: DenseRatingMatrix, gold: DenseRatingMatrix,
                                            observed: DenseRatingMatrix) -> (allEntries: Double, missingEntries: Double?) {
        precondition(predicted.values.count == gold.values.count && observed.values.count == gold.values.count)
        var allTotal = 0.0
        var missingTotal = 0.0
        var missingCount = 0
        for index in gold.values.indices {
            let difference = predicted.values[index] - gold.values[index]
            allTotal += difference * difference
            if observed.values[index] == 0 {
                missingTotal += difference * difference
                missingCount += 1
            }
        }
        let all = (allTotal / Double(gold.values.count)).squareRoot()
        let missing = missingCount > 0 ? (missingTotal / Double(missingCount)).squareRoot() : nil
        return (all, missing)
    }

    /// The course's Bayesian information criterion (larger is better):
    /// LL − ½·(K·d + K + (K − 1))·ln n.
    public static func bayesianInformationCriterion(logLikelihood: Double, mixture: Mixture, userCount: Int) -> Double {
        logLikelihood - 0.5 * Double(mixture.parameterCount) * log(Double(userCount))
    }
}
