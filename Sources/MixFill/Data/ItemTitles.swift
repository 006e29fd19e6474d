/// Item titles by id, to show beside item ids (`recommend --items`), from a MovieLens
/// movies file:
///
/// - `movies.csv` (MovieLens latest, 20M, 25M): `movieId,title,genres` after a header
///   line; a title holding a comma or a quote is quoted, with `""` for a quote inside
///   (RFC 4180, so a quoted title may even span lines); or the same with `;` between the
///   fields, as the first line with content says (`RecordLineParser.csvSeparator`, for
///   lines of two fields or more): Book-Crossing's `BX-Books.csv`,
///   `"ISBN";"Book-Title";"Book-Author";…`;
/// - `movies.dat` (MovieLens 1M, 10M): `movieId::title::genres`, no header.
///
/// The layout is the first line's: `::` before any comma means `.dat`. Fields after the
/// title (the genres) are ignored. A title is UTF-8, or else Latin-1 (1M's `movies.dat`
/// is ISO-8859-1), so every byte reads as some character. Blank lines, `#` comment lines,
/// CRLF and a UTF-8 byte-order mark are accepted, as in the rating readers. A line without
/// a title, an id that is neither a whole number of at most 64 bits nor text (a name
/// such as `034545104X`, as `RecordLineParser.looksLikeName` tells them), an unclosed
/// quote, text after a closing quote and an id listed twice are errors naming
/// `file:line:column`. Titles are kept by id as `IdMap.name` writes it: a whole number in
/// decimal, a name as written.
package struct ItemTitles: Sendable, Equatable {
    package private(set) var titles: [String: String]

    package init(titles: [String: String] = [:]) {
        self.titles = titles
    }

    package subscript(id: String) -> String? { titles[id] }

    package subscript(id: Int64) -> String? { titles[String(id)] }

    package var count: Int { titles.count }

    /// The titles of the file at `path` (`-`: standard input, named `<stdin>` in errors).
    package static func read(path: String) throws(MixFillError) -> ItemTitles {
        try parse(FileBytes.read(path), name: StandardInput.displayName(path))
    }

    /// Parses `bytes` as if read from a file called `name` (used in error messages).
    package static func parse(_ bytes: [UInt8], name: String) throws(MixFillError) -> ItemTitles {
        if let error = RatingFormat.compressedInputError(prefix: bytes, path: name, inside: "movies.csv") { throw error }
        var parser = Parser(bytes: bytes, name: name)
        return try parser.run()
    }

    private struct Field {
        var bytes: ArraySlice<UInt8>
        var line: Int
        var column: Int
    }

    private struct Parser {
        let bytes: [UInt8]
        let name: String
        var position = 0
        /// The line `position` is on (1-based) and the offset where that line starts.
        var line = 1
        var lineStart = 0
        var titles = [String: String]()
        var lineOfId = [String: Int]()
        var sawRecord = false
        /// Whether the header left its first column unnamed (`,movieId,title,genres`, a row
        /// index as pandas and R write one): every line's first field is then skipped.
        var indexColumn = false
        /// The CSV layout's separator, `,` or `;`, as the first line with content says.
        var separator = UInt8(ascii: ",")

        init(bytes: [UInt8], name: String) {
            self.bytes = bytes
            self.name = name
            if FileBytes.startsWithByteOrderMark(bytes) {
                position = 3
                lineStart = 3
            }
        }

        mutating func run() throws(MixFillError) -> ItemTitles {
            let isDat = Self.firstLineIsDat(bytes[position...])
            while position < bytes.count {
                if skipBlankOrComment() { continue }
                if !sawRecord, !isDat {
                    var end = position
                    while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                    separator = bytes.withUnsafeBufferPointer { [position] in RecordLineParser.csvSeparator($0, position, end, fields: 2) }
                }
                let fields = isDat ? datRecord() : try csvRecord()
                try add(fields, isDat: isDat)
            }
            return ItemTitles(titles: titles)
        }

        /// Whether the first line with content (not blank, not a `#` comment) has `::`
        /// before any comma.
        static func firstLineIsDat(_ bytes: ArraySlice<UInt8>) -> Bool {
            var rest = bytes
            while !rest.isEmpty {
                let end = rest.firstIndex(of: UInt8(ascii: "\n")) ?? rest.endIndex
                let content = rest[..<end].drop(while: FieldCursor.isBlank)
                rest = rest[(end < rest.endIndex ? end + 1 : end)...]
                guard let first = content.first, first != UInt8(ascii: "#") else { continue }
                let beforeComma = content.prefix { $0 != UInt8(ascii: ",") }
                return zip(beforeComma, beforeComma.dropFirst()).contains { $0 == UInt8(ascii: ":") && $1 == UInt8(ascii: ":") }
            }
            return false
        }

        /// Steps over a line that is blank or a `#` comment; false at a line with content.
        mutating func skipBlankOrComment() -> Bool {
            var end = position
            while end < bytes.count, FieldCursor.isBlank(bytes[end]) { end += 1 }
            let isComment = end < bytes.count && bytes[end] == UInt8(ascii: "#")
            guard end == bytes.count || bytes[end] == UInt8(ascii: "\n") || isComment else { return false }
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            nextLine(after: end)
            return true
        }

        mutating func nextLine(after newline: Int) {
            position = min(newline + 1, bytes.count)
            line += 1
            lineStart = position
        }

        var column: Int { position - lineStart + 1 }

        /// One `::`-separated line; fields trimmed of blanks.
        mutating func datRecord() -> [Field] {
            var end = position
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            var fields = [Field]()
            bytes.withUnsafeBufferPointer { buffer in
                var cursor = DoubleColonCursor(start: position, end: end)
                while let range = cursor.next(buffer) {
                    fields.append(Field(bytes: bytes[range], line: line, column: range.lowerBound - lineStart + 1))
                }
            }
            nextLine(after: end)
            return fields
        }

        /// One CSV record (RFC 4180): fields separated by `separator`, a quoted field may
        /// hold separators, newlines and `""`; blanks around an unquoted field, or around the quotes,
        /// are dropped.
        mutating func csvRecord() throws(MixFillError) -> [Field] {
            var fields = [Field]()
            while true {
                while position < bytes.count, bytes[position] == UInt8(ascii: " ") || bytes[position] == UInt8(ascii: "\t") {
                    position += 1
                }
                let fieldLine = line
                let fieldColumn = column
                var text = [UInt8]()
                if position < bytes.count, bytes[position] == UInt8(ascii: "\"") {
                    position += 1
                    while true {
                        guard position < bytes.count else {
                            throw MixFillError.badInput(file: name, line: fieldLine, column: fieldColumn,
                                                        message: "the quoted field that starts here is never closed; end it with '\"' (a '\"' inside a title is written '\"\"')")
                        }
                        let byte = bytes[position]
                        position += 1
                        if byte == UInt8(ascii: "\"") {
                            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { break }
                            position += 1
                        } else if byte == UInt8(ascii: "\n") {
                            line += 1
                            lineStart = position
                        }
                        text.append(byte)
                    }
                    while position < bytes.count, FieldCursor.isBlank(bytes[position]) { position += 1 }
                    if position < bytes.count, bytes[position] != separator, bytes[position] != UInt8(ascii: "\n") {
                        var end = position
                        while end < bytes.count, bytes[end] != separator, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                        let extra = Array(bytes[position..<end]).withUnsafeBufferPointer { DenseMatrixReader.printable($0) }
                        let before = separator == UInt8(ascii: ",") ? "a comma" : "a ';'"
                        throw MixFillError.badInput(file: name, line: line, column: column,
                                                    message: "'\(extra)' follows a closing quote; a quoted field ends at its closing quote, before \(before) (write a '\"' inside a title as '\"\"')")
                    }
                    fields.append(Field(bytes: text[...], line: fieldLine, column: fieldColumn))
                } else {
                    let start = position
                    while position < bytes.count, bytes[position] != separator, bytes[position] != UInt8(ascii: "\n") {
                        position += 1
                    }
                    var end = position
                    while end > start, FieldCursor.isBlank(bytes[end - 1]) { end -= 1 }
                    fields.append(Field(bytes: bytes[start..<end], line: fieldLine, column: fieldColumn))
                }
                if position < bytes.count, bytes[position] == separator {
                    position += 1
                    continue
                }
                if position < bytes.count { nextLine(after: position) }
                return fields
            }
        }

        mutating func add(_ lineFields: [Field], isDat: Bool) throws(MixFillError) {
            let fields = indexColumn ? Array(lineFields.dropFirst()) : lineFields
            guard let first = fields.first else {
                if let index = lineFields.first {
                    throw MixFillError.badInput(file: name, line: index.line, column: index.column + index.bytes.count,
                                                message: "line has 1 field; under a header whose first column is unnamed (a row index), a line is 'index,movieId,title,genres'")
                }
                return
            }
            let isFirstRecord = !sawRecord
            sawRecord = true
            let id = Array(first.bytes).withUnsafeBufferPointer { buffer -> String? in
                let whole = 0..<buffer.count
                if let number = RecordLineParser.parseInteger(buffer, whole), !RecordLineParser.hasLeadingZero(buffer, whole) { return String(number) }
                guard RecordLineParser.isTextId(buffer, whole) else { return nil }
                return String(decoding: buffer, as: UTF8.self)
            }
            // A header: the first record, its first field holding no digit (`movieId`);
            // an empty one ahead of two names opens an index column.
            if isFirstRecord, !first.bytes.contains(where: { $0 &- 48 < 10 }) {
                indexColumn = !isDat && first.bytes.isEmpty && fields.count >= 3
                return
            }
            guard let id else {
                let text = Array(first.bytes).withUnsafeBufferPointer { DenseMatrixReader.printable($0) }
                throw MixFillError.badInput(file: name, line: first.line, column: first.column,
                                            message: RecordLineParser.notAnIdMessage(text, "item"))
            }
            guard fields.count >= 2 else {
                let shape = isDat ? "a movies.dat line is 'movieId::title::genres'" : "a movies.csv line is 'movieId,title,genres'"
                throw MixFillError.badInput(file: name, line: first.line, column: first.column + first.bytes.count,
                                            message: "line has 1 field, no title; \(shape)")
            }
            if let earlier = lineOfId[id] {
                throw MixFillError.badInput(file: name, line: first.line, column: first.column,
                                            message: "item \(id) is listed twice (first on line \(earlier)); give each item one title")
            }
            lineOfId[id] = first.line
            titles[id] = Self.decode(fields[1].bytes)
        }

        /// UTF-8 when the bytes are valid UTF-8, else Latin-1 (each byte one character).
        static func decode(_ bytes: ArraySlice<UInt8>) -> String {
            if let text = String(validating: bytes, as: UTF8.self) { return text }
            var text = ""
            text.unicodeScalars.append(contentsOf: bytes.map { Unicode.Scalar($0) })
            return text
        }
    }
}
