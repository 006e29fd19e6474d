/// What initialisation, evaluation and the CLI need from rating data, whatever its storage.
/// Kernels take their own storage; this protocol is for everything around them.
public protocol RatingData: Sendable {
    var userCount: Int { get }
    var itemCount: Int { get }
    /// Number of observed ratings.
    var observedCount: Int { get }
    /// One user's ratings as a dense row, 0 where missing.
    func denseRow(_ user: Int) -> [Double]
    /// Σ over all n·d entries of (x_ui − center_i)², missing entries counted as x_ui = 0:
    /// the course initialisation's variance numerator.
    func squaredDeviationTotal(from center: ArraySlice<Double>) -> Double
}

extension DenseRatingMatrix: RatingData {
    public func denseRow(_ user: Int) -> [Double] { Array(row(user)) }

    /// Σ over all n·d entries of (x_ui − c_i)² without visiting them: expanding the square,
    ///
    ///     Σ_u Σ_i (x_ui − c_i)² = n·Σ_i c_i² − 2·Σ_i c_i·S_i + Σ x²,   S_i = Σ_u x_ui,
    ///
    /// with S and Σx² kept from construction, so each call is O(d) (the initialisation makes
    /// K of them per seed) — the same formula, in the same order, as `SparseRatingMatrix`'s.
    public func squaredDeviationTotal(from center: ArraySlice<Double>) -> Double {
        precondition(center.count == itemCount)
        var centerSquares = 0.0
        var cross = 0.0
        for (item, value) in zip(0..., center) {
            centerSquares += value * value
            cross += value * columnSums[item]
        }
        return Double(userCount) * centerSquares - 2 * cross + squaredRatingTotal
    }
}
