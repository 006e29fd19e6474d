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

    public func squaredDeviationTotal(from center: ArraySlice<Double>) -> Double {
        precondition(center.count == itemCount)
        var total = 0.0
        values.withUnsafeBufferPointer { data in
            center.withUnsafeBufferPointer { mean in
                for user in 0..<userCount {
                    let base = user * itemCount
                    for item in 0..<itemCount {
                        let difference = data[base + item] - mean[item]
                        total += difference * difference
                    }
                }
            }
        }
        return total
    }
}
