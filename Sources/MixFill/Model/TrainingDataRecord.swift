/// What a model file remembers of the data it was fitted on (format version 2): enough to
/// serve predictions in the data's own ids, to recognise the same data again, and to
/// answer for users and items the model knows nothing about.
public struct TrainingDataRecord: Sendable, Equatable {
    /// The data file's absolute path when the model was fitted (where `predict` and
    /// `recommend` look for the training ratings unless given `--data`).
    public var path: String?
    /// The format it was read in, as `--format` names it (`dense`, `csv`, `binary`, …).
    public var format: String
    /// `RatingFingerprint` of the training data.
    public var fingerprint: String
    public var users: IdMap
    public var items: IdMap
    /// The smallest and largest training rating: predictions are clipped to this range.
    public var ratingScale: RatingScale
    /// The mean training rating: the prediction for an item the model cannot speak for.
    public var ratingMean: Double
    /// Training ratings per item, in item index order.
    public var itemRatingCounts: [Int]

    public init(path: String?, format: String, fingerprint: String, users: IdMap, items: IdMap,
                ratingScale: RatingScale, ratingMean: Double, itemRatingCounts: [Int]) {
        self.path = path
        self.format = format
        self.fingerprint = fingerprint
        self.users = users
        self.items = items
        self.ratingScale = ratingScale
        self.ratingMean = ratingMean
        self.itemRatingCounts = itemRatingCounts
    }

    /// The record of a dense matrix (index ids). Nil when the matrix has no rating.
    public init?(describing matrix: DenseRatingMatrix, path: String?) {
        var counts = [Int](repeating: 0, count: matrix.itemCount)
        var total = 0.0
        var observed = 0
        for user in 0..<matrix.userCount {
            let base = user * matrix.itemCount
            for item in 0..<matrix.itemCount where matrix.values[base + item] != 0 {
                counts[item] += 1
                total += matrix.values[base + item]
                observed += 1
            }
        }
        guard observed > 0, let scale = RatingScale(of: matrix.values.lazy.filter { $0 != 0 }) else { return nil }
        self.init(path: path, format: "dense", fingerprint: matrix.fingerprint,
                  users: .identity(matrix.userCount), items: .identity(matrix.itemCount),
                  ratingScale: scale, ratingMean: total / Double(observed), itemRatingCounts: counts)
    }
}
