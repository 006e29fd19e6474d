import Foundation
@testable import MixFill
import Testing

/// `FactorBLASKernel` (the factor family's E-step as GEMMs on blocks of users) against the
/// naive kernel: one E-step's statistics field by field, user states, whole runs, and the
/// numpy reference, on the 30 × 40 reference block, the netflix matrix's first 300 users
/// and synthetic sparse data, with block sizes that do and do not divide the users of a
/// shard, on one and two shards.
@Suite(.blasProcessState) struct FactorBLASKernelTests {
    static let componentCounts = [1, 2, 3]
    static let factorCounts = [0, 1, 3, 10]

    /// A data set with the block sizes to run it with.
    struct DataSet {
        var name: String
        var matrix: SparseRatingMatrix
        var offsets: RatingOffsets
        /// Per shard count: block sizes that do not, and that do, divide every shard's users.
        var blockSizes: [(shards: Int, blockSize: Int)]
        /// The stopping rule of the whole runs (looser on the larger sets to keep the naive
        /// runs short; the rule still decides when both runs stop). The default rule on the
        /// whole netflix matrix is `FactorKernelAgreementTests`'s.
        var rule: StoppingRule
    }

    static func referenceBlock() throws -> DataSet {
        let matrix = try FactorFamilyTests.block()
        return DataSet(name: "30 × 40 block", matrix: matrix, offsets: FactorFamilyTests.offsets(matrix),
                       blockSizes: [(1, 7), (1, 10), (2, 4), (2, 5), (1, 30)], rule: StoppingRule())
    }

    static func netflixHead() throws -> DataSet {
        let netflix = try #require(Fixtures.netflix)
        let users = 300
        let dense = DenseRatingMatrix(userCount: users, itemCount: netflix.itemCount,
                                      values: Array(netflix.values[0..<(users * netflix.itemCount)]))
        let matrix = SparseRatingMatrix(dense: dense)
        return DataSet(name: "netflix 300 users", matrix: matrix, offsets: RatingOffsets(BiasBaseline(matrix: matrix)),
                       blockSizes: [(1, 64), (1, 75), (2, 64), (2, 75)],
                       rule: StoppingRule(relativeTolerance: 1e-5, maxIterations: 100))
    }

    static func syntheticSparse() throws -> DataSet {
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let synthetic = SyntheticRatings(userCount: 400, itemCount: 300, ratingCount: 3600, componentCount: 3, seed: 4)
        _ = try synthetic.write(to: folder + "/r.csv", layout: .csv, membershipsPath: folder + "/m.tsv")
        let matrix = try RecordReader.read(path: folder + "/r.csv", layout: .csv).matrix
        return DataSet(name: "synthetic sparse", matrix: matrix, offsets: RatingOffsets(BiasBaseline(matrix: matrix)),
                       blockSizes: [(1, 64), (1, 100), (2, 64), (2, 100)],
                       rule: StoppingRule(relativeTolerance: 1e-5, maxIterations: 200))
    }

