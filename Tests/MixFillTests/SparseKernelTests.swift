import Foundation
import MixFill
import Testing

/// The naive kernel's runs on a dense matrix, computed once and shared by the tests that
/// compare the sparse and blocked kernels against them.
final class NaiveRuns: @unchecked Sendable {
    let data: DenseRatingMatrix
    private var cache: [Int: [FitResult]] = [:]
    private let lock = NSLock()

    init(_ data: DenseRatingMatrix) { self.data = data }

    /// Runs for K and seeds 0–4, from the course initialisation on the dense matrix.
    func runs(componentCount: Int) throws -> [FitResult] {
        lock.lock()
        defer { lock.unlock() }
        if let cached = cache[componentCount] { return cached }
        let em = ExpectationMaximization(kernel: NaiveKernel(data))
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

    func compare(_ table: RatingTable, _ reference: NaiveRuns, componentCount: Int, kernels: [any StatisticsKernel]) throws {
        let expected = try reference.runs(componentCount: componentCount)
        for seed in 0..<5 {
            let initial = try Initialization.courseMixture(data: table.matrix, componentCount: componentCount, seed: UInt32(seed))
            let denseInitial = try Initialization.courseMixture(data: reference.data, componentCount: componentCount, seed: UInt32(seed))
            #expect(initial.means == denseInitial.means)
            expectClose(initial.variances, denseInitial.variances, relative: 1e-13, absolute: 0, "initial variances, seed \(seed)")
            for kernel in kernels {
                let what = "\(kernel.name), K = \(componentCount), seed \(seed)"
                let run = try ExpectationMaximization(kernel: kernel).run(from: initial)
                #expect(relativeError(run.logLikelihood, expected[seed].logLikelihood) <= 1e-10, "\(what): \(run.logLikelihood) vs \(expected[seed].logLikelihood)")
                #expect(run.iterations == expected[seed].iterations, "\(what)")
                #expect(run.converged == expected[seed].converged, "\(what)")
                expectClose(run.mixture.means, expected[seed].mixture.means, absolute: 1e-8, "means, \(what)")
                expectClose(run.mixture.variances, expected[seed].mixture.variances, relative: 1e-8, absolute: 0, "variances, \(what)")
                expectClose(run.mixture.weights, expected[seed].mixture.weights, absolute: 1e-8, "weights, \(what)")
            }
        }
    }

    @Test(arguments: [1, 4, 12])
    func netflixAsRecords(componentCount: Int) throws {
        let table = try #require(Self.netflixRecords)
        let reference = try #require(NaiveRuns.netflix)
        #expect(table.matrix.userCount == 1200 && table.matrix.itemCount == 1200 && table.matrix.observedCount == 1_111_768)
        #expect(table.users.isIdentity && table.items.isIdentity)
        try compare(table, reference, componentCount: componentCount, kernels: [
            SparseKernel(table.matrix, threadCount: 1),
            SparseKernel(table.matrix, threadCount: 3),
            BlockedKernel(table.matrix),
        ])
    }

    /// Asked for more threads than there are users (up to `--threads 1024` on the course's
    /// 20-user test case), the kernel runs one per user and agrees with the naive kernel.
    @Test func neverRunsMoreThreadsThanUsers() throws {
        let dense = try Fixtures.load(Fixtures.smallIncomplete)
        let kernel = SparseKernel(RatingTable(dense: dense).matrix, threadCount: 1024)
        #expect(kernel.threadCount == 20)
        #expect(SparseKernel(RatingTable(dense: dense).matrix, threadCount: 7).threadCount == 7)
        let initial = try Initialization.courseMixture(data: dense, componentCount: 3, seed: 0)
        let sparse = try ExpectationMaximization(kernel: kernel).run(from: initial)
        let naive = try ExpectationMaximization(kernel: NaiveKernel(dense)).run(from: initial)
        #expect(sparse.iterations == naive.iterations)
        #expect(relativeError(sparse.logLikelihood, naive.logLikelihood) <= 1e-10)
    }

    /// `makeKernel` refuses a precision its kernel cannot run with a typed error (the CLI
    /// checks first; a library caller that does not gets the error, not a trap).
    @Test func aPrecisionConflictIsAnErrorNotATrap() throws {
        let input = RatingInput(storage: .records(RatingTable(dense: try Fixtures.load(Fixtures.smallIncomplete))), format: .csv)
        #expect(throws: MixFillError.badOption(option: "--precision", message: "'single' runs on the dense BLAS kernel only, and this fit runs the sparse kernel; add --kernel dense or leave --precision out")) {
            try input.makeKernel(.sparse, backend: .blas, threads: 1, precision: .single)
        }
        #expect(throws: MixFillError.badOption(option: "--precision", message: "'single' needs the blas backend; the naive backend computes in double only; add --kernel dense or leave --precision out")) {
            try input.makeKernel(.auto, backend: .naive, threads: 1, precision: .single)
        }
        #expect(try input.makeKernel(.dense, backend: .blas, threads: 1, precision: .single).name == "blas")
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
                let run = try ExpectationMaximization(kernel: SparseKernel(table.matrix, threadCount: 1)).run(from: initial)
                #expect(run.logLikelihoodTrace == expected[seed].logLikelihoodTrace, "\(table.matrix.userCount) users, seed \(seed)")
                #expect(run.mixture == expected[seed].mixture, "\(table.matrix.userCount) users, seed \(seed)")
            }
        }
    }

    @Test(.enabled(if: NaiveRuns.movieLensTable != nil, "../shared/data/ml-latest-small is absent"), arguments: [1, 4, 12])
    func movieLensSmall(componentCount: Int) throws {
        let table = try #require(NaiveRuns.movieLensTable)
        let reference = try #require(NaiveRuns.movieLens)
        #expect(table.matrix.userCount == 610 && table.matrix.itemCount == 9724 && table.matrix.observedCount == 100_836)
        // `--kernel dense` on these records: the BLAS kernel on the densified matrix.
        let densified = try RatingInput(storage: .records(table), format: .csv).makeKernel(.dense, backend: .blas, threads: 2)
        #expect(densified.name == "blas")
        try compare(table, reference, componentCount: componentCount, kernels: [
            SparseKernel(table.matrix, threadCount: 2),
            BlockedKernel(table.matrix, blockSize: 100),
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
        let naive = ExpectationMaximization(kernel: NaiveKernel(rows))
        for (name, mixture) in [("peaked", peaked), ("spread", spread)] {
            let expected = naive.eStep(mixture)
            let expectedPosteriors = naive.posteriors(mixture)
            for kernel in [SparseKernel(table.matrix, threadCount: 2), BlockedKernel(table.matrix, blockSize: 37)] as [any StatisticsKernel] {
                let em = ExpectationMaximization(kernel: kernel)
                let actual = em.eStep(mixture)
                let what = "\(kernel.name), \(name), K = \(componentCount)"
                #expect(relativeError(actual.logLikelihood, expected.logLikelihood) <= 1e-12, "\(what)")
                #expect(actual.userCount == expected.userCount)
                expectClose(actual.responsibilities, expected.responsibilities, relative: 1e-10, absolute: 1e-10, "n̂, \(what)")
                expectClose(actual.weightedSquaredNorms, expected.weightedSquaredNorms, relative: 1e-10, absolute: 1e-8, "Σp‖x‖², \(what)")
                expectClose(actual.weightedObservedCounts, expected.weightedObservedCounts, relative: 1e-10, absolute: 1e-9, "Σp|C|, \(what)")
                expectClose(actual.ratingSums, expected.ratingSums, relative: 1e-10, absolute: 1e-9, "N, \(what)")
                expectClose(actual.observedWeights, expected.observedWeights, relative: 1e-10, absolute: 1e-9, "D, \(what)")
                let posteriors = em.posteriors(mixture)
                expectClose(posteriors.posteriors, expectedPosteriors.posteriors, absolute: 1e-12, "posteriors, \(what)")
                #expect(relativeError(posteriors.logLikelihood, expectedPosteriors.logLikelihood) <= 1e-12)
            }
        }
        // The spread case really is spread: every user has several non-zero posteriors.
        let spreadPosteriors = naive.posteriors(spread).posteriors
        #expect(componentCount == 1 || (0..<300).allSatisfy { user in
            (0..<componentCount).filter { spreadPosteriors[user * componentCount + $0] > 0 }.count * 4 > componentCount
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
        let reference = ExpectationMaximization(kernel: SparseKernel(base)).eStep(mixture)
        for ratings in [RatingValues.exact(values), SparseRatingMatrix.compactRatings(values)] {
            let matrix = SparseRatingMatrix(userCount: 200, itemCount: dense.itemCount, rowStarts: base.rowStarts,
                                            items: .narrow(indices.map { UInt16($0) }), ratings: ratings)
            #expect(ExpectationMaximization(kernel: SparseKernel(matrix)).eStep(mixture) == reference)
        }
        // 32-bit indices need more than 65,536 items: the same ratings spread over 70,000 columns.
        let wideCount = 70_000
        let wideMatrix = SparseRatingMatrix(userCount: 200, itemCount: wideCount, rowStarts: base.rowStarts,
                                            items: .wide(indices.map { UInt32($0 * 58) }), ratings: .exact(values))
        var wideMeans = [Double](repeating: 0, count: 12 * wideCount)
        for j in 0..<12 { for i in 0..<dense.itemCount { wideMeans[j * wideCount + i * 58] = mixture.means[j * dense.itemCount + i] } }
        let wideMixture = Mixture(componentCount: 12, itemCount: wideCount, means: wideMeans, variances: mixture.variances, weights: mixture.weights)
        let wide = ExpectationMaximization(kernel: SparseKernel(wideMatrix)).eStep(wideMixture)
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
        let sparse = ExpectationMaximization(kernel: SparseKernel(table.matrix)).eStep(mixture)
        let blocked = ExpectationMaximization(kernel: BlockedKernel(table.matrix)).eStep(mixture)
        #expect(relativeError(sparse.logLikelihood, blocked.logLikelihood) <= 1e-14)
        #expect(sparse.weightedObservedCounts.reduce(0, +) == 6)
        let input = RatingInput(storage: .records(table), format: .triplets)
        #expect(throws: MixFillError.badOption(option: "--kernel", message: "user 1 has a rating of 0, which the dense form reads as missing; use --kernel sparse or blocked")) {
            _ = try input.makeKernel(.dense, backend: .blas, threads: 1)
        }
    }

    @Test func automaticChoiceFollowsTheDensityCrossover() throws {
        let netflix = RatingInput(storage: .dense(try #require(Fixtures.netflix)), format: .dense)
        #expect(KernelChoice.sparseBelowDensity < 0.77)
        #expect(netflix.resolvedKernel(.auto, backend: .blas) == .dense)
        #expect(netflix.resolvedKernel(.sparse, backend: .blas) == .sparse)
        #expect(netflix.resolvedKernel(.auto, backend: .naive) == .dense)
        let diagonal = DenseRatingMatrix(rows: (0..<5).map { user in (0..<5).map { $0 == user ? 4 : 0 } })
        #expect(RatingInput(storage: .dense(diagonal), format: .dense).resolvedKernel(.auto, backend: .blas) == .sparse)
        let sparse = try RecordReader.parse(Array("1 1 4\n2 2 3\n3 3 5\n4 4 1\n5 5 2\n".utf8), name: "diagonal", layout: .triplets)
        let records = RatingInput(storage: .records(sparse), format: .triplets)
        #expect(records.density == 0.2)
        #expect(records.resolvedKernel(.auto, backend: .blas) == .sparse)
        #expect(RatingInput(storage: .records(RatingTable(dense: try #require(Fixtures.netflix))), format: .triplets)
            .resolvedKernel(.auto, backend: .blas) == .sparse)
        #expect(try records.makeKernel(.auto, backend: .blas, threads: 2).name == "sparse")
        #expect(try records.makeKernel(.blocked, backend: .blas, threads: 2).name == "blocked")
        #expect(try records.makeKernel(.dense, backend: .blas, threads: 2).name == "blas")
        #expect(throws: MixFillError.badOption(option: "--backend", message: "'naive' is the dense textbook kernel and cannot run with --kernel sparse; drop --backend naive or use --kernel dense")) {
            _ = try records.makeKernel(.sparse, backend: .naive, threads: 1)
        }
    }
}
