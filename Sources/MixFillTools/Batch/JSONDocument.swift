import MixFill
/// JSON (RFC 8259) parsed with the line and column of every value and field name, so a
/// job file's errors can point at the exact place: "jobs.json:7:5: unknown field …".
///
/// Strict where it matters for hand-written files: a field name twice in one object is an
/// error (most parsers keep the last silently), as are a trailing comma, comments, control
/// characters in strings, invalid UTF-8 and nesting deeper than 64 levels. A leading UTF-8
/// byte-order mark is skipped. Numbers keep their literal text; callers decide their type.
package struct JSONValue: Sendable, Equatable {
    package indirect enum Kind: Sendable, Equatable {
        case object([Member])
        case array([JSONValue])
        case string(String)
        case number(String)
        case bool(Bool)
        case null
    }

    package struct Member: Sendable, Equatable {
        package var key: String
        package var line: Int
        package var column: Int
        package var value: JSONValue
    }

    package var kind: Kind
    /// 1-based line and byte column where the value starts.
    package var line: Int
    package var column: Int

    /// What the value is, for messages ("an object", "the string \"x\"", …).
    package var description: String {
        switch kind {
        case .object: return "an object"
        case .array: return "a list"
        case let .string(text): return "the string \"\(DenseMatrixReader.printable(text))\""
        case let .number(text): return "the number \(text)"
        case let .bool(value): return value ? "true" : "false"
        case .null: return "null"
        }
    }
}

