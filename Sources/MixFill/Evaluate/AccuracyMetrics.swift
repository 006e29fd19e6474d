/// Predicts a rating for a (user, item) pair given by the training data's indices.
public protocol RatingPredictor: Sendable {
    /// The model's prediction, before clipping to the rating scale.
    func predict(user: Int, item: Int) -> Double
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
        precondition(!test.isEmpty, "no held-out ratings to score")
        var squared = 0.0
        var absolute = 0.0
        for rating in test {
            let error = scale.clip(predictor.predict(user: rating.user, item: rating.item)) - rating.rating
            squared += error * error
            absolute += abs(error)
        }
        let count = Double(test.count)
        return AccuracyMetrics(rootMeanSquareError: (squared / count).squareRoot(),
                               meanAbsoluteError: absolute / count, count: test.count)
    }
}

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for one value) of
/// per-fold figures.
public struct MeanAndSpread: Sendable, Equatable {
    public var mean: Double
    public var standardDeviation: Double

    public init(_ values: [Double]) {
        precondition(!values.isEmpty)
        let mean = values.reduce(0, +) / Double(values.count)
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        self.mean = mean
        standardDeviation = values.count > 1 ? (squares / Double(values.count - 1)).squareRoot() : 0
    }
}
