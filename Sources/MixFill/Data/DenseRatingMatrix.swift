/// A user × item rating matrix in the course's dense form: `values` row-major (one row per
/// user), with 0 marking a missing rating. Every observed rating is positive and finite.
public struct DenseRatingMatrix: Sendable, Equatable {
    public let userCount: Int
    public let itemCount: Int
    /// Row-major, `userCount × itemCount`; 0 = missing.
    public let values: [Double]
    /// S_i = Σ_u x_ui per item and Σ of all x_ui², kept from construction so that the
    /// course initialisation's variances (K per seed) cost O(d) each, not O(n·d).
    /// Summed in row-major order over the observed entries, as `SparseRatingMatrix` sums
    /// its records, so both give the same initial variances bit for bit.
    let columnSums: [Double]
    let squaredRatingTotal: Double

    /// Creates a matrix; `values.count` must be `userCount * itemCount`.
    public init(userCount: Int, itemCount: Int, values: [Double]) {
        precondition(values.count == userCount * itemCount, "values must hold userCount × itemCount entries")
        self.userCount = userCount
        self.itemCount = itemCount
        self.values = values
        var sums = [Double](repeating: 0, count: itemCount)
        var squares = 0.0
        values.withUnsafeBufferPointer { values in
            sums.withUnsafeMutableBufferPointer { sums in
                for user in 0..<userCount {
                    for item in 0..<itemCount {
                        let rating = values[user * itemCount + item]
                        if rating != 0 {
                            sums[item] += rating
                            squares += rating * rating
                        }
                    }
                }
            }
        }
        columnSums = sums
        squaredRatingTotal = squares
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

extension DenseRatingMatrix {
    /// Checks that `self`, the matrix read from `name` as a gold standard (`--gold`), is the
    /// complete version of `data`, read from `dataName`: the same shape, and every rating
    /// `data` observed standing unchanged in it. A gold whose rows are in another order, or
    /// another matrix of the same shape, would otherwise score every prediction against
    /// the wrong users' ratings without a word. `remedy` ends the shape message (what to give).
    package func requireComplete(of data: DenseRatingMatrix, name: String, dataName: String,
                                 remedy: String = "give the complete version of the same matrix") throws(MixFillError) {
        guard userCount == data.userCount, itemCount == data.itemCount else {
            throw .badFile(file: name, message: "is \(userCount) × \(itemCount) but \(dataName) is \(data.userCount) × \(data.itemCount); \(remedy)")
        }
        var differing = 0
        var first: (user: Int, item: Int)?
        for index in 0..<values.count where data.values[index] != 0 && data.values[index] != values[index] {
            differing += 1
            if first == nil { first = (index / itemCount, index % itemCount) }
        }
        guard let first else { return }
        let ours = DenseMatrixWriter.format(self[first.user, first.item])
        let theirs = DenseMatrixWriter.format(data[first.user, first.item])
        throw .badFile(file: name, message: "is not the complete version of \(dataName): \(differing) of its \(data.observedCount) ratings differ, first user \(first.user), item \(first.item) (counted from 0), \(ours) here and \(theirs) there; give the matrix whose entries keep every rating of the data")
    }
}
