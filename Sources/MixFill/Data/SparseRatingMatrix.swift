/// Item indices in the smallest unsigned type that holds them: two bytes per rating while
/// there are at most 65,536 items (the Netflix Prize has 17,770), four beyond.
package enum ItemIndices: Sendable, Equatable {
    case narrow([UInt16])
    case wide([UInt32])

    public var count: Int {
        switch self {
        case let .narrow(values): return values.count
        case let .wide(values): return values.count
        }
    }

    public subscript(position: Int) -> Int {
        switch self {
        case let .narrow(values): return Int(values[position])
        case let .wide(values): return Int(values[position])
        }
    }

    /// The width a matrix with `itemCount` items uses.
    public static func isNarrow(itemCount: Int) -> Bool {
        itemCount <= Int(UInt16.max) + 1
    }

    /// Bytes per stored index.
    public var byteWidth: Int {
        switch self {
        case .narrow: return 2
        case .wide: return 4
        }
    }
}

/// Ratings as given in the file, stored compactly: one byte per rating indexing a palette of
/// the distinct values when there are at most 256 of them (whole and half stars have 5 and
/// 10), else the Doubles themselves. Either way each rating reads back exactly as parsed.
package enum RatingValues: Sendable, Equatable {
    case coded(palette: [Double], codes: [UInt8])
    case exact([Double])

    public var count: Int {
        switch self {
        case let .coded(_, codes): return codes.count
        case let .exact(values): return values.count
        }
    }

    public subscript(position: Int) -> Double {
        switch self {
        case let .coded(palette, codes): return palette[Int(codes[position])]
        case let .exact(values): return values[position]
        }
    }

    /// Bytes per stored rating.
    public var byteWidth: Int {
        switch self {
        case .coded: return 1
        case .exact: return 8
        }
    }
}

/// A user × item rating matrix that keeps only the observed ratings: compressed rows by
/// user (CSR). User u's ratings are positions `rowStarts[u] ..< rowStarts[u + 1]` of `items`
/// and `ratings`, with items strictly increasing within a row. Memory is O(ratings):
/// 3 bytes per rating for ≤ 65,536 items and ≤ 256 distinct values, plus 8 bytes per user.
///
/// Unlike the dense format, 0 is an ordinary rating here: a missing entry is one that is
/// not stored.
public struct SparseRatingMatrix: Sendable, Equatable {
    public let userCount: Int
    public let itemCount: Int
    /// `userCount + 1` offsets, from 0 to the number of ratings.
    public let rowStarts: [Int]
    package let items: ItemIndices
    package let ratings: RatingValues
    /// S_i = Σ_u x_ui per item and Σ over all ratings of x², for `columnTotals`.
    let columnSums: [Double]
    let squaredRatingTotal: Double

    /// A matrix from its parts; they must describe valid CSR (callers that read files check
    /// this and report bad input before calling).
    package init(userCount: Int, itemCount: Int, rowStarts: [Int], items: ItemIndices, ratings: RatingValues) {
        precondition(rowStarts.count == userCount + 1 && rowStarts.first == 0)
        precondition(items.count == rowStarts[userCount] && ratings.count == items.count)
        precondition(ItemIndices.isNarrow(itemCount: itemCount) == (items.byteWidth == 2))
        self.userCount = userCount
        self.itemCount = itemCount
        self.rowStarts = rowStarts
        self.items = items
        self.ratings = ratings
        (columnSums, squaredRatingTotal) = Self.columnTotals(itemCount: itemCount, items: items, ratings: ratings)
    }

    private static func columnTotals(itemCount: Int, items: ItemIndices, ratings: RatingValues) -> ([Double], Double) {
        var sums = [Double](repeating: 0, count: itemCount)
        func add<Index: BinaryInteger, Stored>(_ items: [Index], _ stored: [Stored], _ value: (Stored) -> Double) -> Double {
            var squares = 0.0
            sums.withUnsafeMutableBufferPointer { sums in
                for position in items.indices {
                    let rating = value(stored[position])
                    sums[Int(items[position])] += rating
                    squares += rating * rating
                }
            }
            return squares
        }
        let squares: Double
        switch (items, ratings) {
        case let (.narrow(items), .coded(palette, codes)): squares = add(items, codes) { palette[Int($0)] }
        case let (.wide(items), .coded(palette, codes)): squares = add(items, codes) { palette[Int($0)] }
        case let (.narrow(items), .exact(values)): squares = add(items, values) { $0 }
        case let (.wide(items), .exact(values)): squares = add(items, values) { $0 }
        }
        return (sums, squares)
    }

