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
        /// Held-out ratings of users and items the training data has (by index).
        public var test: [IndexedRating]
        /// Held-out ratings whose user or item id the training data does not have (only a
        /// test file's ids can be unknown).
        public var unmatched: UnmatchedRatings

        public init(training: [IndexedRating], test: [IndexedRating], unmatched: UnmatchedRatings = .none) {
            self.training = training
            self.test = test
            self.unmatched = unmatched
        }

        /// Every held-out rating, matched or not.
        public var testCount: Int { test.count + unmatched.count }
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

/// Held-out ratings of a test file whose ids the training file does not have, with the
/// fallback each is scored by (see `AccuracyMetrics.score(_:on:unmatched:scale:mean:)`):
///
/// - user unknown, item known: the model's prediction for a user with no ratings;
/// - item unknown (whatever the user): the mean training rating, for every model.
public struct UnmatchedRatings: Sendable, Equatable {
    /// Ratings of unknown users for known items: `item` is the training item index, `user`
    /// numbers the unknown users 0, 1, … in the test file's order of ids.
    public var newUserRatings: [IndexedRating]
    /// Ratings of unknown items (the rating is all their score needs).
    public var newItemRatings: [Double]
    /// Distinct test user ids the training data does not have (over all their ratings).
    public var unknownUserCount: Int
    /// Distinct test item ids the training data does not have.
    public var unknownItemCount: Int

    public init(newUserRatings: [IndexedRating] = [], newItemRatings: [Double] = [], unknownUserCount: Int = 0, unknownItemCount: Int = 0) {
        self.newUserRatings = newUserRatings
        self.newItemRatings = newItemRatings
        self.unknownUserCount = unknownUserCount
        self.unknownItemCount = unknownItemCount
    }

    public static let none = UnmatchedRatings()

    /// Ratings scored by a fallback.
    public var count: Int { newUserRatings.count + newItemRatings.count }
}

extension HeldOutSplits {
    /// A test file's ratings matched to the training data by id: `testUsers`/`testItems`
    /// are the test file's id maps, `test` its ratings by its own indices; `trainingUsers`
    /// and `trainingItems` the training data's maps. Ratings whose user and item both
    /// exist in training come back by training index, ordered by user then item (the test
    /// file's order when both maps order ids alike); the rest as `UnmatchedRatings`.
    /// `isTraining(user, item)` (training indices) says whether training has the pair:
    /// the first such pair is returned as `overlap` (ids as written), for the caller to refuse.
    public static func match(test: some Sequence<IndexedRating>, testUsers: IdMap, testItems: IdMap,
                             trainingUsers: IdMap, trainingItems: IdMap,
                             isTraining: (_ user: Int, _ item: Int) -> Bool)
        -> (matched: [IndexedRating], unmatched: UnmatchedRatings, overlap: (user: String, item: String)?) {
        // Index maps test → training, -1 for an unknown id; unknown users numbered in order.
        let itemIndex = testItems.indices(in: trainingItems).map { $0 ?? -1 }
        let userIndex = testUsers.indices(in: trainingUsers).map { $0 ?? -1 }
        var newUserNumber = [Int](repeating: -1, count: testUsers.count)
        var unknownItemSeen = [Bool](repeating: false, count: testItems.count)
        var matched = [IndexedRating]()
        var unmatched = UnmatchedRatings()
        for rating in test {
            let item = itemIndex[rating.item]
            let user = userIndex[rating.user]
            if user < 0, newUserNumber[rating.user] < 0 {
                newUserNumber[rating.user] = unmatched.unknownUserCount
                unmatched.unknownUserCount += 1
            }
            if item < 0 {
                if !unknownItemSeen[rating.item] {
                    unknownItemSeen[rating.item] = true
                    unmatched.unknownItemCount += 1
                }
                unmatched.newItemRatings.append(rating.rating)
            } else if user < 0 {
                unmatched.newUserRatings.append(IndexedRating(user: newUserNumber[rating.user], item: item, rating: rating.rating))
            } else if isTraining(user, item) {
                return (matched, unmatched, (testUsers.name(rating.user), testItems.name(rating.item)))
            } else {
                matched.append(IndexedRating(user: user, item: item, rating: rating.rating))
            }
        }
        // Maps of different kinds (numbers and names) order ids differently.
        if testUsers.names != nil || testItems.names != nil || trainingUsers.names != nil || trainingItems.names != nil {
            matched.sort { ($0.user, $0.item) < ($1.user, $1.item) }
        }
        return (matched, unmatched, nil)
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
