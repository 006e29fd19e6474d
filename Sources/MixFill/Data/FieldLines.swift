/// Splits a text file into lines of fields separated by spaces, tabs or commas: the
/// shape of pair lists and rating lists. Blank lines and `#` comments are skipped, CRLF
/// is accepted. Works on the bytes; fields come back as byte ranges with their 1-based
/// column, so errors can name `file:line:column`.
enum FieldLines {
    struct Field {
        var range: Range<Int>
        var column: Int
    }

    /// Calls `body` with the 1-based line number and the fields of every non-blank line;
    /// stops at the first error `body` throws. A UTF-8 byte-order mark in front (what some
    /// editors and spreadsheet exports write) is skipped, as the rating readers skip it.
    static func forEach(_ bytes: [UInt8], _ body: (_ line: Int, _ fields: [Field]) throws(MixFillError) -> Void) throws(MixFillError) {
        var position = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
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
                let start = cursor
                while cursor < lineEnd, !isSeparator(bytes[cursor]), bytes[cursor] != UInt8(ascii: "#") { cursor += 1 }
                fields.append(Field(range: start..<cursor, column: start - lineStart + 1))
            }
            if !fields.isEmpty { try body(line, fields) }
        }
    }

    @inline(__always)
    static func isSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\r")
    }

    /// The field as text for a message: shortened, control bytes escaped (a message is
    /// one line, whatever the file holds).
    static func text(_ bytes: [UInt8], _ field: Field) -> String {
        bytes.withUnsafeBufferPointer { RecordLineParser.text($0, field.range) }
    }

    /// The field as an id, or an error naming the place: the record readers' rule
    /// (`RecordLineParser.parseInteger`, whole numbers of at most 64 bits) and messages.
    static func id(_ bytes: [UInt8], _ field: Field, line: Int, name: String, what: String) throws(MixFillError) -> Int64 {
        let value = bytes.withUnsafeBufferPointer { RecordLineParser.parseInteger($0, field.range) }
        guard let value else {
            throw .badInput(file: name, line: line, column: field.column,
                            message: RecordLineParser.notAnIdMessage(text(bytes, field), what))
        }
        return value
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

/// (user, item) pairs to predict, one per line: `USER ITEM`, integer ids separated by
/// spaces, tabs or a comma; further fields (a rating, a timestamp) are ignored, so a
/// ratings file can serve as a pair list, and so can its header: a first line whose first
/// field holds no digit (`userId,movieId,…`) is skipped. `predict --pairs` and
/// `fill --pairs` both read pairs here.
package enum PairsReader {
    /// The pairs of the file at `path` (`-`: standard input, named `<stdin>` in errors).
    package static func read(path: String) throws(MixFillError) -> [(user: Int64, item: Int64)] {
        try parse(FileBytes.read(path), name: StandardInput.displayName(path))
    }

    package static func parse(_ bytes: [UInt8], name: String) throws(MixFillError) -> [(user: Int64, item: Int64)] {
        var pairs = [(user: Int64, item: Int64)]()
        pairs.reserveCapacity(bytes.count / 8)
        try forEach(bytes, name: name) { _, _, user, item throws(MixFillError) in pairs.append((user, item)) }
        return pairs
    }

    /// Calls `body` with each pair, its 1-based line and the column of its item, in file
    /// order, without holding them; stops at the first malformed line or error of `body`.
    package static func forEach(_ bytes: [UInt8], name: String,
                               _ body: (_ line: Int, _ itemColumn: Int, _ user: Int64, _ item: Int64) throws(MixFillError) -> Void) throws(MixFillError) {
        var first = true
        try FieldLines.forEach(bytes) { line, fields throws(MixFillError) in
            defer { first = false }
            if first && isHeader(bytes, fields[0]) { return }
            guard fields.count >= 2 else {
                throw .badInput(file: name, line: line, column: fields[0].column,
                                message: "one field where a pair needs two; write one pair per line: USER ITEM")
            }
            try body(line, fields[1].column,
                     try FieldLines.id(bytes, fields[0], line: line, name: name, what: "user"),
                     try FieldLines.id(bytes, fields[1], line: line, name: name, what: "item"))
        }
    }

    /// A header's first field: a name, no digit in it (so a mistyped id such as `12a` is
    /// still an error with its place), and not empty (`,5` is a pair missing its user).
    static func isHeader(_ bytes: [UInt8], _ field: FieldLines.Field) -> Bool {
        !field.range.isEmpty && !bytes[field.range].contains { $0 &- 48 < 10 }
    }
}

/// One user's ratings, one per line: `ITEM RATING`, separated by spaces, tabs or a comma
/// (the file form of `--ratings ITEM:RATING,…`), with one header line allowed as in a pair
/// list (a first line whose first field holds no digit, `movieId,rating`). Ratings follow
/// `RatingRules` (finite, within ±1e100). A third field is refused rather than ignored:
/// a line cut from a ratings file, `user,item,rating`, would read as item `user` rated
/// `item`.
package enum UserRatingsReader {
    /// The ratings of the file at `path` (`-`: standard input, named `<stdin>` in errors).
    package static func read(path: String) throws(MixFillError) -> [(item: Int64, rating: Double)] {
        try parse(FileBytes.read(path), name: StandardInput.displayName(path))
    }

    package static func parse(_ bytes: [UInt8], name: String) throws(MixFillError) -> [(item: Int64, rating: Double)] {
        var ratings = [(item: Int64, rating: Double)]()
        var first = true
        try FieldLines.forEach(bytes) { line, fields throws(MixFillError) in
            defer { first = false }
            if first && PairsReader.isHeader(bytes, fields[0]) { return }
            guard fields.count == 2 else {
                let hint = fields.count > 2 ? " (from a ratings file's USER ITEM RATING lines, leave out the user and what follows the rating)" : ""
                throw .badInput(file: name, line: line, column: fields[min(fields.count, 2) % fields.count].column,
                                message: "\(fields.count) fields where a rating needs two; write one rating per line: ITEM RATING\(hint)")
            }
            let item = try FieldLines.id(bytes, fields[0], line: line, name: name, what: "item")
            guard let rating = FieldLines.number(bytes, fields[1]) else {
                throw .badInput(file: name, line: line, column: fields[1].column,
                                message: "'\(FieldLines.text(bytes, fields[1]))' is not a finite number; write one rating per line: ITEM RATING")
            }
            if let problem = RatingRules.standard.violation(rating, token: FieldLines.text(bytes, fields[1])) {
                throw .badInput(file: name, line: line, column: fields[1].column, message: problem)
            }
            ratings.append((item, rating))
        }
        return ratings
    }

    /// The command-line form, `--ratings 12:5,40:3.5`: ITEM:RATING pairs separated by
    /// commas (spaces and tabs around a pair ignored), ratings under the same rule.
    /// Errors name `option` and show the offending pair on one line.
    package static func parseList(_ text: String, option: String = "--ratings") throws(MixFillError) -> [(item: Int64, rating: Double)] {
        var ratings = [(item: Int64, rating: Double)]()
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = IntegerRanges.trimSpaces(piece)
            let colon = pair.lastIndex(of: ":")
            let ratingText = colon.map { pair[pair.index(after: $0)...] }
            guard let colon, let ratingText, let item = Int64(pair[..<colon]) else {
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
