import ArgumentParser
import Foundation
import MixFill
import MixFillTools

/// What `predict` and `recommend` share: the model, where its training ratings are, and
/// a user folded in from ratings given on the command line or in a file.
struct ServingOptions: ParsableArguments {
    @OptionGroup(title: HelpHeading.model) var modelOptions: ServingModelOptions

    @OptionGroup(title: HelpHeading.newUser) var foldIn: FoldInOptions

    @OptionGroup(title: HelpHeading.engine) var engine: EngineOptions

    var model: String { modelOptions.model }
    var data: String? { modelOptions.data }
    var ratings: String? { foldIn.ratings }
    var ratingsFile: String? { foldIn.ratingsFile }

    func validate() throws {
        if ratings != nil, ratingsFile != nil {
            throw ValidationError("--ratings, --ratings-file: give the new user's ratings one way")
        }
        if let ratings {
            do { _ = try UserRatingsReader.parseList(ratings) } catch { throw ValidationError(error.description) }
        }
    }

    var hasFoldIn: Bool { ratings != nil || ratingsFile != nil }

    /// The fold-in ratings by id, from --ratings or --ratings-file; nil when neither.
    func foldInRatings(items: IdMap) throws -> (ratings: [(item: String, rating: Double)], source: String)? {
        if let ratings { return (try UserRatingsReader.parseList(ratings, items: items), "--ratings") }
        if let ratingsFile {
            let ratings = try UserRatingsReader.read(path: ratingsFile, items: items)
            let name = StandardInput.displayName(ratingsFile)
            if ratings.isEmpty {
                Terminal.warning("\(name): holds no ratings (write one per line: ITEM RATING); the user is folded in from none, as a user without ratings")
            }
            return (ratings, name)
        }
        return nil
    }

    /// Maps fold-in ratings to the model's item indices. An item the model does not know
    /// carries no information about the components and is left out (with a warning); an
    /// item rated twice is an error; a rating outside the training range is kept (with a
    /// warning), since the E-step is defined for any value.
    static func indexRatings(_ given: [(item: String, rating: Double)], source: String, server: ModelServer) throws -> [(item: Int, rating: Double)] {
        var indexed = [(item: Int, rating: Double)]()
        var seen = Set<String>()
        var unknown = [String]()
        var outside = [String]()
        for (item, rating) in given {
            guard seen.insert(item).inserted else {
                throw MixFillError.badOption(option: source, message: "item \(item) is rated twice; give each item one rating")
            }
            guard let index = server.model.items.index(ofName: item) else {
                unknown.append(item)
                continue
            }
            if let scale = server.scale, rating < scale.minimum || rating > scale.maximum { outside.append(item) }
            indexed.append((index, rating))
        }
        if !unknown.isEmpty {
            Terminal.warning("\(source): \(Self.list(unknown)) not in the model; \(unknown.count == 1 ? "its rating is" : "their ratings are") left out of the fold-in")
        }
        if !outside.isEmpty, let scale = server.scale {
            let one = outside.count == 1
            Terminal.warning("\(source): the rating\(one ? "" : "s") of \(Self.list(outside, verb: false)) \(one ? "lies" : "lie") outside the training range \(scale.minimum)–\(scale.maximum)")
        }
        return indexed
    }

    /// `item 4 is`, `items 4, 7 are` (without the verb when `verb` is false).
    static func list(_ items: [String], verb: Bool = true) -> String {
        let shown = items.prefix(5).joined(separator: ", ")
        return (items.count == 1 ? "item " : "items ") + shown + (items.count > 5 ? " and \(items.count - 5) more" : "")
            + (verb ? (items.count == 1 ? " is" : " are") : "")
    }

