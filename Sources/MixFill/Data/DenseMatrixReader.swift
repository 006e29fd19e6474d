/// Reads the course's dense text format: one user per line, one item per column,
/// whitespace-separated decimal numbers, `0` for a missing rating.
///
/// The parser walks the bytes once (no `String` splitting). Blank lines and `#` comments are skipped, CRLF line ends
/// and a leading UTF-8 byte-order mark (as spreadsheet programs write) are accepted. Every
/// rejection names `file:line:column` and says what to change. Ratings (every non-zero
/// value) follow `RatingRules`, as in every other format.
package enum DenseMatrixReader {
    /// Reads and validates the file at `path` (`-`: standard input, named `<stdin>` in
    /// errors); `rules` may declare a rating scale. `formatDetected`: the format was
    /// detected rather than given (see `parse`).
    package static func read(path: String, rules: RatingRules = .standard, formatDetected: Bool = false) throws(MixFillError) -> DenseRatingMatrix {
        let bytes = try FileBytes.read(path)
        return try parse(bytes, name: StandardInput.displayName(path), rules: rules, formatDetected: formatDetected)
    }

    /// What a parse error adds when the format was detected and the rows have 3 or 4
    /// values: rule 5 of `RatingFormat.detect(prefix:isWholeFile:)` tells such a matrix
    /// from `user item rating [timestamp]` triplets by its sampled lines alone, so triplets
    /// with a token that is not a number, a negative rating or a missing field read as a
    /// dense matrix and fail here. Kept on the message's one line.
    static let detectedAsDenseHint = " (read as dense, detected; give --format triplets if the file holds records)"

    /// Parses `bytes` as if read from a file called `name` (used in error messages). With
    /// `formatDetected`, a token that is not a number, a negative rating or a short row in
    /// rows of 3 or 4 values adds `detectedAsDenseHint` to its message.
    package static func parse(_ bytes: [UInt8], name: String, rules: RatingRules = .standard,
                              formatDetected: Bool = false) throws(MixFillError) -> DenseRatingMatrix {
        let rows = try parseRows(bytes, name: name, rules: rules, formatDetected: formatDetected, from: RowsStart())
        guard rows.userCount > 0 else { throw noRows(name: name, formatDetected: formatDetected) }
        return DenseRatingMatrix(userCount: rows.userCount, itemCount: rows.itemCount, values: rows.values)
    }

    /// The error for a file without a row. An empty file read as dense because nothing in
    /// it says otherwise (`formatDetected`) may have been meant as records: the remedy
    /// names both.
    static func noRows(name: String, formatDetected: Bool) -> MixFillError {
        let remedy = formatDetected ? "give a matrix with one user per line, or one rating per line ('user item rating')"
            : "give a matrix with one user per line"
        return .badFile(file: name, message: "no ratings found (the file is empty or holds only blank lines and comments); \(remedy)")
    }

    /// Where `parseRows` starts in a file: a part of it that begins at a line's first byte
    /// (an MPI rank's block of rows, `ShardedDenseReader`) continues what the lines before
    /// it set, so its messages are the whole file's.
    struct RowsStart {
        /// Lines before the part.
        var linesBefore = 0
        /// The first row's width and line number, when the first row lies before the part.
        var firstRow: (width: Int, line: Int)?
        /// Whether the part starts the file (where a byte-order mark is skipped).
        var atFileStart = true
    }

    /// The rows of `bytes` (whole lines), read as the lines after `start`: their values
    /// row by row, their number and width (−1 with no row).
    static func parseRows(_ bytes: [UInt8], name: String, rules: RatingRules, formatDetected: Bool,
                          from start: RowsStart) throws(MixFillError) -> (values: [Double], userCount: Int, itemCount: Int) {
        // With --format dense detection does not look: a compressed file is refused here.
        if start.atFileStart, let error = RatingFormat.compressedInputError(prefix: bytes, path: name) { throw error }
        var values = [Double]()
        values.reserveCapacity(bytes.count / 2)
        var itemCount = start.firstRow?.width ?? -1
        var firstRowLine = start.firstRow?.line ?? 0
        var userCount = 0
        var failure: MixFillError?

        bytes.withUnsafeBufferPointer { buffer in
            let count = buffer.count
            // A UTF-8 byte-order mark is not part of the first value.
            var position = start.atFileStart && FileBytes.startsWithByteOrderMark(buffer) ? 3 : 0
            var line = start.linesBefore
            while position < count {
                line += 1
                let lineStart = position
                var lineEnd = position
                while lineEnd < count, buffer[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                position = lineEnd + 1

                @inline(__always)
                func nextToken(from start: Int) -> Range<Int>? {
                    DenseMatrixReader.nextToken(buffer, from: start, lineEnd: lineEnd)
                }
                /// The hint for an error on this line: the rows' width is the first row's,
                /// or this line's number of values while it is the first.
                func hint() -> String {
                    guard formatDetected else { return "" }
                    let width = itemCount >= 0 ? itemCount : valueCount(buffer, from: lineStart, lineEnd: lineEnd)
                    return width == 3 || width == 4 ? detectedAsDenseHint : ""
                }
                var cursor = lineStart
                var valuesOnLine = 0
                while let next = nextToken(from: cursor) {
                    let tokenStart = next.lowerBound
                    cursor = next.upperBound
                    let column = tokenStart - lineStart + 1
                    if itemCount >= 0, valuesOnLine == itemCount {
                        failure = .badInput(file: name, line: line, column: column,
                            message: "row has more than \(itemCount) values (line \(firstRowLine) has \(itemCount)); every row must have one value per item")
                        return
                    }
                    let token = UnsafeBufferPointer(rebasing: buffer[tokenStart..<cursor])
                    switch DecimalParser.parse(token) {
                    case .notANumber:
                        let separator = token.contains(UInt8(ascii: ",")) || token.contains(UInt8(ascii: ";"))
                        failure = .badInput(file: name, line: line, column: column,
                            message: separator
                                ? "'\(printable(token))' is not a number; separate the values of a row with spaces or tabs, not commas or semicolons"
                                : "'\(printable(token))' is not a number; ratings are decimal numbers, 0 for missing" + hint())
                        return
                    case let .number(value):
                        guard value.isFinite else {
                            failure = .badInput(file: name, line: line, column: column,
                                message: "'\(printable(token))' is not a finite number; ratings must be finite, 0 for missing")
                            return
                        }
                        guard value >= 0 else {
                            failure = .badInput(file: name, line: line, column: column,
                                message: "negative rating '\(printable(token))'; ratings must be ≥ 0 (0 marks a missing entry)" + hint())
                            return
                        }
                        // 0 is a missing entry, not a rating.
                        if value != 0, let problem = rules.violation(value, token: printable(token)) {
                            failure = .badInput(file: name, line: line, column: column, message: problem)
                            return
                        }
                        values.append(value == 0 ? 0 : value)
                    }
                    valuesOnLine += 1
                }
                if valuesOnLine == 0 { continue }
                if itemCount < 0 {
                    itemCount = valuesOnLine
                    firstRowLine = line
                } else if valuesOnLine < itemCount {
                    var end = lineEnd
                    if end > lineStart, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                    failure = .badInput(file: name, line: line, column: end - lineStart + 1,
                        message: "row has \(valuesOnLine) values but line \(firstRowLine) has \(itemCount); every row must have one value per item" + hint())
                    return
                }
                userCount += 1
            }
        }
        if let failure { throw failure }
        return (values, userCount, itemCount)
    }

    /// The next value of the line ending at `lineEnd` from `start`: its bytes, or nil at
    /// the line's end or at a `#` comment. A line is a row when it has a first value.
    @inline(__always)
    static func nextToken(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int, lineEnd: Int) -> Range<Int>? {
        var begin = start
        while begin < lineEnd, isSpace(buffer[begin]) { begin += 1 }
        if begin >= lineEnd || buffer[begin] == UInt8(ascii: "#") { return nil }
        var end = begin
        while end < lineEnd, !isSpace(buffer[end]), buffer[end] != UInt8(ascii: "#") { end += 1 }
        return begin..<end
    }

    /// The number of values on the line `start ..< lineEnd` (0: not a row).
    static func valueCount(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int, lineEnd: Int) -> Int {
        var count = 0
        var cursor = start
        while let token = nextToken(buffer, from: cursor, lineEnd: lineEnd) {
            count += 1
            cursor = token.upperBound
        }
        return count
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
            || byte == 0x0B || byte == 0x0C
    }

    /// `text` for a message, shortened and with control bytes escaped.
    package static func printable(_ text: String) -> String {
        Array(text.utf8).withUnsafeBufferPointer { printable($0) }
    }

    /// The token as text for a message, shortened and with control bytes escaped.
    package static func printable(_ token: UnsafeBufferPointer<UInt8>) -> String {
        var text = ""
        for byte in token.prefix(40) {
            if byte >= 0x20, byte < 0x7F {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += escaped(byte)
            }
        }
        return token.count > 40 ? text + "…" : text
    }

    /// A byte as messages show it: `\x0A`, always two hex digits, so `\x0A` followed by a
    /// `2` cannot read as `\xA2`.
    package static func escaped(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return "\\x" + (digits.count == 1 ? "0" + digits : digits)
    }
}
