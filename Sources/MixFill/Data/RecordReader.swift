/// The layouts of rating records MixFill reads.
package enum RecordLayout: String, Sendable, CaseIterable {
    /// `user item rating [timestamp]`, separated by spaces or tabs (MovieLens 100k `u.data`).
    case triplets
    /// `user,item,rating[,timestamp]`, with or without a header line (MovieLens `ratings.csv`);
    /// or the same with `;` between the fields (`RecordLineParser.csvSeparator`).
    case csv
    /// The Netflix Prize layout: a `movieId:` line, then `userId,rating[,date]` lines.
    case netflix
    /// MovieLens 1M's and 10M's `ratings.dat`: `user::item::rating[::timestamp]`.
    case movielensDat = "movielens-dat"
}

/// Reads rating records, streaming and byte by byte: the file passes through an 8 MB
/// buffer, nothing is split into `String`s, and each record goes straight into compact
/// storage (see `RecordCollector`).
///
/// Rules shared by the layouts, each rejection naming `file:line:column`:
/// - ids are whole numbers that fit in 64 bits (signs allowed), mapped to dense indices in
///   ascending id order (see `IdMap`); or, column by column, text: once a user (item) id
///   holds a letter or a byte beyond ASCII (`A2SUAM1J3GNN3B`, `034545104X`), or is a
///   whole number written with a leading zero (`0345339703`, which as a number would lose
///   its zero), every user (item) id of the file is a name kept as written
///   (`IdTextMode`); any other field there (`1.5`, `9)5`) is an error wherever it stands.
///   A file read from its start is read again in that mode when earlier
///   lines had whole numbers there; standard input cannot be, so there the first record
///   decides;
/// - ratings are finite decimal numbers, kept exactly as given (half stars, 0 and negative
///   values included: only the dense format uses 0 for "missing"), within `RatingRules`
///   (±1e100, and a declared scale);
/// - a timestamp or date field is allowed and ignored;
/// - blank lines, lines starting with `#`, CRLF line ends and a UTF-8 byte-order mark are
///   accepted; so is one header line at the top (a first line whose first field is not a
///   number), except in the Netflix layout, which has none;
/// - several ratings for one (user, item) pair: the last one in the file is kept and the
///   number of dropped records is reported (`RatingTable.duplicatePairs`).
package enum RecordReader {
    /// Reads the file at `path`; `-` reads standard input (errors then name `<stdin>`).
    package static func read(path: String, layout: RecordLayout, rules: RatingRules = .standard,
                             blockSize: Int = LineBlocks.blockSize) throws(MixFillError) -> RatingTable {
        var parser = try parsed(path: path, layout: layout, rules: rules, blockSize: blockSize)
        return try parser.makeTable()
    }

    /// The parser after reading the whole file at `path`, read twice when a column turned
    /// out to hold text ids after lines that held whole numbers there (see the type).
    private static func parsed(path: String, layout: RecordLayout, rules: RatingRules = .standard,
                               sought: (user: String, item: String)? = nil,
                               blockSize: Int = LineBlocks.blockSize) throws(MixFillError) -> RecordLineParser {
        try parsed(name: StandardInput.displayName(path), layout: layout, rules: rules, sought: sought,
                   canReadAgain: !StreamInput.isStream(path)) { (parser) throws(MixFillError) in
            try LineBlocks.forEachBlock(path: path, blockSize: blockSize) { (block) throws(MixFillError) in
                try parser.consume(block)
            }
        }
    }

    /// A parser fed by `feed`, fed again from the start with more columns read as text
    /// when a line needs it and `canReadAgain`.
    private static func parsed(name: String, layout: RecordLayout, rules: RatingRules, sought: (user: String, item: String)?,
                               canReadAgain: Bool,
                               feed: (inout RecordLineParser) throws(MixFillError) -> Void) throws(MixFillError) -> RecordLineParser {
        var textColumns = IdTextMode()
        var switches = [TextIdSwitch]()
        while true {
            var parser = RecordLineParser(layout: layout, name: name, rules: rules)
            parser.textColumns = textColumns
            parser.textSwitches = switches
            parser.sought = sought
            do {
                try feed(&parser)
                return parser
            } catch {
                // Each pass turns at least one more column to text, so this ends by the third.
                guard canReadAgain, let wanted = parser.textWanted, wanted != textColumns else { throw error }
                textColumns = wanted
                if let turn = parser.textSwitch { switches.append(turn) }
            }
        }
    }

    /// The line and column of the first record for (`user`, `item`) in the file at `path`,
    /// for a message about a record found after the file was read into a table (which keeps
    /// no positions). Nil for standard input or a pipe (neither can be read twice: opening
    /// a drained pipe again would wait for ever), or when the file no longer reads or no
    /// longer holds the pair.
    package static func position(of pair: (user: String, item: String), path: String, layout: RecordLayout) -> (line: Int, column: Int)? {
        guard !StreamInput.isStream(path) else { return nil }
        return try? parsed(path: path, layout: layout, sought: pair).soughtPosition
    }

    /// Parses `bytes` as if read from a file called `name` (used in error messages).
    package static func parse(_ bytes: [UInt8], name: String, layout: RecordLayout, rules: RatingRules = .standard) throws(MixFillError) -> RatingTable {
        var parser = try parsed(name: name, layout: layout, rules: rules, sought: nil, canReadAgain: true) { (parser) throws(MixFillError) in
            var failure: MixFillError?
            bytes.withUnsafeBufferPointer { buffer in
                do throws(MixFillError) { try parser.consume(buffer) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        return try parser.makeTable()
    }
}

/// Which id columns of a record file hold text ids (names) rather than whole numbers.
struct IdTextMode: Equatable {
    var users = false
    var items = false
}

/// A line whose id was text where the lines before held whole numbers in that column, which
/// made the reader read the whole column as text: worth a warning, since one typo (`7x`,
/// a stray word) silently changes every id of the column into a name.
package struct TextIdSwitch: Sendable, Equatable {
    /// "user" or "item".
    package let what: String
    package let line: Int
    package let column: Int
    /// The id as written (escaped for a message).
    package let id: String
}

/// The text ids of one column, interned as they are met: code c ↔ `names[c]`, codes in
/// order of first appearance (the collector's ids; `RecordCollector.makeTable` orders the
/// names and renumbers).
struct NameTable {
    private var codes: [String: Int64] = [:]
    private(set) var names: [String] = []
    private var lastCode: Int64 = -1

    /// The longest name accepted (a guard against a binary file read as text).
    static let longest = 1024

    @inline(__always)
    mutating func code(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64 {
        // Records come grouped by user (or item) in most files: compare with the last name first.
        if lastCode >= 0, !Self.isQuoted(bytes, range) {
            let last = names[Int(lastCode)]
            if last.utf8.count == range.count, last.utf8.elementsEqual(UnsafeBufferPointer(rebasing: bytes[range])) { return lastCode }
        }
        let name = Self.unquoted(bytes, range)
        let code: Int64
        if let known = codes[name] {
            code = known
        } else {
            code = Int64(names.count)
            codes[name] = code
            names.append(name)
        }
        lastCode = code
        return code
    }

    /// Whether `range` is the content of a quoted CSV field (`FieldCursor`): a quote on
    /// either side, where an unquoted field has a separator, a blank or the line's end.
    @inline(__always)
    static func isQuoted(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        range.lowerBound > 0 && bytes[range.lowerBound - 1] == UInt8(ascii: "\"")
            && range.upperBound < bytes.count && bytes[range.upperBound] == UInt8(ascii: "\"")
    }

    /// The field as a name: its bytes, with `""` read as one quote inside a quoted field
    /// (the cursor gives the content between the quotes as it stands in the file).
    static func unquoted(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        let content = UnsafeBufferPointer(rebasing: bytes[range])
        guard isQuoted(bytes, range), content.contains(UInt8(ascii: "\"")) else {
            return String(decoding: content, as: UTF8.self)
        }
        var unescaped = [UInt8]()
        unescaped.reserveCapacity(content.count)
        var index = 0
        while index < content.count {
            unescaped.append(content[index])
            index += content[index] == UInt8(ascii: "\"") && index + 1 < content.count && content[index + 1] == UInt8(ascii: "\"") ? 2 : 1
        }
        return String(decoding: unescaped, as: UTF8.self)
    }
}

/// The per-line state machine behind `RecordReader`.
struct RecordLineParser {
    let layout: RecordLayout
    let name: String
    let rules: RatingRules
    var collector = RecordCollector()
    /// The columns read as text ids; `textWanted` is set when a line needs more of them,
    /// and `textSwitch` says which line.
    var textColumns = IdTextMode()
    private(set) var textWanted: IdTextMode?
    private(set) var textSwitch: TextIdSwitch?
    /// The lines that turned a column to text in earlier readings of the same input.
    var textSwitches: [TextIdSwitch] = []
    /// Whether text ids are accepted at all (not by the ranks of a distributed read, whose
    /// id maps are merged as numbers).
    var allowsText = true
    private var userNames = NameTable()
    private var itemNames = NameTable()
    /// Whether a record was compared with the sought pair (collected ones are counted).
    private var sawSoughtRecord = false
    /// Lines consumed so far (the next line is `line + 1`).
    var line = 0
    /// Whether a line with content was seen (a header may only come first).
    var sawContent = false
    /// The movie of the current block (Netflix layout).
    var movie: Int64?
    /// Where a line's user, item and rating stand: the layout's order, or where the header
    /// names them (`RecordColumns.ofHeader`).
    var columns = RecordColumns.layoutOrder
    /// The CSV layout's field separator, `,` or `;`, as the file's first content line sets
    /// it (`csvSeparator`); `,` in the other layouts, where it only marks a rating's
    /// decimal point as a point (`rating(_:_:separator:)`).
    var separator = UInt8(ascii: ",")
    /// When set, the parser only looks for the first record of this (user, item) pair, ids
    /// as written, and keeps where it is (`RecordReader.position(of:path:layout:)`); nothing
    /// is collected.
    var sought: (user: String, item: String)? {
        didSet { seeking = sought != nil }
    }
    private var seeking = false
    private(set) var soughtPosition: (line: Int, column: Int)?

    init(layout: RecordLayout, name: String, rules: RatingRules = .standard) {
        self.layout = layout
        self.name = name
        self.rules = rules
    }

    mutating func consume(_ block: UnsafeBufferPointer<UInt8>) throws(MixFillError) {
        let count = block.count
        var position = 0
        // The file's first line (blocks are whole lines, and no magic number holds a line
        // break): with --format given, detection has not looked for a compressed file.
        if line == 0, let error = RatingFormat.compressedInputError(prefix: block, path: name) { throw error }
        if line == 0, FileBytes.startsWithByteOrderMark(block) {
            position = 3
        }
        var lineStart = position
        while position < count {
            line += 1
            var lineEnd = position
            while lineEnd < count, block[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            // Every carriage return before the line feed: CRLF, and `\r\r\n` from a file
            // converted to CRLF twice.
            var end = lineEnd
            while end > position, block[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            switch layout {
            case .triplets: try parseTriplet(block, position, end, lineStart)
            case .csv:
                // Until a line with content is seen, each line may be the one that sets the
                // separator (a blank or comment line returns before it counts). Each
                // separator has its own copy of the line parser, the separator a constant
                // in it, as in the other layouts' parsers.
                if !sawContent { separator = Self.csvSeparator(block, position, end) }
                if separator == UInt8(ascii: ",") {
                    try parseCSV(block, position, end, lineStart, separator: UInt8(ascii: ","))
                } else {
                    try parseCSV(block, position, end, lineStart, separator: UInt8(ascii: ";"))
                }
            case .netflix: try parseNetflix(block, position, end, lineStart)
            case .movielensDat: try parseDat(block, position, end, lineStart)
            }
            position = lineEnd + 1
            lineStart = position
        }
    }

    // MARK: Layouts

    private mutating func parseTriplet(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ lineStart: Int) throws(MixFillError) {
        var cursor = FieldCursor(start: start, end: end, separator: nil)
        guard let first = cursor.next(bytes), bytes[first.lowerBound] != UInt8(ascii: "#") else { return }
        let isFirstContent = !sawContent
        sawContent = true
        if columns != .layoutOrder { return try parseByHeader(bytes, first, &cursor, end, lineStart) }
        if isFirstContent, let header = Self.headerColumns(bytes, start, end, layout: layout, separator: separator) {
            columns = header
            return
        }
        let user = try id(bytes, first, lineStart, user: true)
        let shape = "a triplets line is 'user item rating [timestamp]' separated by spaces or tabs"
        guard let second = cursor.next(bytes) else { throw fieldCount(1, end, lineStart, shape) }
        guard let third = cursor.next(bytes) else { throw fieldCount(2, end, lineStart, shape) }
        if cursor.next(bytes) != nil, let extra = cursor.next(bytes) {
            throw failure(extra.lowerBound, lineStart, "line has more than 4 fields; \(shape)")
        }
        let item = try id(bytes, second, lineStart, user: false)
        let rating = try parseRating(bytes, third, lineStart)
        record(user: user, item: item, rating: rating, column: first.lowerBound - lineStart + 1)
    }

    @inline(__always)
    private mutating func parseCSV(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ lineStart: Int,
                                   separator: UInt8) throws(MixFillError) {
        var cursor = FieldCursor(start: start, end: end, separator: separator)
        guard let first = cursor.next(bytes) else { return }
        if first.isEmpty, cursor.atEnd { return }  // blank line
        // A comment: `#` first on the line, not inside a quoted field (`"#3",…` is an id).
        if !first.isEmpty, bytes[first.lowerBound] == UInt8(ascii: "#"),
           first.lowerBound == start || bytes[first.lowerBound - 1] != UInt8(ascii: "\"") { return }
        let isFirstContent = !sawContent
        sawContent = true
        if columns != .layoutOrder { return try parseByHeader(bytes, first, &cursor, end, lineStart) }
        if isFirstContent, let header = Self.headerColumns(bytes, start, end, layout: layout, separator: separator) {
            columns = header
            return
        }
        let user = try id(bytes, first, lineStart, user: true)
        let shape = separator == UInt8(ascii: ";") ? "a CSV line here is 'user;item;rating[;timestamp]'"
            : "a CSV line is 'user,item,rating[,timestamp]'"
        guard let second = cursor.next(bytes) else { throw fieldCount(1, end, lineStart, shape) }
        guard let third = cursor.next(bytes) else { throw fieldCount(2, end, lineStart, shape) }
        if cursor.next(bytes) != nil, let extra = cursor.next(bytes) {
            throw failure(extra.lowerBound, lineStart, "line has more than 4 fields; \(shape)")
        }
        let item = try id(bytes, second, lineStart, user: false)
        let rating = try parseRating(bytes, third, lineStart)
        record(user: user, item: item, rating: rating, column: first.lowerBound - lineStart + 1)
    }

    private mutating func parseNetflix(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ lineStart: Int) throws(MixFillError) {
        var last = end
        while last > start, FieldCursor.isBlank(bytes[last - 1]) { last -= 1 }
        var first = start
        while first < last, FieldCursor.isBlank(bytes[first]) { first += 1 }
        if first == last || bytes[first] == UInt8(ascii: "#") { return }
        sawContent = true
        if let idField = Self.movieIdField(bytes, first, last) {
            guard let id = Self.parseInteger(bytes, idField) else {
                throw failure(first, lineStart, "'\(Self.text(bytes, first..<last))' is not a movie line; write the movie id as a whole number followed by ':', like '1:'")
            }
            movie = id
            return
        }
        guard let movie else {
            throw failure(first, lineStart, "rating line before any 'movieId:' line; a Netflix Prize file starts each movie's block with a line like '1:'")
        }
        var cursor = FieldCursor(start: first, end: last, separator: UInt8(ascii: ","))
        let shape = "after a 'movieId:' line each line is 'userId,rating[,date]'"
        guard let userField = cursor.next(bytes) else { throw fieldCount(0, end, lineStart, shape) }
        guard let ratingField = cursor.next(bytes) else { throw fieldCount(1, end, lineStart, shape) }
        if cursor.next(bytes) != nil, let extra = cursor.next(bytes) {
            throw failure(extra.lowerBound, lineStart, "line has more than 3 fields; \(shape)")
        }
        guard let user = Self.parseInteger(bytes, userField) else { throw notAnId(bytes, userField, lineStart, "user") }
        let rating = try parseRating(bytes, ratingField, lineStart)
        record(user: user, item: movie, rating: rating, column: userField.lowerBound - lineStart + 1)
    }

    /// `user::item::rating[::timestamp]`: the fields between `::` separators, blanks around
    /// them trimmed; a header line is allowed as in the other layouts (MovieLens's own files
    /// have none).
    private mutating func parseDat(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ lineStart: Int) throws(MixFillError) {
        var cursor = DoubleColonCursor(start: start, end: end)
        guard let first = cursor.next(bytes) else { return }
        if first.isEmpty, cursor.atEnd { return }  // blank line
        if !first.isEmpty, bytes[first.lowerBound] == UInt8(ascii: "#") { return }
        let isFirstContent = !sawContent
        sawContent = true
        if columns != .layoutOrder { return try parseByHeader(bytes, first, &cursor, end, lineStart) }
        if isFirstContent, let header = Self.headerColumns(bytes, start, end, layout: layout, separator: separator) {
            columns = header
            return
        }
        let user = try id(bytes, first, lineStart, user: true)
        let shape = "a MovieLens .dat line is 'user::item::rating[::timestamp]', fields separated by two colons"
        guard let second = cursor.next(bytes) else { throw fieldCount(1, end, lineStart, shape) }
        guard let third = cursor.next(bytes) else { throw fieldCount(2, end, lineStart, shape) }
        if cursor.next(bytes) != nil, let extra = cursor.next(bytes) {
            throw failure(extra.lowerBound, lineStart, "line has more than 4 fields; \(shape)")
        }
        let item = try id(bytes, second, lineStart, user: false)
        let rating = try parseRating(bytes, third, lineStart)
        record(user: user, item: item, rating: rating, column: first.lowerBound - lineStart + 1)
    }

    /// A line read by the header's columns (`columns` other than the layout's order): the
    /// fields up to the header's count, the user, item and rating where it names them.
    private mutating func parseByHeader(_ bytes: UnsafeBufferPointer<UInt8>, _ first: Range<Int>, _ cursor: inout some LineFieldCursor,
                                        _ end: Int, _ lineStart: Int) throws(MixFillError) {
        let columns = self.columns
        var userField = first
        var itemField = first
        var ratingField = first
        var count = 0
        var field: Range<Int>? = first
        while let current = field {
            guard count < columns.maximum else {
                throw failure(current.lowerBound, lineStart, "line has more than \(columns.maximum) fields; \(columns.shape)")
            }
            if count == columns.user { userField = current }
            if count == columns.item { itemField = current }
            if count == columns.rating { ratingField = current }
            count += 1
            field = cursor.next(bytes)
        }
        guard count >= columns.needed else { throw fieldCount(count, end, lineStart, columns.shape) }
        let user = try id(bytes, userField, lineStart, user: true)
        let item = try id(bytes, itemField, lineStart, user: false)
        let rating = try parseRating(bytes, ratingField, lineStart)
        record(user: user, item: item, rating: rating, column: userField.lowerBound - lineStart + 1)
    }

    /// Adds a parsed record, or, when looking for a pair, notes the position of its first record.
    @inline(__always)
    private mutating func record(user: Int64, item: Int64, rating: Double, column: Int) {
        if seeking, let sought {
            sawSoughtRecord = true
            if soughtPosition == nil, sought.user == (textColumns.users ? userNames.names[Int(user)] : String(user)),
               sought.item == (textColumns.items ? itemNames.names[Int(item)] : String(item)) {
                soughtPosition = (line, column)
            }
            return
        }
        collector.add(user: user, item: item, rating: rating)
    }

    /// The table of every record read (`name` is the file), text ids ordered as `IdMap` orders them.
    mutating func makeTable() throws(MixFillError) -> RatingTable {
        var table = try collector.makeTable(name: name, userNames: textColumns.users ? userNames.names : nil,
                                            itemNames: textColumns.items ? itemNames.names : nil)
        table.textIdSwitches = textSwitches
        return table
    }

    /// The user's (or item's) id in `range`: a whole number, or the code of a name in a
    /// column of text ids. A name met in a column of numbers turns the column to text: at
    /// once when no record has been kept yet, else by a second reading (`textWanted`,
    /// thrown with the message a stream, which cannot be read again, ends with).
    @inline(__always)
    private mutating func id(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lineStart: Int, user: Bool) throws(MixFillError) -> Int64 {
        // The hot path, kept small to inline: a whole number without sign or leading zero
        // in a column of numbers.
        if !(user ? textColumns.users : textColumns.items), !range.isEmpty {
            let first = bytes[range.lowerBound]
            if first &- 49 < 9 || (first == UInt8(ascii: "0") && range.count == 1), let value = Self.parseInteger(bytes, range) {
                return value
            }
        }
        return try anyId(bytes, range, lineStart, user: user)
    }

    /// `id` for every other field: signed numbers, names, errors.
    @inline(never)
    private mutating func anyId(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lineStart: Int, user: Bool) throws(MixFillError) -> Int64 {
        let what = user ? "user" : "item"
        if user ? textColumns.users : textColumns.items {
            // The rule that turned the column to text holds for every name in it, so which
            // ids are accepted never depends on the order of the lines.
            guard Self.parseInteger(bytes, range) != nil || Self.isTextId(bytes, range) else {
                let problem = range.isEmpty ? "the \(what) id field is empty"
                    : range.count > NameTable.longest ? "the \(what) id is longer than \(NameTable.longest) bytes"
                    : Self.isName(bytes, range) ? "'\(Self.text(bytes, range))' is not \(what == "item" ? "an" : "a") \(what) id"
                    : range.contains(where: { bytes[$0] < 0x20 || bytes[$0] == 0x7F }) ? "\(what) id '\(Self.text(bytes, range))' holds a control character"
                    : "\(what) id '\(Self.text(bytes, range))' is not UTF-8 text (save the file as UTF-8, e.g. iconv -f latin1 -t utf-8)"
                throw failure(range.lowerBound, lineStart, "\(problem); this file's \(what) ids are text: whole numbers, or names holding a letter (A2SUAM1J3GNN3B) or starting with 0 (0345339703)")
            }
            return user ? userNames.code(bytes, range) : itemNames.code(bytes, range)
        }
        if let value = Self.parseInteger(bytes, range), !Self.hasLeadingZero(bytes, range) { return value }
        // A name, on a line whose rating is a number: a record with text ids. (A second
        // header, `userId,movieId,rating` from files joined together, is no record.)
        guard Self.isTextId(bytes, range), hasNumericRating(bytes, lineStart: lineStart, after: range.upperBound) else {
            throw notAnId(bytes, range, lineStart, what)
        }
        guard allowsText else {
            throw failure(range.lowerBound, lineStart, "\(what) id '\(Self.text(bytes, range))' is text; a --distributed fit reads text ids from a binary file: convert this one first (mixfill convert \(RatingFormat.shellWord(name)) ratings.mfr) and fit that")
        }
        var wanted = textColumns
        if user { wanted.users = true } else { wanted.items = true }
        if collector.recordCount == 0, !sawSoughtRecord {
            textColumns = wanted
            return try id(bytes, range, lineStart, user: user)
        }
        textWanted = wanted
        textSwitch = TextIdSwitch(what: what, line: line, column: range.lowerBound - lineStart + 1, id: Self.text(bytes, range))
        throw failure(range.lowerBound, lineStart, "\(what) id '\(Self.text(bytes, range))' is text, but the \(what) ids of earlier lines were whole numbers; text ids are read from a file (read twice, the second time as text), or from standard input when the first record's ids are text")
    }

    /// Whether the line starting at `lineStart` (and going on past `after`) holds a number
    /// where `columns` put the rating.
    private func hasNumericRating(_ bytes: UnsafeBufferPointer<UInt8>, lineStart: Int, after: Int) -> Bool {
        var end = after
        while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
        while end > lineStart, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let fields = RecordColumns.fields(bytes, lineStart, end, layout: layout, separator: separator)
        guard columns.rating < fields.count, !fields[columns.rating].isEmpty else { return false }
        if case .number = Self.rating(bytes, fields[columns.rating], separator: separator) { return true }
        return false
    }

    /// Whether the field is a text id, one that turns its column to text: a name
    /// (`isName`) that looks like one (`looksLikeName`).
    @inline(__always)
    static func isTextId(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        isName(bytes, range) && looksLikeName(bytes, range)
    }

    /// Whether the field can be a text id: not empty, at most `NameTable.longest` bytes,
    /// no control bytes, UTF-8.
    @inline(__always)
    static func isName(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        guard !range.isEmpty, range.count <= NameTable.longest else { return false }
        var ascii = true
        for position in range {
            let byte = bytes[position]
            if byte < 0x20 || byte == 0x7F { return false }
            if byte >= 0x80 { ascii = false }
        }
        // Names are written back byte for byte: bytes that are not UTF-8 would come back
        // as replacement characters, another name.
        return ascii || String(validating: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) != nil
    }

    /// Whether a field that is no whole number says the column holds text ids: it has a
    /// letter or a byte beyond ASCII, or it is a whole number with a leading zero. A
    /// decimal (`4.5`) or a date (`2005-09-06`) says nothing of the kind: in an id column it
    /// is a misplaced field, an error.
    static func looksLikeName(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        if hasLeadingZero(bytes, range) { return true }
        for position in range {
            let byte = bytes[position]
            if byte >= 0x80 || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")) { return true }
        }
        return false
    }

    /// Whether the field is digits (after an optional sign) starting with a 0 and longer
    /// than one digit: `007`, `-01`, `0345339703`.
    @inline(__always)
    static func hasLeadingZero(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        var start = range.lowerBound
        if start < range.upperBound, bytes[start] == UInt8(ascii: "-") || bytes[start] == UInt8(ascii: "+") { start += 1 }
        guard range.upperBound - start >= 2, bytes[start] == UInt8(ascii: "0") else { return false }
        for position in start..<range.upperBound where bytes[position] &- 48 >= 10 { return false }
        return true
    }

    // MARK: Fields

    /// Whether a first line is a header: text (no control bytes but tabs) whose first field
    /// is not a number. A number that is no id (`1.5`, a 20-digit id) is an error on a
    /// rating line, and binary garbage is not a header either. An empty first field is a
    /// header only if the line holds a letter (pandas writes `,userId,movieId,…` above an
    /// index column); `,1,3` is a rating line missing its user.
    static func isHeader(_ bytes: UnsafeBufferPointer<UInt8>, _ first: Range<Int>, _ start: Int, _ end: Int) -> Bool {
        var hasLetter = false
        for position in start..<end {
            let byte = bytes[position]
            if (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F { return false }
            if (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z") { hasLetter = true }
        }
        guard !first.isEmpty else { return hasLetter }
        if case .number = DecimalParser.parse(UnsafeBufferPointer(rebasing: bytes[first])) { return false }
        return true
    }

    /// The columns the file's first content line sets when it is a header (the layout's
    /// first field no id and `isHeader`); nil when it is a rating line.
    static func headerColumns(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, layout: RecordLayout,
                              separator: UInt8) -> RecordColumns? {
        guard layout != .netflix else { return nil }
        let fields = RecordColumns.fields(bytes, start, end, layout: layout, separator: separator)
        guard let first = fields.first, parseInteger(bytes, first) == nil, isHeader(bytes, first, start, end) else { return nil }
        let columns = RecordColumns.ofHeader(bytes, start, end, layout: layout, separator: separator)
        // A line with text ids looks like a header by its first field; a header's rating
        // column holds a name (`rating`), a record's a number.
        if columns == .layoutOrder, fields.count > 2, !fields[2].isEmpty,
           case .number = rating(bytes, fields[2], separator: separator) {
            return nil
        }
        return columns
    }

    /// The separator of a CSV file whose first content line runs from `start` to `end` and
    /// whose lines hold at least `fields` fields (a record's three, by default): `;` when
    /// that line holds at least `fields` − 1 semicolons outside quoted fields and more
    /// semicolons than commas, as spreadsheets write CSV where the comma is the decimal
    /// mark (`1;31;3,5`) and Book-Crossing's `"User-ID";"ISBN";"Book-Rating"` stands; else
    /// `,`. One line decides for the file: a later line is read by the same separator, so
    /// a line that differs is an error at its place, not a silent misread.
    static func csvSeparator(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, fields: Int = 3) -> UInt8 {
        var semicolons = 0
        var commas = 0
        var quoted = false
        for position in start..<end {
            switch bytes[position] {
            case UInt8(ascii: "\""): quoted.toggle()
            case UInt8(ascii: ";") where !quoted: semicolons += 1
            case UInt8(ascii: ",") where !quoted: commas += 1
            default: break
            }
        }
        return semicolons >= fields - 1 && semicolons > commas ? UInt8(ascii: ";") : UInt8(ascii: ",")
    }

    /// A rating field's number: a decimal number (`DecimalParser`), or, in a file whose
    /// fields are separated by `;`, one written with a decimal comma (`3,5`: one comma, no
    /// point), the comma then being free to mark decimals.
    @inline(__always)
    static func rating(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, separator: UInt8) -> DecimalParser.Outcome {
        let outcome = DecimalParser.parse(UnsafeBufferPointer(rebasing: bytes[range]))
        if case .number = outcome { return outcome }
        return separator == UInt8(ascii: ";") ? decimalCommaRating(bytes, range) : outcome
    }

    /// `rating`'s reading of a field with a decimal comma, off the hot path.
    @inline(never)
    private static func decimalCommaRating(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> DecimalParser.Outcome {
        let field = UnsafeBufferPointer(rebasing: bytes[range])
        guard field.count(where: { $0 == UInt8(ascii: ",") }) == 1, !field.contains(UInt8(ascii: ".")) else { return .notANumber }
        let pointed = field.map { $0 == UInt8(ascii: ",") ? UInt8(ascii: ".") : $0 }
        return pointed.withUnsafeBufferPointer { DecimalParser.parse($0) }
    }

    /// A Netflix movie line `id:` (content `first..<last`, blanks around it trimmed, not
    /// empty): where its id stands, the bytes before the ':' less the blanks before it; nil
    /// for a line that does not end in ':' (a rating line).
    static func movieIdField(_ bytes: UnsafeBufferPointer<UInt8>, _ first: Int, _ last: Int) -> Range<Int>? {
        guard bytes[last - 1] == UInt8(ascii: ":") else { return nil }
        var idEnd = last - 1
        while idEnd > first, FieldCursor.isBlank(bytes[idEnd - 1]) { idEnd -= 1 }
        return first..<idEnd
    }

    /// A whole number of at most 64 bits, optionally signed; nil for anything else. (The
    /// streaming readers' hot path, on the block's bytes in place; `FieldLines.id` is the
    /// same rule for the small whole-file lists.)
    @inline(__always)
    static func parseInteger(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64? {
        var index = range.lowerBound
        let end = range.upperBound
        guard index < end else { return nil }
        var negative = false
        if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
            guard index < end else { return nil }
        }
        var magnitude: UInt64 = 0
        while index < end {
            let digit = bytes[index] &- 48
            guard digit < 10 else { return nil }
            let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    private func parseRating(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lineStart: Int) throws(MixFillError) -> Double {
        guard !range.isEmpty else {
            throw failure(range.lowerBound, lineStart, "the rating field is empty; ratings are decimal numbers such as 4 or 3.5")
        }
        switch Self.rating(bytes, range, separator: separator) {
        case let .number(value):
            guard value.isFinite else {
                throw failure(range.lowerBound, lineStart, "'\(Self.text(bytes, range))' is not a finite rating; ratings must be finite decimal numbers")
            }
            if let problem = rules.violation(value, token: Self.text(bytes, range)) {
                throw failure(range.lowerBound, lineStart, problem)
            }
            return value
        case .notANumber:
            throw failure(range.lowerBound, lineStart, "'\(Self.text(bytes, range))' is not a rating; ratings are decimal numbers such as 4 or 3.5")
        }
    }

    // MARK: Errors

    private func failure(_ position: Int, _ lineStart: Int, _ message: String) -> MixFillError {
        .badInput(file: name, line: line, column: position - lineStart + 1, message: message)
    }

    private func notAnId(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ lineStart: Int, _ what: String) -> MixFillError {
        var message = Self.notAnIdMessage(Self.text(bytes, range), what)
        // A CSV line separated by the other mark than the file's first line (files joined
        // together, or a spreadsheet's export appended to a program's).
        let other = separator == UInt8(ascii: ";") ? UInt8(ascii: ",") : UInt8(ascii: ";")
        if layout == .csv, bytes[range].contains(other) {
            message += " (this file's fields are separated by '\(UnicodeScalar(separator))', as its first line sets, and this line's by '\(UnicodeScalar(other))')"
        }
        return failure(range.lowerBound, lineStart, message)
    }

    /// Why `text` (shown as in messages) is not a `what` (user, item) id: the rule of
    /// `parseInteger`, worded for every reader of ids.
    static func notAnIdMessage(_ text: String, _ what: String) -> String {
        if text.isEmpty {
            return "the \(what) id field is empty; ids are whole numbers"
        }
        if text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "+") }) {
            return "\(what) id '\(text)' does not fit in 64 bits; ids must lie within ±9223372036854775807"
        }
        let article = what == "item" ? "an" : "a"
        return "'\(text)' is not \(article) \(what) id; ids are whole numbers"
    }

    private func fieldCount(_ found: Int, _ end: Int, _ lineStart: Int, _ shape: String) -> MixFillError {
        failure(end, lineStart, "line has \(found) field\(found == 1 ? "" : "s"); \(shape)")
    }

    static func text(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        DenseMatrixReader.printable(UnsafeBufferPointer(rebasing: bytes[range]))
    }
}

/// A walk over one line's fields (`FieldCursor`, `DoubleColonCursor`).
protocol LineFieldCursor {
    mutating func next(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>?
}

/// Walks the fields of one line. With a separator (`,` or `;`), fields are the text between
/// separators with surrounding blanks trimmed (so `1, 2, 3` reads), and a field in double
/// quotes is its content, separators inside included (`"1","2","3.5"` as spreadsheets and
/// R export numbers, `"2005-01-01, 12:00"` as one date); without a separator, fields are
/// runs of non-blank bytes, quotes and all.
struct FieldCursor: LineFieldCursor {
    var position: Int
    let end: Int
    let separator: UInt8?
    private var finished = false

    init(start: Int, end: Int, separator: UInt8?) {
        position = start
        self.end = end
        self.separator = separator
    }

    var atEnd: Bool { finished || position >= end }

    @inline(__always)
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    @inline(__always)
    mutating func next(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        if let separator {
            guard !finished else { return nil }
            var start = position
            while start < end, Self.isBlank(bytes[start]) { start += 1 }
            if start < end, bytes[start] == UInt8(ascii: "\"") {
                // A quoted field: up to its closing quote (`""` inside is a quote), separators
                // inside it included, and only blanks between that quote and the next
                // separator. Anything else falls to the plain rule and is refused as no
                // id or rating, quotes and all.
                var close = start + 1
                while close < end {
                    if bytes[close] == UInt8(ascii: "\"") {
                        guard close + 1 < end, bytes[close + 1] == UInt8(ascii: "\"") else { break }
                        close += 1
                    }
                    close += 1
                }
                var after = close + 1
                while after < end, Self.isBlank(bytes[after]) { after += 1 }
                if close < end, after >= end || bytes[after] == separator {
                    if after >= end { finished = true } else { position = after + 1 }
                    return start + 1..<close
                }
            }
            var stop = start
            while stop < end, bytes[stop] != separator { stop += 1 }
            if stop >= end { finished = true } else { position = stop + 1 }
            var last = stop
            while last > start, Self.isBlank(bytes[last - 1]) { last -= 1 }
            return start..<last
        }
        var start = position
        while start < end, Self.isBlank(bytes[start]) { start += 1 }
        guard start < end else { position = end; return nil }
        var stop = start
        while stop < end, !Self.isBlank(bytes[stop]) { stop += 1 }
        position = stop
        return start..<stop
    }
}

/// Walks the fields of a `::`-separated line (MovieLens `.dat`): the text between
/// separators, blanks around it trimmed. A single `:` is part of a field (and then no id
/// or rating, so the line is refused at that field).
struct DoubleColonCursor: LineFieldCursor {
    var position: Int
    let end: Int
    private var finished = false

    init(start: Int, end: Int) {
        position = start
        self.end = end
    }

    var atEnd: Bool { finished || position >= end }

    @inline(__always)
    mutating func next(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        guard !finished else { return nil }
        let colon = UInt8(ascii: ":")
        var start = position
        while start < end, FieldCursor.isBlank(bytes[start]) { start += 1 }
        var stop = start
        while stop < end, !(bytes[stop] == colon && stop + 1 < end && bytes[stop + 1] == colon) { stop += 1 }
        if stop >= end { finished = true } else { position = stop + 2 }
        var last = stop
        while last > start, FieldCursor.isBlank(bytes[last - 1]) { last -= 1 }
        return start..<last
    }
}
