/// Integer lists as MixFill spells them on the command line and in job files: single
/// values and inclusive ranges separated by commas, `1,12`, `1-16`, `0-2,7`.
///
/// Errors name `option` (a flag such as `--seeds`, or a job-file place) and show how to
/// write the list. A list may hold at most `maximumCount` values in all (counted before
/// anything is allocated), so a typo such as `0-4294967295`, or many long ranges, cannot
/// exhaust memory.
package enum IntegerRanges {
    /// The most values one list may hold: 100,000 — far more seeds or component counts
    /// than any fit runs (each value is at least one EM run), few enough to hold at once.
    package static let maximumCount = 100_000

    package static func parse(_ text: String, option: String, what: String, example: String) throws(MixFillError) -> [Int] {
        var values = [Int]()
        let trimmed = trimSpaces(Substring(text))
        guard !trimmed.isEmpty else {
            throw .badOption(option: option, message: "the \(what) list is empty; write it like \(example)")
        }
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let piece = trimSpaces(part)
            let bounds = piece.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2,
                  bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }),
                  let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]) else {
                throw .badOption(option: option, message: "'\(shown(piece))' in '\(shown(text))' is not a \(what) or range; write the list like \(example)")
            }
            guard low <= high else {
                throw .badOption(option: option, message: "the range '\(shown(piece))' runs backwards; write it as \(high)-\(low)")
            }
            // high − low cannot overflow: both are ≥ 0 (a '-' sign splits as a range).
            guard high - low < maximumCount - values.count else {
                throw tooMany(text, option: option)
            }
            values.append(contentsOf: low...high)
        }
        return values
    }

    /// The error for a list of more than `maximumCount` values (also for job files' JSON lists).
    package static func tooMany(_ text: String, option: String) -> MixFillError {
        .badOption(option: option, message: "'\(shown(text))' holds more than \(maximumCount) values; give at most \(maximumCount)")
    }

    /// Seeds: 0 to 2³² − 1, as numpy's legacy `seed` takes them.
    package static func seeds(_ text: String, option: String = "--seeds") throws(MixFillError) -> [UInt32] {
        let values = try parse(text, option: option, what: "seed", example: "0-4 or 0,1,2")
        return try seeds(values, option: option)
    }

    package static func seeds(_ values: [Int], option: String) throws(MixFillError) -> [UInt32] {
        var seeds = [UInt32]()
        for value in values {
            guard let seed = UInt32(exactly: value) else {
                throw .badOption(option: option, message: "seed \(value) is out of range; seeds are 0 to \(UInt32.max)")
            }
            seeds.append(seed)
        }
        return distinct(seeds)
    }

    /// Each value once, in the order given: a seed listed twice is one run.
    package static func distinct<Value: Hashable>(_ values: [Value]) -> [Value] {
        var seen = Set<Value>()
        return values.filter { seen.insert($0).inserted }
    }

    /// Numbers of mixture components: at least 1 each; each once, ascending (a K listed twice
    /// is one fit, and reports list K in ascending order).
    package static func componentCounts(_ text: String, option: String = "-k") throws(MixFillError) -> [Int] {
        let values = try parse(text, option: option, what: "component count", example: "1,12 or 1-16")
        try checkComponentCounts(values, option: option)
        return Array(Set(values)).sorted()
    }

    package static func checkComponentCounts(_ values: [Int], option: String) throws(MixFillError) {
        for value in values where value < 1 {
            throw .badOption(option: option, message: "K = \(value) is not allowed; K must be at least 1")
        }
    }

    /// Text from the user as it appears in a message: one line, control bytes escaped.
    private static func shown(_ text: some StringProtocol) -> String {
        DenseMatrixReader.printable(String(text))
    }

    /// `text` without the spaces and tabs around it (also for `--ratings` lists).
    static func trimSpaces(_ text: Substring) -> Substring {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
