import Foundation

/// How `RankingMetrics` scores: the length N of each user's list and the held-out rating
/// from which an item counts as relevant.
public struct RankingSettings: Sendable, Equatable {
    /// N of precision@N, recall@N and NDCG@N.
    public var cutoff: Int
    /// A held-out rating ≥ this makes its item relevant to its user.
    public var relevance: Double

    public init(cutoff: Int = 10, relevance: Double = 4) {
        precondition(cutoff >= 1, "a list of at least one item")
        self.cutoff = cutoff
        self.relevance = relevance
    }
}

/// Top-N accuracy of a predictor's rankings on held-out ratings (the protocol of
/// docs/evaluation.md), averaged over users:
///
/// - candidates of user u: every item with at least one training rating that u did not
///   rate in training ("rank all items", not only u's held-out ones); an item no
///   training rating reaches gets the same fallback score from every model, so it is
///   neither ranked nor counted as relevant;
/// - relevant items R_u: u's held-out items (among the candidates) rated ≥ `relevance`;
/// - L_u: the N candidates with the highest unclipped predictions (clipping only makes
///   ties), ties to the lower item index;
/// - hits h_u = |L_u ∩ R_u|;
///
///       precision@N = h_u / N          (N even when u has fewer than N candidates)
///       recall@N    = h_u / |R_u|      (the textbook recall, Surprise's and Microsoft
///                                       Recommenders'; it cannot reach 1 when |R_u| > N)
///       NDCG@N      = DCG_u / IDCG_u,  DCG_u = Σ_{r=1}^{|L_u|} [L_u(r) ∈ R_u] / log₂(r + 1),
///                                      IDCG_u = Σ_{r=1}^{min(N, |R_u|)} 1 / log₂(r + 1)
///
///   (binary gains; IDCG is the DCG of a list with every relevant item first).
///
/// Each is averaged over the users with |R_u| ≥ 1; users the training data does not have
/// (a test file's unknown ids) are not ranked.
public struct RankingMetrics: Sendable, Equatable {
    public var settings: RankingSettings
    public var precision: Double
    public var recall: Double
    public var normalizedDiscountedCumulativeGain: Double
    /// Users averaged over (those with a relevant held-out item).
    public var userCount: Int
    /// Σ_u |R_u|.
    public var relevantCount: Int

    public init(settings: RankingSettings, precision: Double, recall: Double, normalizedDiscountedCumulativeGain: Double,
                userCount: Int, relevantCount: Int) {
        self.settings = settings
        self.precision = precision
        self.recall = recall
        self.normalizedDiscountedCumulativeGain = normalizedDiscountedCumulativeGain
        self.userCount = userCount
        self.relevantCount = relevantCount
    }

    /// Ranks every user with a relevant rating in `test` (training indices) by
    /// `predictor.scores(user:into:)`, the candidates and relevant items as above; nil when
    /// no user has a relevant held-out item. The top N are kept by inserting into a list
    /// of at most N (O(d·N) per user at worst, O(d) once the list holds high scores)
    /// rather than sorting every item.
    public static func score(_ predictor: some RatingPredictor, training: SparseRatingMatrix, test: [IndexedRating],
                             settings: RankingSettings) -> RankingMetrics? {
        let itemCount = training.itemCount
        let userCount = training.userCount
        var isTrained = [Bool](repeating: false, count: itemCount)
        for position in 0..<training.observedCount { isTrained[training.items[position]] = true }
        // Each user's relevant items, grouped by user (a counting sort of `test`).
        var relevantStarts = [Int](repeating: 0, count: userCount + 1)
        for rating in test where rating.rating >= settings.relevance && isTrained[rating.item] {
            relevantStarts[rating.user + 1] += 1
        }
        for user in 0..<userCount { relevantStarts[user + 1] += relevantStarts[user] }
        var relevantItems = [Int](repeating: 0, count: relevantStarts[userCount])
        var next = relevantStarts
        for rating in test where rating.rating >= settings.relevance && isTrained[rating.item] {
            relevantItems[next[rating.user]] = rating.item
            next[rating.user] += 1
        }
        let cutoff = settings.cutoff
        // A list never holds more than the d items, whatever N is asked: the discounts
        // 1/log2(rank + 1) and the list's storage are sized by the shorter.
        let listLength = min(cutoff, itemCount)
        let discounts = (0..<listLength).map { 1 / log2(Double($0) + 2) }
        var isRelevant = [Bool](repeating: false, count: itemCount)
        var scores = [Double](repeating: 0, count: itemCount)
        var best = [(item: Int, score: Double)]()
        best.reserveCapacity(listLength + 1)
        var sums = (precision: 0.0, recall: 0.0, gain: 0.0)
        var rankedUsers = 0
        for user in 0..<userCount where relevantStarts[user + 1] > relevantStarts[user] {
            let relevant = relevantItems[relevantStarts[user]..<relevantStarts[user + 1]]
            for item in relevant { isRelevant[item] = true }
            predictor.scores(user: user, into: &scores)
            best.removeAll(keepingCapacity: true)
            var excluded = training.rowStarts[user]
            let excludedEnd = training.rowStarts[user + 1]
            for item in 0..<itemCount where isTrained[item] {
                while excluded < excludedEnd, training.items[excluded] < item { excluded += 1 }
                if excluded < excludedEnd, training.items[excluded] == item { continue }
                let value = scores[item]
                // A later item enters only with a strictly higher score: ties go to the lower index.
                if best.count == cutoff, let last = best.last, !(value > last.score) { continue }
                var slot = best.count
                while slot > 0, value > best[slot - 1].score { slot -= 1 }
                best.insert((item, value), at: slot)
                if best.count > cutoff { best.removeLast() }
            }
            var hits = 0
            var gain = 0.0
            for (rank, entry) in best.enumerated() where isRelevant[entry.item] {
                hits += 1
                gain += discounts[rank]
            }
            let ideal = discounts.prefix(relevant.count).reduce(0, +)
            sums.precision += Double(hits) / Double(cutoff)
            sums.recall += Double(hits) / Double(relevant.count)
            sums.gain += gain / ideal
            rankedUsers += 1
            for item in relevant { isRelevant[item] = false }
        }
        guard rankedUsers > 0 else { return nil }
        let users = Double(rankedUsers)
        return RankingMetrics(settings: settings, precision: sums.precision / users, recall: sums.recall / users,
                              normalizedDiscountedCumulativeGain: sums.gain / users,
                              userCount: rankedUsers, relevantCount: relevantItems.count)
    }
}
