import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict ratings for (user, item) pairs with a saved model, in the data's own ids.",
        discussion: """
            The prediction for user u and item i is Σ_j p(j|u)·μ_ji for a course model; for \
            an mppca model the offsets μ₀ + b_u + b_i plus the posterior mean of the low-rank \
            part, Σ_j p(j|u)·(m̄_ji + w̄_iᵀ z̄_j(u)); either is clipped to the training \
            ratings' range. p(j|u) (and z̄_j) come from one E-step: over the user's training ratings \
            (read from the training data, checked by fingerprint), or over the ratings given \
            with --ratings/--ratings-file for --user (fold-in, no refit). A user the model \
            does not know gets the mixture's weights (the population's prediction); an item \
            it does not know, or one without training ratings, gets the mean training rating. \
            Output: one 'USER ITEM PREDICTION' line per pair, in input order.
            """
    )

    @OptionGroup(title: HelpHeading.query) var query: PredictQueryOptions

    @OptionGroup var serving: ServingOptions

    @OptionGroup(title: HelpHeading.output) var output: PredictOutputOptions

    var pairs: String? { query.pairs }
    var user: String? { query.user }
    /// `--item-ids`, or its deprecated spelling `--items`.
    var items: String? { query.itemIds ?? query.deprecatedItems }
    /// `--out -` is standard output, as without `--out`.
    var out: String? { output.out.flatMap { StandardInput.isStandardInput($0) ? nil : $0 } }
    var json: Bool { output.json }

    func validate() throws {
        if query.itemIds != nil, query.deprecatedItems != nil {
            throw ValidationError("--item-ids, --items: --items is the old spelling of --item-ids; give the list once")
        }
        try requireOneStandardInput([("--pairs", pairs), ("--model", serving.model), ("--data", serving.data),
                                     ("--ratings-file", serving.ratingsFile)])
        if pairs != nil, user != nil {
            throw ValidationError("--pairs, --user: give one of them: --pairs FILE predicts the pairs it lists, --user ID that user's items")
        }
        if pairs == nil, user == nil {
            throw ValidationError("give the pairs to predict: --pairs FILE, or --user ID (with --item-ids LIST or every item)")
        }
        if items != nil, user == nil {
            throw ValidationError("--item-ids: names the items for --user; give --user ID")
        }
        if serving.hasFoldIn, user == nil {
            throw ValidationError("\(serving.ratings != nil ? "--ratings" : "--ratings-file"): folds in the user named by --user; give --user ID")
        }
        if let items { _ = try Self.parseItems(items, map: nil) }
    }

    /// The ids of `--item-ids`, as `map` writes them (`IdMap.canonical`); without a map
    /// (before the model is read) any non-empty ids.
    static func parseItems(_ text: String, map: IdMap?) throws -> [String] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { piece in
            let trimmed = piece.trimmingCharacters(in: .whitespaces)
            guard let id = map.map({ $0.canonical(trimmed) }) ?? (trimmed.isEmpty ? nil : trimmed) else {
                throw ValidationError("--item-ids: '\(piece)' is not an item id\(map?.names == nil ? "" : " (the model's ids are text)"); write the items like 3,17,42")
            }
            return id
        }
    }

    /// `--user` as `map` writes ids (`IdMap.canonical`).
    static func canonicalUser(_ user: String, map: IdMap, option: String = "--user") throws -> String {
        guard let id = map.canonical(user) else {
            throw MixFillError.badOption(option: option, message: map.names == nil ? "'\(DenseMatrixReader.printable(user))' is not a user id; the model's user ids are whole numbers" : "the user id is empty; give the user's id as the training data writes it")
        }
        return id
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let file = try ModelFile.read(path: serving.model)
        var server = ModelServer(model: file)
        let requested: [(user: String, item: String)]
        let user = try self.user.map { try Self.canonicalUser($0, map: file.users) }
        if let pairs {
            requested = try PairsReader.read(path: pairs, users: file.users, items: file.items)
            if requested.isEmpty { Terminal.warning(Self.noPairs(pairs)) }
        } else if let user {
            let itemIds = try items.map { try Self.parseItems($0, map: file.items) } ?? (0..<file.items.count).map(file.items.name)
            requested = itemIds.map { (user, $0) }
        } else {
            requested = []
        }
        if let user, let (given, source) = try serving.foldInRatings(items: file.items) {
            server.foldIn(user: user, ratings: try ServingOptions.indexRatings(given, source: source, server: server))
        }
        // Training users need their training ratings: one E-step over the training data.
        if let first = requested.first(where: { server.isTrainingUser($0.user) && !server.isFoldedIn($0.user) })?.user {
            let loaded = try serving.trainingData(for: file, why: "predicting for training user \(first)")
            server.attachTrainingPosteriors(try serving.trainingPosteriors(loaded, file))
        }

        var predictions = [ModelServer.Prediction]()
        predictions.reserveCapacity(requested.count)
        var posteriorCache = [String: (posterior: [Double], basis: ModelServer.Basis)]()
        for pair in requested {
            let entry: (posterior: [Double], basis: ModelServer.Basis)
            if let cached = posteriorCache[pair.user] {
                entry = cached
            } else {
                entry = server.posterior(forUser: pair.user)
                posteriorCache[pair.user] = entry
            }
            predictions.append(server.predict(posterior: entry.posterior, basis: entry.basis, item: pair.item))
        }
        var counts = [String: Int]()
        for basis in ModelServer.Basis.allCases { counts[basis.rawValue] = 0 }
        for prediction in predictions { counts[prediction.basis.rawValue, default: 0] += 1 }
        if let prior = counts[ModelServer.Basis.prior.rawValue], prior > 0 {
            Terminal.warning("\(prior) of \(predictions.count) predictions are for users the model does not know; they use the mixture's weights (the population's prediction)")
        }
        if let fallback = counts[ModelServer.Basis.itemFallback.rawValue], fallback > 0 {
            Terminal.warning("\(fallback) of \(predictions.count) predictions are for items the model does not know or that had no training rating; they are the mean training rating, \(server.itemFallback)")
        }

        if let out {
            try AtomicFile.write(Self.encodeLines(requested, predictions), to: out)
        }
        if json {
            let report = PredictReport(
                model: serving.model, count: predictions.count, basis_counts: counts,
                rating_range: server.scale.map { [$0.minimum, $0.maximum] },
                predictions: out != nil ? nil : zip(requested, predictions).map {
                    PredictReport.Entry(user: ReportId($0.0.user, map: file.users), item: ReportId($0.0.item, map: file.items),
                                        prediction: $0.1.rating, basis: $0.1.basis.rawValue)
                },
                out: out, seconds: (clock.now - start).seconds)
            try printJSON(report)
        } else if out == nil {
            try writeStandardOutput(Data(Self.encodeLines(requested, predictions)))
        } else if let out {
            try printText("wrote \(out): \(predictions.count) prediction\(predictions.count == 1 ? "" : "s")\n")
        }
    }

    /// The warning for a pair list without a pair (`predict --pairs`, `fill --pairs`).
    static func noPairs(_ path: String) -> String {
        "\(StandardInput.displayName(path)): holds no pairs (write one per line: USER ITEM); nothing to predict"
    }

    /// `USER ITEM PREDICTION` lines; predictions as `fill` writes them (`DenseMatrixWriter.format`):
    /// the shortest form that reads back to the same Double, a whole number without `.0`.
    static func encodeLines(_ pairs: [(user: String, item: String)], _ predictions: [ModelServer.Prediction]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(pairs.count * 28)
        for (pair, prediction) in zip(pairs, predictions) {
            bytes.append(contentsOf: pair.user.utf8)
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: pair.item.utf8)
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: DenseMatrixWriter.format(prediction.rating).utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }
}

