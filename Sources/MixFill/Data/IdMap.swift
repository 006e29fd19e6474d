/// The ids a data set used for its users (or items), in the order of the dense 0-based
/// indices MixFill works with: index i ↔ the i-th smallest id.
///
/// For the dense text format the map is the identity: user i is row i and item i is
/// column i, counted from 0, and nothing is stored. Record formats carry whole-number ids
/// (MovieLens `userId`, Netflix movie ids), kept sorted so a lookup is a binary search, or
/// text ids (Amazon's `A2SUAM1J3GNN3B`, an ISBN such as `034545104X`): names, kept as
/// written and sorted by their UTF-8 bytes, so index i ↔ the i-th smallest name.
///
/// A map of names gives each name its index as a whole-number stand-in (`id(i)` is i),
/// so code that keys users and items by `Int64` works unchanged; what is shown to people
/// and written to files is `name(_:)`, and ids people give are looked up by
/// `index(ofName:)`. Two maps are compared or matched by their names
/// (`indices(in:)`), never by the stand-ins.
public struct IdMap: Sendable, Equatable {
    /// Strictly increasing; nil for the identity map and for names.
    private let sortedIds: [Int64]?
    /// Strictly increasing by UTF-8 bytes; nil unless the ids are text.
    public let names: [String]?
    public let count: Int

    /// Index i has id i, for i in 0..<count.
    public static func identity(_ count: Int) -> IdMap {
        IdMap(count: count, sortedIds: nil, names: nil)
    }

    private init(count: Int, sortedIds: [Int64]?, names: [String]?) {
        self.count = count
        self.sortedIds = sortedIds
        self.names = names
    }

    /// A map from strictly increasing ids (see `isStrictlyIncreasing`).
    public init(sortedIds: [Int64]) {
        self.init(count: sortedIds.count, sortedIds: sortedIds, names: nil)
    }

    /// A map from text ids strictly increasing by their UTF-8 bytes (see `areStrictlyIncreasing`).
    public init(sortedNames: [String]) {
        self.init(count: sortedNames.count, sortedIds: nil, names: sortedNames)
    }

    /// Whether `names` can make a map: each after the one before in UTF-8 byte order.
    public static func areStrictlyIncreasing(_ names: [String]) -> Bool {
        zip(names, names.dropFirst()).allSatisfy { precedes($0, $1) }
    }

    /// The order of names: by their UTF-8 bytes (not by Unicode collation, which would
    /// depend on the library's tables; bytes order the same everywhere).
    @inline(__always)
    static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    /// Whether `ids` can make a map: each larger than the one before.
    public static func isStrictlyIncreasing(_ ids: [Int64]) -> Bool {
        zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }
    }

    /// Whether index i has id i for every i (never for names).
    public var isIdentity: Bool {
        guard names == nil else { return false }
        guard let sortedIds else { return true }
        return sortedIds.isEmpty || (sortedIds[0] == 0 && sortedIds[sortedIds.count - 1] == Int64(sortedIds.count - 1))
    }

    /// The id of dense index `index` (for names, the index itself: see the type).
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

    /// The id of index `index` as people see it: the name as written, or the number.
    public func name(_ index: Int) -> String {
        names?[index] ?? String(id(index))
    }

    /// The index of the id written `text`: a name looked up as written (binary search), or
    /// a whole number looked up as a number (`+7` and `007` are 7); nil when the data had
    /// no such id.
    public func index(ofName text: some StringProtocol) -> Int? {
        guard let names else {
            return Int64(text).flatMap { index(of: $0) }
        }
        let sought = String(text)
        var low = 0
        var high = names.count
        while low < high {
            let middle = (low + high) / 2
            if Self.precedes(names[middle], sought) { low = middle + 1 } else { high = middle }
        }
        return low < names.count && names[low] == sought ? low : nil
    }

    /// The id written `text` as this map writes its ids (`name(_:)`), whether or not the
    /// map has it: for names, the text; for numbers, the whole number in decimal (`+7` and
    /// `007` are `7`), or nil when `text` is no whole number of at most 64 bits.
    public func canonical(_ text: some StringProtocol) -> String? {
        if names != nil { return text.isEmpty ? nil : String(text) }
        return Int64(text).map { String($0) }
    }

    /// For each of this map's ids, its index in `other`, or nil when `other` lacks it:
    /// numbers matched as numbers, and when either map holds names, ids matched by how
    /// they are written (`name(_:)`).
    public func indices(in other: IdMap) -> [Int?] {
        if names == nil, other.names == nil {
            return (0..<count).map { other.index(of: id($0)) }
        }
        return (0..<count).map { other.index(ofName: name($0)) }
    }

    public static func == (lhs: IdMap, rhs: IdMap) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.names != nil || rhs.names != nil { return lhs.names == rhs.names }
        return lhs.isIdentity && rhs.isIdentity || lhs.ids == rhs.ids
    }
}
