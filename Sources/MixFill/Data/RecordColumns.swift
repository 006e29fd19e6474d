/// Where a record line holds its user, item and rating.
///
/// Without a header, or under one whose names say nothing else, the layout's order: user,
/// item, rating and an optional timestamp. A header can say otherwise:
/// - names that tell the three roles apart (`userId`, `movieId`, `rating`; `role(of:)`):
///   each role is read from the one column so named, in whatever order the columns stand
///   (`movieId,userId,rating`) and whatever stands beside them (`index`, `Unnamed: 0`, a
///   date);
/// - failing that, an unnamed first column ahead of three or more names (`,u,i,r`, or a
///   tab first in the blank-separated layout): a row index as pandas' `to_csv` and R's
///   `write.csv` write one, then the layout's order.
/// Read by place instead, such a file is a silent misread: the row index taken for users,
/// the users for items, the items for ratings.
struct RecordColumns: Equatable, Sendable {
    var user: Int
    var item: Int
    var rating: Int
    /// The most fields a line may hold: the header's count, and at least one beyond the
    /// last named role (an unnamed timestamp, as the layout's order allows).
    var maximum: Int

    static let layoutOrder = RecordColumns(user: 0, item: 1, rating: 2, maximum: 4)

    /// The fewest fields a line must hold.
    var needed: Int { max(user, item, rating) + 1 }

    /// What a line looks like under these columns, for messages.
    var shape: String {
        "by its header a line holds the user in field \(user + 1), the item in field \(item + 1) and the rating in field \(rating + 1), at most \(maximum) fields"
    }

    /// The columns a header line (from `start` to `end`, already known to be a header)
    /// sets, as the type describes.
    static func ofHeader(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, layout: RecordLayout,
                         separator: UInt8) -> RecordColumns {
        guard layout != .netflix else { return .layoutOrder }
        var names = fields(bytes, start, end, layout: layout, separator: separator)
        // Runs of non-blanks have no empty field: a tab first is the unnamed column.
        if layout == .triplets, start < end, bytes[start] == UInt8(ascii: "\t") { names.insert(start..<start, at: 0) }
        var places: [Role: [Int]] = [:]
        for (index, name) in names.enumerated() {
            if let role = role(of: UnsafeBufferPointer(rebasing: bytes[name])) { places[role, default: []].append(index) }
        }
        if let users = places[.user], let items = places[.item], let ratings = places[.rating],
           users.count == 1, items.count == 1, ratings.count == 1 {
            var named = RecordColumns(user: users[0], item: items[0], rating: ratings[0], maximum: 0)
            named.maximum = max(names.count, named.needed + 1)
            return named
        }
        if names.count >= 4, names[0].isEmpty {
            return RecordColumns(user: 1, item: 2, rating: 3, maximum: max(names.count, 5))
        }
        return .layoutOrder
    }

    /// The fields of the line from `start` to `end` as `layout`'s parser walks them (none
    /// for the Netflix layout, whose lines are no such records); `separator` is the CSV
    /// layout's (`RecordLineParser.csvSeparator`).
    static func fields(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, layout: RecordLayout,
                       separator: UInt8) -> [Range<Int>] {
        var fields = [Range<Int>]()
        switch layout {
        case .csv:
            var cursor = FieldCursor(start: start, end: end, separator: separator)
            while let field = cursor.next(bytes) { fields.append(field) }
        case .triplets:
            var cursor = FieldCursor(start: start, end: end, separator: nil)
            while let field = cursor.next(bytes) { fields.append(field) }
        case .movielensDat:
            var cursor = DoubleColonCursor(start: start, end: end)
            while let field = cursor.next(bytes) { fields.append(field) }
        case .netflix:
            break
        }
        return fields
    }

    enum Role: Hashable {
        case user, item, rating
    }

    /// The role a column's name gives it, judged by its letters alone, case ignored
    /// (`userId`, `user_id`, `User-ID` are all `userid`): a rating word first (`rating`,
    /// `score`, `stars`, so `Book-Rating` is a rating), then a user word (`user`,
    /// `customer`, `reviewer`), then a word for what is rated (`item`, `movie`, `book`,
    /// `isbn`, `product`, `song`, `artist`, …); nil for anything else (`timestamp`, `index`).
    static func role(of name: UnsafeBufferPointer<UInt8>) -> Role? {
        var letters = [UInt8]()
        for byte in name {
            if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { letters.append(byte | 0x20) }
            if byte >= UInt8(ascii: "a"), byte <= UInt8(ascii: "z") { letters.append(byte) }
        }
        let word = String(decoding: letters, as: UTF8.self)
        func has(_ parts: [String]) -> Bool { parts.contains { word.contains($0) } }
        if has(ratingWords) || ["r", "rate"].contains(word) { return .rating }
        if has(userWords) || ["u", "uid"].contains(word) { return .user }
        if has(itemWords) || ["i", "iid", "mid"].contains(word) { return .item }
        return nil
    }

    static let ratingWords = ["rating", "score", "stars", "grade", "preference"]
    static let userWords = ["user", "customer", "reviewer", "rater", "member"]
    static let itemWords = ["item", "movie", "film", "book", "isbn", "asin", "product", "song", "track", "artist",
                            "album", "anime", "game", "joke", "business", "recipe", "beer", "article"]
}
