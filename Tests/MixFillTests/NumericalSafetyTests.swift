@testable import MixFill
@testable import MixFillTools
import Testing

/// Degenerate data and mixtures the course model must survive: the log-likelihood stays
/// finite and never decreases, parameters stay finite, and every kernel agrees with the
/// naive one (the CLI runs the sparse kernel on small dense files, so it is checked too).
@Suite(.blasProcessState) struct NumericalSafetyTests {
    /// Runs EM from `initial` on the naive and BLAS kernels (results 0 and 1), then on the
    /// sparse kernel with one and two threads and the blocked kernel, and checks the
    /// properties every run must have.
    func checkedRuns(_ data: DenseRatingMatrix, from initial: Mixture,
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> [FitResult<Mixture>] {
        var results = [FitResult<Mixture>]()
        let records = SparseRatingMatrix(dense: data)
        let engines: [[any StatisticsKernel<Mixture>]] = Backend.allCases.map { [$0.makeKernel(for: data)] }
            + [[SparseKernel(records)], SparseKernel.shards(of: records, count: 2), [BlockedKernel(records, blockSize: 3)]]
        for (index, shards) in engines.enumerated() {
            let backend = "\(shards[0].name) #\(index)"
            let em = CourseEM(shards: shards, workers: shards.count)
            let result = try em.run(from: initial)
            let trace = result.trace
            #expect(trace.allSatisfy { $0.isFinite }, "\(backend): LL not finite: \(trace)", sourceLocation: sourceLocation)
            for (earlier, later) in zip(trace, trace.dropFirst()) {
                #expect(later >= earlier - 1e-9 * abs(earlier), "\(backend): LL fell from \(earlier) to \(later)", sourceLocation: sourceLocation)
            }
            #expect(result.falls.isEmpty, "\(backend): the loop saw the LL fall at \(result.falls)", sourceLocation: sourceLocation)
            let mixture = result.model
            #expect(mixture.means.allSatisfy { $0.isFinite }, sourceLocation: sourceLocation)
            #expect(mixture.variances.allSatisfy { $0.isFinite && $0 >= 0.25 }, sourceLocation: sourceLocation)
            #expect(mixture.weights.allSatisfy { $0.isFinite && $0 >= 0 }, sourceLocation: sourceLocation)
            #expect(abs(mixture.weights.reduce(0, +) - 1) <= 1e-12, sourceLocation: sourceLocation)
            let posteriors = try em.posteriors(mixture).posteriors
            #expect(posteriors.allSatisfy { $0.isFinite }, sourceLocation: sourceLocation)
            let filled = Completion.fill(data, mixture: mixture, posteriors: posteriors)
            #expect(filled.values.allSatisfy { $0.isFinite }, sourceLocation: sourceLocation)
            results.append(result)
        }
        let naive = results[0]
        for (index, other) in results.enumerated().dropFirst() {
            #expect(naive.iterations == other.iterations, "engine #\(index)", sourceLocation: sourceLocation)
            #expect(relativeError(other.objective, naive.objective) <= 1e-10, "engine #\(index): \(other.objective) vs \(naive.objective)", sourceLocation: sourceLocation)
        }
        return results
    }

    @Test func aComponentThatLosesAllItsUsersStaysSilentAndFinite() throws {
        // Two clusters of users, and a third component started far from both: after the
        // first E-step no user belongs to it (its posteriors underflow to 0).
        var rows = [[Double]]()
        for user in 0..<12 {
            rows.append(user < 6 ? [1, 1, 2, 1, 0, 1] : [5, 4, 5, 0, 5, 4])
            rows[user][user % 6] = user < 6 ? 2 : 4
        }
        let data = DenseRatingMatrix(rows: rows)
        let initial = Mixture(componentCount: 3, itemCount: 6,
                              means: [1, 1, 1, 1, 1, 1] + [5, 5, 5, 5, 5, 5] + [90, 90, 90, 90, 90, 90],
                              variances: [1, 1, 1], weights: [0.4, 0.4, 0.2])
        let results = try checkedRuns(data, from: initial)
        for result in results {
            #expect(result.model.weights[2] == 0, "the far component's weight: \(result.model.weights[2])")
            // Nothing to estimate it from: its mean and variance stay where they were.
            #expect(Array(result.model.mean(2)) == [90, 90, 90, 90, 90, 90])
            #expect(result.model.variances[2] == 1)
            #expect(result.converged)
        }
    }

    @Test func identicalUsersPutEveryVarianceAtTheFloor() throws {
        let data = DenseRatingMatrix(rows: Array(repeating: [3, 4, 5, 0, 2], count: 10))
        for seed: UInt32 in 0..<3 {
            let initial = try Initialization.courseMixture(data: data, componentCount: 3, seed: seed)
            for result in try checkedRuns(data, from: initial) {
                #expect(result.model.variances == [0.25, 0.25, 0.25])
                #expect(result.converged)
                // Every component sits on the one distinct user: x = μ, so each user's
                // log-density is −(4/2)·log(2π·0.25) and LL = 10 times that.
                let expected = 10 * (-2 * log(2 * Double.pi * 0.25))
                #expect(abs(result.objective - expected) <= 1e-9 * abs(expected))
            }
        }
    }

    @Test func usersWithASingleRatingEach() throws {
        var rows = [[Double]]()
        for user in 0..<30 {
            var row = [Double](repeating: 0, count: 6)
            row[user % 6] = Double(1 + (user * 7) % 5)
            rows.append(row)
        }
        let data = DenseRatingMatrix(rows: rows)
        for seed: UInt32 in 0..<3 {
            let initial = try Initialization.courseMixture(data: data, componentCount: 4, seed: seed)
            _ = try checkedRuns(data, from: initial)
        }
    }

    /// Ratings a million away from 0: the BLAS and blocked kernels store x − c (c the
    /// rounded median), so their expanded squared distances keep their digits and their fits
    /// agree with the naive kernel's direct differences as closely as on 1–5 stars.
    @Test func ratingsFarFromZeroKeepTheirDigitsInTheGEMMKernels() throws {
        let netflix = try #require(Fixtures.netflix)
        let values = netflix.values[0..<(200 * 1200)].map { $0 == 0 ? 0 : $0 + 1e6 }
        let data = DenseRatingMatrix(userCount: 200, itemCount: 1200, values: Array(values))
        let records = SparseRatingMatrix(dense: data)
        #expect(BLASKernel.ratingOffset(of: data) == 1e6 + 4)
        #expect(BLASKernel.ratingOffset(of: records) == 1e6 + 4)
        let initial = try Initialization.courseMixture(data: data, componentCount: 4, seed: 1)
        let naive = try CourseEM(kernel: NaiveKernel(data)).run(from: initial)
        let blas = try CourseEM(shards: BLASKernel.shards(of: data, count: 2), workers: 2).run(from: initial)
        let blocked = try CourseEM(kernel: BlockedKernel(records, blockSize: 64)).run(from: initial)
        for (name, other) in [("BLAS", blas), ("blocked", blocked)] {
            #expect(naive.iterations == other.iterations, "\(name)")
            #expect(relativeError(other.objective, naive.objective) <= 1e-10, "\(name): \(other.objective) vs \(naive.objective)")
        }
    }

    @Test func theRatingOffsetIsTheRoundedMedianWhateverTheOutliers() throws {
        let big = RatingRules.largestMagnitude
        let data = DenseRatingMatrix(rows: [[big, 1, 0, 3], [2, big, 4, 1], [-big, 2, 5, 2]])
        #expect(BLASKernel.ratingOffset(of: data) == 2)
        #expect(BLASKernel.ratingOffset(of: DenseRatingMatrix(rows: [[0, 0]])) == 0)
        var generator = MersenneTwister(seed: 5)
        for count in [1, 2, 3, 10, 1001] {
            var values = (0..<count).map { _ in Double(generator.nextUInt32() % 11) / 2 }
            let sorted = values.sorted()
            let rank = count / 2
            #expect(BLASKernel.selectInPlace(&values, rank: rank) == sorted[rank], "\(count) values")
            #expect(values.sorted() == sorted, "selection only reorders")
        }
    }

    @Test func extremeRatingsKeepTheLogLikelihoodFinite() throws {
        // The largest rating the reader accepts next to tiny and ordinary ones.
        let big = RatingRules.largestMagnitude
        let data = DenseRatingMatrix(rows: [
            [big, 1, 0, 3], [1e-100, 2, 5, 0], [3, big, 4, 1], [2, 2, 1e-300, 5],
            [5, 0, 4, 4], [1, 1, 1, big], [4, 3, 0, 2], [2, 5, 5, 1],
        ])
        for seed: UInt32 in 0..<3 {
            let initial = try Initialization.courseMixture(data: data, componentCount: 3, seed: seed)
            _ = try checkedRuns(data, from: initial)
        }
    }

    @Test func anUnratedUserAndAnUnratedItemAreFilledFinitely() throws {
        let data = DenseRatingMatrix(rows: [
            [5, 4, 0, 1], [0, 0, 0, 0], [4, 5, 0, 2], [1, 2, 0, 5], [2, 1, 0, 4], [5, 5, 0, 1],
        ])
        let initial = try Initialization.courseMixture(data: data, componentCount: 2, seed: 0)
        let results = try checkedRuns(data, from: initial)
        let em = CourseEM(kernel: NaiveKernel(data))
        let mixture = results[0].model
        let posteriors = try em.posteriors(mixture).posteriors
        // The unrated user's posteriors are the weights, so their row is the overall average.
        for j in 0..<2 {
            #expect(abs(posteriors[1 * 2 + j] - mixture.weights[j]) <= 1e-12)
        }
        let filled = Completion.fill(data, mixture: mixture, posteriors: posteriors)
        for item in 0..<4 {
            let average = mixture.weights[0] * mixture.means[item] + mixture.weights[1] * mixture.means[4 + item]
            #expect(abs(filled[1, item] - average) <= 1e-12)
        }
        // Nobody rated item 2 (the third column): its means keep their initial value 0.
        #expect(mixture.means[2] == 0 && mixture.means[6] == 0)
        #expect(DataWarnings.check(data, name: "d.txt") == [
            "d.txt: 1 user has no ratings (user 1, counting rows from 0); the model fills that row with its overall average",
            "d.txt: 1 item has no ratings (item 2, counting columns from 0); the model learns nothing there, so fill and predict give them the mean training rating",
        ])
        // Several: the first five ids, 0-based as predict and the model file take them.
        #expect(DataWarnings.warnings(name: "d.txt", emptyUsers: (7, [0, 3, 4, 8, 9]), emptyItems: (2, [0, 5])) == [
            "d.txt: 7 users have no ratings (users 0, 3, 4, 8, 9 and 2 more, counting rows from 0); the model fills those rows with its overall average",
            "d.txt: 2 items have no ratings (items 0, 5, counting columns from 0); the model learns nothing there, so fill and predict give them the mean training rating",
        ])
    }
}

#if canImport(Glibc)
import Glibc
#endif
