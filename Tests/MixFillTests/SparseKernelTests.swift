import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// The naive kernel's runs on a dense matrix, computed once and shared by the tests that
/// compare the sparse and blocked kernels against them.
final class NaiveRuns: @unchecked Sendable {
    let data: DenseRatingMatrix
    private var cache: [Int: [FitResult<Mixture>]] = [:]
    private let lock = NSLock()

    init(_ data: DenseRatingMatrix) { self.data = data }

    /// Runs for K and seeds 0–4, from the course initialisation on the dense matrix.
    func runs(componentCount: Int) throws -> [FitResult<Mixture>] {
        lock.lock()
        defer { lock.unlock() }
        if let cached = cache[componentCount] { return cached }
        let em = CourseEM(kernel: NaiveKernel(data))
        let results = try (0..<5).map { seed in
            try em.run(from: Initialization.courseMixture(data: data, componentCount: componentCount, seed: UInt32(seed)))
        }
        cache[componentCount] = results
        return results
    }

    static let netflix: NaiveRuns? = Fixtures.netflix.map(NaiveRuns.init)

    /// ml-latest-small's ratings.csv, read as records and (for the naive kernel) densified
    /// here in the test: 610 users × 9,724 movies in ascending id order.
    static let movieLensTable: RatingTable? = {
        let path = Fixtures.sharedData + "/ml-latest-small/ratings.csv"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try? RecordReader.read(path: path, layout: .csv)
    }()

    static let movieLens: NaiveRuns? = movieLensTable.map { NaiveRuns(densify($0.matrix)) }

    static func densify(_ matrix: SparseRatingMatrix) -> DenseRatingMatrix {
        var values = [Double](repeating: 0, count: matrix.userCount * matrix.itemCount)
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                values[user * matrix.itemCount + matrix.items[position]] = matrix.ratings[position]
            }
        }
        return DenseRatingMatrix(userCount: matrix.userCount, itemCount: matrix.itemCount, values: values)
    }
}

/// Every record kernel against the naive kernel: the same log-likelihood (relative 1e-10),
/// the same iteration count and the same parameters (1e-8), seeds 0–4, K = 1, 4, 12.
@Suite(.serialized, .blasProcessState) struct SparseKernelTests {
    /// The netflix matrix converted to records the way a user would: written as triplets
    /// text and read back.
    static let netflixRecords: RatingTable? = {
        guard let dense = Fixtures.netflix, let folder = try? Fixtures.scratchFolder() else { return nil }
        let path = folder + "/netflix.tsv"
        guard (try? RecordWriter.write(RatingTable(dense: dense), to: path, layout: .triplets)) != nil else { return nil }
        return try? RecordReader.read(path: path, layout: .triplets)
    }()

    /// Each engine's shards (one kernel, or a kernel cut into shards run on as many threads).
    typealias Shards = [any StatisticsKernel<Mixture>]

    func compare(_ table: RatingTable, _ reference: NaiveRuns, componentCount: Int, engines: [Shards]) throws {
        let expected = try reference.runs(componentCount: componentCount)
        for seed in 0..<5 {
            let initial = try Initialization.courseMixture(data: table.matrix, componentCount: componentCount, seed: UInt32(seed))
            let denseInitial = try Initialization.courseMixture(data: reference.data, componentCount: componentCount, seed: UInt32(seed))
            #expect(initial.means == denseInitial.means)
            expectClose(initial.variances, denseInitial.variances, relative: 1e-13, absolute: 0, "initial variances, seed \(seed)")
            for shards in engines {
                let what = "\(shards[0].name) × \(shards.count), K = \(componentCount), seed \(seed)"
                let run = try CourseEM(shards: shards, workers: shards.count).run(from: initial)
                #expect(relativeError(run.objective, expected[seed].objective) <= 1e-10, "\(what): \(run.objective) vs \(expected[seed].objective)")
                #expect(run.iterations == expected[seed].iterations, "\(what)")
                #expect(run.converged == expected[seed].converged, "\(what)")
                expectClose(run.model.means, expected[seed].model.means, absolute: 1e-8, "means, \(what)")
                expectClose(run.model.variances, expected[seed].model.variances, relative: 1e-8, absolute: 0, "variances, \(what)")
                expectClose(run.model.weights, expected[seed].model.weights, absolute: 1e-8, "weights, \(what)")
            }
        }
    }

