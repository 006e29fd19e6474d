import ArgumentParser
import Foundation
import MixFill
import MixFillTools

/// How `eval` and `select` hold ratings out: exactly one of a test file, a random
/// holdout, k folds, or a gold matrix that reveals the missing entries.
struct HeldOutOptions: ParsableArguments {
    @Option(help: "Held-out ratings: a matrix of DATA's shape whose non-zero entries are scored (they must be missing from DATA).")
    var test: String?

    @Option(help: "Hold out this fraction of the observed ratings at random (0 < F < 1), e.g. 0.2.")
    var holdout: Double?

    @Option(help: "k-fold cross-validation over the observed ratings (k ≥ 2): per-fold figures and mean ± standard deviation.")
    var folds: Int?

    @Option(help: "The complete matrix: score the entries missing from DATA against it (training on all of DATA).")
    var gold: String?

    @Option(name: .customLong("split-seed"), help: "Seed of the random split for --holdout and --folds (numpy's permutation; default 0).")
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
        let sizes = splits.map(\.test.count)
        if let test { return "held out: the \(sizes[0]) ratings in \(test)" }
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
    func splits(of data: LoadedRatings) throws -> (splits: [HeldOutSplits.Split], missingEntries: [IndexedRating]?) {
        let matrix = try data.denseMatrix()
        let observed = matrix.observedRatings()
        guard !observed.isEmpty else {
            throw MixFillError.badFile(file: data.path, message: "has no observed rating (every entry is 0); give data with ratings to train on")
        }
        if let holdout {
            let count = HeldOutSplits.holdoutCount(observed.count, fraction: holdout)
            guard count >= 1, count < observed.count else {
                throw MixFillError.badOption(option: "--holdout", message: "\(holdout) of \(observed.count) ratings holds out \(count); choose a fraction that leaves ratings on both sides")
            }
            return ([HeldOutSplits.holdout(observed, fraction: holdout, seed: splitSeed)], nil)
        }
        if let folds {
            guard folds <= observed.count else {
                throw MixFillError.badOption(option: "--folds", message: "\(folds) folds of \(observed.count) ratings leaves some empty; choose at most \(observed.count)")
            }
            return (HeldOutSplits.folds(observed, count: folds, seed: splitSeed), nil)
        }
        if let path = test ?? gold {
            let other = try DenseMatrixReader.read(path: path)
            guard other.userCount == matrix.userCount, other.itemCount == matrix.itemCount else {
                throw MixFillError.badFile(file: path, message: "is \(other.userCount) × \(other.itemCount) but \(data.path) is \(matrix.userCount) × \(matrix.itemCount); give a matrix of the same shape")
            }
            var heldOut = [IndexedRating]()
            var missingEntries = [IndexedRating]()
            if gold != nil {
                for user in 0..<matrix.userCount {
                    for item in 0..<matrix.itemCount where !matrix.isObserved(user: user, item: item) {
                        missingEntries.append(IndexedRating(user: user, item: item, rating: other[user, item]))
                    }
                }
            }
            for rating in other.observedRatings() {
                if matrix.isObserved(user: rating.user, item: rating.item) {
                    if test != nil {
                        throw MixFillError.badFile(file: path, message: "holds a rating for user \(data.users.id(rating.user)), item \(data.items.id(rating.item)) that \(data.path) also has; held-out ratings must be missing from the training data (a complete matrix goes with --gold)")
                    }
                    continue
                }
                heldOut.append(rating)
            }
            guard !heldOut.isEmpty else {
                throw MixFillError.badFile(file: path, message: "has no rating at an entry missing from \(data.path); nothing to score")
            }
            return ([HeldOutSplits.Split(training: observed, test: heldOut)], gold != nil ? missingEntries : nil)
        }
        return ([], nil)
    }
}
