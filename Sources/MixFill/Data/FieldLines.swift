/// Splits a text file into lines of fields separated by spaces, tabs, commas or semicolons: the
/// shape of pair lists and rating lists. Blank lines and `#` comments are skipped, CRLF
/// is accepted, a field in double quotes is its content (`"12"`, as R and spreadsheets
/// export). Works on the bytes; fields come back as byte ranges with their 1-based
/// column, so errors can name `file:line:column`.
enum FieldLines {
    struct Field {
        var range: Range<Int>
        var column: Int
    }

    /// Calls `body` with the 1-based line number and the fields of every non-blank line;
    /// stops at the first error `body` throws. A UTF-8 byte-order mark in front (what some
    /// editors and spreadsheet exports write) is skipped, as the rating readers skip it; a
    /// compressed file or an archive is refused, as the rating readers refuse it. `name`
    /// is the file as messages name it.
    static func forEach(_ bytes: [UInt8], name: String,
                        _ body: (_ line: Int, _ fields: [Field]) throws(MixFillError) -> Void) throws(MixFillError) {
        if let error = RatingFormat.compressedInputError(prefix: bytes, path: name) { throw error }
        var position = FileBytes.startsWithByteOrderMark(bytes) ? 3 : 0
        var line = 0
        var fields = [Field]()
        while position < bytes.count {
            line += 1
            let lineStart = position
            var lineEnd = position
            while lineEnd < bytes.count, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            position = lineEnd + 1
            fields.removeAll(keepingCapacity: true)
            var cursor = lineStart
            while cursor < lineEnd {
                while cursor < lineEnd, isSeparator(bytes[cursor]) { cursor += 1 }
                if cursor >= lineEnd || bytes[cursor] == UInt8(ascii: "#") { break }
                var start = cursor
                while cursor < lineEnd, !isSeparator(bytes[cursor]), bytes[cursor] != UInt8(ascii: "#") { cursor += 1 }
                var stop = cursor
                if stop - start >= 2, bytes[start] == UInt8(ascii: "\""), bytes[stop - 1] == UInt8(ascii: "\"") {
                    start += 1
                    stop -= 1
                }
                fields.append(Field(range: start..<stop, column: start - lineStart + 1))
            }
            if !fields.isEmpty { try body(line, fields) }
        }
    }

    @inline(__always)
    static func isSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: ";")
            || byte == UInt8(ascii: "\r")
    }

    /// The field as text for a message: shortened, control bytes escaped (a message is
    /// one line, whatever the file holds).
    static func text(_ bytes: [UInt8], _ field: Field) -> String {
        bytes.withUnsafeBufferPointer { RecordLineParser.text($0, field.range) }
    }

    /// The field as an id of `map`, written as the map writes its ids (`IdMap.canonical`),
    /// or an error naming the place: for whole-number ids the record readers' rule
    /// (`RecordLineParser.parseInteger`, whole numbers of at most 64 bits) and messages;
    /// for text ids (a map of names) the field as written, printable characters.
    static func id(_ bytes: [UInt8], _ field: Field, line: Int, name: String, what: String, map: IdMap) throws(MixFillError) -> String {
        if map.names != nil {
            let isName = bytes.withUnsafeBufferPointer { RecordLineParser.isName($0, field.range) }
            guard isName else {
                throw .badInput(file: name, line: line, column: field.column,
                                message: "'\(text(bytes, field))' is not \(what == "item" ? "an" : "a") \(what) id; the model's \(what) ids are text, each a non-empty name of printable characters")
            }
            return String(decoding: bytes[field.range], as: UTF8.self)
        }
        let value = bytes.withUnsafeBufferPointer { RecordLineParser.parseInteger($0, field.range) }
        guard let value else {
            throw .badInput(file: name, line: line, column: field.column,
                            message: RecordLineParser.notAnIdMessage(text(bytes, field), what))
        }
        return String(value)
    }

    /// Whether a first line that reads as a header (`header(_:_:roles:)`) is a record
    /// after all: its first field a known id of `map`, a map of names (`alice bob` names
    /// no column).
    static func isKnownName(_ bytes: [UInt8], _ field: Field, in map: IdMap) -> Bool {
        map.names != nil && map.index(ofName: String(decoding: bytes[field.range], as: UTF8.self)) != nil
    }

    /// Where a list's columns stand: the fields holding its roles, in the order asked,
    /// and how many fields a line holds when a header says so (nil: the list's own rule).
    struct Columns: Equatable {
        var places: [Int]
        var fieldCount: Int?
    }

    /// How a file's first line reads: nil when it is no header (its first named field
    /// holds a digit, so a mistyped id such as `12a` is still an error with its place, and
    /// `,5` is a line missing its first field), else where `roles` stand, as a record
    /// file's header says (`RecordColumns`): where its names put them when they tell the
    /// roles apart (`movieId,userId`), else after an unnamed first column (a row index, as
    /// pandas' `to_csv` writes `,userId,movieId` or a tab first, and R's `write.csv`
    /// `"","userId",…`) ahead of as many names as roles, else in order from the first field.
    static func header(_ bytes: [UInt8], _ fields: [Field], roles: [RecordColumns.Role]) -> Columns? {
        let lineStart = fields[0].range.lowerBound - (fields[0].column - 1)
        let opensWithSeparator = bytes[lineStart] == UInt8(ascii: ",") || bytes[lineStart] == UInt8(ascii: ";")
            || bytes[lineStart] == UInt8(ascii: "\t")
        let named = fields.filter { !$0.range.isEmpty }
        guard let first = named.first, !bytes[first.range].contains(where: { $0 &- 48 < 10 }) else { return nil }
        // The names as the lines' fields stand: a separator first is an unnamed field
        // that `forEach`, skipping separators, does not list.
        let names = (opensWithSeparator ? [fields[0].range.lowerBound..<fields[0].range.lowerBound] : []) + fields.map(\.range)
        let found = names.map { name in bytes.withUnsafeBufferPointer { RecordColumns.role(of: UnsafeBufferPointer(rebasing: $0[name])) } }
        let places = roles.compactMap { role in found.firstIndex(of: role) }
        if places.count == roles.count, roles.allSatisfy({ role in found.count { $0 == role } == 1 }) {
            return Columns(places: places, fieldCount: names.count)
        }
        if names[0].isEmpty, named.count >= roles.count {
            return Columns(places: Array(1...roles.count), fieldCount: names.count)
        }
        return Columns(places: Array(0..<roles.count), fieldCount: nil)
    }

    /// The field as a finite number, or nil.
    static func number(_ bytes: [UInt8], _ field: Field) -> Double? {
        let outcome = bytes.withUnsafeBufferPointer { buffer in
            DecimalParser.parse(UnsafeBufferPointer(rebasing: buffer[field.range]))
        }
        guard case let .number(value) = outcome, value.isFinite else { return nil }
        return value
    }
}

