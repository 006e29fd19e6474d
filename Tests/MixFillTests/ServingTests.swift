import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// Fold-in, the model server, fingerprints and saved models used again.
@Suite(.blasProcessState) struct ServingTests {
    static func fittedModel(_ data: DenseRatingMatrix, componentCount: Int = 4, seed: UInt32 = 0) throws -> (ModelFile, [Double]) {
        let em = CourseEM(kernel: BLASKernel(data))
        let result = try em.run(from: try Initialization.courseMixture(data: data, componentCount: componentCount, seed: seed))
        let model = ModelFile(mixture: result.model, logLikelihood: result.objective, seed: seed,
                              iterations: result.iterations, converged: result.converged, userCount: data.userCount,
                              observedCount: data.observedCount,
                              training: TrainingDataRecord(describing: data, path: "/data/train.txt"))
        return (model, try em.posteriors(result.model).posteriors)
    }

    @Test func foldingInATrainingUsersRatingsGivesTheirTrainingPosterior() throws {
        let data = try #require(Fixtures.netflix)
        let (model, _) = try Self.fittedModel(data, componentCount: 12, seed: 1)
        let naive = NaiveKernel(data).posteriors(model.course).posteriors
        for user in [0, 17, 599, 1199] {
            let ratings = (0..<1200).filter { data.isObserved(user: user, item: $0) }.map { (item: $0, rating: data[user, $0]) }
            let folded = UserPosterior.compute(model.course, ratings: ratings)
            expectClose(folded.posterior, Array(naive[(user * 12)..<(user * 12 + 12)]), absolute: 1e-12, "user \(user)")
        }
    }

    @Test func aUserWithoutRatingsGetsTheWeights() throws {
        let (model, _) = try Self.fittedModel(try Fixtures.load(Fixtures.smallIncomplete))
        let folded = UserPosterior.compute(model.course, ratings: [])
        expectClose(folded.posterior, model.course.weights, absolute: 1e-15, "prior")
        #expect(folded.logLikelihood.isFinite)
    }

    /// A mixture whose means are so far from the ratings that every squared distance
    /// overflows: every f(j) is −∞, the normalised row NaN, and fold-in falls back to the
    /// weights; the log-likelihood says so.
    @Test func aNonFinitePosteriorFallsBackToTheWeights() throws {
        let mixture = Mixture(componentCount: 2, itemCount: 3, means: [1e300, -1e300, 1e300, -1e300, 1e300, -1e300],
                              variances: [1, 1], weights: [0.25, 0.75])
        let folded = UserPosterior.compute(mixture, ratings: [(item: 0, rating: -1e100), (item: 1, rating: 1e100), (item: 2, rating: -1e100)])
        #expect(folded.posterior == [0.25, 0.75])
        #expect(!folded.logLikelihood.isFinite)
        var server = ModelServer(model: ModelFile(mixture: mixture, logLikelihood: -1, seed: 0, iterations: 1, converged: true,
                                                  userCount: 2, observedCount: 6))
        let posterior = server.foldIn(user: "1", ratings: [(item: 0, rating: -1e100), (item: 2, rating: 1e100)])
        #expect(posterior == [0.25, 0.75])
        #expect(server.predict(user: "1", item: "1").rating == 0.25 * -1e300 + 0.75 * 1e300)
    }

