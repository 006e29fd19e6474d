/// Ways to hold observed ratings out of training, so a model is scored on ratings it has
/// not seen.
///
/// Both splits shuffle the observed ratings (in user-major order, items ascending) with
/// numpy's legacy permutation, so a numpy user reproduces them exactly:
///
///     np.random.seed(S); order = np.random.permutation(m)
///
/// - holdout: the first round(f·m) positions of `order` are held out;
/// - k folds: fold f holds out positions ⌊f·m/k⌋ ..< ⌊(f+1)·m/k⌋ (sizes differ by at most one).
///
/// A user (or item) can lose every training rating to the test set; the models handle
/// that (see `MixturePredictor` and `BiasBaseline`), and the test set keeps the rating.
public enum HeldOutSplits {
    public struct Split: Sendable {
        public var training: [IndexedRating]
        public var test: [IndexedRating]

        public init(training: [IndexedRating], test: [IndexedRating]) {
            self.training = training
            self.test = test
        }
    }

    /// The permutation of 0..<count numpy's `np.random.seed(seed); np.random.permutation(count)` gives.
    public static func permutation(count: Int, seed: UInt32) -> [Int] {
        var generator = MersenneTwister(seed: seed)
        return generator.choiceWithoutReplacement(populationSize: count, count: count)
    }

    /// Holds out round(fraction·m) ratings; both parts must be non-empty (the CLI checks).
    public static func holdout(_ ratings: [IndexedRating], fraction: Double, seed: UInt32) -> Split {
        precondition(fraction > 0 && fraction < 1)
        let order = permutation(count: ratings.count, seed: seed)
        let testCount = Int((fraction * Double(ratings.count)).rounded())
        return split(ratings, order: order, testRange: 0..<testCount)
    }

    /// k folds; fold f's test part is the f-th slice of the permutation.
    public static func folds(_ ratings: [IndexedRating], count: Int, seed: UInt32) -> [Split] {
        precondition(count >= 2 && count <= ratings.count)
        let order = permutation(count: ratings.count, seed: seed)
        return (0..<count).map { fold in
            split(ratings, order: order, testRange: (fold * ratings.count / count)..<((fold + 1) * ratings.count / count))
        }
    }

    /// The number of held-out ratings `holdout` takes from `count`.
    public static func holdoutCount(_ count: Int, fraction: Double) -> Int {
        Int((fraction * Double(count)).rounded())
    }

    private static func split(_ ratings: [IndexedRating], order: [Int], testRange: Range<Int>) -> Split {
        var heldOut = [Bool](repeating: false, count: ratings.count)
        var test = [IndexedRating]()
        test.reserveCapacity(testRange.count)
        for position in testRange {
            heldOut[order[position]] = true
            test.append(ratings[order[position]])
        }
        var training = [IndexedRating]()
        training.reserveCapacity(ratings.count - testRange.count)
        for index in ratings.indices where !heldOut[index] { training.append(ratings[index]) }
        return Split(training: training, test: test)
    }
}

extension DenseRatingMatrix {
    /// A matrix holding exactly `ratings` (every other entry missing).
    public init(userCount: Int, itemCount: Int, ratings: [IndexedRating]) {
        var values = [Double](repeating: 0, count: userCount * itemCount)
        for rating in ratings { values[rating.user * itemCount + rating.item] = rating.rating }
        self.init(userCount: userCount, itemCount: itemCount, values: values)
    }
}
