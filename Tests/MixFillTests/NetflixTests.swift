@testable import MixFill
@testable import MixFillTools
import Testing

/// The course's netflix matrix (1200 × 1200, 77% observed): the published numbers, and
/// the naive and BLAS kernels agreeing run for run.
@Suite(.serialized, .blasProcessState) struct NetflixTests {
    static let seeds: [UInt32] = [0, 1, 2, 3, 4]

    @Test func bestLogLikelihoodsAndRMSEMatchTheCourse() throws {
        let data = try #require(Fixtures.netflix)
        let gold = try Fixtures.load(Fixtures.netflixComplete)
        let em = CourseEM(kernel: BLASKernel(data))

        let one = try em.fit(data: data, componentCount: 1, seeds: Self.seeds)
        #expect(relativeError(one.best.result.objective, -1521060.9539852473) <= 1e-12)

        let twelve = try em.fit(data: data, componentCount: 12, seeds: Self.seeds)
        #expect(twelve.best.seed == 1)
        #expect(relativeError(twelve.best.result.objective, -1390234.4223469414) <= 1e-10)
        let posteriors = try em.posteriors(twelve.best.result.model).posteriors
        let filled = Completion.fill(data, mixture: twelve.best.result.model, posteriors: posteriors)
        let rmse = Completion.rootMeanSquareErrors(of: twelve.best.result.model, posteriors: posteriors, data: data, gold: gold)
        // The streamed errors are the filled matrix's, in the same order of additions.
        var squares = 0.0
        for index in gold.values.indices {
            squares += (filled.values[index] - gold.values[index]) * (filled.values[index] - gold.values[index])
        }
        #expect((squares / Double(gold.values.count)).squareRoot() == rmse.allEntries)
        #expect(abs(rmse.allEntries - 0.48049085054007) <= 1e-10)
        #expect(abs(try #require(rmse.missingEntries) - 1.0064122372) <= 1e-9)
    }

    @Test(arguments: [1, 4, 12])
    func naiveAndBLASAgreeOnEverySeed(componentCount: Int) throws {
        let data = try #require(Fixtures.netflix)
        // The naive runs are computed once and shared with the record kernels' tests.
        let naiveRuns = try #require(NaiveRuns.netflix).runs(componentCount: componentCount)
        let blas = CourseEM(kernel: BLASKernel(data))
        for seed in Self.seeds {
            let initial = try Initialization.courseMixture(data: data, componentCount: componentCount, seed: seed)
            let reference = naiveRuns[Int(seed)]
            let fast = try blas.run(from: initial)
            #expect(relativeError(fast.objective, reference.objective) <= 1e-10, "K = \(componentCount), seed \(seed)")
            #expect(fast.iterations == reference.iterations, "K = \(componentCount), seed \(seed)")
            #expect(fast.converged && reference.converged)
            expectClose(fast.model.means, reference.model.means, absolute: 1e-8, "means, K = \(componentCount), seed \(seed)")
            expectClose(fast.model.variances, reference.model.variances, relative: 1e-8, absolute: 0, "variances")
            expectClose(fast.model.weights, reference.model.weights, absolute: 1e-8, "weights")
        }
    }
}