/// What `mixfill predict --json` prints.
struct PredictReport: Encodable {
    struct Entry: Encodable {
        var user: ReportId
        var item: ReportId
        var prediction: Double
        /// training, fold-in, prior or item-fallback (see docs/usage.md).
        var basis: String
    }

    var model: String
    var count: Int
    var basis_counts: [String: Int]
    /// The training ratings' [minimum, maximum] predictions are clipped to (absent for version 1 models).
    var rating_range: [Double]?
    var predictions: [Entry]?
    var out: String?
    var seconds: Double
}

/// What `predict` predicts: a pairs file, or one user's items.
struct PredictQueryOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Pairs to predict: a file of 'USER ITEM' lines (spaces, tabs or a comma; further fields ignored); '-' reads standard input.",
        valueName: "FILE"))
    var pairs: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Predict for this user (with --item-ids, or every item).", valueName: "ID"))
    var user: String?

    @Option(name: .customLong("item-ids"), parsing: .unconditional, help: ArgumentHelp(
        "Items to predict for --user, a comma-separated list of ids (default: every item of the model).", valueName: "LIST"))
    var itemIds: String?

    /// `--items LIST`, the spelling before `--item-ids`: kept so scripts keep working,
    /// hidden because `recommend --items` is a titles file.
    @Option(name: .customLong("items"), parsing: .unconditional, help: ArgumentHelp("Deprecated: the old spelling of --item-ids.", valueName: "LIST", visibility: .hidden))
    var deprecatedItems: String?
}

/// Where `predict` writes.
struct PredictOutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Write the predictions here (atomically) instead of stdout ('-': stdout).", valueName: "FILE"))
    var out: String?

    @Flag(help: "Print one JSON object on stdout (the predictions in it unless --out is given; keys: docs/json.md).")
    var json = false
}

/// A user or item id in a JSON report: a number where the model's ids are whole numbers
/// (as reports have always written them), a string where they are text (`IdMap.names`).
enum ReportId: Encodable, Equatable, CustomStringConvertible {
    case number(Int64)
    case text(String)

    /// The id written `id` (`IdMap.canonical`) of `map`.
    init(_ id: String, map: IdMap) {
        if map.names == nil, let number = Int64(id) {
            self = .number(number)
        } else {
            self = .text(id)
        }
    }

    var description: String {
        switch self {
        case let .number(number): return String(number)
        case let .text(text): return text
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case let .number(number): try container.encode(number)
        case let .text(text): try container.encode(text)
        }
    }
}
