@testable import MixFill
@testable import MixFillTools
import Testing

/// ml-latest-small against the numpy peer. The reference values were printed by
///
///     python3 ../shared/peer/numpy_em.py ml_dense.txt -k 1,4,12 --seeds 0-4
///
/// on ratings.csv written as a dense matrix (users and movies in ascending id order, the
/// order MixFill's id maps use), 2026-11-29. The initial variances here are near 0.23,
/// below the M-step's floor: these runs pin that initialisation keeps them as the course
/// computes them.
@Suite(.serialized, .blasProcessState) struct PeerReferenceTests {
    static let peer: [Int: [(logLikelihood: Double, iterations: Int)]] = [
        1: Array(repeating: (-129750.34610014876, 3), count: 5),
        4: [(-126197.34042998569, 14), (-129310.73401636466, 4), (-129637.92839512478, 3),
            (-129577.35126643289, 6), (-127471.20887821284, 10)],
        12: [(-128042.66858561346, 9), (-126794.42066890634, 13), (-128900.43281977254, 3),
             (-127846.5201258868, 9), (-128359.98888495029, 7)],
    ]

    @Test(.enabled(if: NaiveRuns.movieLensTable != nil, "../shared/data/ml-latest-small is absent"), arguments: [1, 4, 12])
    func movieLensRunsMatchTheNumpyPeer(componentCount: Int) throws {
        let reference = try #require(NaiveRuns.movieLens)
        let runs = try reference.runs(componentCount: componentCount)
        let expected = try #require(Self.peer[componentCount])
        #expect(runs.count == expected.count)
        for (seed, (run, peer)) in zip(runs, expected).enumerated() {
            // Summation order differs from numpy's (and numpy's scipy logsumexp differs in
            // its last bits), so allow a little more than the kernels' mutual 1e-10.
            #expect(relativeError(run.objective, peer.logLikelihood) <= 1e-9, "K = \(componentCount), seed \(seed)")
            #expect(run.iterations == peer.iterations, "K = \(componentCount), seed \(seed)")
        }
    }

    @Test func initialVarianceBelowTheFloorIsKept() throws {
        // Mean of (x − μ)² over all 8 entries with μ = either row: 0.5² / 8 = 0.03125.
        let data = DenseRatingMatrix(rows: [[1, 1, 1, 1], [1, 1, 1, 1.5]])
        let mixture = try Initialization.courseMixture(data: data, componentCount: 1, seed: 0)
        #expect(mixture.variances == [0.03125])
        // Identical users give exactly 0, where numpy would take log(0): the floor instead.
        let identical = DenseRatingMatrix(rows: [[2, 0, 3], [2, 0, 3]])
        #expect(try Initialization.courseMixture(data: identical, componentCount: 2, seed: 0).variances == [0.25, 0.25])
    }
}
