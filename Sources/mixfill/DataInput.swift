import ArgumentParser
import Foundation
import MixFill
import MixFillTools

/// Rating data as the commands load it, with the ids every output speaks: a dense course
/// matrix (ids are the 0-based row and column numbers) or rating records — triplets, CSV,
/// the Netflix layout or a binary rating file — with their own ids (see `RatingInput`).
struct LoadedRatings {
    /// The path as given; `-` for standard input.
    var path: String
    var input: RatingInput
    /// The `--format` asked for: `.auto` when the format was detected from the content.
    var requestedFormat: RatingFormat = .auto

    var users: IdMap { input.users }
    var items: IdMap { input.items }
    /// The format the file was read as, as `--format` spells it (`dense`, `triplets`,
    /// `csv`, `netflix`, `movielens-dat`, `binary`): what a JSON report's `"format"` holds.
    var format: String { input.format.rawValue }
    /// Whether `format` was detected from the content (`--format auto`) rather than given.
    var formatWasDetected: Bool { requestedFormat == .auto }
    /// The path as messages and reports show it: `<stdin>` for `-`.
    var displayPath: String { StandardInput.displayName(path) }

    /// The format and how it was chosen, for a report's header: `csv, detected` or
    /// `movielens-dat, --format`.
    var formatDescription: String {
        Self.formatDescription(format: format, detected: formatWasDetected)
    }

    /// The same from a report's fields (`"format"`, `"format_detected"` in JSON), for
    /// reports that keep those rather than the loaded data.
    static func formatDescription(format: String, detected: Bool) -> String {
        "\(format), \(detected ? "detected" : "--format")"
    }

    /// A report's data line: `data: ratings.csv (csv, detected): 610 users × 9724 items,
    /// 100836 ratings` (for a dense matrix the ratings are its non-zero entries).
    var headerLine: String {
        "data: \(displayPath) (\(formatDescription)): \(counted(userCount, "user")) × \(counted(itemCount, "item")), \(counted(observedCount, "rating"))"
    }
    var userCount: Int { input.userCount }
    var itemCount: Int { input.itemCount }
    var observedCount: Int { input.observedCount }
    var fingerprint: String { input.fingerprint }

    /// Reads `path` in `format` (detected by default), warning about dropped duplicate
    /// records. `-` reads standard input, detection included.
    static func load(_ path: String, format: RatingFormat = .auto, rules: RatingRules = .standard) throws(MixFillError) -> LoadedRatings {
        keep(try RatingInput.load(path: path, format: format, rules: rules), path: path, requestedFormat: format)
    }

    /// `input`, read from `path` as `requestedFormat` asked, as the data a command goes on
    /// with: the warning about dropped duplicate records is given here, once, for the read
    /// that is kept.
    static func keep(_ input: RatingInput, path: String, requestedFormat: RatingFormat) -> LoadedRatings {
        for warning in DataWarnings.textIds(path: path, switches: input.textIdSwitches) { Terminal.warning(warning) }
        if input.duplicatePairs > 0 {
            Terminal.warning(DataWarnings.duplicates(path: path, count: input.duplicatePairs))
        }
        return LoadedRatings(path: path, input: input, requestedFormat: requestedFormat)
    }

    /// Reads `path` as the command's data options say (format, rating scale).
    static func load(_ path: String, _ options: DataOptions) throws(MixFillError) -> LoadedRatings {
        try load(path, format: options.format, rules: options.rules())
    }

    /// The data as a dense matrix, for what compares dense matrices (`--gold`, named by
    /// `why`). Record data is densified when that fits in half of this machine's memory and
    /// no rating is 0 (the dense form's "missing"); otherwise the command is refused.
    func denseMatrix(_ why: String) throws(MixFillError) -> DenseRatingMatrix {
        do {
            return try input.densified()
        } catch {
            throw .badFile(file: displayPath, message: "\(error.reason); \(why)")
        }
    }

    /// Refuses what `denseMatrix()` refuses, without building the matrix; `why` ends the
    /// message (what needs the dense form, and what to do instead).
    func requireDenseForm(_ why: String) throws(MixFillError) {
        do {
            try input.checkDensifiable()
        } catch {
            throw .badFile(file: displayPath, message: "\(error.reason); \(why)")
        }
    }

    /// The path a model file records for this data: absolute, or nil for standard input, a
    /// pipe, or a descriptor's name (`/dev/stdin`, `/dev/fd/N`, `/proc/self/fd/N`, even
    /// when they lead to a file): a later command could not read the same data from it.
    var recordedPath: String? {
        let descriptorName = ["/dev/stdin", "/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"].contains { path.hasPrefix($0) }
        return StreamInput.isStream(path) || descriptorName ? nil : absolutePath(path)
    }
}

/// Refuses a command line that gives `-` (standard input) to more than one input: the
/// first reader would take all of it and the next would see nothing. `inputs` pairs each
/// input's name (`DATA`, `--pairs`) with its value.
func requireOneStandardInput(_ inputs: [(name: String, value: String?)]) throws {
    let named = inputs.filter { $0.value.map(StandardInput.isStandardInput) ?? false }.map(\.name)
    if named.count > 1 {
        throw ValidationError("\(named.joined(separator: ", ")): only one input can come from standard input ('-'); save the others to files and give their paths")
    }
}

/// Refuses '-' as an output path: in MixFill it names standard input, and these outputs are
/// files written atomically (a temporary file renamed into place), which standard output
/// cannot be. (`predict` and `recommend` print to standard output without `--out`.)
func refuseStandardOutput(_ outputs: [(name: String, value: String?)]) throws {
    for output in outputs where output.value.map(StandardInput.isStandardInput) ?? false {
        throw ValidationError("\(output.name): '-' means standard input in MixFill, not an output; give a file path")
    }
}

/// `path` made absolute against the working folder, `.` and `..` removed.
func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}