    /// A start with every parameter block in play: random loadings (`FactorInitialization`),
    /// component means spread apart and unequal weights (so that K components are not one
    /// component K times), then `iterations` naive EM iterations, which fill in the items'
    /// posterior covariances off their diagonals.
    static func model(_ data: DataSet, componentCount: Int, factorCount: Int, iterations: Int = 2) throws -> FactorMixture {
        var model = FactorInitialization.random(matrix: data.matrix, offsets: data.offsets, factorCount: factorCount,
                                                componentCount: componentCount, priors: FactorPriors(loadings: 20, means: 5),
                                                seed: 11)
        var random = SplitMix64(seed: 5)
        for index in model.means.indices { model.means[index] = 0.3 * random.nextGaussian() }
        let total = Double(componentCount * (componentCount + 1) / 2)
        model.weights = (0..<componentCount).map { Double($0 + 1) / total }
        guard iterations > 0 else { return model }
        let loop = EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(data.matrix)],
                          rule: StoppingRule(relativeTolerance: 0, maxIterations: iterations))
        return try loop.run([EMState(initial: model)])[0].model
    }

    static func statistics(_ shards: [any StatisticsKernel<FactorMixture>], _ model: FactorMixture) throws -> [Double] {
        try EMLoop(family: FactorFamily(), shards: shards, workers: shards.count).statistics([model]).sum
    }

    /// Every field of two `FactorRecord`s: the counts exactly; LL, Σe² and each Σp_j to
    /// `relative`; each entry of G_i and h_i to `relative` of the sum of its terms'
    /// magnitudes, which is what rounding scales with (an entry can be a sum of terms of both
    /// signs, far smaller than they are). By Cauchy–Schwarz that sum is at most
    /// √(G_rr·G_cc) for G_i's entry (r, c), and √(G_rr·Σ_u e_ui²) for h_i's entry r.
    static func expectRecordsAgree(_ actual: [Double], _ expected: [Double], _ model: FactorMixture,
                                   matrix: SparseRatingMatrix, relative: Double,
                                   _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let fields = FactorRecord(model)
        #expect(actual.count == fields.length && expected.count == fields.length, "\(what): record length",
                sourceLocation: sourceLocation)
        guard actual.count == expected.count, actual.count == fields.length else { return }
        #expect(actual[FactorRecord.activeUsers] == expected[FactorRecord.activeUsers], "\(what): users",
                sourceLocation: sourceLocation)
        #expect(actual[FactorRecord.ratingCount] == expected[FactorRecord.ratingCount], "\(what): ratings",
                sourceLocation: sourceLocation)
        var scalars = [FactorRecord.logLikelihood, FactorRecord.squaredResiduals]
        scalars += (0..<model.componentCount).map { FactorRecord.responsibilities + $0 }
        for index in scalars {
            #expect(relativeError(actual[index], expected[index]) <= relative,
                    "\(what): record[\(index)] \(actual[index]) vs \(expected[index])", sourceLocation: sourceLocation)
        }
        var itemSquares = [Double](repeating: 0, count: model.itemCount)
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                let item = matrix.items[position]
                let e = matrix.ratings[position] - model.offsets.baseline(user: user, item: item)
                itemSquares[item] += e * e
            }
        }
        let dimension = model.dimension
        let packed = SmallMatrices.packedCount(dimension)
        var worst = (excess: -Double.infinity, index: 0)
        func check(_ index: Int, scale: Double) {
            let excess = abs(actual[index] - expected[index]) - relative * max(abs(expected[index]), scale)
            if excess > worst.excess { worst = (excess, index) }
        }
        for item in 0..<model.itemCount {
            let gram = fields.items + item * fields.itemStride
            let diagonal = (0..<dimension).map { expected[gram + SmallMatrices.packedIndex($0, $0, dimension)] }
            for r in 0..<dimension {
                for c in r..<dimension {
                    check(gram + SmallMatrices.packedIndex(r, c, dimension), scale: (diagonal[r] * diagonal[c]).squareRoot())
                }
                check(gram + packed + r, scale: (diagonal[r] * itemSquares[item]).squareRoot())
            }
        }
        #expect(worst.excess <= 0, "\(what): item sums, worst at record[\(worst.index)]: \(actual[worst.index]) vs \(expected[worst.index])",
                sourceLocation: sourceLocation)
    }

    /// One E-step's record and user states, every block size and shard count, K = 1, 2, 3 and
    /// q = 0, 1, 3, 10, on all three data sets.
    @Test(arguments: ["block", "netflix", "synthetic"])
    func oneEStepAgreesWithTheNaiveKernel(dataName: String) throws {
        let data = try Self.dataSet(dataName)
        for componentCount in Self.componentCounts {
            for factorCount in Self.factorCounts {
                let model = try Self.model(data, componentCount: componentCount, factorCount: factorCount)
                let naive = FactorNaiveKernel(data.matrix)
                let expected = try Self.statistics([naive], model)
                let expectedStates = naive.userStates(model)
                for (shardCount, blockSize) in data.blockSizes {
                    let what = "\(data.name), K = \(componentCount), q = \(factorCount), \(shardCount) shards, blocks of \(blockSize)"
                    let shards = FactorBLASKernel.shards(of: data.matrix, count: shardCount, blockSize: blockSize)
                    #expect(shards.count == shardCount && shards.allSatisfy { $0.blockSize == blockSize })
                    Self.expectRecordsAgree(try Self.statistics(shards, model), expected, model, matrix: data.matrix, relative: 1e-11, what)
                    let states = try EMLoop(family: FactorFamily(), shards: shards).userStates(model)
                    #expect(relativeError(states.logLikelihood, expectedStates.logLikelihood) <= 1e-11, "\(what): LL")
                    expectClose(states.states, expectedStates.states, relative: 1e-9, absolute: 1e-11, "\(what): states")
                }
            }
        }
    }

    /// Whole runs from the same start: the same number of iterations and the same objective
    /// (relative 1e-10), each (K, q) on one of the data set's block sizes and shard counts.
    @Test(arguments: ["block", "netflix", "synthetic"])
    func wholeRunsAgreeWithTheNaiveKernel(dataName: String) throws {
        let data = try Self.dataSet(dataName)
        var configuration = 0
        for componentCount in Self.componentCounts {
            for factorCount in Self.factorCounts {
                let initial = try Self.model(data, componentCount: componentCount, factorCount: factorCount, iterations: 0)
                let expected = try EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(data.matrix)], rule: data.rule)
                    .run([EMState(initial: initial)])[0]
                let (shardCount, blockSize) = data.blockSizes[configuration % data.blockSizes.count]
                configuration += 1
                let shards = FactorBLASKernel.shards(of: data.matrix, count: shardCount, blockSize: blockSize)
                let run = try EMLoop(family: FactorFamily(), shards: shards, workers: shardCount, rule: data.rule)
                    .run([EMState(initial: initial)])[0]
                let what = "\(data.name), K = \(componentCount), q = \(factorCount), \(shardCount) shards, blocks of \(blockSize)"
                // One spherical component (K = 1, q = 0) is fitted in a step or two; the others take longer.
                let fewest = componentCount == 1 && factorCount == 0 ? 2 : 4
                #expect(expected.converged && expected.iterations >= fewest, "\(what): the naive run converges after \(expected.iterations) iterations")
                #expect(run.converged == expected.converged && run.iterations == expected.iterations,
                        "\(what): \(run.iterations) iterations vs \(expected.iterations)")
                #expect(relativeError(run.objective, expected.objective) <= 1e-10, "\(what): \(run.objective) vs \(expected.objective)")
                #expect(run.falls.isEmpty, "\(what)")
                #expect(relativeError(run.model.noiseVariance, expected.model.noiseVariance) <= 1e-8, "\(what): σ²")
            }
        }
    }

    static func dataSet(_ name: String) throws -> DataSet {
        switch name {
        case "block": return try referenceBlock()
        case "netflix": return try netflixHead()
        default: return try syntheticSparse()
        }
    }

    /// The numpy reference's runs (Tests/Fixtures/mppca, q = 2), as
    /// `FactorFamilyTests.naiveRunsMatchTheNumpyReference` checks the naive kernel.
    @Test(arguments: [1, 2])
    func runsMatchTheNumpyReference(componentCount: Int) throws {
        let matrix = try FactorFamilyTests.block()
        let reference = try FactorFamilyTests.fixture("vb_K\(componentCount).json", as: FactorFamilyTests.Reference.self)
        let initial = try FactorFamilyTests.initialModel(componentCount: componentCount, offsets: FactorFamilyTests.offsets(matrix))
        for (shardCount, blockSize) in [(1, 7), (2, 5)] {
            let shards = FactorBLASKernel.shards(of: matrix, count: shardCount, blockSize: blockSize)
            let run = try EMLoop(family: FactorFamily(), shards: shards).run([EMState(initial: initial)])[0]
            #expect(run.iterations == reference.iterations + 1 && run.converged)
            expectClose(run.trace, reference.objective_trace, relative: 1e-10, absolute: 0, "objective trace")

            let capped = EMLoop(family: FactorFamily(), shards: shards, rule: StoppingRule(maxIterations: reference.iterations))
            let model = try capped.run([EMState(initial: initial)])[0].model
            expectClose(model.loadings, reference.W.flatMap { $0 }, relative: 1e-8, absolute: 1e-10, "W")
            expectClose(model.means, reference.m.flatMap { $0 }, relative: 1e-8, absolute: 1e-10, "m")
            #expect(relativeError(model.noiseVariance, reference.sigma2) <= 1e-10)
            expectClose(model.weights, reference.pi, relative: 1e-8, absolute: 1e-12, "π")
            let states = try capped.userStates(model)
            expectClose(states.states.enumerated().filter { $0.offset % (componentCount * 3) < componentCount }.map(\.element),
                        reference.responsibilities.flatMap { $0 }, absolute: 1e-9, "posteriors")
            #expect(relativeError(states.logLikelihood, reference.LL_users.reduce(0, +)) <= 1e-10)
        }
    }

    /// Users without a rating add nothing to the statistics and get p = π, z̄ = 0, as with
    /// the naive kernel; here two of them fall inside a block, one at a block's start.
    @Test func usersWithoutRatingsAreSkipped() throws {
        let netflix = try #require(Fixtures.netflix)
        var values = [Double]()
        for user in 0..<30 { values += (0..<40).map { user == 4 || user == 17 ? 0 : netflix[user, $0] } }
        let matrix = SparseRatingMatrix(dense: DenseRatingMatrix(userCount: 30, itemCount: 40, values: values))
        #expect(matrix.ratingCount(ofUser: 4) == 0 && matrix.ratingCount(ofUser: 17) == 0)
        let data = DataSet(name: "block with empty users", matrix: matrix, offsets: FactorFamilyTests.offsets(matrix),
                           blockSizes: [], rule: StoppingRule())
        let model = try Self.model(data, componentCount: 2, factorCount: 3)
        let naive = FactorNaiveKernel(matrix)
        let kernel = FactorBLASKernel(matrix, blockSize: 4)
        let record = try Self.statistics([kernel], model)
        #expect(record[FactorRecord.activeUsers] == 28)
        Self.expectRecordsAgree(record, try Self.statistics([naive], model), model, matrix: matrix, relative: 1e-11, "empty users")
        let states = kernel.userStates(model)
        let width = 2 * (1 + 3)
        for user in [4, 17] {
            #expect(Array(states.states[(user * width)..<(user * width + 2)]) == model.weights)
            #expect(states.states[(user * width + 2)..<((user + 1) * width)].allSatisfy { $0 == 0 })
        }
        expectClose(states.states, naive.userStates(model).states, relative: 1e-9, absolute: 1e-11, "states")
    }

    /// The `.blocked` policy: one kernel whose GEMMs run on OpenBLAS's threads gives the
    /// naive kernel's statistics on one thread and on two.
    @Test func oneShardOnTwoBLASThreadsAgrees() throws {
        let data = try Self.netflixHead()
        let model = try Self.model(data, componentCount: 2, factorCount: 10)
        let expected = try Self.statistics([FactorNaiveKernel(data.matrix)], model)
        let kernel = FactorBLASKernel(data.matrix, blockSize: 64)
        for threads in [1, 2] {
            BLASThreads.set(threads)
            #expect(BLASThreads.current == threads)
            Self.expectRecordsAgree(try Self.statistics([kernel], model), expected, model, matrix: data.matrix, relative: 1e-11,
                                    "\(threads) BLAS threads")
        }
    }

    /// The workspace is O(B·d + d·q²): the same for 30 users as for 300.
    @Test func workspaceDoesNotGrowWithTheUsers() throws {
        let data = try Self.netflixHead()
        let model = try Self.model(data, componentCount: 2, factorCount: 3, iterations: 0)
        let few = FactorBLASKernel(data.matrix, users: 0..<40, blockSize: 32)
        let many = FactorBLASKernel(data.matrix, blockSize: 32)
        _ = few.userStates(model)
        _ = many.userStates(model)
        #expect(few.workspaceCount > 2 * 32 * data.matrix.itemCount)
        #expect(few.workspaceCount == many.workspaceCount)
    }

    /// The engine's factor shards: the GEMM kernel for `.dense` (one shard per thread) and
    /// `.blocked` (one shard), the naive kernel for `.naive`.
    @Test func theEngineBuildsTheBLASKernel() throws {
        let input = RatingInput(storage: .records(RatingTable(matrix: try FactorFamilyTests.block(), users: .identity(30),
                                                              items: .identity(40))), format: .csv)
        let dense = Engine(family: .mppca, kernel: .dense(.double), threads: 2).factorShards(for: input)
        #expect(dense.map(\.name) == ["blas", "blas"] && dense.map(\.userCount) == [15, 15])
        let oneShard = Engine(family: .mppca, kernel: .dense(.double), threads: 2, threading: .oneShardOnBLASThreads).factorShards(for: input)
        #expect(oneShard.map(\.name) == ["blas"] && oneShard[0].userCount == 30)
        let blocked = Engine(family: .mppca, kernel: .blocked, threads: 2).factorShards(for: input)
        #expect(blocked.map(\.name) == ["blas"] && blocked[0].userCount == 30)
        #expect(Engine(family: .mppca, kernel: .naive, threads: 2).factorShards(for: input).map(\.name) == ["naive"])
    }
}