    @Test func serverAnswersEveryKindOfUserAndItemWithoutNaN() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let (model, posteriors) = try Self.fittedModel(data)
        var server = ModelServer(model: model)
        // Before the training posteriors are attached, a training user is answered from the prior.
        #expect(server.predict(user: "3", item: "0").basis == .prior)
        server.attachTrainingPosteriors(posteriors)
        let training = server.predict(user: "3", item: "0")
        #expect(training.basis == .training)
        var expected = 0.0
        for j in 0..<4 { expected += posteriors[3 * 4 + j] * model.course.means[j * 5] }
        #expect(training.rating == expected)
        let unknownUser = server.predict(user: "20", item: "1")
        #expect(unknownUser.basis == .prior)
        var population = 0.0
        for j in 0..<4 { population += model.course.weights[j] * model.course.means[j * 5 + 1] }
        #expect(unknownUser.rating == population)
        for item: Int64 in [5, -1, 1 << 40] {
            let unknownItem = server.predict(user: "3", item: String(item))
            #expect(unknownItem.basis == .itemFallback && unknownItem.rating == 3.345679012345679)
        }
        server.foldIn(user: "3", ratings: [(item: 0, rating: 5), (item: 4, rating: 1)])
        #expect(server.predict(user: "3", item: "0").basis == .foldIn)
        let scale = try #require(server.scale)
        #expect(scale == RatingScale(minimum: 1, maximum: 5))
        for user: Int64 in [0, 3, 19, 20, 99] {
            for item: Int64 in [0, 1, 2, 3, 4, 5] {
                let prediction = server.predict(user: String(user), item: String(item))
                #expect(prediction.rating.isFinite && prediction.rating >= 1 && prediction.rating <= 5)
            }
        }
    }

    @Test func recommendationsAreRankedExcludeRatedItemsAndRespectMinimumRatings() throws {
        let data = try #require(Fixtures.netflix)
        let (model, posteriors) = try Self.fittedModel(data, componentCount: 12, seed: 1)
        var server = ModelServer(model: model)
        server.attachTrainingPosteriors(posteriors)
        let rated = Set((0..<1200).filter { data.isObserved(user: 5, item: $0) })
        let (posterior, basis) = server.posterior(forUser: "5")
        #expect(basis == .training)
        let top = server.recommend(posterior: posterior, excluding: rated, top: 10, minimumRatings: 1)
        #expect(top.count == 10)
        #expect(top.allSatisfy { !rated.contains($0.item) })
        #expect(zip(top, top.dropFirst()).allSatisfy { $0.score >= $1.score })
        // The best unrated item by brute force.
        let unrated = (0..<1200).filter { !rated.contains($0) }
        let scores = unrated.map { server.score(posterior: posterior, item: $0) ?? -1 }
        let best = scores.indices.max { scores[$0] < scores[$1] }.map { unrated[$0] }
        #expect(top[0].item == best)
        // Nothing left out of 1,200 − 1,071 rated items when asking for all of them.
        let all = server.recommend(posterior: posterior, excluding: rated, top: 5000, minimumRatings: 0)
        #expect(all.count == 1200 - rated.count)
        #expect(server.recommend(posterior: posterior, excluding: [], top: 5, minimumRatings: 1_000_000).isEmpty)
    }

    /// `recommend --all-users`' path (all scores at once, top kept by insertion) gives
    /// the one-user path's list bit for bit, for every netflix user, at several lengths
    /// and minimum counts; and on a mixture whose scores all tie, both order by item index.
    @Test func theAllUsersPathRanksExactlyLikeTheOneUserPath() throws {
        let data = try #require(Fixtures.netflix)
        let (model, posteriors) = try Self.fittedModel(data, componentCount: 12, seed: 1)
        var server = ModelServer(model: model)
        server.attachTrainingPosteriors(posteriors)
        var scores = [Double]()
        var compared = 0
        for user in stride(from: 0, to: 1200, by: 7) {
            let rated = (0..<1200).filter { data.isObserved(user: user, item: $0) }
            let posterior = server.posterior(forUser: String(user)).posterior
            for (top, minimum) in [(10, 1), (1, 0), (200, 400), (5000, 0)] {
                let one = server.recommend(posterior: posterior, excluding: Set(rated), top: top, minimumRatings: minimum)
                let all = server.recommend(posterior: posterior, excludingAscending: rated, top: top, minimumRatings: minimum, scores: &scores)
                #expect(one == all, "user \(user), top \(top), at least \(minimum) ratings")
                compared += one.count
            }
        }
        #expect(compared > 50_000)

        // Equal means in both components: every score is the same, so ties decide.
        let tied = Mixture(componentCount: 2, itemCount: 6, means: [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
                           variances: [1, 1], weights: [0.5, 0.5])
        let tiedServer = ModelServer(model: ModelFile(mixture: tied, logLikelihood: -1, seed: 0, iterations: 1, converged: true,
                                                      userCount: 2, observedCount: 6))
        let one = tiedServer.recommend(posterior: [0.3, 0.7], excluding: [1, 4], top: 3, minimumRatings: 0)
        let all = tiedServer.recommend(posterior: [0.3, 0.7], excludingAscending: [1, 4], top: 3, minimumRatings: 0, scores: &scores)
        #expect(one.map(\.item) == [0, 2, 3] && all == one)
    }

    @Test func aSavedModelLoadedAgainGivesIdenticalPredictions() throws {
        let data = try #require(Fixtures.netflix)
        let (model, posteriors) = try Self.fittedModel(data, componentCount: 12, seed: 1)
        var before = ModelServer(model: model)
        before.attachTrainingPosteriors(posteriors)
        let folder = try Fixtures.scratchFolder()
        try model.write(to: folder + "/model.json")
        let loaded = try ModelFile.read(path: folder + "/model.json")
        #expect(loaded == model)
        var after = ModelServer(model: loaded)
        after.attachTrainingPosteriors(BLASKernel(data).posteriors(loaded.course).posteriors)
        for user: Int64 in stride(from: 0, to: 1200, by: 7) {
            for item: Int64 in stride(from: Int64(user % 5), to: 1200, by: 5) {
                #expect(before.predict(user: String(user), item: String(item)) == after.predict(user: String(user), item: String(item)))
            }
        }
    }

    @Test func fingerprintsTellDataApart() throws {
        let data = try #require(Fixtures.netflix)
        // Pinned: a changed value means the algorithm changed and saved models no longer match.
        #expect(data.fingerprint == "mix64:808daaa5d19ba91d")
        #expect(data.fingerprint == DenseRatingMatrix(userCount: 1200, itemCount: 1200, values: data.values).fingerprint)
        var values = data.values
        values[77] = values[77] == 5 ? 4 : 5
        #expect(DenseRatingMatrix(userCount: 1200, itemCount: 1200, values: values).fingerprint != data.fingerprint)
        let wide = DenseRatingMatrix(userCount: 600, itemCount: 2400, values: data.values)
        #expect(wide.fingerprint != data.fingerprint)
    }
}
