import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The model file's large arrays of arrays of numbers (a factor model's `covariances`,
/// `loadings` and `means`; a course model's `means`), read without JSONDecoder.
///
/// A model file is one JSON object; nearly all of its bytes are these arrays (an mppca
/// model of d items keeps d packed (q+K)×(q+K) covariances). JSONDecoder builds a
/// generic value for every number and decodes each through the Codable machinery, which
/// dominates reading such a file. Here the top-level object is scanned once for the
/// given keys; each value that is an array of arrays of JSON numbers is parsed straight
/// into `[[Double]]` and replaced by `[]` in a copy of the bytes, which JSONDecoder then
/// reads as before (the rest of the file is small). Anything unexpected — a value of
/// another shape, a malformed number, a number that does not round to a finite Double,
/// a key given twice — makes `init` return nil, and the caller decodes the whole file
/// with JSONDecoder, so a damaged file gets exactly the errors it always got.
package struct LargeNumberArrays {
    /// The file with each extracted value replaced by `[]`.
    package let reducedBytes: [UInt8]
    /// The parsed values by key.
    package let arrays: [String: [[Double]]]

    package init?(_ bytes: [UInt8], keys: Set<String>) {
        var found = [String: [[Double]]]()
        var spans = [(start: Int, end: Int)]()
        let parsed: Bool = bytes.withUnsafeBufferPointer { buffer in
            var scanner = Scanner(bytes: buffer)
            return scanner.topLevel(keys: keys, found: &found, spans: &spans)
        }
        guard parsed, !found.isEmpty else { return nil }
        var reduced = [UInt8]()
        reduced.reserveCapacity(bytes.count - spans.reduce(0) { $0 + $1.end - $1.start } + 2 * spans.count)
        var position = 0
        for span in spans.sorted(by: { $0.start < $1.start }) {
            reduced.append(contentsOf: bytes[position..<span.start])
            reduced.append(contentsOf: [UInt8(ascii: "["), UInt8(ascii: "]")])
            position = span.end
        }
        reduced.append(contentsOf: bytes[position...])
        reducedBytes = reduced
        arrays = found
    }

    /// A forward scanner over the bytes: enough JSON to walk the top-level object, skip
    /// the values it does not extract and parse the ones it does.
    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        mutating func skipSpace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            skipSpace()
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// A string's raw bytes between the quotes (escapes kept as written).
        mutating func string() -> [UInt8]? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            let start = position
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\\") {
                    position += 2
                } else if byte == UInt8(ascii: "\"") {
                    position += 1
                    return Array(bytes[start..<(position - 1)])
                } else {
                    position += 1
                }
            }
            return nil
        }

        /// Skips any JSON value (strings honoured, brackets balanced; JSONDecoder checks
        /// the rest of the grammar on the reduced bytes).
        mutating func skipValue() -> Bool {
            skipSpace()
            var depth = 0
            while position < bytes.count {
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    guard string() != nil else { return false }
                    if depth == 0 { return true }
                    continue
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if depth == 0 { return true }
                    depth -= 1
                    if depth == 0 {
                        position += 1
                        return true
                    }
                case UInt8(ascii: ","):
                    if depth == 0 { return true }
                default:
                    break
                }
                position += 1
            }
            return depth == 0
        }

        /// One JSON number, checked against JSON's grammar. Clinger's fast path when the
        /// digits form an integer m ≤ 2^53 and the power of ten e has |e| ≤ 22: m and 10^|e|
        /// are then exact Doubles, so the one product or quotient is correctly rounded;
        /// strtod (also correctly rounded) otherwise. Either way the Double the text denotes.
        mutating func number() -> Double? {
            skipSpace()
            let start = position
            let negative = position < bytes.count && bytes[position] == UInt8(ascii: "-")
            if negative { position += 1 }
            var mantissa: UInt64 = 0
            var significant = 0
            var exponent = 0
            var exact = true
            let integerStart = position
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
                if significant < 19 {
                    mantissa = mantissa * 10 + UInt64(bytes[position] - 0x30)
                    if mantissa > 0 { significant += 1 }
                } else {
                    exponent += 1
                    exact = false
                }
                position += 1
            }
            let integerDigits = position - integerStart
            guard integerDigits > 0, integerDigits == 1 || bytes[integerStart] != 0x30 else { return nil }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                let fractionStart = position
                while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
                    if significant < 19 {
                        mantissa = mantissa * 10 + UInt64(bytes[position] - 0x30)
                        if mantissa > 0 { significant += 1 }
                        exponent -= 1
                    } else {
                        exact = false
                    }
                    position += 1
                }
                guard position > fractionStart else { return nil }
            }
            if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                position += 1
                var exponentNegative = false
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                    exponentNegative = bytes[position] == UInt8(ascii: "-")
                    position += 1
                }
                let exponentStart = position
                var written = 0
                while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
                    // An exponent of 10⁶ or more is not accumulated (no overflow): then e is
                    // not known here (a fraction as long brings it back within ±22), so no
                    // fast path.
                    if written < 100_000 { written = written * 10 + Int(bytes[position] - 0x30) } else { exact = false }
                    position += 1
                }
                guard position > exponentStart else { return nil }
                exponent += exponentNegative ? -written : written
            }
            if exact, mantissa <= 1 << 53, exponent >= -22, exponent <= 22 {
                let magnitude = exponent >= 0 ? Double(mantissa) * Self.powersOfTen[exponent]
                                              : Double(mantissa) / Self.powersOfTen[-exponent]
                return negative ? -magnitude : magnitude
            }
            // strtod needs a terminated string: the token is copied (at most a few dozen bytes).
            let length = position - start
            guard length < 64 else { return nil }
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { text -> Double? in
                for offset in 0..<length { text[offset] = CChar(bitPattern: bytes[start + offset]) }
                text[length] = 0
                guard let base = text.baseAddress else { return nil }
                var end: UnsafeMutablePointer<CChar>?
                let value = strtod(base, &end)
                guard end == base + length, value.isFinite else { return nil }
                return value
            }
        }

        /// 10^0 … 10^22, every one exact in a Double.
        static let powersOfTen: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
                                            1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]

        /// One row `[n, …]`.
        mutating func numberRow() -> [Double]? {
            guard consume(UInt8(ascii: "[")) else { return nil }
            var row = [Double]()
            if consume(UInt8(ascii: "]")) { return row }
            repeat {
                guard let value = number() else { return nil }
                row.append(value)
            } while consume(UInt8(ascii: ","))
            guard consume(UInt8(ascii: "]")) else { return nil }
            return row
        }

        /// `[[n, …], …]`: the rows are found first (a row of numbers holds no bracket), then
        /// parsed in contiguous chunks on the machine's cores, each chunk into its own slot.
        mutating func numberArrays() -> [[Double]]? {
            guard consume(UInt8(ascii: "[")) else { return nil }
            var rows = [Range<Int>]()
            if !consume(UInt8(ascii: "]")) {
                repeat {
                    skipSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "[") else { return nil }
                    // The row ends at the next ']' (memchr); whatever lies between is checked
                    // when the row is parsed, where anything but numbers fails.
                    let start = position
                    guard let base = bytes.baseAddress,
                          let close = memchr(base + position, Int32(UInt8(ascii: "]")), bytes.count - position) else { return nil }
                    position = UnsafeRawPointer(close) - UnsafeRawPointer(base) + 1
                    rows.append(start..<position)
                } while consume(UInt8(ascii: ","))
                guard consume(UInt8(ascii: "]")) else { return nil }
            }
            let chunkCount = rows.count < 256 ? 1 : max(1, min(64, ProcessInfo.processInfo.activeProcessorCount))
            let parts = ParsedChunks(count: chunkCount)
            defer { parts.deallocate() }
            let source = SendableBytes(bytes: bytes)
            let rowList = rows
            forEachConcurrently(chunkCount, workers: chunkCount) { chunk in
                let range = (chunk * rowList.count / chunkCount)..<((chunk + 1) * rowList.count / chunkCount)
                var parsed = [[Double]]()
                parsed.reserveCapacity(range.count)
                for index in range {
                    var scanner = Scanner(bytes: source.bytes)
                    scanner.position = rowList[index].lowerBound
                    guard let row = scanner.numberRow(), scanner.position == rowList[index].upperBound else { return }
                    parsed.append(row)
                }
                parts.slots[chunk] = parsed
            }
            var result = [[Double]]()
            result.reserveCapacity(rows.count)
            for chunk in 0..<chunkCount {
                guard let part = parts.slots[chunk] else { return nil }
                result.append(contentsOf: part)
            }
            return result
        }

        /// Walks the top-level object, parsing the values of `keys`.
        mutating func topLevel(keys: Set<String>, found: inout [String: [[Double]]],
                               spans: inout [(start: Int, end: Int)]) -> Bool {
            guard consume(UInt8(ascii: "{")) else { return false }
            if consume(UInt8(ascii: "}")) { return true }
            repeat {
                guard let raw = string(), consume(UInt8(ascii: ":")) else { return false }
                let key = String(decoding: raw, as: UTF8.self)
                skipSpace()
                if keys.contains(key) {
                    guard found[key] == nil else { return false }
                    let start = position
                    guard let value = numberArrays() else { return false }
                    found[key] = value
                    spans.append((start, position))
                } else {
                    guard skipValue() else { return false }
                }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "}"))
        }
    }
}

/// The file's bytes, read (never written) by the parsing threads.
private struct SendableBytes: @unchecked Sendable {
    let bytes: UnsafeBufferPointer<UInt8>
}

/// One slot per chunk, each written by the one thread that parses that chunk.
private final class ParsedChunks: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<[[Double]]?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    func deallocate() {
        _ = slots.deinitialize()
        slots.deallocate()
    }
}
