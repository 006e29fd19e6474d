import ArgumentParser
import Foundation
import MixFill
import MixFillTools

/// How `eval` and `select` hold ratings out: exactly one of a test file, a random
/// holdout, k folds, or a gold matrix that reveals the missing entries.
struct HeldOutOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Held-out ratings: rating records matched to DATA by user and item id (read like DATA), or, for a dense DATA, a matrix of its shape whose non-zero entries are scored; they must be missing from DATA.",
        valueName: "FILE"))
    var test: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Hold out this fraction of the observed ratings at random (0 < F < 1), e.g. 0.2.", valueName: "F"))
    var holdout: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("k-fold cross-validation over the observed ratings (k ≥ 2): per-fold figures and mean ± standard deviation.", valueName: "K"))
    var folds: Int?

    @Option(help: ArgumentHelp("The complete matrix: score the entries missing from DATA against it (training on all of DATA).", valueName: "FILE"))
    var gold: String?

    @Option(name: .customLong("split-seed"), parsing: .unconditional, help: ArgumentHelp("Seed of the random split for --holdout and --folds (numpy's permutation; default 0).", valueName: "SEED"))
    var splitSeedOption: UInt32?

    var splitSeed: UInt32 { splitSeedOption ?? 0 }

    var isGiven: Bool { test != nil || holdout != nil || folds != nil || gold != nil }

    func validate() throws {
        let given = [test.map { _ in "--test" }, holdout.map { _ in "--holdout" }, folds.map { _ in "--folds" }, gold.map { _ in "--gold" }].compactMap { $0 }
        if given.count > 1 {
            throw ValidationError("\(given.joined(separator: ", ")): give only one way to hold ratings out")
        }
        if let holdout, !(holdout > 0 && holdout < 1) {
            throw ValidationError("--holdout: \(holdout) is not a fraction between 0 and 1; give e.g. 0.2")
        }
        if let folds, folds < 2 {
            throw ValidationError("--folds: \(folds) is not allowed; give 2 or more folds")
        }
        if splitSeedOption != nil, holdout == nil, folds == nil {
            throw ValidationError("--split-seed: only a random split (--holdout or --folds) has a seed")
        }
    }

    /// The protocol's description for reports.
    struct Method: Encodable {
        var kind: String
        var path: String?
        var fraction: Double?
        var folds: Int?
        var split_seed: UInt32?
        /// With --test: distinct TEST user (item) ids that DATA does not have, and the
        /// ratings scored by the fallbacks (see `UnmatchedRatings`).
        var unknown_users: Int?
        var unknown_items: Int?
        var unknown_user_ratings: Int?
        var unknown_item_ratings: Int?

        /// Adds the unknown-id counts of a --test split.
        mutating func count(_ unmatched: UnmatchedRatings) {
            unknown_users = unmatched.unknownUserCount
            unknown_items = unmatched.unknownItemCount
            unknown_user_ratings = unmatched.newUserRatings.count
            unknown_item_ratings = unmatched.newItemRatings.count
        }
    }

    var description: Method? {
        if let test { return Method(kind: "test", path: test) }
        if let gold { return Method(kind: "gold", path: gold) }
        if let holdout { return Method(kind: "holdout", fraction: holdout, split_seed: splitSeed) }
        if let folds { return Method(kind: "folds", folds: folds, split_seed: splitSeed) }
        return nil
    }

    /// One line saying what is held out, for tables.
    func summary(_ splits: [HeldOutSplits.Split], observed: Int, missingEntryCount: Int = 0) -> String {
        let sizes = splits.map(\.testCount)
        if let test {
            var line = "held out: the \(sizes[0]) ratings in \(test)"
            if let unmatched = splits.first?.unmatched, unmatched.count > 0 {
                var parts = [String]()
                if unmatched.unknownUserCount > 0 {
                    parts.append("\(counted(unmatched.unknownUserCount, "user")) (\(counted(unmatched.newUserRatings.count, "rating")) of known items, predicted as for a user with no ratings)")
                }
                if unmatched.unknownItemCount > 0 {
                    parts.append("\(counted(unmatched.unknownItemCount, "item")) (\(counted(unmatched.newItemRatings.count, "rating")), predicted by the mean training rating)")
                }
                line += "\nunknown to the data: " + parts.joined(separator: ", ") + "; not ranked"
            }
            return line
        }
        if let gold {
            let unknown = missingEntryCount - sizes[0]
            return "held out: the \(sizes[0]) entries missing from the data that \(gold) reveals"
                + (unknown > 0 ? " (\(unknown) more are 0 there too)" : "")
        }
        if let holdout {
            return "held out: \(sizes[0]) of \(observed) observed ratings (\(fixed(100 * holdout, 1))%), split seed \(splitSeed)"
        }
        let low = sizes.min() ?? 0
        let high = sizes.max() ?? 0
        return "held out: \(splits.count)-fold cross-validation of \(observed) observed ratings, folds of \(low == high ? "\(low)" : "\(low)–\(high)") ratings, split seed \(splitSeed)"
    }

    /// The (training, test) pairs; training is all of `data` for --test and --gold.
    /// With --gold, also every entry missing from `data` with the gold's value (0 where
    /// the gold does not know the rating either), for the course's missing-entry RMSE.
    ///
    /// The observed ratings come user by user, items ascending, from either storage, so
    /// record data splits as its dense form would without being densified; only --gold
    /// (a dense gold matrix) and a dense --test of a dense DATA use the dense form. A
    /// --test file of records (or any --test of record DATA) is read with `options` and
    /// matched to DATA by id.
    func splits(of data: LoadedRatings, options: DataOptions) throws -> (splits: [HeldOutSplits.Split], missingEntries: [IndexedRating]?) {
        let observed: [IndexedRating]
        switch data.input.storage {
        case let .dense(matrix): observed = matrix.observedRatings()
        case let .records(table): observed = table.matrix.indexedRatings
        }
        guard !observed.isEmpty else {
            throw MixFillError.badFile(file: data.path, message: "has no observed rating (every entry is 0); give data with ratings to train on")
        }
        if let holdout {
            let count = HeldOutSplits.holdoutCount(observed.count, fraction: holdout)
            guard count >= 1, count < observed.count else {
                throw MixFillError.badOption(option: "--holdout", message: "\(holdout) of \(counted(observed.count, "rating")) holds out \(count); choose a fraction that leaves ratings on both sides")
            }
            return ([HeldOutSplits.holdout(observed, fraction: holdout, seed: splitSeed)], nil)
        }
        if let folds {
            guard folds <= observed.count else {
                throw MixFillError.badOption(option: "--folds", message: "\(folds) folds of \(counted(observed.count, "rating")) leaves some empty; choose at most \(observed.count)")
            }
            return (HeldOutSplits.folds(observed, count: folds, seed: splitSeed), nil)
        }
        if let test {
            let other = try LoadedRatings.load(test, options)
            if let matrix = data.input.denseMatrix, let testMatrix = other.input.denseMatrix {
                return ([try Self.denseTest(testMatrix, path: test, data: data, matrix: matrix, observed: observed)], nil)
            }
            return ([try Self.recordTest(other, data: data, observed: observed)], nil)
        }
        if let gold {
            let matrix = try data.denseMatrix("--gold compares dense matrices, so DATA must have a dense form; score held-out records with --test FILE")
            let other = try DenseMatrixReader.read(path: gold)
            try other.requireComplete(of: matrix, name: gold, dataName: data.path, remedy: "give a matrix of the same shape")
            var heldOut = [IndexedRating]()
            var missingEntries = [IndexedRating]()
            for user in 0..<matrix.userCount {
                for item in 0..<matrix.itemCount where !matrix.isObserved(user: user, item: item) {
                    missingEntries.append(IndexedRating(user: user, item: item, rating: other[user, item]))
                }
            }
            for rating in other.observedRatings() where !matrix.isObserved(user: rating.user, item: rating.item) {
                heldOut.append(rating)
            }
            guard !heldOut.isEmpty else {
                throw MixFillError.badFile(file: gold, message: "has no rating at an entry missing from \(data.path); nothing to score")
            }
            return ([HeldOutSplits.Split(training: observed, test: heldOut)], missingEntries)
        }
        return ([], nil)
    }

    /// A dense --test of a dense DATA: a matrix of the same shape, matched by position.
    private static func denseTest(_ other: DenseRatingMatrix, path: String, data: LoadedRatings, matrix: DenseRatingMatrix,
                                  observed: [IndexedRating]) throws -> HeldOutSplits.Split {
        guard other.userCount == matrix.userCount, other.itemCount == matrix.itemCount else {
            throw MixFillError.badFile(file: path, message: "is \(other.userCount) × \(other.itemCount) but \(data.path) is \(matrix.userCount) × \(matrix.itemCount); give a matrix of the same shape")
        }
        var heldOut = [IndexedRating]()
        for rating in other.observedRatings() {
            if matrix.isObserved(user: rating.user, item: rating.item) {
                throw MixFillError.badFile(file: path, message: "holds a rating for user \(data.users.name(rating.user)), item \(data.items.name(rating.item)) that \(data.path) also has; held-out ratings must be missing from the training data (a complete matrix goes with --gold)")
            }
            heldOut.append(rating)
        }
        guard !heldOut.isEmpty else {
            throw MixFillError.badFile(file: path, message: "has no rating at an entry missing from \(data.path); nothing to score")
        }
        return HeldOutSplits.Split(training: observed, test: heldOut)
    }

    /// A --test matched to DATA by user and item id (`HeldOutSplits.match`): TEST's
    /// unknown ids are scored by the fallbacks, a pair DATA also rates is refused.
    private static func recordTest(_ other: LoadedRatings, data: LoadedRatings, observed: [IndexedRating]) throws -> HeldOutSplits.Split {
        let table = other.input.table
        guard table.matrix.observedCount > 0 else {
            throw MixFillError.badFile(file: other.displayPath, message: "holds no ratings; nothing to score")
        }
        let matched: (matched: [IndexedRating], unmatched: UnmatchedRatings, overlap: (user: String, item: String)?)
        switch data.input.storage {
        case let .dense(matrix):
            matched = HeldOutSplits.match(test: table.matrix.indexedRatings, testUsers: table.users, testItems: table.items,
                                          trainingUsers: data.users, trainingItems: data.items,
                                          isTraining: { matrix.isObserved(user: $0, item: $1) })
        case let .records(training):
            matched = HeldOutSplits.match(test: table.matrix.indexedRatings, testUsers: table.users, testItems: table.items,
                                          trainingUsers: training.users, trainingItems: training.items,
                                          isTraining: { training.matrix.contains(user: $0, item: $1) })
        }
        if let overlap = matched.overlap {
            let message = "holds a rating for user \(overlap.user), item \(overlap.item) that \(data.displayPath) also has; held-out ratings must be missing from the training data"
            if let layout = other.input.format.recordLayout,
               let position = RecordReader.position(of: overlap, path: other.path, layout: layout) {
                throw MixFillError.badInput(file: other.displayPath, line: position.line, column: position.column, message: message)
            }
            throw MixFillError.badFile(file: other.displayPath, message: message)
        }
        return HeldOutSplits.Split(training: observed, test: matched.matched, unmatched: matched.unmatched)
    }
}