package enum JSONDocument {
    static let deepestNesting = 64

    package static func parse(_ bytes: [UInt8], name: String) throws(MixFillError) -> JSONValue {
        var parser = Parser(bytes: bytes, name: name)
        return try parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        let name: String
        var position = 0
        var line = 1
        var lineStart = 0
        var depth = 0

        init(bytes: [UInt8], name: String) {
            self.bytes = bytes
            self.name = name
            if FileBytes.startsWithByteOrderMark(bytes) {
                position = 3
                lineStart = 3
            }
        }

        var column: Int { position - lineStart + 1 }

        func error(_ message: String, line: Int? = nil, column: Int? = nil) -> MixFillError {
            .badInput(file: name, line: line ?? self.line, column: column ?? self.column, message: message)
        }

        /// The byte at the cursor, for messages.
        func found() -> String {
            guard position < bytes.count else { return "the end of the file" }
            let byte = bytes[position]
            if byte >= 0x21, byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
            if byte == UInt8(ascii: " ") { return "a space" }
            return "the byte " + DenseMatrixReader.escaped(byte)
        }

        mutating func skipSpace() {
            while position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                    position += 1
                case UInt8(ascii: "\n"):
                    position += 1
                    line += 1
                    lineStart = position
                default:
                    return
                }
            }
        }

        mutating func document() throws(MixFillError) -> JSONValue {
            skipSpace()
            guard position < bytes.count else {
                throw .badFile(file: name, message: "the file is empty; it must hold one JSON object")
            }
            let value = try self.value()
            skipSpace()
            guard position == bytes.count else {
                throw error("unexpected \(found()) after the end of the JSON value; a file holds exactly one value")
            }
            return value
        }

        mutating func value() throws(MixFillError) -> JSONValue {
            skipSpace()
            let startLine = line
            let startColumn = column
            guard position < bytes.count else {
                throw error("the file ends where a value should be; it is incomplete (truncated?)")
            }
            let kind: JSONValue.Kind
            switch bytes[position] {
            case UInt8(ascii: "{"): kind = try object()
            case UInt8(ascii: "["): kind = try array()
            case UInt8(ascii: "\""): kind = .string(try string())
            case UInt8(ascii: "t"): try literal("true"); kind = .bool(true)
            case UInt8(ascii: "f"): try literal("false"); kind = .bool(false)
            case UInt8(ascii: "n"): try literal("null"); kind = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): kind = .number(try number())
            default:
                throw error("expected a value (an object, list, string, number, true, false or null), found \(found())")
            }
            return JSONValue(kind: kind, line: startLine, column: startColumn)
        }

        mutating func enter() throws(MixFillError) {
            depth += 1
            guard depth <= JSONDocument.deepestNesting else {
                throw error("values are nested more than \(JSONDocument.deepestNesting) levels deep")
            }
        }

        mutating func object() throws(MixFillError) -> JSONValue.Kind {
            try enter()
            position += 1
            var members = [JSONValue.Member]()
            var seen = Set<String>()
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                depth -= 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard position < bytes.count else { throw error("the file ends inside an object; it is incomplete (truncated?)") }
                guard bytes[position] == UInt8(ascii: "\"") else {
                    throw error("expected a field name in double quotes, found \(found())")
                }
                let keyLine = line
                let keyColumn = column
                let key = try string()
                guard seen.insert(key).inserted else {
                    throw error("the field \"\(DenseMatrixReader.printable(key))\" appears twice in this object; keep one", line: keyLine, column: keyColumn)
                }
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                    throw error("expected ':' after the field name \"\(DenseMatrixReader.printable(key))\", found \(found())")
                }
                position += 1
                let value = try self.value()
                members.append(JSONValue.Member(key: key, line: keyLine, column: keyColumn, value: value))
                skipSpace()
                guard position < bytes.count else { throw error("the file ends inside an object; it is incomplete (truncated?)") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    skipSpace()
                    if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                        throw error("a comma before '}' is not allowed in JSON; remove it")
                    }
                    continue
                }
                guard bytes[position] == UInt8(ascii: "}") else {
                    throw error("expected ',' or '}' after a field, found \(found())")
                }
                position += 1
                depth -= 1
                return .object(members)
            }
        }

        mutating func array() throws(MixFillError) -> JSONValue.Kind {
            try enter()
            position += 1
            var elements = [JSONValue]()
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                depth -= 1
                return .array(elements)
            }
            while true {
                elements.append(try value())
                skipSpace()
                guard position < bytes.count else { throw error("the file ends inside a list; it is incomplete (truncated?)") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    skipSpace()
                    if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                        throw error("a comma before ']' is not allowed in JSON; remove it")
                    }
                    continue
                }
                guard bytes[position] == UInt8(ascii: "]") else {
                    throw error("expected ',' or ']' after a list element, found \(found())")
                }
                position += 1
                depth -= 1
                return .array(elements)
            }
        }

        mutating func literal(_ word: String) throws(MixFillError) {
            let expected = Array(word.utf8)
            guard position + expected.count <= bytes.count, Array(bytes[position..<(position + expected.count)]) == expected else {
                throw error("expected a value (an object, list, string, number, true, false or null), found \(found())")
            }
            position += expected.count
        }

        mutating func number() throws(MixFillError) -> String {
            let start = position
            let startColumn = column
            func digits() -> Int {
                let first = position
                while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") { position += 1 }
                return position - first
            }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            let integerStart = position
            let integerDigits = digits()
            var valid = integerDigits > 0 && !(integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0"))
            if valid, position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                valid = digits() > 0
            }
            if valid, position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                valid = digits() > 0
            }
            guard valid else {
                throw error("malformed number; write numbers like 12, -3 or 0.5e-3", column: startColumn)
            }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func string() throws(MixFillError) -> String {
            let startColumn = column
            position += 1
            var content = [UInt8]()
            while true {
                guard position < bytes.count else {
                    throw error("the file ends inside this string; close it with '\"'", column: startColumn)
                }
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    guard let text = String(validating: content, as: UTF8.self) else {
                        throw error("the string is not valid UTF-8; save the file as UTF-8", column: startColumn)
                    }
                    return text
                case UInt8(ascii: "\\"):
                    let escapeColumn = column
                    position += 1
                    guard position < bytes.count else { continue }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""): content.append(UInt8(ascii: "\""))
                    case UInt8(ascii: "\\"): content.append(UInt8(ascii: "\\"))
                    case UInt8(ascii: "/"): content.append(UInt8(ascii: "/"))
                    case UInt8(ascii: "b"): content.append(0x08)
                    case UInt8(ascii: "f"): content.append(0x0C)
                    case UInt8(ascii: "n"): content.append(0x0A)
                    case UInt8(ascii: "r"): content.append(0x0D)
                    case UInt8(ascii: "t"): content.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hexQuad()
                        if scalar >= 0xD800, scalar < 0xDC00 {
                            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                                throw error("a \\u escape holds half a surrogate pair; give both halves or the character itself", column: escapeColumn)
                            }
                            position += 2
                            let low = try hexQuad()
                            guard low >= 0xDC00, low < 0xE000 else {
                                throw error("a \\u escape holds half a surrogate pair; give both halves or the character itself", column: escapeColumn)
                            }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if scalar >= 0xDC00, scalar < 0xE000 {
                            throw error("a \\u escape holds half a surrogate pair; give both halves or the character itself", column: escapeColumn)
                        }
                        guard let character = Unicode.Scalar(scalar) else {
                            throw error("a \\u escape names no character", column: escapeColumn)
                        }
                        content.append(contentsOf: Array(String(Character(character)).utf8))
                    default:
                        position -= 1
                        throw error("unknown escape '\\\(found().trimmingQuotes)' in a string; write a backslash as \\\\")
                    }
                case 0..<0x20:
                    throw error("a control character (\(DenseMatrixReader.escaped(byte))) inside a string; strings end on the same line, write a newline as \\n")
                default:
                    content.append(byte)
                    position += 1
                }
            }
        }

        mutating func hexQuad() throws(MixFillError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw error("a \\u escape needs four hex digits") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("a \\u escape needs four hex digits, found \(found())")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }
    }
}

private extension String {
    /// `'x'` → `x`, for quoting a found byte inside a longer phrase.
    var trimmingQuotes: String {
        hasPrefix("'") && hasSuffix("'") && count >= 3 ? String(dropFirst().dropLast()) : self
    }
}
