#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parses one decimal number token (bytes, no surrounding space) to a Double.
///
/// Fast path (Clinger): when the significand has at most 19 digits, fits in 53 bits and
/// the decimal exponent is within ±22, `significand × 10^e` (or ÷) is a single correctly
/// rounded operation on exact operands, so the result equals `strtod`'s. Everything else
/// (long significands, big exponents, `inf`, `nan`) goes through `strtod` on a copy.
enum DecimalParser {
    enum Outcome: Equatable {
        case number(Double)
        case notANumber
    }

    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    static func parse(_ token: UnsafeBufferPointer<UInt8>) -> Outcome {
        if let value = fastPath(token) { return .number(value) }
        return slowPath(token)
    }

    private static func fastPath(_ token: UnsafeBufferPointer<UInt8>) -> Double? {
        var index = 0
        let count = token.count
        var negative = false
        if index < count, token[index] == UInt8(ascii: "-") || token[index] == UInt8(ascii: "+") {
            negative = token[index] == UInt8(ascii: "-")
            index += 1
        }
        var significand: UInt64 = 0
        var digits = 0
        var fractionDigits = 0
        var sawDigit = false
        while index < count, token[index] &- 48 < 10 {
            if digits < 19 { significand = significand &* 10 &+ UInt64(token[index] &- 48) }
            if significand != 0 { digits += 1 }
            sawDigit = true
            index += 1
        }
        if index < count, token[index] == UInt8(ascii: ".") {
            index += 1
            while index < count, token[index] &- 48 < 10 {
                if digits < 19 { significand = significand &* 10 &+ UInt64(token[index] &- 48) }
                if significand != 0 { digits += 1 }
                fractionDigits += 1
                sawDigit = true
                index += 1
            }
        }
        guard sawDigit, digits <= 19 else { return nil }
        var exponent = -fractionDigits
        if index < count, token[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            var exponentNegative = false
            if index < count, token[index] == UInt8(ascii: "-") || token[index] == UInt8(ascii: "+") {
                exponentNegative = token[index] == UInt8(ascii: "-")
                index += 1
            }
            var written = 0
            var sawExponentDigit = false
            while index < count, token[index] &- 48 < 10 {
                // A written exponent of 10⁵ or more is not accumulated (no overflow): then
                // e = written − fraction digits is not known here (a fraction as long
                // brings it back within ±22), so strtod decides.
                guard written < 10_000 else { return nil }
                written = written * 10 + Int(token[index] &- 48)
                sawExponentDigit = true
                index += 1
            }
            guard sawExponentDigit else { return nil }
            exponent += exponentNegative ? -written : written
        }
        guard index == count, significand < (1 << 53), abs(exponent) <= 22 else { return nil }
        var value = Double(significand)
        value = exponent >= 0 ? value * powersOfTen[exponent] : value / powersOfTen[-exponent]
        return negative ? -value : value
    }

    private static func slowPath(_ token: UnsafeBufferPointer<UInt8>) -> Outcome {
        var text = [CChar](repeating: 0, count: token.count + 1)
        for index in 0..<token.count { text[index] = CChar(bitPattern: token[index]) }
        return text.withUnsafeBufferPointer { buffer -> Outcome in
            guard let start = buffer.baseAddress else { return .notANumber }
            var end: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(start, &end)
            guard let end, UnsafePointer(end) - start == token.count, token.count > 0 else { return .notANumber }
            // strtod accepts hexadecimal floats; the course format is decimal only.
            if token.contains(UInt8(ascii: "x")) || token.contains(UInt8(ascii: "X")) { return .notANumber }
            return .number(value)
        }
    }
}
