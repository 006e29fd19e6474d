/// The ids a data set used for its users (or items), in the order of the dense 0-based
/// indices MixFill works with: index i ↔ the i-th smallest id.
///
/// For the dense text format the map is the identity: user i is row i and item i is
/// column i, counted from 0, and nothing is stored. Record formats carry integer ids
/// (MovieLens `userId`, Netflix movie ids), kept sorted so a lookup is a binary search.
public struct IdMap: Sendable, Equatable {
    /// Strictly increasing; nil for the identity map.
    private let sortedIds: [Int64]?
    public let count: Int

    /// Index i has id i, for i in 0..<count.
    public static func identity(_ count: Int) -> IdMap {
        IdMap(count: count, sortedIds: nil)
    }

    private init(count: Int, sortedIds: [Int64]?) {
        self.count = count
        self.sortedIds = sortedIds
    }

    /// A map from strictly increasing ids (see `isStrictlyIncreasing`).
    public init(sortedIds: [Int64]) {
        self.init(count: sortedIds.count, sortedIds: sortedIds)
    }

    /// Whether `ids` can make a map: each larger than the one before.
    public static func isStrictlyIncreasing(_ ids: [Int64]) -> Bool {
        zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }
    }

    /// Whether index i has id i for every i.
    public var isIdentity: Bool {
        guard let sortedIds else { return true }
        return sortedIds.isEmpty || (sortedIds[0] == 0 && sortedIds[sortedIds.count - 1] == Int64(sortedIds.count - 1))
    }

    /// The id of dense index `index`.
    @inline(__always)
    public func id(_ index: Int) -> Int64 {
        sortedIds?[index] ?? Int64(index)
    }

    /// The dense index of `id`, or nil when the data had no such id (binary search).
    public func index(of id: Int64) -> Int? {
        guard let sortedIds else {
            return id >= 0 && id < Int64(count) ? Int(id) : nil
        }
        var low = 0
        var high = sortedIds.count
        while low < high {
            let middle = (low + high) / 2
            if sortedIds[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low < sortedIds.count && sortedIds[low] == id ? low : nil
    }

    /// Every id, in index order.
    public var ids: [Int64] {
        sortedIds ?? (0..<count).map { Int64($0) }
    }

    public static func == (lhs: IdMap, rhs: IdMap) -> Bool {
        lhs.count == rhs.count && (lhs.isIdentity && rhs.isIdentity || lhs.ids == rhs.ids)
    }
}
