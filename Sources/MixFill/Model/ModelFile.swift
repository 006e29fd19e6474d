import Foundation

/// A fitted mixture on disk: versioned JSON.
///
///     {"format": "mixfill-model", "version": 2, "k": K, "d": d,
///      "weights": [K], "variances": [K], "means": [[d] × K],
///      "log_likelihood": LL, "seed": s, "iterations": t, "converged": true,
///      "data": {"users": n, "items": d, "observed": m,
///               "path": "/abs/ratings.txt", "format": "dense", "fingerprint": "mix64:…",
///               "rating_min": 1, "rating_max": 5, "rating_mean": 3.6,
///               "item_rating_counts": [d]},
///      "user_ids": [n], "item_ids": [d]}
///
/// Version 2 added everything in `data` after `observed`, and the id maps; `user_ids` and
/// `item_ids` are absent when the ids are the 0-based row and column indices (the dense
/// format), and are lists of strings when the data's ids were text (`IdList`). Version 1 files are still read: their ids are indices and they have no
/// `training` record. Readers refuse a version newer than theirs (with a message saying
/// so) rather than guess at fields they do not know.
///
/// Version 3 holds the factor family (`"family": "mppca"`, see `FactorModelDocument`);
/// course models are still written as version 2, so older readers keep reading them.
public struct ModelFile: Sendable, Equatable {
    public static let currentVersion = 3
    public static let formatName = "mixfill-model"

    /// The fitted parameters, of either family.
    public enum Parameters: Sendable, Equatable {
        case course(Mixture)
        case factor(FactorMixture)
    }

    public var parameters: Parameters
    /// The final objective: the course model's log-likelihood, the factor family's evidence
    /// lower bound.
    public var logLikelihood: Double
    public var seed: UInt32
    public var iterations: Int
    public var converged: Bool
    public var userCount: Int
    public var observedCount: Int
    /// The training data's record; nil in version 1 files.
    public var training: TrainingDataRecord?
    /// How a factor model's hyperparameters were chosen (informational; nil for the course).
    public var tuning: FactorTuning?

    public init(mixture: Mixture, logLikelihood: Double, seed: UInt32, iterations: Int, converged: Bool,
                userCount: Int, observedCount: Int, training: TrainingDataRecord? = nil) {
        self.init(parameters: .course(mixture), logLikelihood: logLikelihood, seed: seed, iterations: iterations,
                  converged: converged, userCount: userCount, observedCount: observedCount, training: training)
    }

    public init(parameters: Parameters, logLikelihood: Double, seed: UInt32, iterations: Int, converged: Bool,
                userCount: Int, observedCount: Int, training: TrainingDataRecord? = nil, tuning: FactorTuning? = nil) {
        let items: Int
        switch parameters {
        case let .course(mixture): items = mixture.itemCount
        case let .factor(model):
            items = model.itemCount
            precondition(model.offsets.userOffsets.count == userCount, "one user offset per training user")
        }
        precondition(training.map { $0.users.count == userCount && $0.items.count == items } ?? true,
                     "the training record's id maps must match the model's shape")
        self.parameters = parameters
        self.tuning = tuning
        self.logLikelihood = logLikelihood
        self.seed = seed
        self.iterations = iterations
        self.converged = converged
        self.userCount = userCount
        self.observedCount = observedCount
        self.training = training
    }

    /// The training users' ids (indices in version 1 files).
    public var users: IdMap { training?.users ?? .identity(userCount) }
    /// The items' ids (indices in version 1 files).
    public var items: IdMap { training?.items ?? .identity(itemCount) }

    public var family: ModelFamily {
        if case .factor = parameters { return .mppca }
        return .course
    }

    /// The course model's mixture (nil for a factor model).
    public var mixture: Mixture? {
        if case let .course(mixture) = parameters { return mixture }
        return nil
    }

    /// The factor model (nil for a course model).
    public var factorMixture: FactorMixture? {
        if case let .factor(model) = parameters { return model }
        return nil
    }

    public var itemCount: Int {
        switch parameters {
        case let .course(mixture): return mixture.itemCount
        case let .factor(model): return model.itemCount
        }
    }

    public var componentCount: Int {
        switch parameters {
        case let .course(mixture): return mixture.componentCount
        case let .factor(model): return model.componentCount
        }
    }

    /// The training data's record as files spell it (the `data` object).
    struct Shape: Codable {
        var users: Int
        var items: Int
        var observed: Int
        var path: String?
        var format: String?
        var fingerprint: String?
        var rating_min: Double?
        var rating_max: Double?
        var rating_mean: Double?
        var item_rating_counts: [Int]?
    }

    struct Document: Codable {
        var format: String
        var version: Int
        var k: Int
        var d: Int
        var weights: [Double]
        var variances: [Double]
        var means: [[Double]]
        var log_likelihood: Double
        var seed: UInt32
        var iterations: Int
        var converged: Bool
        var data: Shape
        var user_ids: IdList?
        var item_ids: IdList?
    }

