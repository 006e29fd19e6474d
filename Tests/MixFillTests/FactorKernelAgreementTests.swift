import Foundation
@testable import MixFill
import Testing

/// Issue 12's acceptance line: every mppca kernel agrees with the naive reference —
/// objective within 1e-10 relative, the same iteration count — on the whole netflix matrix
/// and on ml-latest-small. Each run goes to convergence under the default stopping rule
/// (new − old ≤ 1e-6·|new|, at most 1000 E-steps), so the iteration count is decided by the
/// rule, not by a cap; every E-step's objective on the way is compared too.
///
/// Every engine builds its shards as `mixfill fit --family mppca` does
/// (`Engine.factorLoop`): dense = one `FactorBLASKernel` per thread on single-threaded
/// OpenBLAS, blocked = one `FactorBLASKernel` on OpenBLAS's threads, sparse =
/// `FactorSparseKernel` shards. All start from the same model: the fit's random start
/// (`FactorInitialization.random`, seed 0) at given q and priors, with the offsets fitted
/// on the data, as `FactorFitter.fit` starts K = 1; for K = 2 the same draw also places the
/// two components' means apart (the start `measure --family mppca -k 2` uses). The loadings
/// W and σ² are shared by the components, so K = 2 exercises the responsibilities'
/// weighting of the shared statistics.
///
/// The settings keep the naive runs short yet far from trivial: at q = 3 and
/// λ_W = λ_m = 30 every run here takes tens of E-steps to meet the rule.
@Suite(.serialized, .blasProcessState) struct FactorKernelAgreementTests {
    static let factorCount = 3
    static let priors = FactorPriors(loadings: 30, means: 30)
    /// Far below every run's length here: a pair of runs that stopped after a handful of
    /// E-steps would agree on the count without saying much.
    static let fewestIterations = 15

    /// The engines under test, each named by the kernel and shard layout it runs.
    static let engines: [(name: String, engine: Engine)] = [
        ("dense, 2 shards", Engine(family: .mppca, kernel: .dense(.double), threads: 2)),
        ("blocked, 2 BLAS threads", Engine(family: .mppca, kernel: .blocked, threads: 2)),
        ("sparse, 1 shard", Engine(family: .mppca, kernel: .sparse, threads: 1)),
        ("sparse, 2 shards", Engine(family: .mppca, kernel: .sparse, threads: 2)),
    ]

    /// The netflix matrix as `mixfill fit` loads the course's file: dense, 1200 × 1200.
    static func netflix() throws -> RatingInput {
        RatingInput(storage: .dense(try #require(Fixtures.netflix)), format: .dense)
    }

    /// ml-latest-small's ratings.csv as records (610 users × 9,724 movies).
    static func movieLens() throws -> RatingInput {
        RatingInput(storage: .records(try #require(NaiveRuns.movieLensTable)), format: .csv)
    }

    /// Runs every engine from the naive run's start and compares each with it.
    static func expectEveryKernelAgrees(_ name: String, _ input: RatingInput, componentCount: Int) throws {
        let matrix = input.table.matrix
        let start = FactorInitialization.random(matrix: matrix, offsets: RatingOffsets(BiasBaseline(matrix: matrix)),
                                                factorCount: factorCount, componentCount: componentCount, priors: priors, seed: 0)
        let rule = StoppingRule()
        let naiveEngine = Engine(family: .mppca, kernel: .naive, threads: 1)
        #expect(naiveEngine.factorShards(for: input).map(\.name) == ["naive"])
        naiveEngine.claimBLASThreads()
        let naive = try naiveEngine.factorLoop(for: input, rule: rule).run([EMState(initial: start)])[0]
        let label = "\(name), q = \(factorCount), K = \(componentCount)"
        #expect(naive.converged && naive.iterations < rule.maxIterations, "\(label): the naive run converges")
        #expect(naive.iterations >= fewestIterations, "\(label): the naive run takes \(naive.iterations) iterations")
        var report = ["\(label): naive \(naive.iterations) iterations, objective \(naive.objective)"]
        defer { print(report.joined(separator: "\n    ")) }
        for (kernel, engine) in engines {
            let what = "\(label), \(kernel)"
            let shards = engine.factorShards(for: input)
            #expect(shards.count == engine.shardCount(userCount: matrix.userCount), "\(what): shards")
            engine.claimBLASThreads()
            let run = try engine.factorLoop(for: input, rule: rule).run([EMState(initial: start)])[0]
            #expect(run.converged && run.iterations < rule.maxIterations, "\(what): converges")
            #expect(run.iterations == naive.iterations, "\(what): \(run.iterations) iterations vs \(naive.iterations)")
            let difference = relativeError(run.objective, naive.objective)
            #expect(difference <= 1e-10, "\(what): objective \(run.objective) vs \(naive.objective)")
            // Every E-step on the way, not just the last, within the same bound.
            expectClose(run.trace, naive.trace, relative: 1e-10, absolute: 0, "\(what): objective trace")
            #expect(run.falls == naive.falls, "\(what): falls")
            let traceDifference = run.trace.count == naive.trace.count
                ? zip(run.trace, naive.trace).map { relativeError($0, $1) }.max() ?? 0 : .nan
            report.append("\(kernel): \(run.iterations) iterations, objective relative difference \(difference), largest over the trace \(traceDifference)")
        }
    }

    @Test(arguments: [1, 2])
    func everyKernelAgreesWithNaiveOnNetflix(componentCount: Int) throws {
        try Self.expectEveryKernelAgrees("netflix 1200 × 1200", try Self.netflix(), componentCount: componentCount)
    }

    @Test(.enabled(if: NaiveRuns.movieLensTable != nil, "../shared/data/ml-latest-small is absent"), arguments: [1, 2])
    func everyKernelAgreesWithNaiveOnMovieLens(componentCount: Int) throws {
        try Self.expectEveryKernelAgrees("ml-latest-small", try Self.movieLens(), componentCount: componentCount)
    }
}