    @Test(arguments: [1, 4, 12])
    func netflixAsRecords(componentCount: Int) throws {
        let table = try #require(Self.netflixRecords)
        let reference = try #require(NaiveRuns.netflix)
        #expect(table.matrix.userCount == 1200 && table.matrix.itemCount == 1200 && table.matrix.observedCount == 1_111_768)
        #expect(table.users.isIdentity && table.items.isIdentity)
        try compare(table, reference, componentCount: componentCount, engines: [
            [SparseKernel(table.matrix)],
            SparseKernel.shards(of: table.matrix, count: 3),
            [BlockedKernel(table.matrix)],
        ])
    }

    /// Genuinely sparse data made here (`synth`: 400 users × 300 items, 3% observed), so the
    /// record kernels meet the naive kernel on data like real ratings files without
    /// ../shared: one sparse shard bit for bit, sparse shards and the blocked kernel to
    /// 1e-10, over whole runs.
    @Test(arguments: [1, 4])
    func recordKernelsAgreeWithNaiveOnSyntheticSparseData(componentCount: Int) throws {
        let folder = try Fixtures.scratchFolder()
        let synthetic = SyntheticRatings(userCount: 400, itemCount: 300, ratingCount: 3600, componentCount: 3, seed: 4)
        _ = try synthetic.write(to: folder + "/r.csv", layout: .csv, membershipsPath: folder + "/m.tsv")
        let table = try RecordReader.read(path: folder + "/r.csv", layout: .csv)
        #expect(Double(table.matrix.observedCount) / Double(table.matrix.userCount * table.matrix.itemCount) < 0.05)
        let dense = NaiveRuns.densify(table.matrix)
        let naive = CourseEM(kernel: NaiveKernel(dense))
        for seed: UInt32 in [0, 1] {
            let initial = try Initialization.courseMixture(data: table.matrix, componentCount: componentCount, seed: seed)
            let expected = try naive.run(from: initial)
            #expect(expected.iterations > 2)
            let single = try CourseEM(kernel: SparseKernel(table.matrix)).run(from: initial)
            #expect(single.trace == expected.trace && single.model == expected.model, "one sparse shard, seed \(seed)")
            for shards in [SparseKernel.shards(of: table.matrix, count: 3), [BlockedKernel(table.matrix, blockSize: 64)]] as [Shards] {
                let run = try CourseEM(shards: shards, workers: shards.count).run(from: initial)
                let what = "\(shards[0].name) × \(shards.count), K = \(componentCount), seed \(seed)"
                #expect(run.iterations == expected.iterations, "\(what)")
                #expect(relativeError(run.objective, expected.objective) <= 1e-10, "\(what)")
                expectClose(run.model.means, expected.model.means, absolute: 1e-8, "means, \(what)")
            }
        }
    }

    /// Asked for more threads than there are users (up to `--threads 1024` on the course's
    /// 20-user test case), the engine cuts one shard per user and agrees with the naive kernel.
    @Test func neverCutsMoreShardsThanUsers() throws {
        let dense = try Fixtures.load(Fixtures.smallIncomplete)
        let input = RatingInput(storage: .records(RatingTable(dense: dense)), format: .triplets)
        let engine = Engine(kernel: .sparse, threads: 1024)
        #expect(engine.shardCount(userCount: 20) == 20)
        #expect(Engine(kernel: .sparse, threads: 7).shardCount(userCount: 20) == 7)
        let shards = try engine.courseShards(for: input)
        #expect(shards.count == 20 && shards.reduce(0) { $0 + $1.userCount } == 20)
        let initial = try Initialization.courseMixture(data: dense, componentCount: 3, seed: 0)
        let sparse = try CourseEM(engine: engine, input: input).run(from: initial)
        let naive = try CourseEM(kernel: NaiveKernel(dense)).run(from: initial)
        #expect(sparse.iterations == naive.iterations)
        #expect(relativeError(sparse.objective, naive.objective) <= 1e-10)
    }

