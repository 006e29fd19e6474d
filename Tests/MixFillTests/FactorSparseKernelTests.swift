import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// `FactorSparseKernel` against `FactorNaiveKernel`: one E-step's statistics, field by field,
/// and whole runs, for K = 1, 2, 3 and q = 0, 1, 3, 10, on the numpy reference block, on
/// sparse synthetic data, and on ml-latest-small when ../shared has it; with 1, 2 and 3
/// shards, every rating storage and item index width.
@Suite(.serialized, .blasProcessState) struct FactorSparseKernelTests {
    static let shapes: [(factors: Int, components: Int)] = [0, 1, 3, 10].flatMap { q in [1, 2, 3].map { (q, $0) } }

    /// Sparse data made here: 500 users × 300 items, 4% observed.
    static let synthetic: SparseRatingMatrix? = {
        guard let folder = try? Fixtures.scratchFolder() else { return nil }
        let synthetic = SyntheticRatings(userCount: 500, itemCount: 300, ratingCount: 6000, componentCount: 3, seed: 4)
        guard (try? synthetic.write(to: folder + "/r.csv", layout: .csv, membershipsPath: folder + "/m.tsv")) != nil else { return nil }
        return try? RecordReader.read(path: folder + "/r.csv", layout: .csv).matrix
    }()

