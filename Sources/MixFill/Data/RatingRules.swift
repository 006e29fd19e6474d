/// What every reader accepts as a rating — the dense matrix reader, the record readers
/// (triplets, CSV, Netflix), the binary rating file and fold-in ratings all apply this one
/// rule, so a value refused in one format is refused in all of them:
///
/// - a finite number whose magnitude is at most `largestMagnitude` (1e100);
/// - when a rating scale was declared (`--rating-scale MIN-MAX`, a job's `rating_scale`),
///   a value in MIN…MAX, both ends included.
///
/// In the dense format 0 marks a missing entry, not a rating, so the readers never check a
/// dense 0 against either rule (and the dense format refuses negative values on its own).
public struct RatingRules: Sendable, Equatable {
    /// The largest rating magnitude accepted. The model sums squared ratings over all users
    /// and items (‖x_u‖², the variance numerators), so ratings near 1e154 would overflow to
    /// infinity and end a fit with a log-likelihood of −inf; 1e100 leaves room for 10¹⁰⁰
    /// entries and still admits any real rating scale.
    public static let largestMagnitude = 1e100

    /// No declared scale: only the magnitude limit.
    public static let standard = RatingRules()

    /// The declared scale, or nil.
    public var scale: RatingScale?
    /// How the scale was declared, for messages: `--rating-scale 1-5`, `"rating_scale" 1-5`.
    public var scaleOrigin: String

    /// `declaredBy` names where the scale came from (an option or a job field); the
    /// messages append the scale to it.
    public init(scale: RatingScale? = nil, declaredBy origin: String = "--rating-scale") {
        self.scale = scale
        scaleOrigin = scale.map { "\(origin) \($0.text)" } ?? ""
    }

    @inline(__always)
    public static func isWithinMagnitude(_ value: Double) -> Bool {
        value.magnitude <= largestMagnitude
    }

    /// Why the finite rating `value`, written as `token` in the input, is refused; nil when
    /// it is accepted. `token` is evaluated only for a refusal.
    @inline(__always)
    public func violation(_ value: Double, token: @autoclosure () -> String) -> String? {
        if !Self.isWithinMagnitude(value) { return Self.tooLarge(value, token()) }
        if let scale, !(value >= scale.minimum && value <= scale.maximum) { return outsideScale(token()) }
        return nil
    }

    static func tooLarge(_ value: Double, _ token: String) -> String {
        value >= 0
            ? "rating '\(token)' is too large; ratings must be at most 1e100 (their squares are summed), rescale them"
            : "rating '\(token)' is too large in magnitude; ratings must lie within ±1e100 (their squares are summed), rescale them"
    }

    func outsideScale(_ token: String) -> String {
        "rating '\(token)' is outside the declared scale (\(scaleOrigin)); correct the rating or declare the scale the data use"
    }

    /// Checks ratings that come without a place in a text file (a binary rating file):
    /// the first refused one is reported with its user and item ids.
    public func check(_ table: RatingTable, name: String) throws(MixFillError) {
        let matrix = table.matrix
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                let rating = matrix.ratings[position]
                if let problem = violation(rating, token: DenseMatrixWriter.format(rating)) {
                    throw .badFile(file: name, message: "user \(table.users.name(user)), item \(table.items.name(matrix.items[position])): \(problem)")
                }
            }
        }
    }
}

extension RatingScale {
    /// The scale as `MIN-MAX` (whole numbers without a fraction): `1-5`, `0.5-5`, `-2-2`.
    public var text: String {
        DenseMatrixWriter.format(minimum) + "-" + DenseMatrixWriter.format(maximum)
    }

    /// A declared scale, `MIN-MAX` (`1-5`, `0.5-5`, `-10-10`): two decimal numbers joined
    /// by `-`, MIN below MAX, both within ±1e100. `option` names the option or job field
    /// in errors.
    public static func parse(_ text: String, option: String) throws(MixFillError) -> RatingScale {
        let bytes = Array(text.utf8)
        let hint = "give the lowest and highest rating as MIN-MAX, e.g. 1-5 or 0.5-5"
        let shown = DenseMatrixReader.printable(text)
        // The separator is the first '-' after a digit or a '.' (spaces between allowed): a
        // leading '-' is a sign, and one after 'e' belongs to an exponent.
        var separator: Int?
        var previous: UInt8?
        for index in bytes.indices {
            let byte = bytes[index]
            if byte == UInt8(ascii: "-"), let before = previous, before &- 48 < 10 || before == UInt8(ascii: ".") {
                separator = index
                break
            }
            if byte != UInt8(ascii: " ") { previous = byte }
        }
        func number(_ range: Range<Int>) -> Double? {
            var slice = range
            while slice.lowerBound < slice.upperBound, bytes[slice.lowerBound] == UInt8(ascii: " ") { slice = slice.lowerBound + 1..<slice.upperBound }
            while slice.lowerBound < slice.upperBound, bytes[slice.upperBound - 1] == UInt8(ascii: " ") { slice = slice.lowerBound..<slice.upperBound - 1 }
            guard !slice.isEmpty else { return nil }
            let outcome = bytes.withUnsafeBufferPointer { DecimalParser.parse(UnsafeBufferPointer(rebasing: $0[slice])) }
            guard case let .number(value) = outcome, value.isFinite else { return nil }
            return value
        }
        guard let separator, let low = number(0..<separator), let high = number(separator + 1..<bytes.count) else {
            throw .badOption(option: option, message: "'\(shown)' is not a rating scale; \(hint)")
        }
        guard RatingRules.isWithinMagnitude(low), RatingRules.isWithinMagnitude(high) else {
            throw .badOption(option: option, message: "'\(shown)' reaches beyond ±1e100, the largest ratings MixFill reads; \(hint)")
        }
        guard low < high else {
            throw .badOption(option: option, message: "'\(shown)' is not a rating scale: its lowest rating must be below its highest; \(hint)")
        }
        return RatingScale(minimum: low, maximum: high)
    }
}
