import Foundation
@testable import MixFill
import Testing

/// `FactorInitialization.random` with several components (what `measure --family mppca -k K`
/// starts from).
@Suite struct FactorRandomStartTests {
    /// The random start's component means: equal means are an EM fixed point (every user's
    /// p(j|u) = π_j), so K > 1 from the random start must start them apart.
    @Test func aRandomStartWithSeveralComponentsSeparatesThem() throws {
        let input = try FactorCheckpointTests.input()
        let matrix = input.table.matrix
        let offsets = RatingOffsets(BiasBaseline(matrix: matrix))
        let priors = FactorPriors(loadings: 30, means: 5)
        let single = FactorInitialization.random(matrix: matrix, offsets: offsets, factorCount: 3, componentCount: 1, priors: priors, seed: 2)
        let start = FactorInitialization.random(matrix: matrix, offsets: offsets, factorCount: 3, componentCount: 2, priors: priors, seed: 2)
        #expect(start.loadings == single.loadings, "K = 1's draws come first and are unchanged")
        #expect(single.means.allSatisfy { $0 == 0 })
        #expect(start == FactorInitialization.random(matrix: matrix, offsets: offsets, factorCount: 3, componentCount: 2, priors: priors, seed: 2))
        let loop = Engine(kernel: .sparse, threads: 1).factorLoop(for: input)
        func separation(_ model: FactorMixture) -> Double {
            (0..<model.itemCount).map { abs(model.means[$0 * 2] - model.means[$0 * 2 + 1]) }.max() ?? 0
        }
        let fitted = try loop.run([EMState(initial: start)])[0].model
        #expect(separation(fitted) > 0.1, "the two components' means should separate")
        #expect(fitted.weights.allSatisfy { $0 > 0.05 })
        // The start it replaces: equal means stay equal, whatever EM does.
        var equal = start
        equal.means = [Double](repeating: 0, count: start.means.count)
        let stuck = try loop.run([EMState(initial: equal)])[0].model
        #expect(separation(stuck) < 1e-6, "\(separation(stuck))")
    }
}
