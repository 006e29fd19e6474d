import Foundation
import MixFill

/// Rating data as the commands load it, with the ids every output speaks.
///
/// Today this is the dense text format, whose ids are the 0-based row (user) and column
/// (item) numbers; record formats with their own ids slot in here.
struct LoadedRatings {
    var path: String
    var matrix: DenseRatingMatrix
    var users: IdMap
    var items: IdMap
    var format: String

    static func load(_ path: String) throws(MixFillError) -> LoadedRatings {
        let matrix = try DenseMatrixReader.read(path: path)
        return LoadedRatings(path: path, matrix: matrix, users: .identity(matrix.userCount),
                             items: .identity(matrix.itemCount), format: "dense")
    }

    /// What a model file records about this data (nil when it holds no rating).
    func trainingRecord() -> TrainingDataRecord? {
        TrainingDataRecord(describing: matrix, path: absolutePath(path))
    }
}

/// `path` made absolute against the working folder, `.` and `..` removed.
func absolutePath(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
}
