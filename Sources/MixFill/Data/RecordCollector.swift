/// Gathers (user id, item id, rating) records as a reader streams them, then builds the
/// sparse matrix and the id maps.
///
/// Memory: while reading, 9 bytes per record (two 4-byte provisional indices and a 1-byte
/// palette code) in chunks of fixed size (from 4,096 records, doubling up to 2²⁰), so
/// growing never copies what is already held; while building, each chunk is freed as soon
/// as it has been scattered into the rows, so the peak is about 12 bytes per record (9 for the chunks plus 3 for the finished matrix).
/// For the Netflix Prize's 100 million ratings that is about 1.2 GB, falling to 300 MB.
struct RecordCollector {
    /// Records per chunk: the first chunk holds 4,096 and each next one twice as many, up
    /// to 2²⁰, so a small file reserves kilobytes, not the 9 MB of a full chunk.
    static let firstChunkCapacity = 1 << 12
    static let chunkCapacity = 1 << 20

    var users = IdTable()
    var items = IdTable()
    private var palette = RatingPalette()
    /// Set once more than 256 distinct ratings were seen: from then on values are kept as Doubles.
    private var exactRatings = false

    private var userChunks: [[UInt32]] = []
    private var itemChunks: [[UInt32]] = []
    private var codeChunks: [[UInt8]] = []
    private var valueChunks: [[Double]] = []
    private var currentUsers: [UInt32] = []
    private var currentItems: [UInt32] = []
    private var currentCodes: [UInt8] = []
    private var currentValues: [Double] = []
    private(set) var recordCount = 0
    /// The capacity of the chunk being filled.
    private var currentCapacity = firstChunkCapacity

    init() {
        startChunk()
    }

    private mutating func startChunk() {
        currentUsers = []
        currentUsers.reserveCapacity(currentCapacity)
        currentItems = []
        currentItems.reserveCapacity(currentCapacity)
        currentCodes = []
        currentValues = []
        if exactRatings {
            currentValues.reserveCapacity(currentCapacity)
        } else {
            currentCodes.reserveCapacity(currentCapacity)
        }
    }

    /// Files the current chunk; `startingAnother` reserves the next, twice as large.
    private mutating func closeChunk(startingAnother: Bool = true) {
        userChunks.append(currentUsers)
        itemChunks.append(currentItems)
        if exactRatings { valueChunks.append(currentValues) } else { codeChunks.append(currentCodes) }
        currentUsers = []
        currentItems = []
        currentCodes = []
        currentValues = []
        if startingAnother {
            currentCapacity = min(2 * currentCapacity, Self.chunkCapacity)
            startChunk()
        }
    }

    @inline(__always)
    mutating func add(user: Int64, item: Int64, rating: Double) {
        if currentUsers.count == currentCapacity { closeChunk() }
        currentUsers.append(users.index(of: user))
        currentItems.append(items.index(of: item))
        if !exactRatings, let code = palette.code(for: rating) {
            currentCodes.append(code)
        } else {
            if !exactRatings { switchToExactRatings() }
            currentValues.append(rating)
        }
        recordCount += 1
    }

    /// Converts the codes held so far to values (only for data with > 256 distinct ratings).
    private mutating func switchToExactRatings() {
        exactRatings = true
        let values = palette.values
        valueChunks = codeChunks.map { chunk in chunk.map { values[Int($0)] } }
        codeChunks = []
        currentValues = currentCodes.map { values[Int($0)] }
        currentValues.reserveCapacity(currentCapacity)
        currentCodes = []
    }