/// (user, item) pairs to predict, one per line: `USER ITEM`, ids separated by spaces, tabs,
/// a comma or a semicolon (whole numbers, or names where the model's ids are text), given back as
/// the maps write them (`IdMap.canonical`); further fields (a rating, a timestamp) are ignored, so a
/// ratings file can serve as a pair list, and so can its header: a first line whose first
/// field holds no digit (`userId,movieId,…`) is skipped. `predict --pairs` and
/// `fill --pairs` both read pairs here.
package enum PairsReader {
    /// The pairs of the file at `path` (`-`: standard input, named `<stdin>` in errors).
    /// (The maps default to whole-number ids, any of them.)
    package static func read(path: String, users: IdMap = .identity(0), items: IdMap = .identity(0)) throws(MixFillError) -> [(user: String, item: String)] {
        try parse(FileBytes.read(path), name: StandardInput.displayName(path), users: users, items: items)
    }

    package static func parse(_ bytes: [UInt8], name: String, users: IdMap = .identity(0), items: IdMap = .identity(0)) throws(MixFillError) -> [(user: String, item: String)] {
        var pairs = [(user: String, item: String)]()
        pairs.reserveCapacity(bytes.count / 8)
        try forEach(bytes, name: name, users: users, items: items) { _, _, user, item throws(MixFillError) in pairs.append((user, item)) }
        return pairs
    }

    /// Calls `body` with each pair, its 1-based line and the column of its item, in file
    /// order, without holding them; stops at the first malformed line or error of `body`.
    package static func forEach(_ bytes: [UInt8], name: String, users: IdMap, items: IdMap,
                               _ body: (_ line: Int, _ itemColumn: Int, _ user: String, _ item: String) throws(MixFillError) -> Void) throws(MixFillError) {
        var first = true
        var columns = FieldLines.Columns(places: [0, 1], fieldCount: nil)
        try FieldLines.forEach(bytes, name: name) { line, fields throws(MixFillError) in
            defer { first = false }
            if first, let header = FieldLines.header(bytes, fields, roles: [.user, .item]),
               !FieldLines.isKnownName(bytes, fields[0], in: users) {
                columns = header
                return
            }
            let (user, item) = (columns.places[0], columns.places[1])
            let needed = max(user, item) + 1
            guard fields.count >= needed else {
                let shape = columns.places == [0, 1] ? "write one pair per line: USER ITEM"
                    : "by its header a line holds the user in field \(user + 1) and the item in field \(item + 1)"
                throw .badInput(file: name, line: line, column: fields[fields.count - 1].column,
                                message: "\(fields.count == 1 ? "one field" : "\(fields.count) fields") where a pair needs \(needed == 2 ? "two" : "\(needed)"); \(shape)")
            }
            try body(line, fields[item].column,
                     try FieldLines.id(bytes, fields[user], line: line, name: name, what: "user", map: users),
                     try FieldLines.id(bytes, fields[item], line: line, name: name, what: "item", map: items))
        }
    }
}