    /// The training data, read from --data or the path the model records, and checked to
    /// be the data the model was fitted on (fingerprint; shape for version 1 models).
    /// `why` says in an error message what needed it.
    ///
    /// The path the model records is read in the format the model records: a file fitted
    /// with `--format` (a 3-column matrix, triplets that could pass for one) would be
    /// detected as something else. So is `--data` naming that same path. Another `--data`
    /// may be a copy in another format (the binary file converted from it), so it is
    /// detected — and read again in the recorded format when detection's reading fails or
    /// is not the model's data (a pipe, read once, only as detected).
    func trainingData(for file: ModelFile, why: String) throws -> LoadedRatings {
        guard let path = data ?? file.training?.path else {
            throw MixFillError.badOption(option: "--data", message: "\(why) needs the model's training ratings and \(model) records no data path; give the training data with --data")
        }
        let recordedFormat = file.training.flatMap { RatingFormat(rawValue: $0.format) } ?? .auto
        let isRecordedPath = data == nil || (!StreamInput.isStream(path) && absolutePath(path) == file.training?.path)
        let fingerprint = file.training?.fingerprint
        var readResult = Result { () throws(MixFillError) -> RatingInput in
            try RatingInput.load(path: path, format: isRecordedPath ? recordedFormat : .auto)
        }
        if data == nil, case let .failure(error) = readResult {
            throw MixFillError.badOption(option: "--data", message: "\(why) needs the model's training ratings; \(model) records \(path), which cannot be read (\(error.description)); give the training data with --data")
        }
        var requested = isRecordedPath ? recordedFormat : .auto
        // The fingerprint of what was read, computed once: it hashes every rating.
        var readFingerprint = fingerprint == nil ? nil : (try? readResult.get())?.fingerprint
        if !isRecordedPath, let fingerprint, recordedFormat != .auto, !StreamInput.isStream(path),
           readFingerprint != fingerprint, (try? readResult.get())?.format != recordedFormat,
           let again = try? RatingInput.load(path: path, format: recordedFormat) {
            let againFingerprint = again.fingerprint
            if againFingerprint == fingerprint {
                readResult = .success(again)
                readFingerprint = againFingerprint
                requested = recordedFormat
            }
        }
        let loaded = LoadedRatings.keep(try readResult.get(), path: path, requestedFormat: requested)
        if let fingerprint {
            let found = readFingerprint ?? loaded.fingerprint
            guard found == fingerprint else {
                // A file is read again in the recorded format above; a pipe cannot be. Read
                // as dense where the model's data was triplets, or the other way round
                // (detection's one ambiguity), it may be the right data read wrongly.
                let confusable: Set<RatingFormat> = [.dense, .triplets]
                let hint = StreamInput.isStream(path) && loaded.input.format != recordedFormat
                    && confusable.contains(loaded.input.format) && confusable.contains(recordedFormat)
                    ? "; it was read from a pipe as \(loaded.format) (detected), but \(model) was fitted on \(recordedFormat.rawValue) data: give the data as a file, which is read as \(recordedFormat.rawValue) when detection's reading is not the model's data"
                    : ""
                throw MixFillError.badFile(file: loaded.displayPath, message: "is not the data \(model) was fitted on (fingerprint \(found), the model's \(fingerprint)); give the training data with --data, or refit" + hint)
            }
        } else {
            guard loaded.userCount == file.userCount, loaded.itemCount == file.itemCount,
                  loaded.observedCount == file.observedCount else {
                throw MixFillError.badFile(file: loaded.displayPath, message: "is \(loaded.userCount) × \(loaded.itemCount) with \(loaded.observedCount) ratings but \(model) was fitted on \(file.userCount) × \(file.itemCount) with \(file.observedCount); give the training data with --data")
            }
        }
        return loaded
    }

    /// Every training user's E-step under the saved model (the kernel `--kernel auto`
    /// picks for the data; dense ones by --backend): p(j | u) for the course model, the
    /// kernels' states for the factor family (`ModelServer.attachTrainingPosteriors`).
    func trainingPosteriors(_ loaded: LoadedRatings, _ file: ModelFile) throws -> [Double] {
        let fitEngine = try engine.makeEngine(for: loaded.input, family: file.family)
        switch file.parameters {
        case let .course(mixture):
            return try fitEngine.posteriors(of: mixture, on: loaded.input)
        case let .factor(model):
            return try fitEngine.factorLoop(for: loaded.input).userStates(model).states
        }
    }
}

/// The model `predict` and `recommend` serve, and its training data.
struct ServingModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A model written by 'mixfill fit --model-out'.", valueName: "FILE"))
    var model: String

    @Option(help: ArgumentHelp(
        "The model's training data (default: the path the model records; '-' reads standard input). Needed for training users; checked against the model's fingerprint.",
        valueName: "FILE"))
    var data: String?
}

/// A new user folded in from ratings given on the command line or in a file.
struct FoldInOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Fold in a user from these ratings, ITEM:RATING pairs separated by commas, e.g. 12:5,40:3.5.", valueName: "LIST"))
    var ratings: String?

    @Option(name: .customLong("ratings-file"), help: ArgumentHelp(
        "Fold in a user from this file of 'ITEM RATING' lines ('-' reads standard input).", valueName: "FILE"))
    var ratingsFile: String?
}