    public func encoded() throws(MixFillError) -> [UInt8] {
        let mixture: Mixture
        switch parameters {
        case let .course(course): mixture = course
        case let .factor(model): return try FactorModelDocument.encode(self, model)
        }
        let k = mixture.componentCount
        let d = mixture.itemCount
        let document = Document(
            // Without a training record there is nothing version 2 adds: write version 1. Course
            // models need nothing version 3 added either (the factor family's form).
            format: Self.formatName, version: training == nil ? 1 : 2, k: k, d: d,
            weights: mixture.weights, variances: mixture.variances,
            means: (0..<k).map { Array(mixture.mean($0)) },
            log_likelihood: logLikelihood, seed: seed, iterations: iterations, converged: converged,
            data: Shape(users: userCount, items: d, observed: observedCount,
                        path: training?.path, format: training?.format, fingerprint: training?.fingerprint,
                        rating_min: training?.ratingScale.minimum, rating_max: training?.ratingScale.maximum,
                        rating_mean: training?.ratingMean, item_rating_counts: training?.itemRatingCounts),
            user_ids: training.flatMap { IdList($0.users) },
            item_ids: training.flatMap { IdList($0.items) })
        return try JSONEncoder.fileBytes(document, formatting: [.sortedKeys], what: "the model")
    }

    public func write(to path: String) throws(MixFillError) {
        try AtomicFile.write(encoded(), to: path)
    }

    /// Reads the model file at `path` (`-`: standard input, named `<stdin>` in errors).
    public static func read(path: String) throws(MixFillError) -> ModelFile {
        try decode(FileBytes.read(path), name: StandardInput.displayName(path))
    }

    /// The largest mean, offset or loading a model file may hold. Ratings lie within ±1e100
    /// (`RatingRules`), and a fit's means and offsets within a few times their range, its
    /// loadings within the ratings' spread; 1e150 is far beyond any of them and keeps their
    /// squares, which the E-step sums, finite.
    static let largestLocation = 1e150
    /// Variances (the course's σ²_j, mppca's σ²) a model may hold: below the smallest normal
    /// Double 1/σ² is infinite; above 1e300 the densities' constants overflow with a few items.
    static let usableVariances = Double.leastNormalMagnitude...1e300

    static func isUsableLocation(_ value: Double) -> Bool { value.magnitude <= largestLocation }
    static func isUsableVariance(_ value: Double) -> Bool { usableVariances.contains(value) }

