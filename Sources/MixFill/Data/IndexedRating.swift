/// One observed rating, by the engine's 0-based user and item indices.
public struct IndexedRating: Sendable, Equatable {
    public var user: Int
    public var item: Int
    public var rating: Double

    public init(user: Int, item: Int, rating: Double) {
        self.user = user
        self.item = item
        self.rating = rating
    }
}

extension DenseRatingMatrix {
    /// Every observed rating, user by user, items in ascending order (row-major order of
    /// the non-zero entries).
    public func observedRatings() -> [IndexedRating] {
        var ratings = [IndexedRating]()
        ratings.reserveCapacity(observedCount)
        for user in 0..<userCount {
            let base = user * itemCount
            for item in 0..<itemCount where values[base + item] != 0 {
                ratings.append(IndexedRating(user: user, item: item, rating: values[base + item]))
            }
        }
        return ratings
    }
}