/// One user's ratings, one per line: `ITEM RATING`, separated by spaces, tabs, a comma or
/// a semicolon
/// (the file form of `--ratings ITEM:RATING,…`), with one header line allowed as in a pair
/// list (a first line whose first field holds no digit, `movieId,rating`). Ratings follow
/// `RatingRules` (finite, within ±1e100). A third field is refused rather than ignored:
/// a line cut from a ratings file, `user,item,rating`, would read as item `user` rated
/// `item`.
package enum UserRatingsReader {
    /// The ratings of the file at `path` (`-`: standard input, named `<stdin>` in errors).
    package static func read(path: String, items: IdMap = .identity(0)) throws(MixFillError) -> [(item: String, rating: Double)] {
        try parse(FileBytes.read(path), name: StandardInput.displayName(path), items: items)
    }

    package static func parse(_ bytes: [UInt8], name: String, items: IdMap = .identity(0)) throws(MixFillError) -> [(item: String, rating: Double)] {
        var ratings = [(item: String, rating: Double)]()
        var first = true
        var columns = FieldLines.Columns(places: [0, 1], fieldCount: nil)
        try FieldLines.forEach(bytes, name: name) { line, fields throws(MixFillError) in
            defer { first = false }
            if first, let header = FieldLines.header(bytes, fields, roles: [.item, .rating]),
               !FieldLines.isKnownName(bytes, fields[0], in: items) {
                columns = header
                return
            }
            // At most two fields, or as many as a header names: a third field no header
            // names is refused rather than ignored (see the type).
            let needed = max(columns.places[0], columns.places[1]) + 1
            let maximum = max(columns.fieldCount ?? 2, needed)
            guard fields.count >= needed, fields.count <= maximum else {
                let hint = fields.count > maximum ? " (from a ratings file's USER ITEM RATING lines, leave out the user and what follows the rating)" : ""
                let shape = columns.places == [0, 1] && maximum == 2 ? "write one rating per line: ITEM RATING"
                    : "by its header a line holds the item in field \(columns.places[0] + 1) and the rating in field \(columns.places[1] + 1), at most \(maximum) fields"
                let count = fields.count < needed ? needed : maximum
                throw .badInput(file: name, line: line, column: fields[min(fields.count, count) % fields.count].column,
                                message: "\(fields.count) fields where a rating needs \(count == 2 ? "two" : "\(count)"); \(shape)\(hint)")
            }
            let itemField = fields[columns.places[0]]
            let ratingField = fields[columns.places[1]]
            let item = try FieldLines.id(bytes, itemField, line: line, name: name, what: "item", map: items)
            guard let rating = FieldLines.number(bytes, ratingField) else {
                throw .badInput(file: name, line: line, column: ratingField.column,
                                message: "'\(FieldLines.text(bytes, ratingField))' is not a finite number; write one rating per line: ITEM RATING")
            }
            if let problem = RatingRules.standard.violation(rating, token: FieldLines.text(bytes, ratingField)) {
                throw .badInput(file: name, line: line, column: ratingField.column, message: problem)
            }
            ratings.append((item, rating))
        }
        return ratings
    }

    /// The command-line form, `--ratings 12:5,40:3.5`: ITEM:RATING pairs separated by
    /// commas (spaces and tabs around a pair ignored), ratings under the same rule; ids as
    /// `items` writes them (`IdMap.canonical`), or, without a map, any non-empty text (the
    /// check before the model is read). Errors name `option` and show the offending pair on one line.
    package static func parseList(_ text: String, option: String = "--ratings", items: IdMap? = nil) throws(MixFillError) -> [(item: String, rating: Double)] {
        var ratings = [(item: String, rating: Double)]()
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = IntegerRanges.trimSpaces(piece)
            let colon = pair.lastIndex(of: ":")
            let ratingText = colon.map { pair[pair.index(after: $0)...] }
            let itemText = colon.map { pair[..<$0] } ?? ""
            guard colon != nil, let ratingText, let item = items.map({ $0.canonical(itemText) }) ?? (itemText.isEmpty ? nil : String(itemText)) else {
                throw .badOption(option: option, message: "'\(DenseMatrixReader.printable(String(pair)))' is not ITEM:RATING; write the ratings like 12:5,40:3.5")
            }
            guard let rating = Double(ratingText), rating.isFinite else {
                throw .badOption(option: option, message: "'\(DenseMatrixReader.printable(String(pair)))': '\(DenseMatrixReader.printable(String(ratingText)))' is not a finite rating; write the ratings like 12:5,40:3.5")
            }
            if let problem = RatingRules.standard.violation(rating, token: DenseMatrixReader.printable(String(ratingText))) {
                throw .badOption(option: option, message: problem)
            }
            ratings.append((item, rating))
        }
        return ratings
    }
}
