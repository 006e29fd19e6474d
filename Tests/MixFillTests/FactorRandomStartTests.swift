import Foundation
@testable import MixFill
import Testing

/// `FactorInitialization.random` with several components (what `measure --family mppca -k K`
/// starts from).
@Suite(.blasProcessState) struct FactorRandomStartTests {
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
        let loop = Engine(family: .mppca, kernel: .sparse, threads: 1).factorLoop(for: input)
        func separation(_ model: FactorMixture) -> Double {
            var largest = 0.0
            for item in 0..<model.itemCount {
                let gap: Double = abs(model.means[item * 2] - model.means[item * 2 + 1])
                largest = max(largest, gap)
            }
            return largest
        }
        let fitted = try loop.run([EMState(initial: start)])[0].model
        #expect(separation(fitted) > 0.1, "the two components' means should separate")
        #expect(fitted.weights.allSatisfy { $0 > 0.05 })
        // The start it replaces: from equal means EM's updates keep them equal up to
        // rounding (a fixed point; here rounding alone separates them over a full fit, which
        // is no start to rely on), while the drawn means are 0.1 apart from the start.
        var equal = start
        equal.means = [Double](repeating: 0, count: start.means.count)
        let few = Engine(family: .mppca, kernel: .sparse, threads: 1).factorLoop(for: input, rule: StoppingRule(maxIterations: 3))
        let stuck = try few.run([EMState(initial: equal)])[0].model
        #expect(separation(stuck) < 1e-8, "\(separation(stuck))")
        #expect(separation(try few.run([EMState(initial: start)])[0].model) > 0.1)
    }
}
