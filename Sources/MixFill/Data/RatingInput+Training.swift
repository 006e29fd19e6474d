extension SparseRatingMatrix {
    /// The fingerprint of these ratings with the given id maps (see `RatingFingerprint`):
    /// the same words in the same order as a dense matrix's — rows in order, items
    /// ascending — so the same data gives the same fingerprint from any file format.
    public func fingerprint(users: IdMap, items: IdMap) -> String {
        var fingerprint = RatingFingerprint.start(userCount: userCount, itemCount: itemCount, observedCount: observedCount)
        for user in 0..<userCount {
            for position in rowStarts[user]..<rowStarts[user + 1] {
                fingerprint.combine(user: user, item: self.items[position], rating: ratings[position])
            }
        }
        fingerprint.combine(users)
        fingerprint.combine(items)
        return fingerprint.value
    }
}

extension RatingInput {
    /// The fingerprint of the data as the engine sees it, whatever its format.
    public var fingerprint: String {
        switch storage {
        case let .dense(matrix): return matrix.fingerprint
        case let .records(table): return table.matrix.fingerprint(users: table.users, items: table.items)
        }
    }
}

extension TrainingDataRecord {
    /// The record of loaded data of any format (`path` as the model should remember it).
    /// Nil when the data has no rating.
    public init?(describing input: RatingInput, path: String?) {
        switch input.storage {
        case let .dense(matrix):
            self.init(describing: matrix, path: path)
        case let .records(table):
            let matrix = table.matrix
            var counts = [Int](repeating: 0, count: matrix.itemCount)
            var total = 0.0
            var low = Double.infinity
            var high = -Double.infinity
            for position in 0..<matrix.observedCount {
                let rating = matrix.ratings[position]
                counts[matrix.items[position]] += 1
                total += rating
                low = min(low, rating)
                high = max(high, rating)
            }
            guard matrix.observedCount > 0, low <= high else { return nil }
            self.init(path: path, format: input.format.rawValue,
                      fingerprint: matrix.fingerprint(users: table.users, items: table.items),
                      users: table.users, items: table.items,
                      ratingScale: RatingScale(minimum: low, maximum: high),
                      ratingMean: total / Double(matrix.observedCount), itemRatingCounts: counts)
        }
    }
}