    /// The table of everything added. Throws when nothing was (`name` is the file). With
    /// `userNames` (`itemNames`), the users' (items') ids added were codes into it
    /// (`NameTable`), and the table's users (items) are its names in `IdMap`'s order.
    mutating func makeTable(name: String, userNames: [String]? = nil, itemNames: [String]? = nil) throws(MixFillError) -> RatingTable {
        guard recordCount > 0 else { throw Self.noRatings(name: name) }
        closeChunk(startingAnother: false)
        let userOrder = users.ranking(names: userNames)
        let itemOrder = items.ranking(names: itemNames)
        let userCount = userOrder.sortedIds.count
        let itemCount = itemOrder.sortedIds.count

        // Row lengths, then row starts.
        var rowStarts = [Int](repeating: 0, count: userCount + 1)
        for chunk in userChunks {
            for provisional in chunk { rowStarts[Int(userOrder.rank[Int(provisional)]) + 1] += 1 }
        }
        for user in 0..<userCount { rowStarts[user + 1] += rowStarts[user] }

        let matrix: SparseRatingMatrix
        var duplicates = 0
        if ItemIndices.isNarrow(itemCount: itemCount) {
            var built = scatter(UInt16.self, rowStarts: rowStarts, userRank: userOrder.rank, itemRank: itemOrder.rank)
            duplicates = RowOrdering.sortAndDeduplicate(rowStarts: &rowStarts, items: &built.items, codes: &built.codes, values: &built.values)
            matrix = SparseRatingMatrix(userCount: userCount, itemCount: itemCount, rowStarts: rowStarts,
                                        items: .narrow(built.items), ratings: ratingValues(built.codes, built.values))
        } else {
            var built = scatter(UInt32.self, rowStarts: rowStarts, userRank: userOrder.rank, itemRank: itemOrder.rank)
            duplicates = RowOrdering.sortAndDeduplicate(rowStarts: &rowStarts, items: &built.items, codes: &built.codes, values: &built.values)
            matrix = SparseRatingMatrix(userCount: userCount, itemCount: itemCount, rowStarts: rowStarts,
                                        items: .wide(built.items), ratings: ratingValues(built.codes, built.values))
        }
        func map(_ sortedIds: [Int64], _ names: [String]?) -> IdMap {
            guard let names else { return IdMap(sortedIds: sortedIds) }
            return IdMap(sortedNames: sortedIds.map { names[Int($0)] })
        }
        return RatingTable(matrix: matrix, users: map(userOrder.sortedIds, userNames),
                           items: map(itemOrder.sortedIds, itemNames), duplicatePairs: duplicates)
    }

    /// What reading a file without a single record throws.
    static func noRatings(name: String) -> MixFillError {
        .badFile(file: name, message: "no ratings found (the file is empty or holds only blank lines, comments or a header); give one rating per line")
    }

    /// The records added, in order, as chunks: provisional user and item indices
    /// (positions in `users.ids` and `items.ids`) and the ratings, as one-byte codes into
    /// `ratingPalette` or (`ratings` non-empty) as Doubles. No chunk is copied.
    var recordChunks: [(users: [UInt32], items: [UInt32], codes: [UInt8], ratings: [Double])] {
        var chunks = userChunks.indices.map { chunk in
            (userChunks[chunk], itemChunks[chunk], exactRatings ? [] : codeChunks[chunk], exactRatings ? valueChunks[chunk] : [])
        }
        chunks.append((currentUsers, currentItems, currentCodes, currentValues))
        return chunks
    }

    /// The rating of each code in `recordChunks`.
    var ratingPalette: [Double] { palette.values }

    private func ratingValues(_ codes: [UInt8], _ values: [Double]) -> RatingValues {
        exactRatings ? .exact(values) : palette.canonical(codes)
    }

    /// Places every record in its user's row, in file order within the row, freeing each
    /// chunk once it is placed.
    private mutating func scatter<Index: FixedWidthInteger & UnsignedInteger>(
        _: Index.Type, rowStarts: [Int], userRank: [UInt32], itemRank: [UInt32]
    ) -> (items: [Index], codes: [UInt8], values: [Double]) {
        let total = rowStarts[rowStarts.count - 1]
        var itemsOut = [Index](repeating: 0, count: total)
        var codesOut = [UInt8](repeating: 0, count: exactRatings ? 0 : total)
        var valuesOut = [Double](repeating: 0, count: exactRatings ? total : 0)
        var cursor = Array(rowStarts.dropLast())
        for chunkIndex in userChunks.indices {
            let chunkUsers = userChunks[chunkIndex]
            let chunkItems = itemChunks[chunkIndex]
            userChunks[chunkIndex] = []
            itemChunks[chunkIndex] = []
            if exactRatings {
                let chunkValues = valueChunks[chunkIndex]
                valueChunks[chunkIndex] = []
                for record in chunkUsers.indices {
                    let row = Int(userRank[Int(chunkUsers[record])])
                    let position = cursor[row]
                    cursor[row] = position + 1
                    itemsOut[position] = Index(truncatingIfNeeded: itemRank[Int(chunkItems[record])])
                    valuesOut[position] = chunkValues[record]
                }
            } else {
                let chunkCodes = codeChunks[chunkIndex]
                codeChunks[chunkIndex] = []
                for record in chunkUsers.indices {
                    let row = Int(userRank[Int(chunkUsers[record])])
                    let position = cursor[row]
                    cursor[row] = position + 1
                    itemsOut[position] = Index(truncatingIfNeeded: itemRank[Int(chunkItems[record])])
                    codesOut[position] = chunkCodes[record]
                }
            }
        }
        userChunks = []
        itemChunks = []
        codeChunks = []
        valueChunks = []
        return (itemsOut, codesOut, valuesOut)
    }
}

