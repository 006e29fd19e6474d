/// A text record file (triplets, CSV, the Netflix layout, MovieLens `.dat`) read by the
/// ranks of a group, each parsing only its part of the bytes, so that no rank holds more
/// than about its share of the ratings.
///
/// 1. The file is cut at line boundaries into one part per rank (`LineBlocks.lineStart`
///    at size·r/N): every line lies in exactly one part, and the parts in rank order are
///    the file.
/// 2. A quick pass over each part counts its lines and notes what the parser carries from
///    one line to the next (whether a content line was seen, so a header is allowed only
///    first; in the Netflix layout the last `movieId:` line). Those are folded through the
///    ranks, so each rank parses its part as the single process would reach it: the same
///    line numbers in messages, the same movie for ratings at the part's start.
/// 3. Each rank parses its part (`RecordLineParser`, the single process's parser; of the
///    ranks that fail, the lowest reports its error, the file's first bad line), the ranks
///    merge their sorted user and item ids into the whole file's id maps, and every record
///    goes to the rank owning its user (`ProcessGroup.tradeWithEveryRank`). A rank adds what it
///    receives in rank order, each rank's records in file order, so its rows hold its
///    users' records in file order, and `RowOrdering` sorts them and keeps the last of a
///    repeated pair: the single process's rows, bit for bit.
/// 4. The whole file's record (fingerprint, range, mean, ratings per item) is folded
///    through the ranks as for a binary file (`DataShard.assemble`).
enum ShardedRecordReader {
    /// What one part of the file hands to the parts after it.
    struct PartSummary {
        /// Newlines in the part (every part but the last ends with one).
        var lines = 0
        /// Whether a line holds a record or a header (not blank, not a `#` comment).
        var hasContent = false
        /// Netflix layout: the part's last movie line, `.some(nil)` when its id is not a
        /// number (that line's parser fails and ends the job).
        var movie: Int64??
        /// The columns the part's first content line sets, read as the file's first
        /// (`RecordLineParser.headerColumns`).
        var columns = RecordColumns.layoutOrder
        /// The CSV separator the part's first content line sets, read as the file's first
        /// (`RecordLineParser.csvSeparator`).
        var separator = UInt8(ascii: ",")

        /// The summary as Doubles, for the fold through the ranks: lines, content,
        /// movie kind (0 none, 1 id, 2 not a number), the id's bits, the columns (user,
        /// item, rating, maximum), then the separator.
        var words: [Double] {
            let kind: Double
            var bits: UInt64 = 0
            switch movie {
            case .none: kind = 0
            case let .some(.some(id)):
                kind = 1
                bits = UInt64(bitPattern: id)
            case .some(.none): kind = 2
            }
            return [Double(lines), hasContent ? 1 : 0, kind, Double(bitPattern: bits),
                    Double(columns.user), Double(columns.item), Double(columns.rating), Double(columns.maximum),
                    Double(separator)]
        }

        init() {}

        init(words: [Double]) {
            lines = Int(words[0])
            hasContent = words[1] != 0
            switch words[2] {
            case 1: movie = .some(Int64(bitPattern: words[3].bitPattern))
            case 2: movie = .some(nil)
            default: movie = nil
            }
            columns = RecordColumns(user: Int(words[4]), item: Int(words[5]), rating: Int(words[6]), maximum: Int(words[7]))
            separator = UInt8(exactly: words[8]) ?? UInt8(ascii: ",")
        }

        /// This part's summary added after `self`, the summary of the parts before it.
        func followed(by part: PartSummary) -> PartSummary {
            var sum = self
            // Only the file's first content line can be a header.
            if !sum.hasContent {
                sum.columns = part.columns
                sum.separator = part.separator
            }
            sum.lines += part.lines
            sum.hasContent = sum.hasContent || part.hasContent
            if part.movie != nil { sum.movie = part.movie }
            return sum
        }
    }

    /// The bytes of the file at `path` (of `size` bytes) that rank `rank` of `size` ranks parses.
    static func part(path: String, fileSize: Int, rank: Int, ranks: Int) throws(MixFillError) -> Range<Int> {
        let start = try LineBlocks.lineStart(atOrAfter: fileSize * rank / ranks, path: path)
        let end = rank + 1 == ranks ? fileSize : try LineBlocks.lineStart(atOrAfter: fileSize * (rank + 1) / ranks, path: path)
        return start..<max(start, end)
    }

