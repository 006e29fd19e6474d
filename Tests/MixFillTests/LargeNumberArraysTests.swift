import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// The model file's fast reader of large number arrays gives the Doubles JSONDecoder
/// gives, and steps aside (nil) for anything it does not handle.
struct LargeNumberArraysTests {
    @Test func numbersAreTheDoublesTheTextDenotes() throws {
        // Fast-path values (m ≤ 2^53, |e| ≤ 22) and strtod ones (17 digits, large exponents).
        var values: [Double] = [0, -0.0, 1, -1, 0.1, 0.25, 3.5, 1e22, 1e23, 5e-324, 2.2250738585072014e-308,
                                1.7976931348623157e308, 9007199254740993, 0.30000000000000004, -123.456e-7]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            values.append(Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF) * (Bool.random() ? 1 : -1))
            values.append(Double.random(in: -10...10))
        }
        let rows = stride(from: 0, to: values.count, by: 7).map { Array(values[$0..<min($0 + 7, values.count)]) }
        // Swift's shortest round-trip text, as JSONEncoder writes it, and longer forms.
        let text = rows.map { "[" + $0.map { "\($0)" }.joined(separator: ",") + "]" }.joined(separator: ", ")
        let extra = #"[[1E2, 1.50e+1, -0.000125, 123456789012345678901234, 0.1000000000000000055511151231257827]]"#
        let json = #"{"a": 1, "means": [\#(text)], "b": {"means": [[7]]}, "loadings": \#(extra), "s": "]}\""}"#
        let parsed = try #require(LargeNumberArrays(Array(json.utf8), keys: ["means", "loadings"]))
        #expect(parsed.arrays["means"] == rows)
        let expectedExtra: [[Double]] = [[100, 15, -0.000125, 123456789012345678901234.0, 0.1]]
        #expect(parsed.arrays["loadings"] == expectedExtra)
        #expect(String(decoding: parsed.reducedBytes, as: UTF8.self) == #"{"a": 1, "means": [], "b": {"means": [[7]]}, "loadings": [], "s": "]}\""}"#)
        let decoded = try JSONDecoder().decode([String: [[Double]]].self, from: Data(#"{"means": [\#(text)]}"#.utf8))
        #expect(decoded["means"] == rows)
    }

    @Test func anythingElseIsLeftToJSONDecoder() {
        for json in [#"{"means": [[1, 2], 3]}"#, #"{"means": [[1, 02]]}"#, #"{"means": [[1, 1e999]]}"#, #"{"means": [[NaN]]}"#,
                     #"{"means": [[1.]]}"#, #"{"means": [[1,]]}"#, #"{"means": [[1]], "means": [[2]]}"#, #"{"means": "x"}"#,
                     #"{"other": [[1]]}"#, #"[[1]]"#, #"{"means": [[1]]"#, #"{"means": [["1"]]}"#] {
            #expect(LargeNumberArrays(Array(json.utf8), keys: ["means"]) == nil, "\(json)")
        }
        // 10^-100005 · 10^1000050 overflows; an exponent cut short at 100005 would make it 1.
        let long = #"{"means": [[0."# + String(repeating: "0", count: 100_004) + #"1e1000050]]}"#
        #expect(LargeNumberArrays(Array(long.utf8), keys: ["means"]) == nil)
    }
}

/// `recommend --all-users`' scores for a factor model are `FactorPredictor.prediction`'s,
/// bit for bit, whatever the item count (four items at a time, then the rest).
struct FactorScoresTests {
    @Test func allUsersScoresAreThePredictorsBitForBit() throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/ratings.csv"
        _ = try SyntheticRatings(userCount: 60, itemCount: 43, ratingCount: 900, componentCount: 3, seed: 3)
            .write(to: path, layout: .csv, membershipsPath: folder + "/memberships.tsv")
        let matrix = try RatingInput.load(path: path).table.matrix
        #expect(matrix.itemCount == 43)
        let model = FactorInitialization.random(matrix: matrix, offsets: RatingOffsets(BiasBaseline(matrix: matrix)),
                                                factorCount: 5, componentCount: 3,
                                                priors: FactorPriors(loadings: 100, means: 10), seed: 9)
        var generator = SystemRandomNumberGenerator()
        let state = [0.3, 0.5, 0.2, 0.3] + (0..<15).map { _ in Double.random(in: -2...2, using: &generator) }
        var scores = [Double](repeating: .nan, count: 43)
        ModelServer.factorScores(model, state: state, into: &scores)
        let expected = (0..<43).map { FactorPredictor.prediction(model: model, state: state[1...], user: nil, userOffset: state[0], item: $0) }
        #expect(scores.map(\.bitPattern) == expected.map(\.bitPattern))
    }
}
