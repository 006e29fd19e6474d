/// Rating data as the commands load it, whatever the file's format: a dense course matrix,
/// or records (text or binary) with their id maps.
public struct RatingInput: Sendable {
    public enum Storage: Sendable {
        case dense(DenseRatingMatrix)
        case records(RatingTable)
    }

    public let storage: Storage
    /// The format the file was read as (never `.auto`).
    public let format: RatingFormat

    public init(storage: Storage, format: RatingFormat) {
        self.storage = storage
        self.format = format
    }

    /// Reads `path` in `format`, detecting it first when `.auto`. Every rating must pass
    /// `rules` (within ±1e100, and a declared scale): text formats refuse the first one that
    /// does not at its `file:line:column`, a binary file with its user and item ids. `-`
    /// reads standard input (detection included), and errors name it `<stdin>`.
    public static func load(path: String, format: RatingFormat = .auto, rules: RatingRules = .standard) throws(MixFillError) -> RatingInput {
        let resolved = format == .auto ? try RatingFormat.detect(path: path) : format
        switch resolved {
        case .auto, .dense:
            return RatingInput(storage: .dense(try DenseMatrixReader.read(path: path, rules: rules, formatDetected: format == .auto)),
                               format: .dense)
        case .binary:
            let table = try BinaryRatingFile.read(path: path)
            if rules.scale != nil { try rules.check(table, name: StandardInput.displayName(path)) }
            return RatingInput(storage: .records(table), format: .binary)
        case .triplets, .csv, .netflix, .movielensDat:
            let layout = resolved.recordLayout ?? .triplets
            return RatingInput(storage: .records(try RecordReader.read(path: path, layout: layout, rules: rules)), format: resolved)
        }
    }

    /// The data for initialisation and evaluation (no copy).
    public var data: any RatingData {
        switch storage {
        case let .dense(matrix): return matrix
        case let .records(table): return table.matrix
        }
    }

    /// The dense matrix, when the file was one.
    public var denseMatrix: DenseRatingMatrix? {
        if case let .dense(matrix) = storage { return matrix }
        return nil
    }

    /// The ratings as records; a dense matrix is converted (O(n·d) once, no more memory
    /// than the dense matrix already takes).
    public var table: RatingTable {
        switch storage {
        case let .dense(matrix): return RatingTable(dense: matrix)
        case let .records(table): return table
        }
    }

    public var isRecords: Bool {
        if case .records = storage { return true }
        return false
    }

    public var userCount: Int { data.userCount }
    public var itemCount: Int { data.itemCount }
    public var observedCount: Int { data.observedCount }

    /// Refuses data without a single rating (a dense matrix of zeros, which reads as all
    /// missing): EM would "fit" it with a log-likelihood of 0 and learn nothing. `name`
    /// is the file, for the message.
    public func requireRatings(name: String) throws(MixFillError) {
        guard observedCount > 0 else { throw Self.noRatings(name: name) }
    }

    /// What `requireRatings` throws.
    static func noRatings(name: String) -> MixFillError {
        .badFile(file: name, message: "holds no ratings: every entry is 0 (missing), so there is nothing to fit; give a matrix with at least one rating")
    }

    /// Observed entries / (users × items).
    public var density: Double {
        Double(observedCount) / (Double(userCount) * Double(itemCount))
    }

    public var users: IdMap {
        switch storage {
        case let .dense(matrix): return .identity(matrix.userCount)
        case let .records(table): return table.users
        }
    }

    public var items: IdMap {
        switch storage {
        case let .dense(matrix): return .identity(matrix.itemCount)
        case let .records(table): return table.items
        }
    }

    /// Records dropped because they repeated a (user, item) pair (0 for dense input).
    /// Lines of a record file whose text id turned a column of whole numbers to text.
    package var textIdSwitches: [TextIdSwitch] {
        if case let .records(table) = storage { return table.textIdSwitches }
        return []
    }

    public var duplicatePairs: Int {
        if case let .records(table) = storage { return table.duplicatePairs }
        return 0
    }
}