    /// Step 2's pass over one part: the lines as `RecordLineParser` walks them (a UTF-8
    /// byte-order mark skipped at the file's start), their content by its first field's
    /// rule (blank, or a first byte `#`: no content), movie lines by `parseNetflix`'s, the
    /// first content line's separator and columns by `RecordLineParser.csvSeparator` and
    /// `headerColumns`.
    static func summarize(path: String, bytes range: Range<Int>, layout: RecordLayout) throws(MixFillError) -> PartSummary {
        var summary = PartSummary()
        var atFileStart = range.lowerBound == 0
        try LineBlocks.forEachBlock(path: path, bytes: range) { block in
            var position = 0
            if atFileStart, FileBytes.startsWithByteOrderMark(block) { position = 3 }
            atFileStart = false
            let count = block.count
            while position < count {
                var lineEnd = position
                while lineEnd < count, block[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                if lineEnd < count { summary.lines += 1 }
                var first = position
                var last = lineEnd
                while first < last, FieldCursor.isBlank(block[first]) { first += 1 }
                while last > first, FieldCursor.isBlank(block[last - 1]) { last -= 1 }
                if first < last, block[first] != UInt8(ascii: "#") {
                    if !summary.hasContent {
                        var end = lineEnd
                        while end > position, block[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                        if layout == .csv { summary.separator = RecordLineParser.csvSeparator(block, position, end) }
                        summary.columns = RecordLineParser.headerColumns(block, position, end, layout: layout,
                                                                         separator: summary.separator) ?? .layoutOrder
                    }
                    summary.hasContent = true
                    if layout == .netflix, let idField = RecordLineParser.movieIdField(block, first, last) {
                        summary.movie = .some(RecordLineParser.parseInteger(block, idField))
                    }
                }
                position = lineEnd + 1
            }
        }
        return summary
    }

    /// Rank `group.rank`'s users of the record file at `path` (see the type), with what
    /// `BinaryRatingFile.readUsers` gives of a binary file.
    ///
    /// Memory: this rank's parsed records (`RecordCollector`, 9 bytes each), the records
    /// other ranks send it (16 bytes each), one message being sent, and its rows as they
    /// are built (item index and one-byte rating code): no rank holds the whole file.
    static func readUsers(path: String, layout: RecordLayout, rules: RatingRules,
                          group: any ProcessGroup) throws(MixFillError) -> BinaryRatingFile.UserShare {
        var records = try parse(path: path, layout: layout, rules: rules, group: group)
        var incoming = [[Double]](repeating: [], count: group.size)
        try group.tradeWithEveryRank { (partner, sendsFirst) throws(MixFillError) in
            if sendsFirst {
                try records.send(to: partner, group: group)
                incoming[partner] = try Routed.receive(from: partner, group: group)
            } else {
                incoming[partner] = try Routed.receive(from: partner, group: group)
                try records.send(to: partner, group: group)
            }
        }
        let users = group.userRange(userCount: records.userIds.count)
        let itemCount = records.itemIds.count
        let userIds = records.userIds
        let itemIds = records.itemIds
        // The rows in the item index width the whole data needs; the parse and the
        // received records are freed before the rows are sorted.
        func build<Index: FixedWidthInteger & UnsignedInteger>(_: Index.Type, _ wrap: ([Index]) -> ItemIndices) -> (matrix: SparseRatingMatrix, duplicates: Int) {
            var built = Rows<Index>(users: users, records: records, incoming: incoming, rank: group.rank)
            records = Routed()
            incoming = []
            let duplicates = built.deduplicate()
            return (SparseRatingMatrix(userCount: users.count, itemCount: itemCount, rowStarts: built.rowStarts,
                                       items: wrap(built.items), ratings: built.ratings), duplicates)
        }
        let (matrix, duplicates) = ItemIndices.isNarrow(itemCount: itemCount)
            ? build(UInt16.self) { .narrow($0) }
            : build(UInt32.self) { .wide($0) }
        let totals = try group.foldInRankOrder([0, 0]) { sums in
            sums[0] += Double(matrix.observedCount)
            sums[1] += Double(duplicates)
        }
        return BinaryRatingFile.UserShare(matrix: matrix, users: users, userIds: userIds, itemIds: itemIds,
                                          observedCount: Int(totals[0]), duplicatePairs: Int(totals[1]))
    }

    /// Steps 1–3 up to the exchange: this rank's part parsed, and the whole file's id maps
    /// with each parsed record's global indices and owning rank.
    private static func parse(path: String, layout: RecordLayout, rules: RatingRules,
                              group: any ProcessGroup) throws(MixFillError) -> Routed {
        let name = StandardInput.displayName(path)
        let range = try part(path: path, fileSize: try FileBytes.size(of: path), rank: group.rank, ranks: group.size)
        let own = try summarize(path: path, bytes: range, layout: layout)
        let before = PartSummary(words: try group.foldBeforeRank(PartSummary().words) { words in
            words = PartSummary(words: words).followed(by: own).words
        })
        var parser = RecordLineParser(layout: layout, name: name, rules: rules)
        parser.allowsText = false
        parser.line = before.lines
        parser.sawContent = before.hasContent
        parser.columns = before.columns
        parser.separator = before.separator
        // A movie line whose id is no number fails on its own rank; the ratings after it
        // on later ranks are parsed under a stand-in id and dropped when it is reported.
        parser.movie = before.movie.map { $0 ?? Int64.min }
        var failure: MixFillError?
        do {
            try LineBlocks.forEachBlock(path: path, bytes: range) { (block) throws(MixFillError) in
                try parser.consume(block)
            }
        } catch {
            failure = error
        }
        // Of the ranks whose part failed, the lowest reports: the file's first bad line.
        try group.firstFailureInRankOrder(failure)
        let collector = parser.collector
        let localUsers = collector.users.ids
        let localItems = collector.items.ids
        let userIds = IdMap(sortedIds: try group.unionOfSortedIds(localUsers.sorted()))
        let itemIds = IdMap(sortedIds: try group.unionOfSortedIds(localItems.sorted()))
        guard userIds.count > 0 else { throw RecordCollector.noRatings(name: name) }
        try DataShard.requireUsers(userIds.count, group: group)
        let userIndex = localUsers.map { UInt32(userIds.index(of: $0) ?? 0) }
        let owner = userIndex.map { group.owner(ofUser: Int($0), userCount: userIds.count) }
        var counts = [Int](repeating: 0, count: group.size)
        for chunk in collector.recordChunks {
            for user in chunk.users { counts[owner[Int(user)]] += 1 }
        }
        return Routed(collector: collector, userIds: userIds, itemIds: itemIds, userIndex: userIndex,
                      itemIndex: localItems.map { UInt32(itemIds.index(of: $0) ?? 0) }, owner: owner, counts: counts)
    }

    /// A rank's parsed records with their global indices and owners, and how they travel:
    /// to a rank, the count of its records, then messages of at most `messageRecords`
    /// records, two words each (the global user and item indices packed, the rating), in
    /// file order.
    struct Routed {
        static let messageRecords = 1 << 20
        var collector = RecordCollector()
        var userIds = IdMap.identity(0)
        var itemIds = IdMap.identity(0)
        /// By provisional index (`RecordCollector`): global user, global item, owning rank.
        var userIndex: [UInt32] = []
        var itemIndex: [UInt32] = []
        var owner: [Int] = []
        /// Records owned by each rank.
        var counts: [Int] = []

        /// The records of one chunk of the parse (`RecordCollector.recordChunks`) owned by
        /// `rank`, in file order: global user, global item, rating. (Loops over them are
        /// written out where they are used rather than passed closures, which would box
        /// the arrays they fill.)
        func records(of chunk: (users: [UInt32], items: [UInt32], codes: [UInt8], ratings: [Double]),
                     ownedBy rank: Int, palette: [Double]) -> [(user: UInt32, item: UInt32, rating: Double)] {
            var owned = [(user: UInt32, item: UInt32, rating: Double)]()
            for record in chunk.users.indices where owner[Int(chunk.users[record])] == rank {
                let rating = chunk.ratings.isEmpty ? palette[Int(chunk.codes[record])] : chunk.ratings[record]
                owned.append((userIndex[Int(chunk.users[record])], itemIndex[Int(chunk.items[record])], rating))
            }
            return owned
        }

        func send(to rank: Int, group: any ProcessGroup) throws(MixFillError) {
            try group.send([Double(counts[rank])], to: rank)
            var message = [Double]()
            message.reserveCapacity(2 * min(counts[rank], Self.messageRecords))
            let palette = collector.ratingPalette
            for chunk in collector.recordChunks {
                for record in records(of: chunk, ownedBy: rank, palette: palette) {
                    message.append(Double(bitPattern: UInt64(record.user) << 32 | UInt64(record.item)))
                    message.append(record.rating)
                    if message.count == 2 * Self.messageRecords {
                        try group.sendSized(message, to: rank)
                        message.removeAll(keepingCapacity: true)
                    }
                }
            }
            if !message.isEmpty { try group.sendSized(message, to: rank) }
        }

        static func receive(from rank: Int, group: any ProcessGroup) throws(MixFillError) -> [Double] {
            let count = Int(try group.receive(count: 1, from: rank)[0])
            var records = [Double]()
            records.reserveCapacity(2 * count)
            while records.count < 2 * count {
                records += try group.receiveSized(from: rank)
            }
            return records
        }
    }

    /// The rows of `users`: the records of every rank's part in rank order (this rank's
    /// own from its parse, the others' as received), each part in file order, so each row
    /// holds its records in file order; then sorted by item, the last of a repeated pair
    /// kept (`RowOrdering`). Ratings are kept as one-byte codes while they take at most 256
    /// values (`RatingPalette`), as Doubles otherwise.
    struct Rows<Index: FixedWidthInteger & UnsignedInteger> {
        var rowStarts: [Int]
        var items: [Index]
        var codes: [UInt8]
        var values: [Double] = []
        var palette = RatingPalette()

        /// Where the next record of each row goes while the rows are filled.
        private var cursor: [Int]

        init(users: Range<Int>, records: Routed, incoming: [[Double]], rank: Int) {
            let first = users.lowerBound
            let palette = records.collector.ratingPalette
            var starts = [Int](repeating: 0, count: users.count + 1)
            for source in incoming.indices {
                if source == rank {
                    for chunk in records.collector.recordChunks {
                        for user in chunk.users where records.owner[Int(user)] == rank {
                            starts[Int(records.userIndex[Int(user)]) - first + 1] += 1
                        }
                    }
                } else {
                    let part = incoming[source]
                    for record in stride(from: 0, to: part.count, by: 2) {
                        starts[Int(part[record].bitPattern >> 32) - first + 1] += 1
                    }
                }
            }
            for user in 0..<users.count { starts[user + 1] += starts[user] }
            let total = starts[users.count]
            rowStarts = starts
            items = [Index](repeating: 0, count: total)
            codes = [UInt8](repeating: 0, count: total)
            cursor = Array(starts.dropLast())
            for source in incoming.indices {
                if source == rank {
                    for chunk in records.collector.recordChunks {
                        for record in records.records(of: chunk, ownedBy: rank, palette: palette) {
                            place(Int(record.user) - first, record.item, record.rating)
                        }
                    }
                } else {
                    let part = incoming[source]
                    for record in stride(from: 0, to: part.count, by: 2) {
                        let packed = part[record].bitPattern
                        place(Int(packed >> 32) - first, UInt32(truncatingIfNeeded: packed), part[record + 1])
                    }
                }
            }
            cursor = []
        }

        /// The next record of `row`.
        @inline(__always)
        private mutating func place(_ row: Int, _ item: UInt32, _ rating: Double) {
            let position = cursor[row]
            cursor[row] = position + 1
            items[position] = Index(truncatingIfNeeded: item)
            if values.isEmpty, let code = palette.code(for: rating) {
                codes[position] = code
                return
            }
            if values.isEmpty {
                // More than 256 values: every rating as a Double from here on.
                let known = palette.values
                values = codes.map { known[Int($0)] }
                codes = []
            }
            values[position] = rating
        }

        /// Sorts each row by item, keeping the last of a repeated pair; the records dropped.
        mutating func deduplicate() -> Int {
            RowOrdering.sortAndDeduplicate(rowStarts: &rowStarts, items: &items, codes: &codes, values: &values)
        }

        var ratings: RatingValues {
            codes.isEmpty && !values.isEmpty ? .exact(values) : palette.canonical(codes)
        }
    }
}

extension DataShard {
    /// Rank `group.rank`'s block of the text record file at `path` (`layout`, read as
    /// `format`), each rank parsing only its part of the file (`ShardedRecordReader`),
    /// and the whole file's record as `readBinary` gives it.
    package static func readRecords(path: String, format: RatingFormat, recordedPath: String?, rules: RatingRules,
                                    group: any ProcessGroup) throws(MixFillError) -> (shard: DataShard, training: TrainingDataRecord, duplicatePairs: Int) {
        guard let layout = format.recordLayout else {
            preconditionFailure("readRecords reads record formats only")
        }
        let share = try ShardedRecordReader.readUsers(path: path, layout: layout, rules: rules, group: group)
        return try assemble(share, format: format, recordedPath: recordedPath, group: group)
    }
}
