/// Predicts a rating for a (user, item) pair given by the training data's indices.
public protocol RatingPredictor: Sendable {
    /// The model's prediction, before clipping to the rating scale.
    func predict(user: Int, item: Int) -> Double

    /// The prediction for training item `item` and a user the training data does not have
    /// (a test file's unknown id): the model's prediction for a user with no ratings.
    func newUserPrediction(item: Int) -> Double

    /// `predict(user:item:)` for every item at once, into `scores` (one entry per item,
    /// `scores.count` items): what ranking needs. Conformers with a faster way override
    /// it and give the same values bit for bit.
    func scores(user: Int, into scores: inout [Double])
}

extension RatingPredictor {
    public func scores(user: Int, into scores: inout [Double]) {
        for item in scores.indices { scores[item] = predict(user: user, item: item) }
    }
}

/// Accuracy on held-out ratings, predictions clipped to the rating scale first:
///
///     RMSE = √( Σ (clip(r̂) − r)² / m ),   MAE = Σ |clip(r̂) − r| / m
///
/// over the m held-out ratings.
public struct AccuracyMetrics: Sendable, Equatable {
    public var rootMeanSquareError: Double
    public var meanAbsoluteError: Double
    /// Number of ratings scored.
    public var count: Int

    public init(rootMeanSquareError: Double, meanAbsoluteError: Double, count: Int) {
        self.rootMeanSquareError = rootMeanSquareError
        self.meanAbsoluteError = meanAbsoluteError
        self.count = count
    }

    /// Scores `predictor` on `test` (which must not be empty).
    public static func score(_ predictor: some RatingPredictor, on test: [IndexedRating], scale: RatingScale) -> AccuracyMetrics {
        score(predictor, on: test, unmatched: .none, scale: scale, mean: 0)
    }

    /// Scores `predictor` on `test` and on `unmatched`, the held-out ratings whose user or
    /// item the training data does not have (together not empty): a rating of an unknown
    /// user (of a known item) is predicted by `newUserPrediction(item:)`, one of an unknown
    /// item by `mean`, the mean training rating, whatever the model. Every prediction is
    /// clipped; the sums run over `test` first, then the unknown users', then the unknown
    /// items' ratings.
    public static func score(_ predictor: some RatingPredictor, on test: [IndexedRating], unmatched: UnmatchedRatings,
                             scale: RatingScale, mean: Double) -> AccuracyMetrics {
        let total = test.count + unmatched.count
        precondition(total > 0, "no held-out ratings to score")
        var squared = 0.0
        var absolute = 0.0
        func add(_ prediction: Double, _ rating: Double) {
            let error = scale.clip(prediction) - rating
            squared += error * error
            absolute += abs(error)
        }
        for rating in test { add(predictor.predict(user: rating.user, item: rating.item), rating.rating) }
        for rating in unmatched.newUserRatings { add(predictor.newUserPrediction(item: rating.item), rating.rating) }
        for rating in unmatched.newItemRatings { add(mean, rating) }
        let count = Double(total)
        return AccuracyMetrics(rootMeanSquareError: (squared / count).squareRoot(),
                               meanAbsoluteError: absolute / count, count: total)
    }
}

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for one value) of
/// per-fold figures.
package struct MeanAndSpread: Sendable, Equatable {
    package var mean: Double
    package var standardDeviation: Double

    package init(_ values: [Double]) {
        precondition(!values.isEmpty)
        let mean = values.reduce(0, +) / Double(values.count)
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        self.mean = mean
        standardDeviation = values.count > 1 ? (squares / Double(values.count - 1)).squareRoot() : 0
    }
}