    public static func decode(_ bytes: [UInt8], name: String) throws(MixFillError) -> ModelFile {
        struct Header: Decodable { var format: String?; var version: Int?; var family: String? }
        let decoder = JSONDecoder()
        let header: Header
        // The large arrays parsed apart; JSONDecoder reads the rest (see `LargeNumberArrays`).
        let large = LargeNumberArrays(bytes, keys: ["covariances", "loadings", "means"])
        do {
            header = try decoder.decode(Header.self, from: Data(large?.reducedBytes ?? bytes))
        } catch {
            throw .badFile(file: name, message: "not a MixFill model file (not valid JSON); give a file written by `mixfill fit --model-out`")
        }
        guard header.format == formatName, let version = header.version else {
            throw .badFile(file: name, message: "not a MixFill model file (no \"format\": \"\(formatName)\"); give a file written by `mixfill fit --model-out`")
        }
        guard version <= currentVersion else {
            throw .badFile(file: name, message: "model format version \(version) is newer than this MixFill reads (\(currentVersion)); upgrade MixFill")
        }
        if let family = header.family, family != ModelFamily.course.rawValue {
            guard family == ModelFamily.mppca.rawValue else {
                throw .badFile(file: name, message: "model family \"\(DenseMatrixReader.printable(family))\" is not one this MixFill reads (course, mppca); give a file written by `mixfill fit --model-out`")
            }
            guard version >= 3 else {
                throw .badFile(file: name, message: "an mppca model of format version \(version), but mppca models are version 3 or later (MixFill never wrote this one); give a file written by `mixfill fit --model-out`")
            }
            return try FactorModelDocument.decode(bytes, large: large, name: name)
        }
        var document: Document
        do {
            document = try decoder.decode(Document.self, from: Data(large?.reducedBytes ?? bytes))
            if let means = large?.arrays["means"] { document.means = means }
        } catch {
            throw .badFile(file: name, message: "model file is incomplete or has a field of the wrong type (\(describe(error))); refit and write it again")
        }
        let k = document.k
        let d = document.d
        guard k >= 1, d >= 1, document.weights.count == k, document.variances.count == k,
              document.means.count == k, document.means.allSatisfy({ $0.count == d }) else {
            throw .badFile(file: name, message: "model shapes disagree: k = \(k), d = \(d) but the arrays have other sizes")
        }
        let means = document.means.flatMap { $0 }
        guard means.allSatisfy(\.isFinite), document.weights.allSatisfy({ $0.isFinite && $0 >= 0 }),
              document.variances.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw .badFile(file: name, message: "model has a non-finite mean, a negative weight or a non-positive variance; refit and write it again")
        }
        guard means.allSatisfy(Self.isUsableLocation), document.variances.allSatisfy(Self.isUsableVariance) else {
            throw .badFile(file: name, message: "model has a mean beyond ±1e150 or a variance outside 2.2e-308 … 1e300; no fit on ratings MixFill reads gives one. Refit and write it again")
        }
        // The weights are a distribution (the M-step's n̂_j / n): a file whose weights do not
        // sum to 1 was edited or damaged and would give shifted predictions, not an error.
        let weightSum = document.weights.reduce(0, +)
        guard abs(weightSum - 1) <= 1e-6 else {
            throw .badFile(file: name, message: "model's weights sum to \(weightSum), not 1; refit and write it again")
        }
        let mixture = Mixture(componentCount: k, itemCount: d, means: means,
                              variances: document.variances, weights: document.weights)
        guard document.data.items == d else {
            throw .badFile(file: name, message: "model shapes disagree: d = \(d) but \"data\" has \(document.data.items) items")
        }
        for (field, value) in [("users", document.data.users), ("observed", document.data.observed)] where value < 0 {
            throw .badFile(file: name, message: "\"data\".\"\(field)\" is \(value); it must be a count, 0 or more (the training data's \(field == "users" ? "users" : "observed ratings")); refit and write the model again")
        }
        let training = version >= 2 ? try trainingRecord(document.data, userIds: document.user_ids, itemIds: document.item_ids,
                                                         itemCount: d, name: name) : nil
        return ModelFile(mixture: mixture, logLikelihood: document.log_likelihood, seed: document.seed,
                         iterations: document.iterations, converged: document.converged,
                         userCount: document.data.users, observedCount: document.data.observed,
                         training: training)
    }

    /// The version 2 fields, checked for consistency with the model's shape.
    static func trainingRecord(_ data: Shape, userIds: IdList?, itemIds: IdList?, itemCount: Int,
                               name: String) throws(MixFillError) -> TrainingDataRecord {
        guard let format = data.format, let fingerprint = data.fingerprint, let minimum = data.rating_min,
              let maximum = data.rating_max, let mean = data.rating_mean, let counts = data.item_rating_counts else {
            throw .badFile(file: name, message: "version 2 model file lacks its training data record (\"data\" needs format, fingerprint, rating_min, rating_max, rating_mean, item_rating_counts); refit and write it again")
        }
        guard minimum.isFinite, maximum.isFinite, minimum <= maximum, mean.isFinite,
              counts.count == itemCount, counts.allSatisfy({ $0 >= 0 }) else {
            throw .badFile(file: name, message: "model's training data record is inconsistent (rating range, mean or item_rating_counts); refit and write it again")
        }
        func map(_ ids: IdList?, count: Int, what: String) throws(MixFillError) -> IdMap {
            switch ids {
            case .none: return .identity(count)
            case let .numbers(ids):
                guard ids.count == count, IdMap.isStrictlyIncreasing(ids) else { break }
                return IdMap(sortedIds: ids)
            case let .names(names):
                guard names.count == count, IdMap.areStrictlyIncreasing(names) else { break }
                return IdMap(sortedNames: names)
            }
            throw .badFile(file: name, message: "model's \(what)_ids are not \(count) increasing ids (one per \(what)); refit and write it again")
        }
        return TrainingDataRecord(
            path: data.path, format: format, fingerprint: fingerprint,
            users: try map(userIds, count: data.users, what: "user"),
            items: try map(itemIds, count: itemCount, what: "item"),
            ratingScale: RatingScale(minimum: minimum, maximum: maximum), ratingMean: mean, itemRatingCounts: counts)
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): return "missing \"\(key.stringValue)\""
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            return "bad value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "unreadable"
        }
    }
}

extension ModelFile.Shape {
    /// The record of `file`'s training data.
    init(_ file: ModelFile) {
        let training = file.training
        self.init(users: file.userCount, items: file.itemCount, observed: file.observedCount,
                  path: training?.path, format: training?.format, fingerprint: training?.fingerprint,
                  rating_min: training?.ratingScale.minimum, rating_max: training?.ratingScale.maximum,
                  rating_mean: training?.ratingMean, item_rating_counts: training?.itemRatingCounts)
    }
}

/// A model file's `user_ids` or `item_ids`: a JSON array of numbers, or of strings when the
/// training data's ids were text (`IdMap.names`), in the map's order.
enum IdList: Codable, Equatable {
    case numbers([Int64])
    case names([String])

    /// The list of `map`, or nil for the identity map (the dense format's indices), which
    /// a file leaves out.
    init?(_ map: IdMap) {
        if let names = map.names {
            self = .names(names)
        } else if map.isIdentity {
            return nil
        } else {
            self = .numbers(map.ids)
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let numbers = try? container.decode([Int64].self) {
            self = .numbers(numbers)
        } else {
            self = .names(try container.decode([String].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .numbers(numbers): try container.encode(numbers)
        case let .names(names): try container.encode(names)
        }
    }
}
