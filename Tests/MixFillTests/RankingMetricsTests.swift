import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// `RankingMetrics`, the predictors' `scores(user:into:)` and `newUserPrediction(item:)`,
/// and `HeldOutSplits.match`, in process.
@Suite struct RankingMetricsTests {
    /// Scores from a table, users × items.
    struct TablePredictor: RatingPredictor {
        var itemCount: Int
        var table: [Double]

        func predict(user: Int, item: Int) -> Double { table[user * itemCount + item] }
        func newUserPrediction(item: Int) -> Double { 0 }
    }

    @Test func handRankedListsGiveTheirPrecisionRecallAndNDCG() throws {
        // 2 users × 6 items. Item 5 has no training rating: never ranked, never relevant.
        // User 0 rated item 0 in training; user 1 rated items 0–3.
        let training = SparseRatingMatrix(userCount: 2, itemCount: 6, ratings: [
            IndexedRating(user: 0, item: 0, rating: 5),
            IndexedRating(user: 1, item: 0, rating: 3), IndexedRating(user: 1, item: 1, rating: 3),
            IndexedRating(user: 1, item: 2, rating: 3), IndexedRating(user: 1, item: 3, rating: 3),
            IndexedRating(user: 0, item: 4, rating: 1),
        ])
        let predictor = TablePredictor(itemCount: 6, table: [
            // user 0: item 0 (training) scores highest; items 2 and 3 tie, so 2 comes first;
            // item 5 would be first of all were it a candidate.
            9, 1, 7, 7, 8, 10,
            0, 0, 0, 0, 1, 2,
        ])
        let test = [
            IndexedRating(user: 0, item: 3, rating: 4), IndexedRating(user: 0, item: 1, rating: 4.5),
            IndexedRating(user: 0, item: 2, rating: 3.5), IndexedRating(user: 0, item: 5, rating: 5),
            IndexedRating(user: 1, item: 4, rating: 4),
        ]
        // User 0's list at N = 2: item 2, item 3 (tie to the lower index; item 4 is in training).
        // Relevant {1, 3}: one hit at rank 2. User 1's candidates: item 4 only, relevant and first.
        let metrics = try #require(RankingMetrics.score(predictor, training: training, test: test,
                                                        settings: RankingSettings(cutoff: 2, relevance: 4)))
        let discount2 = 1 / log2(3.0)
        #expect(metrics.userCount == 2 && metrics.relevantCount == 3)
        #expect(metrics.precision == (0.5 + 0.5) / 2)
        #expect(metrics.recall == (0.5 + 1) / 2)
        #expect(abs(metrics.normalizedDiscountedCumulativeGain - (discount2 / (1 + discount2) + 1) / 2) <= 1e-15)
        #expect(abs(metrics.normalizedDiscountedCumulativeGain - 0.6934264036172708) <= 1e-15)

        // N = 1: user 0's list is item 2 alone (not relevant at 4, relevant at 3.5).
        let one = try #require(RankingMetrics.score(predictor, training: training, test: test, settings: RankingSettings(cutoff: 1, relevance: 4)))
        #expect(one.precision == 0.5 && one.recall == 0.5 && one.normalizedDiscountedCumulativeGain == 0.5)
        let lower = try #require(RankingMetrics.score(predictor, training: training, test: test, settings: RankingSettings(cutoff: 1, relevance: 3.5)))
        #expect(lower.precision == 1 && lower.recall == (1.0 / 3 + 1) / 2 && lower.normalizedDiscountedCumulativeGain == 1)
        // N beyond the 6 items: every candidate listed (user 0: items 2, 3, 1; user 1: item
        // 4), the list no longer than the items, so an N of Int.max allocates nothing of its
        // size; precision still divides by N.
        let all = try #require(RankingMetrics.score(predictor, training: training, test: test, settings: RankingSettings(cutoff: 6, relevance: 4)))
        let huge = try #require(RankingMetrics.score(predictor, training: training, test: test, settings: RankingSettings(cutoff: Int.max, relevance: 4)))
        #expect(all.recall == 1 && huge.recall == 1)
        #expect(abs(all.normalizedDiscountedCumulativeGain - ((1 / log2(3.0) + 1 / log2(4.0)) / (1 + 1 / log2(3.0)) + 1) / 2) <= 1e-15)
        #expect(huge.normalizedDiscountedCumulativeGain == all.normalizedDiscountedCumulativeGain)
        #expect(all.precision == (2.0 / 6 + 1.0 / 6) / 2 && huge.precision == (2 / Double(Int.max) + 1 / Double(Int.max)) / 2)
        // No relevant rating at all: nothing to average.
        #expect(RankingMetrics.score(predictor, training: training, test: test, settings: RankingSettings(cutoff: 2, relevance: 6)) == nil)
    }

    @Test func everyPredictorsScoresAreItsPredictionsBitForBit() throws {
        let dense = try Fixtures.load(Fixtures.smallIncomplete)
        let observed = dense.observedRatings()
        let training = SparseRatingMatrix(dense: dense)
        var scores = [Double](repeating: .nan, count: 5)
        func check(_ predictor: some RatingPredictor, _ name: String) {
            for user in 0..<20 {
                predictor.scores(user: user, into: &scores)
                #expect(scores == (0..<5).map { predictor.predict(user: user, item: $0) }, "\(name), user \(user)")
            }
        }
        check(BiasBaseline(training: observed, userCount: 20, itemCount: 5), "bias")
        let evaluator = Evaluator(seeds: [0])
        let course = try #require(try evaluator.fitCourse(RatingInput(storage: .dense(dense), format: .dense), componentCounts: [3]).first)
        check(MixturePredictor(mixture: course.mixture, posteriors: course.posteriors,
                               itemRatingCounts: [2, 1, 0, 4, 3], fallback: 2.75), "course")
        let (_, factor, states) = try evaluator.fitFactor(training, settings: FactorSettings(factorCount: 1, componentCount: 2,
                                                                                             loadingsPrior: 1, meansPrior: 1))
        check(FactorPredictor(model: factor, states: states, scale: RatingScale(minimum: 1, maximum: 5)), "mppca")
    }

    @Test func aNewUsersPredictionIsThePopulations() throws {
        let dense = try Fixtures.load(Fixtures.smallIncomplete)
        let observed = dense.observedRatings()
        let bias = BiasBaseline(training: observed, userCount: 20, itemCount: 5)
        #expect(bias.newUserPrediction(item: 3) == bias.mean + bias.itemBiases[3])
        let evaluator = Evaluator(seeds: [0])
        let course = try #require(try evaluator.fitCourse(RatingInput(storage: .dense(dense), format: .dense), componentCounts: [3]).first).mixture
        let mixture = MixturePredictor(mixture: course, posteriors: [Double](repeating: 1.0 / 3, count: 60),
                                       itemRatingCounts: [2, 1, 0, 4, 3], fallback: 2.75)
        let expected = (0..<3).reduce(0.0) { $0 + course.weights[$1] * course.means[$1 * 5 + 4] }
        #expect(abs(mixture.newUserPrediction(item: 4) - expected) <= 1e-14)
        #expect(mixture.newUserPrediction(item: 2) == 2.75, "an item without training ratings gets the fallback")

        let (_, factor, states) = try evaluator.fitFactor(SparseRatingMatrix(dense: dense),
                                                          settings: FactorSettings(factorCount: 1, componentCount: 2, loadingsPrior: 1, meansPrior: 1))
        let predictor = FactorPredictor(model: factor, states: states, scale: RatingScale(minimum: 1, maximum: 5))
        let population = factor.offsets.globalMean + factor.offsets.itemOffsets[1]
            + factor.weights[0] * factor.means[1 * 2 + 0] + factor.weights[1] * factor.means[1 * 2 + 1]
        #expect(abs(predictor.newUserPrediction(item: 1) - population) <= 1e-14)
        // What `mixfill predict` answers for a user it has never seen.
        let prior = ModelServer.foldIn(factor, ratings: [])
        #expect(predictor.newUserPrediction(item: 1)
                == FactorPredictor.prediction(model: factor, state: prior[1...], user: nil, userOffset: prior[0], item: 1))
    }

    @Test func aTestFileMatchesByIdAndSetsUnknownIdsApart() {
        // Training users 10, 20; items 100, 200, 300. Test users 10, 30; items 100, 400, 300.
        let trainingUsers = IdMap(sortedIds: [10, 20])
        let trainingItems = IdMap(sortedIds: [100, 200, 300])
        let testUsers = IdMap(sortedIds: [10, 30])
        let testItems = IdMap(sortedIds: [100, 300, 400])
        let test = [
            IndexedRating(user: 0, item: 1, rating: 4),   // 10, 300: matched
            IndexedRating(user: 0, item: 2, rating: 2),   // 10, 400: unknown item
            IndexedRating(user: 1, item: 0, rating: 5),   // 30, 100: unknown user
            IndexedRating(user: 1, item: 2, rating: 1),   // 30, 400: both unknown, scored as an unknown item
        ]
        let result = HeldOutSplits.match(test: test, testUsers: testUsers, testItems: testItems,
                                         trainingUsers: trainingUsers, trainingItems: trainingItems) { user, item in
            user == 0 && item == 0
        }
        #expect(result.overlap == nil)
        #expect(result.matched == [IndexedRating(user: 0, item: 2, rating: 4)])
        #expect(result.unmatched == UnmatchedRatings(newUserRatings: [IndexedRating(user: 0, item: 0, rating: 5)],
                                                     newItemRatings: [2, 1], unknownUserCount: 1, unknownItemCount: 1))
        let overlapping = HeldOutSplits.match(test: [IndexedRating(user: 0, item: 0, rating: 3)], testUsers: testUsers, testItems: testItems,
                                              trainingUsers: trainingUsers, trainingItems: trainingItems) { user, item in
            user == 0 && item == 0
        }
        #expect(overlapping.overlap?.user == "10" && overlapping.overlap?.item == "100")
    }
}
