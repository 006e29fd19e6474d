extension SparseRatingMatrix {
    /// The matrix without the ratings at the positions `heldOut` marks (positions in storage
    /// order: user by user, items ascending), and those ratings as a list in that order. The
    /// users and items keep their indices, so a user or item can be left with no rating.
    package func splitting(heldOut: [Bool]) -> (training: SparseRatingMatrix, heldOut: [IndexedRating]) {
        precondition(heldOut.count == observedCount, "one mark per stored rating")
        var rowStarts = [0]
        rowStarts.reserveCapacity(userCount + 1)
        var items = [Int]()
        var values = [Double]()
        var test = [IndexedRating]()
        items.reserveCapacity(observedCount)
        values.reserveCapacity(observedCount)
        for user in 0..<userCount {
            for position in self.rowStarts[user]..<self.rowStarts[user + 1] {
                if heldOut[position] {
                    test.append(IndexedRating(user: user, item: self.items[position], rating: ratings[position]))
                } else {
                    items.append(self.items[position])
                    values.append(ratings[position])
                }
            }
            rowStarts.append(items.count)
        }
        let training = SparseRatingMatrix(userCount: userCount, itemCount: itemCount, rowStarts: rowStarts,
                                          items: Self.compactItems(items, itemCount: itemCount),
                                          ratings: Self.compactRatings(values))
        return (training, test)
    }

    /// The ratings as records, in storage order.
    package var indexedRatings: [IndexedRating] {
        var all = [IndexedRating]()
        all.reserveCapacity(observedCount)
        for user in 0..<userCount {
            for position in rowStarts[user]..<rowStarts[user + 1] {
                all.append(IndexedRating(user: user, item: items[position], rating: ratings[position]))
            }
        }
        return all
    }
}

extension SparseRatingMatrix {
    /// A matrix holding exactly `ratings` (each (user, item) pair once), stored user by
    /// user, items ascending, whatever their order in the list.
    package init(userCount: Int, itemCount: Int, ratings list: [IndexedRating]) {
        let sorted = list.sorted { ($0.user, $0.item) < ($1.user, $1.item) }
        var rowStarts = [Int](repeating: 0, count: userCount + 1)
        for rating in sorted { rowStarts[rating.user + 1] += 1 }
        for user in 0..<userCount { rowStarts[user + 1] += rowStarts[user] }
        self.init(userCount: userCount, itemCount: itemCount, rowStarts: rowStarts,
                  items: Self.compactItems(sorted.map(\.item), itemCount: itemCount),
                  ratings: Self.compactRatings(sorted.map(\.rating)))
    }
}

extension SparseRatingMatrix {
    /// Whether `user` rated `item` (a binary search of the user's row, whose items ascend).
    package func contains(user: Int, item: Int) -> Bool {
        var low = rowStarts[user]
        var high = rowStarts[user + 1]
        while low < high {
            let middle = (low + high) / 2
            if items[middle] < item { low = middle + 1 } else { high = middle }
        }
        return low < rowStarts[user + 1] && items[low] == item
    }
}
