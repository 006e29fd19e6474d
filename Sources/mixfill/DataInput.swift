import Foundation
import MixFill
import MixFillTools

/// Rating data as the commands load it, with the ids every output speaks: a dense course
/// matrix (ids are the 0-based row and column numbers) or rating records — triplets, CSV,
/// the Netflix layout or a binary rating file — with their own ids (see `RatingInput`).
struct LoadedRatings {
    var path: String
    var input: RatingInput

    var users: IdMap { input.users }
    var items: IdMap { input.items }
    /// The format the file was read as (`dense`, `triplets`, `csv`, `netflix`, `binary`).
    var format: String { input.format.rawValue }
    var userCount: Int { input.userCount }
    var itemCount: Int { input.itemCount }
    var observedCount: Int { input.observedCount }
    var fingerprint: String { input.fingerprint }

    /// Reads `path` in `format` (detected by default), warning about dropped duplicate records.
    static func load(_ path: String, format: RatingFormat = .auto, rules: RatingRules = .standard) throws(MixFillError) -> LoadedRatings {
        let input = try RatingInput.load(path: path, format: format, rules: rules)
        if input.duplicatePairs > 0 {
            Terminal.warning("\(path): \(input.duplicatePairs) record\(input.duplicatePairs == 1 ? "" : "s") repeated an earlier (user, item) pair; the last rating in the file was kept for each")
        }
        return LoadedRatings(path: path, input: input)
    }

    /// Reads `path` as the command's data options say (format, rating scale).
    static func load(_ path: String, _ options: DataOptions) throws(MixFillError) -> LoadedRatings {
        try load(path, format: options.format, rules: options.rules())
    }

    /// The data as a dense matrix, for the commands that work on one (eval, select, predict,
    /// recommend). Record data is densified when that fits in half of this machine's memory
    /// and no rating is 0 (the dense form's "missing"); otherwise the command is refused.
    func denseMatrix() throws(MixFillError) -> DenseRatingMatrix {
        do {
            return try input.densified()
        } catch {
            throw .badFile(file: path, message: "\(error.reason); this command works on the dense form of the data")
        }
    }

    /// What a model file records about this data (nil when it holds no rating).
    func trainingRecord() -> TrainingDataRecord? {
        TrainingDataRecord(describing: input, path: absolutePath(path))
    }
}

/// `path` made absolute against the working folder, `.` and `..` removed.
func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}