    /// The observed (non-zero) entries of a dense course matrix. Two passes: the first
    /// counts each row's ratings, so the second fills arrays of exactly their final size,
    /// item indices in their compact type from the start (growing arrays of `Int` and
    /// `Double` would hold up to 32 bytes per rating before compaction to 3).
    public init(dense: DenseRatingMatrix) {
        let width = dense.itemCount
        var rowStarts = [Int](repeating: 0, count: dense.userCount + 1)
        dense.values.withUnsafeBufferPointer { entries in
            for user in 0..<dense.userCount {
                var count = 0
                for entry in (user * width)..<((user + 1) * width) where entries[entry] != 0 { count += 1 }
                rowStarts[user + 1] = rowStarts[user] + count
            }
        }
        let observed = rowStarts[dense.userCount]
        var values = [Double]()
        values.reserveCapacity(observed)
        func indices<Index: FixedWidthInteger>(_: Index.Type) -> [Index] {
            var indices = [Index]()
            indices.reserveCapacity(observed)
            dense.values.withUnsafeBufferPointer { entries in
                for user in 0..<dense.userCount {
                    let base = user * width
                    for item in 0..<width where entries[base + item] != 0 {
                        indices.append(Index(truncatingIfNeeded: item))
                        values.append(entries[base + item])
                    }
                }
            }
            return indices
        }
        let items: ItemIndices = ItemIndices.isNarrow(itemCount: width) ? .narrow(indices(UInt16.self)) : .wide(indices(UInt32.self))
        self.init(userCount: dense.userCount, itemCount: width, rowStarts: rowStarts, items: items,
                  ratings: Self.compactRatings(values))
    }

    /// `indices` in the narrowest type `itemCount` allows.
    package static func compactItems(_ indices: [Int], itemCount: Int) -> ItemIndices {
        if ItemIndices.isNarrow(itemCount: itemCount) {
            return .narrow(indices.map { UInt16(truncatingIfNeeded: $0) })
        }
        return .wide(indices.map { UInt32(truncatingIfNeeded: $0) })
    }

    /// `values` as palette codes when they take at most 256 distinct values, else as given.
    package static func compactRatings(_ values: [Double]) -> RatingValues {
        var palette = RatingPalette()
        var codes = [UInt8]()
        codes.reserveCapacity(values.count)
        for value in values {
            guard let code = palette.code(for: value) else { return .exact(values) }
            codes.append(code)
        }
        return palette.canonical(codes)
    }

    /// Number of observed ratings.
    public var observedCount: Int { rowStarts[userCount] }

    /// Number of ratings of `user`.
    public func ratingCount(ofUser user: Int) -> Int {
        rowStarts[user + 1] - rowStarts[user]
    }

    /// Observed entries / (users × items).
    public var density: Double {
        userCount == 0 || itemCount == 0 ? 0 : Double(observedCount) / (Double(userCount) * Double(itemCount))
    }
}

extension SparseRatingMatrix: RatingData {
    public func denseRow(_ user: Int) -> [Double] {
        var row = [Double](repeating: 0, count: itemCount)
        for position in rowStarts[user]..<rowStarts[user + 1] {
            row[items[position]] = ratings[position]
        }
        return row
    }

    public var columnTotals: [Double] { columnSums + [squaredRatingTotal] }
}

/// The distinct rating values seen so far and their one-byte codes, in order of first
/// appearance. Lookup is a small open-addressing table on the value's bits.
struct RatingPalette: Sendable {
    static let capacity = 256
    private(set) var values: [Double] = []
    private var slots = [Int16](repeating: -1, count: 1024)
    private var lastValue = Double.nan
    private var lastCode: UInt8 = 0

    /// The code of `value`, adding it if new; nil once more than 256 values were needed.
    @inline(__always)
    mutating func code(for value: Double) -> UInt8? {
        if value.bitPattern == lastValue.bitPattern { return lastCode }
        let bits = value.bitPattern
        var slot = Int(truncatingIfNeeded: (bits &* 0x9E37_79B9_7F4A_7C15) >> 54)
        while true {
            let entry = slots[slot]
            if entry < 0 {
                guard values.count < Self.capacity else { return nil }
                slots[slot] = Int16(values.count)
                values.append(value)
                break
            }
            if values[Int(entry)].bitPattern == bits { break }
            slot = (slot + 1) & 1023
        }
        lastValue = value
        lastCode = UInt8(truncatingIfNeeded: Int(slots[slot]))
        return lastCode
    }

    /// The palette in ascending order (by bits for equal values, so 0 and −0 stay apart)
    /// with `codes` renumbered to it: the stored form no longer depends on the order in
    /// which values first appeared, so the same ratings in any record order are equal.
    func canonical(_ codes: [UInt8]) -> RatingValues {
        let order = values.indices.sorted {
            values[$0] != values[$1] ? values[$0] < values[$1] : values[$0].bitPattern < values[$1].bitPattern
        }
        var renumber = [UInt8](repeating: 0, count: Self.capacity)
        for (rank, code) in order.enumerated() { renumber[code] = UInt8(rank) }
        let sortedValues = order.map { values[$0] }
        if order.elementsEqual(values.indices) { return .coded(palette: sortedValues, codes: codes) }
        return .coded(palette: sortedValues, codes: codes.map { renumber[Int($0)] })
    }
}
