@testable import MixFill
import Testing

/// `DecimalParser` gives the Double a token denotes, whatever its length.
struct DecimalParserTests {
    private func parse(_ text: String) -> DecimalParser.Outcome {
        Array(text.utf8).withUnsafeBufferPointer { DecimalParser.parse($0) }
    }

    /// An exponent written with more digits than the fast path counts, against a long
    /// fraction: 10^-10020 · 10^100200 overflows, 10^-10020 · 10^10020 is 1.
    @Test func longExponentsAreNotCutShort() {
        let zeros = String(repeating: "0", count: 10_019)
        #expect(parse("0." + zeros + "1e100200") == .number(.infinity))
        #expect(parse("0." + zeros + "1e10020") == .number(1))
        #expect(parse("1e-000000000000000000000000000000000000005") == .number(1e-5))
    }
}
