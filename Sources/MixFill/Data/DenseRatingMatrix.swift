/// A user × item rating matrix in the course's dense form: `values` row-major (one row per
/// user), with 0 marking a missing rating. Every observed rating is positive and finite.
public struct DenseRatingMatrix: Sendable, Equatable {
    public let userCount: Int
    public let itemCount: Int
    /// Row-major, `userCount × itemCount`; 0 = missing.
    public let values: [Double]

    /// Creates a matrix; `values.count` must be `userCount * itemCount`.
    public init(userCount: Int, itemCount: Int, values: [Double]) {
        precondition(values.count == userCount * itemCount, "values must hold userCount × itemCount entries")
        self.userCount = userCount
        self.itemCount = itemCount
        self.values = values
    }

    /// Rows as nested arrays, convenient for small matrices and tests.
    public init(rows: [[Double]]) {
        let itemCount = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == itemCount }, "rows must all have the same length")
        self.init(userCount: rows.count, itemCount: itemCount, values: rows.flatMap { $0 })
    }

    public subscript(user: Int, item: Int) -> Double {
        values[user * itemCount + item]
    }

    /// The ratings of one user, 0 where missing.
    public func row(_ user: Int) -> ArraySlice<Double> {
        values[(user * itemCount)..<((user + 1) * itemCount)]
    }

    /// Number of observed (non-zero) entries.
    public var observedCount: Int {
        values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
    }

    public func isObserved(user: Int, item: Int) -> Bool {
        values[user * itemCount + item] != 0
    }
}