    /// `Engine.resolve` refuses a precision its kernel cannot run with a typed error, which
    /// the command line words with its options.
    @Test func aPrecisionConflictIsAnErrorNotATrap() throws {
        let input = RatingInput(storage: .records(RatingTable(dense: try Fixtures.load(Fixtures.smallIncomplete))), format: .csv)
        #expect(throws: EngineConflict.singleNeedsDense(kernel: .sparse)) {
            try Engine.resolve(kernel: .sparse, precision: .single, threads: 1, for: input)
        }
        #expect(throws: MixFillError.badOption(option: "--precision", message: "'single' runs on the dense BLAS kernel only, and this fit runs the sparse kernel; add --kernel dense or leave --precision out")) {
            try Engine.resolve(backend: .blas, kernel: .sparse, precision: .single, threads: 1, for: input, spelling: .commandLine)
        }
        #expect(throws: MixFillError.badOption(option: "--precision", message: "'single' needs the blas backend; the naive backend computes in double only; drop --backend naive or leave --precision out")) {
            try Engine.resolve(backend: .naive, kernel: .auto, precision: .single, threads: 1, for: input, spelling: .commandLine)
        }
        #expect(try Engine.resolve(kernel: .dense, precision: .single, threads: 1, for: input).kernel == .dense(.single))
    }

    /// On one thread the sparse kernel does the naive kernel's arithmetic in the naive
    /// kernel's order (each d_j summed over the row by ascending item, the same posteriors,
    /// the M-step sums added user by user), so whole runs agree bit for bit.
    @Test func oneThreadIsBitIdenticalToTheNaiveKernel() throws {
        var cases = [(RatingTable, NaiveRuns)]()
        if let table = Self.netflixRecords, let reference = NaiveRuns.netflix { cases.append((table, reference)) }
        if let table = NaiveRuns.movieLensTable, let reference = NaiveRuns.movieLens { cases.append((table, reference)) }
        #expect(!cases.isEmpty)
        for (table, reference) in cases {
            let expected = try reference.runs(componentCount: 12)
            for seed in 0..<5 {
                let initial = try Initialization.courseMixture(data: reference.data, componentCount: 12, seed: UInt32(seed))
                let run = try CourseEM(kernel: SparseKernel(table.matrix)).run(from: initial)
                #expect(run.trace == expected[seed].trace, "\(table.matrix.userCount) users, seed \(seed)")
                #expect(run.model == expected[seed].model, "\(table.matrix.userCount) users, seed \(seed)")
            }
        }
    }

    @Test(.enabled(if: NaiveRuns.movieLensTable != nil, "../shared/data/ml-latest-small is absent"), arguments: [1, 4, 12])
    func movieLensSmall(componentCount: Int) throws {
        let table = try #require(NaiveRuns.movieLensTable)
        let reference = try #require(NaiveRuns.movieLens)
        #expect(table.matrix.userCount == 610 && table.matrix.itemCount == 9724 && table.matrix.observedCount == 100_836)
        // `--kernel dense` on these records: the BLAS kernel on the densified matrix.
        let records = RatingInput(storage: .records(table), format: .csv)
        let engine = try Engine.resolve(kernel: .dense, threads: 2, for: records)
        #expect(engine.kernel == .dense(.double))
        let densified = try engine.courseShards(for: records)
        #expect(densified.count == 2 && densified[0].name == "blas")
        try compare(table, reference, componentCount: componentCount, engines: [
            SparseKernel.shards(of: table.matrix, count: 2),
            [BlockedKernel(table.matrix, blockSize: 100)],
            densified,
        ])
    }

    /// One E-step's statistics, both for peaked posteriors (the sparse kernel then updates
    /// only the non-zero components) and for spread ones (all K lanes), and the posteriors.
    @Test(arguments: [1, 3, 5, 12, 20, 36])
    func oneEStepMatchesTheNaiveStatistics(componentCount: Int) throws {
        let dense = try Fixtures.load(Fixtures.netflixIncomplete)
        let rows = DenseRatingMatrix(userCount: 300, itemCount: dense.itemCount, values: Array(dense.values[0..<(300 * dense.itemCount)]))
        let table = RatingTable(dense: rows)
        let peaked = try Initialization.courseMixture(data: rows, componentCount: componentCount, seed: 7)
        var spread = peaked
        spread.variances = spread.variances.map { $0 * 1e4 }
        let naive = CourseEM(kernel: NaiveKernel(rows))
        for (name, mixture) in [("peaked", peaked), ("spread", spread)] {
            let expected = try naive.eStep(mixture)
            let expectedPosteriors = try naive.posteriors(mixture)
            for shards in [SparseKernel.shards(of: table.matrix, count: 2), [BlockedKernel(table.matrix, blockSize: 37)]] as [Shards] {
                let em = CourseEM(shards: shards, workers: shards.count)
                let actual = try em.eStep(mixture)
                let what = "\(shards[0].name) × \(shards.count), \(name), K = \(componentCount)"
                #expect(relativeError(actual.logLikelihood, expected.logLikelihood) <= 1e-12, "\(what)")
                #expect(actual.userCount == expected.userCount)
                expectClose(actual.responsibilities, expected.responsibilities, relative: 1e-10, absolute: 1e-10, "n̂, \(what)")
                expectClose(actual.weightedSquaredNorms, expected.weightedSquaredNorms, relative: 1e-10, absolute: 1e-8, "Σp‖x‖², \(what)")
                expectClose(actual.weightedObservedCounts, expected.weightedObservedCounts, relative: 1e-10, absolute: 1e-9, "Σp|C|, \(what)")
                expectClose(actual.ratingSums, expected.ratingSums, relative: 1e-10, absolute: 1e-9, "N, \(what)")
                expectClose(actual.observedWeights, expected.observedWeights, relative: 1e-10, absolute: 1e-9, "D, \(what)")
                let posteriors = try em.posteriors(mixture)
                expectClose(posteriors.posteriors, expectedPosteriors.posteriors, absolute: 1e-12, "posteriors, \(what)")
                #expect(relativeError(posteriors.logLikelihood, expectedPosteriors.logLikelihood) <= 1e-12)
            }
        }
        // The spread case really is spread: every user has several non-zero posteriors.
        let spreadPosteriors = try naive.posteriors(spread).posteriors
        #expect(componentCount == 1 || (0..<300).allSatisfy { user in
            (0..<componentCount).filter { spreadPosteriors[user * componentCount + $0] > 0 }.count * 4 > componentCount
        })
    }

    /// The passes in C for AVX2 (`VectorPasses.avx2`, chosen at run time where the processor
    /// has it) give the Swift passes' bits: one E-step's statistics and the posteriors, for
    /// lane groups of 4, 8, 12 and 16 (and several groups), peaked posteriors (few components
    /// updated, in Swift) and spread ones (every lane), every storage of items and ratings.
    @Test(.enabled(if: VectorPasses.isAvailable(.avx2), "the processor has no AVX2"), arguments: [1, 5, 12, 16, 20, 36])
    func theAVX2PassesGiveTheSwiftPassesBits(componentCount: Int) throws {
        let dense = try Fixtures.load(Fixtures.netflixIncomplete)
        let rows = DenseRatingMatrix(userCount: 300, itemCount: dense.itemCount, values: Array(dense.values[0..<(300 * dense.itemCount)]))
        let base = SparseRatingMatrix(dense: rows)
        let indices = (0..<base.observedCount).map { base.items[$0] }
        let values = (0..<base.observedCount).map { base.ratings[$0] }
        let peaked = try Initialization.courseMixture(data: rows, componentCount: componentCount, seed: 7)
        var spread = peaked
        spread.variances = spread.variances.map { $0 * 1e4 }
        // 32-bit indices need more than 65,536 items: the same ratings spread over 70,000
        // columns, the means with them.
        let wideCount = 70_000
        func widened(_ mixture: Mixture) -> Mixture {
            var means = [Double](repeating: 0, count: componentCount * wideCount)
            for j in 0..<componentCount {
                for i in 0..<dense.itemCount { means[j * wideCount + i * 58] = mixture.means[j * dense.itemCount + i] }
            }
            return Mixture(componentCount: componentCount, itemCount: wideCount, means: means,
                           variances: mixture.variances, weights: mixture.weights)
        }
        let narrow = ItemIndices.narrow(indices.map { UInt16($0) })
        let wide = ItemIndices.wide(indices.map { UInt32($0 * 58) })
        let coded = SparseRatingMatrix.compactRatings(values)
        let cases: [(String, SparseRatingMatrix)] = [
            ("narrow, coded", SparseRatingMatrix(userCount: 300, itemCount: dense.itemCount, rowStarts: base.rowStarts, items: narrow, ratings: coded)),
            ("narrow, exact", SparseRatingMatrix(userCount: 300, itemCount: dense.itemCount, rowStarts: base.rowStarts, items: narrow, ratings: .exact(values))),
            ("wide, coded", SparseRatingMatrix(userCount: 300, itemCount: wideCount, rowStarts: base.rowStarts, items: wide, ratings: coded)),
            ("wide, exact", SparseRatingMatrix(userCount: 300, itemCount: wideCount, rowStarts: base.rowStarts, items: wide, ratings: .exact(values))),
        ]
        guard case .coded = coded else {
            Issue.record("whole-star ratings are stored coded")
            return
        }
        for (storage, matrix) in cases {
            for (shape, start) in [("peaked", peaked), ("spread", spread)] {
                let mixture = matrix.itemCount == wideCount ? widened(start) : start
                let what = "\(storage), \(shape), K = \(componentCount)"
                let swift = SparseKernel.shards(of: matrix, count: 2, passes: .swift)
                let avx2 = SparseKernel.shards(of: matrix, count: 2, passes: .avx2)
                #expect(swift.map(\.passes) == [.swift, .swift] && avx2.map(\.passes) == [.avx2, .avx2], "\(what)")
                let swiftSum = try CourseEM(shards: swift, workers: 2).loop.statistics([mixture]).sum
                let avx2Sum = try CourseEM(shards: avx2, workers: 2).loop.statistics([mixture]).sum
                #expect(swiftSum.count == avx2Sum.count && swiftSum.count == CourseRecord(mixture).length, "\(what)")
                #expect(swiftSum.map(\.bitPattern) == avx2Sum.map(\.bitPattern), "\(what)")
                let swiftPosteriors = try CourseEM(shards: swift, workers: 2).posteriors(mixture)
                let avx2Posteriors = try CourseEM(shards: avx2, workers: 2).posteriors(mixture)
                #expect(swiftPosteriors.posteriors.count == 300 * componentCount, "\(what)")
                #expect(swiftPosteriors.posteriors.map(\.bitPattern) == avx2Posteriors.posteriors.map(\.bitPattern), "\(what)")
                #expect(swiftPosteriors.logLikelihood.bitPattern == avx2Posteriors.logLikelihood.bitPattern, "\(what)")
            }
        }
        // The spread case takes every lane's path (`accumulate`, not `accumulateFew`): some
        // user has p > 0 for more than a quarter of the padded components. K = 1 always takes
        // the scalar path; its 4-lane groups are K = 20's and 36's last.
        let padded = (componentCount + 3) / 4 * 4
        let spreadPosteriors = try CourseEM(shards: SparseKernel.shards(of: cases[0].1, count: 1)).posteriors(spread).posteriors
        #expect(componentCount == 1 || (0..<300).contains { user in
            (0..<componentCount).filter { spreadPosteriors[user * componentCount + $0] > 0 }.count * 4 > padded
        })
    }

    /// Every storage combination (16/32-bit item indices, coded/exact ratings) gives the
    /// same statistics, bit for bit: the values read are the same.
    @Test func everyStorageKindGivesTheSameStatistics() throws {
        let dense = try Fixtures.load(Fixtures.netflixIncomplete)
        let rows = DenseRatingMatrix(userCount: 200, itemCount: dense.itemCount, values: Array(dense.values[0..<(200 * dense.itemCount)]))
        let base = SparseRatingMatrix(dense: rows)
        let indices = (0..<base.observedCount).map { base.items[$0] }
        let values = (0..<base.observedCount).map { base.ratings[$0] }
        let mixture = try Initialization.courseMixture(data: rows, componentCount: 12, seed: 3)
        let reference = try CourseEM(kernel: SparseKernel(base)).eStep(mixture)
        for ratings in [RatingValues.exact(values), SparseRatingMatrix.compactRatings(values)] {
            let matrix = SparseRatingMatrix(userCount: 200, itemCount: dense.itemCount, rowStarts: base.rowStarts,
                                            items: .narrow(indices.map { UInt16($0) }), ratings: ratings)
            #expect(try CourseEM(kernel: SparseKernel(matrix)).eStep(mixture) == reference)
        }
        // 32-bit indices need more than 65,536 items: the same ratings spread over 70,000 columns.
        let wideCount = 70_000
        let wideMatrix = SparseRatingMatrix(userCount: 200, itemCount: wideCount, rowStarts: base.rowStarts,
                                            items: .wide(indices.map { UInt32($0 * 58) }), ratings: .exact(values))
        var wideMeans = [Double](repeating: 0, count: 12 * wideCount)
        for j in 0..<12 { for i in 0..<dense.itemCount { wideMeans[j * wideCount + i * 58] = mixture.means[j * dense.itemCount + i] } }
        let wideMixture = Mixture(componentCount: 12, itemCount: wideCount, means: wideMeans, variances: mixture.variances, weights: mixture.weights)
        let wide = try CourseEM(kernel: SparseKernel(wideMatrix)).eStep(wideMixture)
        #expect(wide.logLikelihood == reference.logLikelihood)
        #expect(wide.responsibilities == reference.responsibilities)
        for j in 0..<12 {
            for i in 0..<dense.itemCount {
                #expect(wide.ratingSums[j * wideCount + i * 58] == reference.ratingSums[j * dense.itemCount + i])
            }
        }
    }

    @Test func zeroRatingsCountAsRatingsInTheRecordKernels() throws {
        // A record with rating 0 is observed: the sparse and blocked kernels agree on it,
        // and differ from treating it as missing.
        let table = try RecordReader.parse(Array("1 1 0\n1 2 4\n2 1 5\n2 2 0\n3 1 1\n3 2 2\n".utf8), name: "zeros", layout: .triplets)
        let mixture = try Initialization.courseMixture(data: table.matrix, componentCount: 2, seed: 0)
        let sparse = try CourseEM(kernel: SparseKernel(table.matrix)).eStep(mixture)
        let blocked = try CourseEM(kernel: BlockedKernel(table.matrix)).eStep(mixture)
        #expect(relativeError(sparse.logLikelihood, blocked.logLikelihood) <= 1e-14)
        #expect(sparse.weightedObservedCounts.reduce(0, +) == 6)
        let input = RatingInput(storage: .records(table), format: .triplets)
        #expect(throws: MixFillError.badOption(option: "--kernel", message: "user 1 has a rating of 0, which the dense form reads as missing; use --kernel sparse or blocked")) {
            _ = try Engine.resolve(backend: .blas, kernel: .dense, precision: .double, threads: 1, for: input, spelling: .commandLine)
        }
    }

    @Test func automaticChoiceFollowsTheDensityCrossover() throws {
        func kernel(_ input: RatingInput, _ choice: KernelChoice, _ backend: Backend = .blas) throws -> Engine.Kernel {
            try Engine.resolve(backend: backend, kernel: choice, threads: 2, for: input).kernel
        }
        let netflix = RatingInput(storage: .dense(try #require(Fixtures.netflix)), format: .dense)
        #expect(KernelChoice.sparseBelowDensity < 0.77)
        #expect(try kernel(netflix, .auto) == .dense(.double))
        #expect(try kernel(netflix, .sparse) == .sparse)
        #expect(try kernel(netflix, .auto, .naive) == .naive)
        let diagonal = DenseRatingMatrix(rows: (0..<5).map { user in (0..<5).map { $0 == user ? 4 : 0 } })
        #expect(try kernel(RatingInput(storage: .dense(diagonal), format: .dense), .auto) == .sparse)
        let sparse = try RecordReader.parse(Array("1 1 4\n2 2 3\n3 3 5\n4 4 1\n5 5 2\n".utf8), name: "diagonal", layout: .triplets)
        let records = RatingInput(storage: .records(sparse), format: .triplets)
        #expect(records.density == 0.2)
        #expect(try kernel(records, .auto) == .sparse)
        #expect(try kernel(RatingInput(storage: .records(RatingTable(dense: try #require(Fixtures.netflix))), format: .triplets), .auto) == .sparse)
        #expect(try Engine.resolve(kernel: .auto, threads: 2, for: records).courseShards(for: records).map(\.name) == ["sparse", "sparse"])
        #expect(try Engine.resolve(kernel: .blocked, threads: 2, for: records).courseShards(for: records).map(\.name) == ["blocked"])
        #expect(try Engine.resolve(kernel: .dense, threads: 2, for: records).courseShards(for: records).map(\.name) == ["blas", "blas"])
        #expect(throws: MixFillError.badOption(option: "--backend", message: "'naive' is the dense textbook kernel and cannot run with --kernel sparse; drop --backend naive or use --kernel dense")) {
            _ = try Engine.resolve(backend: .naive, kernel: .sparse, precision: .double, threads: 1, for: records, spelling: .commandLine)
        }
    }
}
