/// What initialisation, evaluation and the CLI need from rating data, whatever its storage.
/// Kernels take their own storage; this protocol is for everything around them.
public protocol RatingData: Sendable {
    var userCount: Int { get }
    var itemCount: Int { get }
    /// Number of observed ratings.
    var observedCount: Int { get }
    /// One user's ratings as a dense row, 0 where missing.
    func denseRow(_ user: Int) -> [Double]
    /// S_i = Σ_u x_ui for every item i, then Σ x² over all ratings: the totals the course
    /// initialisation's variances come from (`Initialization.courseMixture`), which shards
    /// of users can add up.
    var columnTotals: [Double] { get }
}

extension DenseRatingMatrix: RatingData {
    public func denseRow(_ user: Int) -> [Double] { Array(row(user)) }

    public var columnTotals: [Double] { columnSums + [squaredRatingTotal] }
}
