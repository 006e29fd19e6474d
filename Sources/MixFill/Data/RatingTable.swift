/// Ratings read from records (or a binary rating file): the sparse matrix and the ids the
/// file used for its users and items, so that every output can speak those ids.
public struct RatingTable: Sendable, Equatable {
    public let matrix: SparseRatingMatrix
    /// Dense user index → the file's user id.
    public let users: IdMap
    /// Dense item index → the file's item id.
    public let items: IdMap
    /// Records that repeated an earlier (user, item) pair; the last one in the file was kept.
    public let duplicatePairs: Int
    /// Lines whose text id turned a column of whole-number ids to text (`TextIdSwitch`).
    package var textIdSwitches: [TextIdSwitch] = []

    public init(matrix: SparseRatingMatrix, users: IdMap, items: IdMap, duplicatePairs: Int = 0) {
        precondition(users.count == matrix.userCount && items.count == matrix.itemCount)
        self.matrix = matrix
        self.users = users
        self.items = items
        self.duplicatePairs = duplicatePairs
    }

    /// A dense course matrix as records: user id = line index, item id = column index, from 0.
    public init(dense: DenseRatingMatrix) {
        self.init(matrix: SparseRatingMatrix(dense: dense), users: .identity(dense.userCount),
                  items: .identity(dense.itemCount))
    }
}