/// Makes every row's items strictly increasing: a stable sort by item, and of several
/// ratings for one (user, item) pair the last in file order is kept.
enum RowOrdering {
    /// Returns the number of records dropped as duplicates; compacts the arrays in place.
    static func sortAndDeduplicate<Index: FixedWidthInteger & UnsignedInteger>(
        rowStarts: inout [Int], items: inout [Index], codes: inout [UInt8], values: inout [Double]
    ) -> Int {
        let exact = codes.isEmpty && !values.isEmpty
        var write = 0
        var scratch = [Int]()
        for user in 0..<(rowStarts.count - 1) {
            let start = rowStarts[user]
            let end = rowStarts[user + 1]
            rowStarts[user] = write
            var increasing = true
            if end - start > 1 {
                for position in (start + 1)..<end where items[position] <= items[position - 1] {
                    increasing = false
                    break
                }
            }
            if increasing {
                if write != start {
                    for position in start..<end {
                        items[write + position - start] = items[position]
                        if exact { values[write + position - start] = values[position] } else { codes[write + position - start] = codes[position] }
                    }
                }
                write += end - start
                continue
            }
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: start..<end)
            scratch.sort { items[$0] != items[$1] ? items[$0] < items[$1] : $0 < $1 }
            // Positions are read before they are overwritten: write ≤ start ≤ every position.
            var kept = [(Index, UInt8, Double)]()
            kept.reserveCapacity(scratch.count)
            for (offset, position) in scratch.enumerated() {
                let isLastOfItem = offset + 1 == scratch.count || items[scratch[offset + 1]] != items[position]
                if isLastOfItem {
                    kept.append((items[position], exact ? 0 : codes[position], exact ? values[position] : 0))
                }
            }
            for (offset, entry) in kept.enumerated() {
                items[write + offset] = entry.0
                if exact { values[write + offset] = entry.2 } else { codes[write + offset] = entry.1 }
            }
            write += kept.count
        }
        let total = rowStarts[rowStarts.count - 1]
        rowStarts[rowStarts.count - 1] = write
        let dropped = total - write
        if dropped > 0 {
            items.removeLast(dropped)
            if exact { values.removeLast(dropped) } else { codes.removeLast(dropped) }
        }
        return dropped
    }
}

/// Maps the ids of a file to provisional indices in order of first appearance; `ranking()`
/// turns them into the final indices (ascending ids).
///
/// Ids in 0 ..< 2²² (Netflix users go to 2.65 million) are looked up in a flat table,
/// others in a dictionary; consecutive records of one user (the common layout) hit a
/// one-entry cache first.
struct IdTable {
    static let directLimit: Int64 = 1 << 22
    private var direct: [Int32] = []
    private var overflow: [Int64: Int32] = [:]
    private(set) var ids: [Int64] = []
    private var lastId: Int64 = 0
    private var lastIndex: UInt32 = 0

    @inline(__always)
    mutating func index(of id: Int64) -> UInt32 {
        if id == lastId, !ids.isEmpty { return lastIndex }
        let index: UInt32
        if id >= 0, id < Self.directLimit {
            let slot = Int(id)
            if slot >= direct.count { grow(toHold: slot) }
            let existing = direct[slot]
            if existing >= 0 {
                index = UInt32(existing)
            } else {
                index = UInt32(ids.count)
                direct[slot] = Int32(ids.count)
                ids.append(id)
            }
        } else if let existing = overflow[id] {
            index = UInt32(existing)
        } else {
            index = UInt32(ids.count)
            overflow[id] = Int32(ids.count)
            ids.append(id)
        }
        lastId = id
        lastIndex = index
        return index
    }

    private mutating func grow(toHold slot: Int) {
        var size = max(direct.count, 1024)
        while size <= slot { size *= 2 }
        direct.append(contentsOf: repeatElement(-1, count: min(size, Int(Self.directLimit)) - direct.count))
    }

    /// rank[provisional] = final index; sortedIds[final] = id. With `names`, the ids are
    /// codes into it, ranked by their names (`IdMap.precedes`).
    func ranking(names: [String]? = nil) -> (rank: [UInt32], sortedIds: [Int64]) {
        let order: [Int]
        if let names {
            order = ids.indices.sorted { IdMap.precedes(names[Int(ids[$0])], names[Int(ids[$1])]) }
        } else {
            order = ids.indices.sorted { ids[$0] < ids[$1] }
        }
        var rank = [UInt32](repeating: 0, count: ids.count)
        for (final, provisional) in order.enumerated() { rank[provisional] = UInt32(final) }
        return (rank, order.map { ids[$0] })
    }
}
