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

    /// Each user's row is summed in four interleaved partial sums, which the compiler
    /// keeps in vector registers: several times faster than one running sum over all n·d
    /// entries (the course initialisation runs this K times per seed), and no less accurate.
    public func squaredDeviationTotal(from center: ArraySlice<Double>) -> Double {
        precondition(center.count == itemCount)
        var total = 0.0
        values.withUnsafeBufferPointer { data in
            center.withUnsafeBufferPointer { mean in
                let vectorEnd = itemCount - itemCount % 4
                for user in 0..<userCount {
                    let base = user * itemCount
                    var partial = (0.0, 0.0, 0.0, 0.0)
                    var item = 0
                    while item < vectorEnd {
                        let d0 = data[base + item] - mean[item]
                        let d1 = data[base + item + 1] - mean[item + 1]
                        let d2 = data[base + item + 2] - mean[item + 2]
                        let d3 = data[base + item + 3] - mean[item + 3]
                        partial.0 += d0 * d0
                        partial.1 += d1 * d1
                        partial.2 += d2 * d2
                        partial.3 += d3 * d3
                        item += 4
                    }
                    var rowTotal = (partial.0 + partial.1) + (partial.2 + partial.3)
                    while item < itemCount {
                        let difference = data[base + item] - mean[item]
                        rowTotal += difference * difference
                        item += 1
                    }
                    total += rowTotal
                }
            }
        }
        return total
    }
}
