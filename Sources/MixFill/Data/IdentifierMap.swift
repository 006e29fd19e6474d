/// Maps the ids users and items carry in the input (and in every output) to the dense
/// 0-based indices the engine works with, and back.
///
/// Two kinds:
/// - **indices**: the dense text format has no ids, so a user's id is its 0-based row
///   number and an item's its 0-based column number, written in canonical decimal
///   (`"0"`, `"17"`; `"017"` or `"+17"` name no one). Nothing is stored.
/// - **list**: arbitrary id strings in index order (record input: MovieLens `userId`,
///   Netflix movie ids, …). Ids are compared as exact strings.
public struct IdentifierMap: Sendable, Equatable {
    public let count: Int
    /// The ids in index order; nil for index ids.
    public let identifiers: [String]?
    private let indexByIdentifier: [String: Int]

    /// Index ids for `count` rows or columns.
    public static func indices(_ count: Int) -> IdentifierMap {
        IdentifierMap(count: count, identifiers: nil, indexByIdentifier: [:])
    }

    private init(count: Int, identifiers: [String]?, indexByIdentifier: [String: Int]) {
        self.count = count
        self.identifiers = identifiers
        self.indexByIdentifier = indexByIdentifier
    }

    /// A list of distinct ids in index order; returns the first repeated id instead when
    /// there is one.
    public static func list(_ identifiers: [String]) -> Result<IdentifierMap, DuplicateIdentifier> {
        var indexByIdentifier = [String: Int](minimumCapacity: identifiers.count)
        for (index, identifier) in identifiers.enumerated() {
            if let first = indexByIdentifier.updateValue(index, forKey: identifier) {
                return .failure(DuplicateIdentifier(identifier: identifier, firstIndex: first, secondIndex: index))
            }
        }
        return .success(IdentifierMap(count: identifiers.count, identifiers: identifiers, indexByIdentifier: indexByIdentifier))
    }

    public struct DuplicateIdentifier: Error, Equatable {
        public var identifier: String
        public var firstIndex: Int
        public var secondIndex: Int
    }

    public var isIndices: Bool { identifiers == nil }

    /// The index of `identifier`, or nil when the map does not know it.
    public func index(of identifier: String) -> Int? {
        if identifiers != nil { return indexByIdentifier[identifier] }
        return Self.canonicalIndex(identifier.utf8, below: count)
    }

    /// The value of `digits` when they are a canonical decimal (no sign, no leading zero
    /// unless the number is 0) below `limit`.
    static func canonicalIndex(_ digits: String.UTF8View, below limit: Int) -> Int? {
        guard let first = digits.first, digits.count <= 18, first != UInt8(ascii: "0") || digits.count == 1 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return value < limit ? value : nil
    }

    /// The id of `index` (which must be in 0..<count).
    public func identifier(at index: Int) -> String {
        precondition(index >= 0 && index < count, "index out of range")
        return identifiers?[index] ?? String(index)
    }

    public static func == (lhs: IdentifierMap, rhs: IdentifierMap) -> Bool {
        lhs.count == rhs.count && lhs.identifiers == rhs.identifiers
    }
}