    /// The data sets every comparison runs on, by name.
    static func dataSets() throws -> [(name: String, matrix: SparseRatingMatrix)] {
        var sets = [("30 × 40 block", try FactorFamilyTests.block()), ("synthetic", try #require(synthetic))]
        if let table = NaiveRuns.movieLensTable { sets.append(("ml-latest-small", table.matrix)) }
        return sets
    }

    /// A start whose components differ (random means, unequal weights), then (by default) two
    /// naive EM iterations so that every item's posterior covariance is a full matrix: the E-step
    /// then reads every block of Σ_i.
    static func model(_ matrix: SparseRatingMatrix, factors: Int, components: Int, seed: UInt64 = 1,
                      naiveIterations: Int = 2) throws -> FactorMixture {
        var start = FactorInitialization.random(matrix: matrix, offsets: RatingOffsets(BiasBaseline(matrix: matrix)),
                                                factorCount: factors, componentCount: components,
                                                priors: FactorPriors(loadings: 5, means: 1), seed: seed)
        var random = SplitMix64(seed: seed &+ 100)
        start.means = start.means.map { _ in 0.3 * random.nextGaussian() }
        let total = Double(components * (components + 1) / 2)
        start.weights = (0..<components).map { Double($0 + 1) / total }
        guard naiveIterations > 0 else { return start }
        let loop = EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)], rule: StoppingRule(maxIterations: naiveIterations))
        return try loop.run([EMState(initial: start)])[0].model
    }

    /// Every field of two factor records: the scalars within 1e-12 relative, each item's G_i
    /// and h_i within 1e-12 of the larger of the value and the item's largest entry (an entry
    /// of h_i is a sum of signed terms and may be small against them).
    static func expectSameStatistics(_ actual: [Double], _ expected: [Double], _ fields: FactorRecord, _ what: String,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == fields.length && expected.count == fields.length, "\(what): record lengths", sourceLocation: sourceLocation)
        guard actual.count == expected.count else { return }
        let worst = worstExcess(actual, expected, fields)
        #expect(worst.excess <= 0, "\(what): worst at record index \(worst.index): \(actual[worst.index]) vs \(expected[worst.index])",
                sourceLocation: sourceLocation)
    }

    /// The largest difference beyond the tolerance of `expectSameStatistics` (≤ 0 when all agree).
    static func worstExcess(_ actual: [Double], _ expected: [Double], _ fields: FactorRecord) -> (excess: Double, index: Int) {
        var worst = (excess: -Double.infinity, index: 0)
        for index in 0..<fields.items {
            let excess = abs(actual[index] - expected[index]) - 1e-12 * abs(expected[index])
            if excess > worst.excess { worst = (excess, index) }
        }
        for item in 0..<fields.itemCount {
            let slice = (fields.items + item * fields.itemStride)..<(fields.items + (item + 1) * fields.itemStride)
            let scale = expected[slice].reduce(0) { max($0, abs($1)) }
            for index in slice {
                let excess = abs(actual[index] - expected[index]) - 1e-12 * max(abs(expected[index]), scale)
                if excess > worst.excess { worst = (excess, index) }
            }
        }
        return worst
    }

    /// One E-step's statistics, naive and sparse, for `model` on `matrix`.
    static func statistics(_ matrix: SparseRatingMatrix, _ model: FactorMixture, shards: Int) throws -> (sparse: [Double], naive: [Double]) {
        let naive = try EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)]).statistics([model]).sum
        let kernels = FactorSparseKernel.shards(of: matrix, count: shards)
        #expect(kernels.count == shards && kernels.allSatisfy { $0.name == "sparse" })
        let sparse = try EMLoop(family: FactorFamily(), shards: kernels, workers: shards).statistics([model]).sum
        return (sparse, naive)
    }

    @Test func oneEStepMatchesTheNaiveStatistics() throws {
        for (name, matrix) in try Self.dataSets() {
            for (q, componentCount) in Self.shapes {
                let model = try Self.model(matrix, factors: q, components: componentCount)
                let fields = FactorRecord(model)
                for shards in 1...3 {
                    let (sparse, naive) = try Self.statistics(matrix, model, shards: shards)
                    Self.expectSameStatistics(sparse, naive, fields, "\(name), q = \(q), K = \(componentCount), \(shards) shards")
                }
            }
        }
    }

    /// The comparison above is not vacuous: the models read full posterior covariances and
    /// their components' posteriors differ, and a wrong statistic is caught.
    @Test func theComparisonSeesEveryPartOfTheModel() throws {
        let matrix = try #require(Self.synthetic)
        let model = try Self.model(matrix, factors: 3, components: 3)
        let dimension = model.dimension
        let packed = SmallMatrices.packedCount(dimension)
        // Σ_i has non-zero blocks Sww (off the diagonal), Swm and Smm for a rated item.
        let sigma = Array(model.covariances[(7 * packed)..<(8 * packed)])
        #expect(abs(sigma[SmallMatrices.packedIndex(0, 1, dimension)]) > 1e-6)
        #expect(abs(sigma[SmallMatrices.packedIndex(1, 3 + 2, dimension)]) > 1e-6)
        #expect(abs(sigma[SmallMatrices.packedIndex(3, 4, dimension)]) > 1e-9)
        let states = try EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)]).userStates(model).states
        let width = 3 * (1 + 3)
        #expect((0..<matrix.userCount).contains { user in
            let p = states[(user * width)..<(user * width + 3)]
            return p.max()! - p.min()! > 0.1 && p.max()! < 0.99
        })
        let (sparse, naive) = try Self.statistics(matrix, model, shards: 2)
        let fields = FactorRecord(model)
        #expect(Self.worstExcess(sparse, naive, fields).excess <= 0)
        // One entry of one item's G_i off by 1e-10 of the item's largest entry is caught.
        let slice = (fields.items + 7 * fields.itemStride)..<(fields.items + 8 * fields.itemStride)
        let largest = try #require(slice.max { abs(naive[$0]) < abs(naive[$1]) })
        var perturbed = sparse
        perturbed[largest] *= 1 + 1e-10
        #expect(Self.worstExcess(perturbed, naive, fields).index == largest)
        #expect(Self.worstExcess(perturbed, naive, fields).excess > 0)
    }

    /// Per-user states (posteriors and factor means) and the log-likelihood, including users
    /// without ratings, who keep p = π and z̄ = 0 and add nothing.
    @Test func userStatesMatchTheNaiveKernel() throws {
        let base = try #require(Self.synthetic)
        // Every fifth user of the synthetic data loses their ratings.
        var rowStarts = [0]
        var indices = [Int]()
        var values = [Double]()
        for user in 0..<base.userCount {
            if user % 5 != 2 {
                for position in base.rowStarts[user]..<base.rowStarts[user + 1] {
                    indices.append(base.items[position])
                    values.append(base.ratings[position])
                }
            }
            rowStarts.append(indices.count)
        }
        let matrix = SparseRatingMatrix(userCount: base.userCount, itemCount: base.itemCount, rowStarts: rowStarts,
                                        items: SparseRatingMatrix.compactItems(indices, itemCount: base.itemCount),
                                        ratings: SparseRatingMatrix.compactRatings(values))
        for (q, componentCount) in [(0, 2), (3, 1), (3, 3), (10, 2)] {
            let model = try Self.model(matrix, factors: q, components: componentCount)
            let expected = try EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)]).userStates(model)
            for shards in 1...3 {
                let kernels = FactorSparseKernel.shards(of: matrix, count: shards)
                let actual = try EMLoop(family: FactorFamily(), shards: kernels, workers: shards).userStates(model)
                let what = "q = \(q), K = \(componentCount), \(shards) shards"
                #expect(relativeError(actual.logLikelihood, expected.logLikelihood) <= 1e-12, "\(what)")
                expectClose(actual.states, expected.states, relative: 1e-10, absolute: 1e-12, "states, \(what)")
                let width = componentCount * (1 + q)
                #expect(Array(actual.states[(2 * width)..<(2 * width + componentCount)]) == model.weights, "\(what)")
                #expect(actual.states[(2 * width + componentCount)..<(3 * width)].allSatisfy { $0 == 0 }, "\(what)")
            }
            let (sparse, naive) = try Self.statistics(matrix, model, shards: 2)
            Self.expectSameStatistics(sparse, naive, FactorRecord(model), "empty users, q = \(q), K = \(componentCount)")
            #expect(sparse[FactorRecord.activeUsers] == 400)
        }
    }

    /// Coded and exact ratings, 16- and 32-bit item indices: the same statistics as the
    /// naive kernel on the same matrix.
    @Test func everyStorageKindMatchesTheNaiveKernel() throws {
        let base = try #require(Self.synthetic)
        let indices = (0..<base.observedCount).map { base.items[$0] }
        let values = (0..<base.observedCount).map { base.ratings[$0] }
        guard case .coded = base.ratings, case .narrow = base.items else {
            Issue.record("the synthetic ratings are whole stars, read as coded with 16-bit indices")
            return
        }
        // 32-bit indices need more than 65,536 items: the same ratings spread over 70,000.
        let wideCount = 70_000
        let matrices: [(String, SparseRatingMatrix)] = [
            ("narrow, coded", base),
            ("narrow, exact", SparseRatingMatrix(userCount: base.userCount, itemCount: base.itemCount, rowStarts: base.rowStarts,
                                                 items: base.items, ratings: .exact(values))),
            ("wide, coded", SparseRatingMatrix(userCount: base.userCount, itemCount: wideCount, rowStarts: base.rowStarts,
                                               items: .wide(indices.map { UInt32($0 * 233) }), ratings: base.ratings)),
            ("wide, exact", SparseRatingMatrix(userCount: base.userCount, itemCount: wideCount, rowStarts: base.rowStarts,
                                               items: .wide(indices.map { UInt32($0 * 233) }), ratings: .exact(values))),
        ]
        for (name, matrix) in matrices {
            for (q, componentCount) in [(1, 2), (10, 3)] {
                let model = try Self.model(matrix, factors: q, components: componentCount)
                for shards in [1, 3] {
                    let (sparse, naive) = try Self.statistics(matrix, model, shards: shards)
                    Self.expectSameStatistics(sparse, naive, FactorRecord(model), "\(name), q = \(q), K = \(componentCount), \(shards) shards")
                }
            }
        }
    }

    /// Whole runs: the same number of iterations and every iteration's objective within
    /// 1e-10 relative (runs on the larger data capped at 12 iterations, so there the count
    /// is the cap's; `FactorKernelAgreementTests` runs ml-latest-small to convergence).
    @Test func wholeRunsMatchTheNaiveKernel() throws {
        for (name, matrix) in try Self.dataSets() {
            let rule = name == "30 × 40 block" ? StoppingRule() : StoppingRule(maxIterations: 12)
            for (q, componentCount) in Self.shapes {
                let start = try Self.model(matrix, factors: q, components: componentCount, seed: 2, naiveIterations: 0)
                let naive = try EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)], rule: rule)
                    .run([EMState(initial: start)])[0]
                #expect(naive.iterations > 2, "\(name), q = \(q), K = \(componentCount)")
                for shards in 1...3 {
                    let what = "\(name), q = \(q), K = \(componentCount), \(shards) shards"
                    let run = try EMLoop(family: FactorFamily(), shards: FactorSparseKernel.shards(of: matrix, count: shards),
                                         workers: shards, rule: rule).run([EMState(initial: start)])[0]
                    #expect(run.iterations == naive.iterations && run.converged == naive.converged, "\(what)")
                    expectClose(run.trace, naive.trace, relative: 1e-10, absolute: 0, "objective trace, \(what)")
                    #expect(run.falls == naive.falls, "\(what)")
                }
            }
        }
    }

    /// The blocks of users only reorder memory traffic: an E-step with blocks of 16 users
    /// (the smallest) gives the same bits as one with the default blocks, and users' states too.
    @Test func theBlockSizeDoesNotChangeAnyBit() throws {
        for (name, matrix) in try Self.dataSets() {
            for (q, componentCount) in [(3, 1), (10, 1), (10, 3), (0, 2)] {
                let model = try Self.model(matrix, factors: q, components: componentCount)
                let what = "\(name), q = \(q), K = \(componentCount)"
                let small = FactorSparseKernel.shards(of: matrix, count: 2, sliceBytes: 1)
                let usual = FactorSparseKernel.shards(of: matrix, count: 2)
                let smallSum = try EMLoop(family: FactorFamily(), shards: small, workers: 2).statistics([model]).sum
                let usualSum = try EMLoop(family: FactorFamily(), shards: usual, workers: 2).statistics([model]).sum
                let blockCounts = (small.map { $0.blocks?.blockCount ?? 0 }, usual.map { $0.blocks?.blockCount ?? 0 })
                #expect(blockCounts.0 == small.map { ($0.userCount + 15) / 16 }, "\(what): \(blockCounts)")
                if matrix.userCount > 32 {
                    #expect(blockCounts.0.reduce(0, +) > blockCounts.1.reduce(0, +), "\(what): \(blockCounts)")
                }
                #expect(smallSum.count == usualSum.count && smallSum.count == FactorRecord(model).length, "\(what)")
                #expect(zip(smallSum, usualSum).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(what)")
                let smallStates = small[0].userStates(model)
                let usualStates = usual[0].userStates(model)
                #expect(smallStates.states.map(\.bitPattern) == usualStates.states.map(\.bitPattern), "\(what)")
                #expect(smallStates.logLikelihood.bitPattern == usualStates.logLikelihood.bitPattern, "\(what)")
            }
        }
    }

    /// The passes in C for AVX2 (`VectorPasses.avx2`, chosen at run time where the processor
    /// has it) give the Swift passes' bits: one E-step's statistics and users' states, on
    /// shapes whose rows have blocks of 16 and of 8 lanes, scaled, plain and mixed.
    @Test(.enabled(if: VectorPasses.isAvailable(.avx2), "the processor has no AVX2"))
    func theAVX2PassesGiveTheSwiftPassesBits() throws {
        var widths = Set<Int>()
        var kinds = Set<Int>()
        for (name, matrix) in try Self.dataSets() {
            // q + K = 16 gives a block of scaled lanes only.
            for (q, componentCount) in Self.shapes + [(14, 2)] {
                let model = try Self.model(matrix, factors: q, components: componentCount)
                let what = "\(name), q = \(q), K = \(componentCount)"
                let swift = FactorSparseKernel.shards(of: matrix, count: 2, passes: .swift)
                let avx2 = FactorSparseKernel.shards(of: matrix, count: 2, passes: .avx2)
                #expect(swift.map(\.passes) == [.swift, .swift] && avx2.map(\.passes) == [.avx2, .avx2], "\(what)")
                let swiftSum = try EMLoop(family: FactorFamily(), shards: swift, workers: 2).statistics([model]).sum
                let avx2Sum = try EMLoop(family: FactorFamily(), shards: avx2, workers: 2).statistics([model]).sum
                #expect(swiftSum.count == avx2Sum.count && swiftSum.count == FactorRecord(model).length, "\(what)")
                #expect(swiftSum.map(\.bitPattern) == avx2Sum.map(\.bitPattern), "\(what)")
                Self.expectSameStatistics(avx2Sum, try Self.statistics(matrix, model, shards: 1).naive, FactorRecord(model), what)
                let swiftStates = swift[1].userStates(model)
                let avx2States = avx2[1].userStates(model)
                #expect(swiftStates.states.count == avx2States.states.count && !swiftStates.states.isEmpty, "\(what)")
                #expect(swiftStates.states.map(\.bitPattern) == avx2States.states.map(\.bitPattern), "\(what)")
                #expect(swiftStates.logLikelihood.bitPattern == avx2States.logLikelihood.bitPattern, "\(what)")
                let layout = FactorSparseLayout(factorCount: q, componentCount: componentCount, itemCount: matrix.itemCount)
                for block in layout.tableBlocks + layout.sumBlocks {
                    widths.insert(block.width)
                    kinds.insert(block.kind.code.kind)
                }
            }
        }
        #expect(widths == [8, 16] && kinds == [0, 1, 2], "the shapes cover every width and kind: \(widths), \(kinds)")
    }

    /// Rows are cut into blocks of 16 lanes (8 for a remainder), each scaled, plain or mixed
    /// where the e-scaled columns end, and an item's row survives being stored a block at a time.
    @Test func laneBlocksCoverTheRowAndRowsRoundTrip() {
        typealias Block = FactorLaneBlock
        #expect(FactorSparseLayout.blocks(stride: 80, scaledCount: 11) == [
            Block(offset: 0, width: 16, kind: .mixed(scaledLanes: 11)), Block(offset: 16, width: 16, kind: .plain),
            Block(offset: 32, width: 16, kind: .plain), Block(offset: 48, width: 16, kind: .plain),
            Block(offset: 64, width: 16, kind: .plain)])
        #expect(FactorSparseLayout.blocks(stride: 40, scaledCount: 24) == [
            Block(offset: 0, width: 16, kind: .scaled), Block(offset: 16, width: 16, kind: .mixed(scaledLanes: 8)),
            Block(offset: 32, width: 8, kind: .plain)])
        #expect(FactorSparseLayout.blocks(stride: 8, scaledCount: 1) == [Block(offset: 0, width: 8, kind: .mixed(scaledLanes: 1))])
        #expect(FactorSparseLayout.blocks(stride: 32, scaledCount: 16) == [
            Block(offset: 0, width: 16, kind: .scaled), Block(offset: 16, width: 16, kind: .plain)])

        let layout = FactorSparseLayout(factorCount: 10, componentCount: 1, itemCount: 3)
        #expect(layout.tableStride == 80 && layout.sumStride == 80)
        let rows = (0..<3).map { item in (0..<layout.tableStride).map { Double(item * 1000 + $0) } }
        var stored = [Double](repeating: -1, count: 3 * layout.tableStride)
        stored.withUnsafeMutableBufferPointer { stored in
            for item in 0..<3 { layout.scatter(rows[item], item: item, blocks: layout.tableBlocks, into: stored) }
        }
        #expect(!stored.contains(-1))
        // Item 1's columns 16..<32 sit after every item's first block and item 0's second.
        #expect(Array(stored[(3 * 16 + 16)..<(3 * 16 + 32)]) == Array(rows[1][16..<32]))
        var row = [Double](repeating: 0, count: layout.tableStride)
        stored.withUnsafeBufferPointer { stored in
            for item in 0..<3 {
                layout.gather(item: item, from: stored, blocks: layout.tableBlocks, into: &row)
                #expect(row == rows[item])
            }
        }
    }

    /// The numpy reference's runs (q = 2, K = 1 and 2) with the sparse kernel: its objective
    /// trace and iteration count.
    @Test(arguments: [1, 2])
    func runsMatchTheNumpyReference(componentCount: Int) throws {
        let matrix = try FactorFamilyTests.block()
        let reference = try FactorFamilyTests.fixture("vb_K\(componentCount).json", as: FactorFamilyTests.Reference.self)
        let initial = try FactorFamilyTests.initialModel(componentCount: componentCount, offsets: FactorFamilyTests.offsets(matrix))
        for shards in 1...3 {
            let loop = EMLoop(family: FactorFamily(), shards: FactorSparseKernel.shards(of: matrix, count: shards), workers: shards)
            let run = try loop.run([EMState(initial: initial)])[0]
            #expect(run.iterations == reference.iterations + 1 && run.converged, "\(shards) shards")
            expectClose(run.trace, reference.objective_trace, relative: 1e-10, absolute: 0, "objective trace, \(shards) shards")
        }
    }

    /// `--kernel sparse` runs this kernel on the engine's threads, one shard each; the GEMM
    /// kernels run FactorBLASKernel and the naive backend the naive kernel.
    @Test func theEngineRunsItForKernelSparse() throws {
        let matrix = try #require(Self.synthetic)
        let input = RatingInput(storage: .records(RatingTable(matrix: matrix, users: .identity(matrix.userCount), items: .identity(matrix.itemCount))), format: .csv)
        #expect(Engine(family: .mppca, kernel: .sparse, threads: 3).factorShards(for: input).map(\.name) == ["sparse", "sparse", "sparse"])
        #expect(Engine(family: .mppca, kernel: .sparse, threads: 3).factorShards(for: input).map(\.userCount) != [500, 0, 0])
        #expect(Engine(family: .mppca, kernel: .sparse, threads: 3).factorShards(for: input).reduce(0) { $0 + $1.userCount } == 500)
        #expect(Engine(family: .mppca, kernel: .dense(.double), threads: 2).factorShards(for: input).map(\.name) == ["blas", "blas"])
        #expect(Engine(family: .mppca, kernel: .blocked, threads: 2).factorShards(for: input).map(\.name) == ["blas"])
        #expect(Engine(family: .mppca, kernel: .naive, threads: 2).factorShards(for: input).map(\.name) == ["naive"])
    }
}
