import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// Held-out splits, accuracy metrics, the baselines and the evaluation harness.
@Suite(.blasProcessState) struct EvaluationTests {
    // MARK: Splits

    @Test func permutationIsNumpys() {
        // Tests/Reference/bias_baseline.py: np.random.seed(0); np.random.permutation(10)
        #expect(HeldOutSplits.permutation(count: 10, seed: 0) == [2, 8, 4, 9, 1, 6, 7, 3, 0, 5])
    }

    @Test func holdoutTakesTheFirstPositionsOfNumpysPermutation() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let ratings = data.observedRatings()
        #expect(ratings.count == 81)
        let split = HeldOutSplits.holdout(ratings, fraction: 0.2, seed: 7)
        // round(0.2 · 81) = 16; np.random.seed(7); np.random.permutation(81)[:16]
        let expectedPositions = [62, 36, 60, 17, 41, 12, 27, 15, 40, 2, 37, 13, 75, 30, 49, 63]
        #expect(split.test == expectedPositions.map { ratings[$0] })
        #expect(split.training.count == 65)
        #expect(Set(split.training.map { $0.user * 5 + $0.item }).isDisjoint(with: split.test.map { $0.user * 5 + $0.item }))
    }

    @Test func foldsPartitionTheRatings() throws {
        let ratings = try Fixtures.load(Fixtures.smallIncomplete).observedRatings()
        let folds = HeldOutSplits.folds(ratings, count: 4, seed: 3)
        #expect(folds.map(\.test.count) == [20, 20, 20, 21])
        let keys = folds.flatMap { $0.test.map { $0.user * 5 + $0.item } }
        #expect(keys.count == 81 && Set(keys).count == 81)
        for fold in folds {
            #expect(fold.training.count + fold.test.count == 81)
            #expect(Set(fold.training.map { $0.user * 5 + $0.item }).isDisjoint(with: fold.test.map { $0.user * 5 + $0.item }))
        }
    }

    // MARK: Metrics

    struct Fixed: RatingPredictor {
        var values: [Int: Double]
        func predict(user: Int, item: Int) -> Double { values[user * 10 + item] ?? 0 }
        func newUserPrediction(item: Int) -> Double { 0 }
    }

    @Test func metricsClipToTheScaleFirst() {
        let test = [IndexedRating(user: 0, item: 0, rating: 5), IndexedRating(user: 0, item: 1, rating: 1),
                    IndexedRating(user: 1, item: 0, rating: 3)]
        // Predictions 7 (clipped to 5: error 0), −2 (clipped to 1: error 0), 4 (error 1).
        let predictor = Fixed(values: [0: 7, 1: -2, 10: 4])
        let metrics = AccuracyMetrics.score(predictor, on: test, scale: RatingScale(minimum: 1, maximum: 5))
        #expect(metrics.count == 3)
        #expect(abs(metrics.rootMeanSquareError - (1.0 / 3).squareRoot()) <= 1e-15)
        #expect(abs(metrics.meanAbsoluteError - 1.0 / 3) <= 1e-15)
        let unclipped = AccuracyMetrics.score(predictor, on: test, scale: RatingScale(minimum: -.infinity, maximum: .infinity))
        #expect(abs(unclipped.rootMeanSquareError - ((4.0 + 9 + 1) / 3).squareRoot()) <= 1e-15)
    }

    @Test func spreadIsTheSampleStandardDeviation() {
        let spread = MeanAndSpread([1, 2, 3, 4])
        #expect(spread.mean == 2.5)
        #expect(abs(spread.standardDeviation - (5.0 / 3).squareRoot()) <= 1e-15)
        #expect(MeanAndSpread([0.9]).standardDeviation == 0)
    }

    // MARK: Baselines

    @Test func biasBaselineIsTheRegularisedLeastSquaresSolution() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let bias = BiasBaseline(training: data.observedRatings(), userCount: 20, itemCount: 5)
        #expect(bias.converged)
        // Tests/Reference/bias_baseline.py: numpy.linalg.solve on the normal equations.
        #expect(abs(bias.mean - 3.345679012345679) <= 1e-15)
        expectClose(bias.userBiases, [
            -0.015067318997747091, 0.08137385190157663, -0.19674083895865938, 0.11904863472555109, 0.0712588985956239,
            0.11904863472555109, -0.09540776807104276, 0.11904863472555109, -0.009432936074389798, -0.07284274038511653,
            -0.044040171357623774, -0.16548665466111587, 0.10595982864237621, -0.07652088494052864, 0.005959828642376225,
            0.05595982864237621, -0.017287184829560962, 0.005959828642376225, 0.10485427733943568, 0.005959828642376225,
        ], absolute: 1e-9, "user biases")
        expectClose(bias.itemBiases, [-0.6441013706066098, 0.7970484745922675, 0.08122760093675234,
                                      0.39087797624559506, -0.4726443157439256], absolute: 1e-9, "item biases")
    }

    @Test func biasBaselineSolvesTheNormalEquationsOnNetflix() throws {
        let data = try #require(Fixtures.netflix)
        let split = HeldOutSplits.holdout(data.observedRatings(), fraction: 0.2, seed: 0)
        let bias = BiasBaseline(training: split.training, userCount: 1200, itemCount: 1200)
        #expect(bias.converged && bias.sweeps <= 20, "the shift step should converge in a few sweeps, took \(bias.sweeps)")
        // ∂/∂b_u = 0: Σ_i (r − μ − b_u − b_i) = λ_u·b_u, and likewise for items.
        var userResiduals = [Double](repeating: 0, count: 1200)
        var itemResiduals = [Double](repeating: 0, count: 1200)
        for rating in split.training {
            let residual = rating.rating - bias.predict(user: rating.user, item: rating.item)
            userResiduals[rating.user] += residual
            itemResiduals[rating.item] += residual
        }
        let userGradient = (0..<1200).map { userResiduals[$0] - 15 * bias.userBiases[$0] }
        let itemGradient = (0..<1200).map { itemResiduals[$0] - 10 * bias.itemBiases[$0] }
        #expect((userGradient + itemGradient).map(abs).max() ?? 1 <= 1e-6)
        // The held-out RMSE numpy gives for the same split and solution.
        let metrics = AccuracyMetrics.score(bias, on: split.test, scale: RatingScale(minimum: 1, maximum: 5))
        #expect(abs(metrics.rootMeanSquareError - 0.8729391700661825) <= 1e-10)
    }

    @Test func aUserOrItemWithoutTrainingRatingsHasNoBias() {
        let training = [IndexedRating(user: 0, item: 0, rating: 4), IndexedRating(user: 0, item: 1, rating: 2)]
        let bias = BiasBaseline(training: training, userCount: 2, itemCount: 3, userRegularisation: 0, itemRegularisation: 0)
        #expect(bias.userBiases[1] == 0 && bias.itemBiases[2] == 0)
        #expect(bias.predict(user: 1, item: 2) == 3)
        #expect(bias.predict(user: 1, item: 2).isFinite)
    }

    // MARK: The harness

    @Test func courseModelOnTheNetflixGoldGivesTheCourseMissingEntryRMSE() throws {
        let data = try #require(Fixtures.netflix)
        let gold = try Fixtures.load(Fixtures.netflixComplete)
        var revealed = [IndexedRating]()
        var missing = [IndexedRating]()
        for user in 0..<1200 {
            for item in 0..<1200 where !data.isObserved(user: user, item: item) {
                missing.append(IndexedRating(user: user, item: item, rating: gold[user, item]))
                if gold[user, item] != 0 { revealed.append(missing[missing.count - 1]) }
            }
        }
        #expect(missing.count == 328_232 && revealed.count == 325_803)
        let scores = try Evaluator(seeds: [0, 1, 2, 3, 4]).evaluate(
            [.globalMean, .course(componentCount: 12)], userCount: 1200, itemCount: 1200,
            training: data.observedRatings(), test: revealed, missingEntries: missing)
        let course = scores[1]
        #expect(course.fit?.bestSeed == 1)
        #expect(abs(try #require(course.missingEntryRootMeanSquareError) - 1.0064122372) <= 1e-9)
        // Clipped, over the ratings the gold reveals: numpy on `mixfill fill`'s output gives 0.95068945510165.
        #expect(abs(course.metrics.rootMeanSquareError - 0.95068945510165) <= 1e-10)
        #expect(scores[0].metrics.rootMeanSquareError < course.metrics.rootMeanSquareError,
                "the course's missing entries are not missing at random: the global mean wins on them")
    }

    @Test func mixturePredictionsAreTheCourseFill() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let em = CourseEM(kernel: NaiveKernel(data))
        let result = try em.run(from: try Initialization.courseMixture(data: data, componentCount: 4, seed: 0))
        let posteriors = try em.posteriors(result.model).posteriors
        let filled = Completion.fill(data, mixture: result.model, posteriors: posteriors)
        let predictor = MixturePredictor(mixture: result.model, posteriors: posteriors,
                                         itemRatingCounts: [Int](repeating: 1, count: 5), fallback: 3)
        for user in 0..<20 {
            for item in 0..<5 where !data.isObserved(user: user, item: item) {
                #expect(predictor.predict(user: user, item: item) == filled[user, item])
            }
        }
        let noRatings = MixturePredictor(mixture: result.model, posteriors: posteriors,
                                         itemRatingCounts: [1, 1, 0, 1, 1], fallback: 3.25)
        #expect(noRatings.predict(user: 0, item: 2) == 3.25)
    }

    @Test func selectionTakesTheLargestBICOrTheSmallestHeldOutRMSEAndTheSmallerKOnATie() {
        func candidate(_ k: Int, bic: Double, rmse: Double?) -> ComponentCountCandidate {
            ComponentCountCandidate(componentCount: k, bestSeed: 0, logLikelihood: bic, bayesianInformationCriterion: bic,
                                    iterations: 1, converged: true, heldOutRootMeanSquareError: rmse.map { MeanAndSpread([$0]) })
        }
        let candidates = [candidate(1, bic: -10, rmse: 0.9), candidate(2, bic: -5, rmse: 0.8),
                          candidate(3, bic: -5, rmse: 0.85), candidate(4, bic: -7, rmse: 0.8)]
        #expect(ModelSelection.choose(candidates, by: .bic) == 1)
        #expect(ModelSelection.choose(candidates, by: .heldout) == 1)
        #expect(ModelSelection.choose([candidate(1, bic: 0, rmse: nil)], by: .heldout) == nil)
        #expect(ModelSelection.choose([], by: .bic) == nil)
    }
}
