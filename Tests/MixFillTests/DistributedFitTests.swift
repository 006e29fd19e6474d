import Foundation
@testable import MixFill
import Testing

/// The distributed fit's logic without MPI: ranks as threads of this process
/// (`LocalGroup`), each fitting its block of users with `DistributedCourseFit` or
/// `DistributedFactorFit`. The MPI
/// transport itself is tested by Scripts/mpi-test, which CI runs under mpirun. Its fits run
/// in this process on OpenBLAS, and several compare bits, hence `.blasProcessState`.
@Suite(.serialized, .blasProcessState) struct DistributedFitTests {
    /// The first 300 users of the netflix matrix as records.
    static func records() throws -> RatingInput {
        let data = try #require(Fixtures.netflix)
        let dense = DenseRatingMatrix(userCount: 300, itemCount: 1200, values: Array(data.values[0..<(300 * 1200)]))
        return RatingInput(storage: .records(RatingTable(dense: dense)), format: .csv)
    }

    /// Runs `job` on `size` thread ranks; every rank's outcome, in rank order.
    static func runRanks(_ size: Int, input: RatingInput, job: FitJob, engine: Engine) throws -> [FitOutcome] {
        try onRanks(size) { group throws(MixFillError) in
            let shard = try DataShard(whole: input, group: group)
            return try DistributedCourseFit(group: group, shard: shard).run(job, engine: engine, observer: nil)
        }
    }

    /// `body` run by `size` thread ranks of one `LocalWorld`; every rank's result, in rank order.
    static func onRanks<Value>(_ size: Int, _ body: @escaping @Sendable (LocalGroup) throws(MixFillError) -> Value) throws -> [Value] {
        let world = LocalWorld(size: size)
        let results = ResultSlots<Value>(count: size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                let group = LocalGroup(world: world, rank: rank)
                let result = Result { () throws(MixFillError) -> Value in try body(group) }
                if case .failure = result { world.abort() }
                results.set(rank, result)
            }
            thread.start()
        }
        done.wait()
        #expect(results.values.count == size)
        return try results.values.map { try #require($0).get() }
    }

    static func bits(_ fit: ComponentCountFit) -> [UInt64] {
        fit.fit.runs.flatMap { run -> [UInt64] in
            let model = run.result.model
            return (run.result.trace + model.means + model.variances + model.weights).map(\.bitPattern) + [UInt64(run.result.iterations)]
        }
    }

    @Test func userRangesCoverTheUsersInRankOrder() {
        #expect((0..<3).map { SingleProcessRanges.range(10, $0, 3) } == [0..<3, 3..<6, 6..<10])
        let group = SingleProcess()
        #expect(group.userRange(userCount: 7) == 0..<7 && group.owner(ofUser: 6, userCount: 7) == 0)
        let world = LocalWorld(size: 3)
        let third = LocalGroup(world: world, rank: 2)
        #expect((0..<10).map { third.owner(ofUser: $0, userCount: 10) } == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    }

    /// One rank is the single-process fit bit for bit: the same shard, the same column
    /// totals in the same order, the same initialisation.
    @Test(arguments: [Engine.Kernel.dense(.double), .sparse])
    func oneRankIsTheSingleProcessFit(kernel: Engine.Kernel) throws {
        let input = kernel == .sparse ? try Self.records() : RatingInput(try #require(Fixtures.netflix))
        let engine = Engine(kernel: kernel, threads: 1)
        let job = FitJob(componentCounts: [1, 4], start: .seeds([0, 1]))
        let single = try job.run(on: input, engine: engine)
        let group = SingleProcess()
        let distributed = try DistributedCourseFit(group: group, shard: DataShard(whole: input, group: group))
            .run(job, engine: engine, observer: nil)
        #expect(distributed.fits.map(Self.bits) == single.fits.map(Self.bits))
        #expect(distributed.fits.map(\.bayesianInformationCriterion) == single.fits.map(\.bayesianInformationCriterion))
    }

    /// Two and three ranks: every rank holds the same bits, and they equal the
    /// single-process fit to relative 1e-12 with the same iteration counts (the shards'
    /// sums are added in another order, so the last bits may differ).
    @Test(arguments: [2, 3])
    func ranksAgreeBitForBitAndWithOneProcess(size: Int) throws {
        let input = try Self.records()
        let engine = Engine(kernel: .sparse, threads: 1)
        let job = FitJob(componentCounts: [1, 4, 12], start: .seeds([0, 1, 2]))
        let single = try job.run(on: input, engine: engine)
        let ranks = try Self.runRanks(size, input: input, job: job, engine: engine)
        for outcome in ranks.dropFirst() {
            #expect(outcome.fits.map(Self.bits) == ranks[0].fits.map(Self.bits), "rank results differ")
        }
        #expect(ranks[0].fits.count == 3 && single.fits.count == 3)
        for (fit, reference) in zip(ranks[0].fits, single.fits) {
            #expect(fit.fit.runs.count == 3 && reference.fit.runs.count == 3)
            for (run, expected) in zip(fit.fit.runs, reference.fit.runs) {
                #expect(run.result.iterations == expected.result.iterations, "K = \(fit.fit.componentCount), seed \(run.seed)")
                let model = run.result.model
                let want = expected.result.model
                expectClose([run.result.objective], [expected.result.objective], relative: 1e-12, absolute: 0, "log-likelihood")
                expectClose(model.means, want.means, relative: 1e-12, absolute: 1e-300, "means")
                expectClose(model.variances, want.variances, relative: 1e-12, absolute: 0, "variances")
                expectClose(model.weights, want.weights, relative: 1e-12, absolute: 1e-300, "weights")
            }
        }
        // The initial mixtures are the single process's bit for bit (column totals summed
        // through the ranks in user order, the chosen rows broadcast by their owners).
        let initial = try Initialization.courseMixture(data: input.data, componentCount: 12, seed: 3)
        let mixtures = try Self.onRanks(size) { group throws(MixFillError) in
            let shard = try DataShard(whole: input, group: group)
            let totals = try shard.columnTotals(group: group)
            return try DistributedCourseFit(group: group, shard: shard).initialMixture(componentCount: 12, seed: 3, totals: totals)
        }
        for mixture in mixtures {
            #expect(mixture == initial)
        }
    }

    /// A binary rating file read rank by rank (`DataShard.readBinary`): each rank gets
    /// exactly its block of the whole file's users, and every rank the record (fingerprint,
    /// rating range, mean, ratings per item) a single process keeps of the whole file.
    /// With `textIds`, users and items are names (version 2 of the binary file), which
    /// every rank reads whole beside its block.
    @Test(arguments: [1, 2, 3], [false, true])
    func ranksReadTheirBlockOfABinaryFile(size: Int, textIds: Bool) throws {
        let data = try #require(Fixtures.netflix)
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var lines = ""
        for user in 0..<300 {
            for item in 0..<1200 where data.values[user * 1200 + item] != 0 {
                lines += textIds ? "user\(user * 7 + 3)\t0\(item * 5 + 1)\t\(data.values[user * 1200 + item])\n"
                    : "\(user * 7 + 3)\t\(item * 5 + 1)\t\(data.values[user * 1200 + item])\n"
            }
        }
        let text = try Fixtures.write(lines, named: "ratings.tsv", in: folder)
        let whole = try RatingInput.load(path: text, format: .triplets)
        #expect((whole.table.users.names != nil) == textIds && (whole.table.items.names != nil) == textIds)
        let binary = folder + "/ratings.mfr"
        try BinaryRatingFile.write(whole.table, to: binary)
        let expected = try #require(TrainingDataRecord(describing: try RatingInput.load(path: binary), path: binary))
        #expect(!whole.table.users.isIdentity && !whole.table.items.isIdentity)

        let reads = try Self.onRanks(size) { group throws(MixFillError) in
            let read = try DataShard.readBinary(path: binary, recordedPath: binary, rules: .standard, group: group)
            return (read.shard, read.training)
        }
        for rank in 0..<size {
            let (shard, training) = reads[rank]
            let users = SingleProcessRanges.range(300, rank, size)
            #expect(shard.users == users)
            #expect(shard.userCount == 300 && shard.itemCount == 1200 && shard.observedCount == whole.observedCount)
            #expect(shard.input.table.matrix == whole.table.matrix.users(users))
            #expect(training == expected)
        }
    }

    // MARK: The factor family (mppca)

    /// The largest differences seen, printed for the record (elementwise relative, and
    /// relative to the array's largest magnitude).
    final class Differences: @unchecked Sendable {
        private let lock = NSLock()
        private var worst: [String: (elementwise: Double, scaled: Double)] = [:]
        func record(_ name: String, _ values: [Double], _ reference: [Double], scale: Double) {
            var elementwise = 0.0
            var scaled = 0.0
            #expect(values.count == reference.count, "\(name): \(values.count) values against \(reference.count)")
            for (a, b) in zip(values, reference) where a != b {
                elementwise = max(elementwise, abs(a - b) / max(abs(a), abs(b)))
                scaled = max(scaled, abs(a - b) / scale)
            }
            lock.withLock {
                let old = worst[name] ?? (0, 0)
                worst[name] = (max(old.elementwise, elementwise), max(old.scaled, scaled))
            }
        }
        var summary: String {
            lock.withLock { worst.sorted { $0.key < $1.key }.map { "\($0.key): elementwise \($0.value.elementwise), of the largest \($0.value.scaled)" }.joined(separator: "; ") }
        }
    }
    static let worst = Differences()

    /// Synthetic sparse records: 500 users, 200 items, 6000 ratings, some users and items
    /// with few ratings.
    static func syntheticRecords() throws -> RatingInput {
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let synthetic = SyntheticRatings(userCount: 500, itemCount: 200, ratingCount: 6000, componentCount: 3, seed: 9)
        _ = try synthetic.write(to: folder + "/r.csv", layout: .csv, membershipsPath: folder + "/m.tsv")
        return try RatingInput.load(path: folder + "/r.csv", format: .csv)
    }

    static func factorBits(_ fit: MultiStartFit<FactorMixture>, userOffsets: Bool) -> [UInt64] {
        fit.runs.flatMap { run -> [UInt64] in
            let model = run.result.model
            var values = run.result.trace + model.loadings + model.means + model.covariances + model.weights
            values += [model.noiseVariance, model.offsets.globalMean] + model.offsets.itemOffsets
            if userOffsets { values += model.offsets.userOffsets }
            return values.map(\.bitPattern) + [UInt64(run.result.iterations), UInt64(run.seed)]
        }
    }

    /// The bias baseline through the ranks is `BiasBaseline(matrix:)` bit for bit: μ₀ and
    /// every b_i on every rank, each rank's b_u the whole data's for its users.
    @Test(arguments: [1, 2, 3])
    func biasOffsetsThroughTheRanksAreTheBaseline(size: Int) throws {
        for input in [try Self.records(), try Self.syntheticRecords()] {
            let matrix = input.table.matrix
            let baseline = BiasBaseline(matrix: matrix)
            let ranks = try Self.onRanks(size) { group throws(MixFillError) in
                let shard = try DataShard(whole: input, group: group)
                let offsets = try shard.biasOffsets(group: group)
                let squares = try shard.squaredResiduals(offsets: offsets.offsets, group: group)
                let all = try group.gatherUsers(offsets.offsets.userOffsets, width: 1, userCount: shard.userCount)
                return (offsets.offsets, offsets.itemRatingCounts, squares, all)
            }
            var rated = [Double](repeating: 0, count: matrix.itemCount)
            for position in 0..<matrix.observedCount { rated[matrix.items[position]] += 1 }
            let reference = FactorInitialization.random(matrix: matrix, offsets: RatingOffsets(baseline), factorCount: 3,
                                                        componentCount: 1, priors: FactorPriors(loadings: 50, means: 10), seed: 2)
            for (rank, (offsets, counts, squares, all)) in ranks.enumerated() {
                #expect(offsets.globalMean.bitPattern == baseline.mean.bitPattern)
                #expect(offsets.itemOffsets.map(\.bitPattern) == baseline.itemBiases.map(\.bitPattern))
                let users = SingleProcessRanges.range(matrix.userCount, rank, size)
                #expect(offsets.userOffsets.map(\.bitPattern) == baseline.userBiases[users].map(\.bitPattern))
                #expect(counts == rated)
                let start = FactorInitialization.random(rated: counts.map { $0 > 0 }, squaredResiduals: squares,
                                                        observedCount: matrix.observedCount, offsets: offsets, factorCount: 3,
                                                        componentCount: 1, priors: FactorPriors(loadings: 50, means: 10), seed: 2)
                #expect(start.noiseVariance.bitPattern == reference.noiseVariance.bitPattern && start.loadings == reference.loadings)
                if rank == 0 { #expect(all.map(\.bitPattern) == baseline.userBiases.map(\.bitPattern)) }
            }
        }
    }

    static func settings(_ tuning: FactorTuning) -> FactorSettings {
        FactorSettings(factorCount: tuning.factorCount, componentCount: nil, loadingsPrior: tuning.priors.loadings,
                       meansPrior: tuning.priors.means)
    }

    /// Choosing the hyperparameters through the ranks (`DistributedFactorFit.tune`) chooses
    /// what one process chooses (`FactorFitter.tune`): the whole path (λ_crit, every λ_W
    /// tried, q among 10 and 20, K among 1 and 2) with nothing given, and the K choice at
    /// a given q and λ_W. One rank bit for bit; 2 and 3 ranks the same choices, λ's, path
    /// lengths and iteration counts, and the RMSEs within 1e-12 (see below for those after
    /// a path fit stopped by its iteration cap).
    @Test(arguments: [1, 2, 3])
    func factorTuningThroughTheRanksIsTheSingleProcesss(size: Int) throws {
        let input = try Self.syntheticRecords()
        let engine = Engine(family: .mppca, kernel: .sparse, threads: 1)
        for settings in [FactorSettings(), FactorSettings(factorCount: 3, loadingsPrior: 30)] {
            let single = try FactorFitter(engine: engine, settings: settings).tune(input.table.matrix)
            let ranks = try Self.onRanks(size) { group throws(MixFillError) in
                try DistributedFactorFit(group: group, shard: DataShard(whole: input, group: group), engine: engine).tune(settings)
            }
            for tuning in ranks {
                #expect(tuning.factorCount == single.factorCount && tuning.componentCount == single.componentCount)
                #expect(tuning.heldOutRatings == single.heldOutRatings)
                #expect(tuning.path.map(\.iterations) == single.path.map(\.iterations))
                #expect(tuning.criticalPrior == single.criticalPrior, "λ_crit is a power of 10 on a grid: equal exactly")
                if size == 1 {
                    #expect(tuning == single)
                } else {
                    #expect(tuning == ranks[0], "rank results differ")
                    expectClose(tuning.path.map(\.loadingsPrior), single.path.map(\.loadingsPrior), relative: 0, absolute: 0, "path λ")
                    #expect(tuning.priors == single.priors)
                    // Up to the first path fit that crawled (half the path's iteration cap
                    // or more), every RMSE to 1e-12. Such a fit (λ_W just below λ_crit, where
                    // W = 0 has only just become unstable, or a weak prior on these few
                    // ratings) is still moving when it stops and carries the sums' rounding
                    // to about 1e-7, and the path's warm starts from it to about 1e-4: the
                    // single process's own figures move as much between --threads 1 and 2
                    // (two shards: 0.70815845 and 0.70815854 at this data's λ_W ≈ 4.1, 99
                    // iterations), so there they only need the same choices.
                    let crawling = single.path.firstIndex { 2 * $0.iterations >= FactorFitter.pathRule.maxIterations } ?? single.path.count
                    expectClose(tuning.path.prefix(crawling).map(\.rootMeanSquareError), single.path.prefix(crawling).map(\.rootMeanSquareError),
                                relative: 1e-12, absolute: 0, "path RMSE before the first fit that crawled")
                    let tolerance = crawling < single.path.count ? 1e-3 : 1e-12
                    expectClose(tuning.path.map(\.rootMeanSquareError), single.path.map(\.rootMeanSquareError), relative: tolerance,
                                absolute: 0, "path RMSE")
                    #expect(tuning.factorCountErrors.keys.sorted() == single.factorCountErrors.keys.sorted())
                    #expect(tuning.componentCountErrors.keys.sorted() == single.componentCountErrors.keys.sorted())
                    expectClose(tuning.factorCountErrors.sorted { $0.key < $1.key }.map(\.value),
                                single.factorCountErrors.sorted { $0.key < $1.key }.map(\.value), relative: tolerance, absolute: 0, "RMSE by q")
                    expectClose(tuning.componentCountErrors.sorted { $0.key < $1.key }.map(\.value),
                                single.componentCountErrors.sorted { $0.key < $1.key }.map(\.value), relative: tolerance, absolute: 0, "RMSE by K")
                }
            }
            if settings.factorCount == nil { #expect(!single.path.isEmpty && single.criticalPrior != nil) }
        }
    }

    /// The single-process mppca fit at given hyperparameters (`FactorFitter.run`, what
    /// `mixfill fit --family mppca --factors … --prior-loadings … -k …` runs).
    static func singleFactorFit(_ input: RatingInput, counts: [Int], seeds: [UInt32], tuning: FactorTuning,
                                engine: Engine, rule: StoppingRule) throws -> [MultiStartFit<FactorMixture>] {
        let settings = FactorSettings(factorCount: tuning.factorCount, componentCount: nil,
                                      loadingsPrior: tuning.priors.loadings, meansPrior: tuning.priors.means)
        return try FactorFitter(engine: engine, rule: rule, settings: settings)
            .run(on: input, componentCounts: counts, start: .seeds(seeds)).fits
    }

    /// One rank (`SingleProcess`) is the single-process mppca fit bit for bit, K = 1 (random
    /// start) and K = 3 (the K = 1 fit clustered), on every factor kernel.
    @Test(arguments: [Engine.Kernel.sparse, .dense(.double), .naive])
    func factorOneRankIsTheSingleProcessFit(kernel: Engine.Kernel) throws {
        let input = try Self.syntheticRecords()
        let engine = Engine(family: .mppca, kernel: kernel, threads: 2)
        let tuning = FactorTuning(given: 4, componentCount: 1, priors: FactorPriors(loadings: 40, means: 10))
        let rule = StoppingRule(maxIterations: 150)
        let single = try Self.singleFactorFit(input, counts: [1, 3], seeds: [0, 1], tuning: tuning, engine: engine, rule: rule)
        let group = SingleProcess()
        let distributed = try DistributedFactorFit(group: group, shard: DataShard(whole: input, group: group), engine: engine)
            .run(componentCounts: [1, 3], seeds: [0, 1], settings: Self.settings(tuning), rule: rule)
        #expect(distributed.fits.map { Self.factorBits($0, userOffsets: true) } == single.map { Self.factorBits($0, userOffsets: true) })
        #expect(distributed.userOffsets == single[0].runs[0].result.model.offsets.userOffsets)
    }

    /// Two and three ranks, on the netflix matrix's first 300 users and on synthetic
    /// records: every rank holds the same bits (user offsets apart, which are each rank's
    /// own), and they equal the single-process fit to relative 1e-12 with the same
    /// iteration counts; rank 0's gathered user offsets are the single process's bit for bit.
    @Test(arguments: [2, 3])
    func factorRanksAgreeBitForBitAndWithOneProcess(size: Int) throws {
        let cases: [(RatingInput, FactorTuning, [Int])] = [
            (try Self.records(), FactorTuning(given: 5, componentCount: 1, priors: FactorPriors(loadings: 60, means: 10)), [1, 2]),
            (try Self.syntheticRecords(), FactorTuning(given: 4, componentCount: 1, priors: FactorPriors(loadings: 40, means: 10)), [1, 3]),
        ]
        for (input, tuning, counts) in cases {
            let engine = Engine(family: .mppca, kernel: .sparse, threads: 1)
            let rule = StoppingRule(maxIterations: 200)
            let seeds: [UInt32] = [0, 1]
            let single = try Self.singleFactorFit(input, counts: counts, seeds: seeds, tuning: tuning, engine: engine, rule: rule)
            let ranks = try Self.onRanks(size) { group throws(MixFillError) in
                try DistributedFactorFit(group: group, shard: DataShard(whole: input, group: group), engine: engine)
                    .run(componentCounts: counts, seeds: seeds, settings: Self.settings(tuning), rule: rule)
            }
            for outcome in ranks.dropFirst() {
                #expect(outcome.fits.map { Self.factorBits($0, userOffsets: false) } == ranks[0].fits.map { Self.factorBits($0, userOffsets: false) },
                        "rank results differ")
                #expect(outcome.userOffsets.isEmpty)
            }
            #expect(ranks[0].userOffsets.map(\.bitPattern) == single[0].runs[0].result.model.offsets.userOffsets.map(\.bitPattern))
            defer { print("mppca \(size) ranks against one process: \(Self.worst.summary)") }
            #expect(!single.isEmpty && ranks[0].fits.count == single.count)
            for (fit, reference) in zip(ranks[0].fits, single) {
                #expect(fit.componentCount == reference.componentCount)
                #expect(!reference.runs.isEmpty && fit.runs.count == reference.runs.count)
                for (run, expected) in zip(fit.runs, reference.runs) {
                    let label = "K = \(fit.componentCount), seed \(run.seed)"
                    #expect(run.result.iterations == expected.result.iterations, "\(label)")
                    #expect(run.result.converged == expected.result.converged, "\(label)")
                    let model = run.result.model
                    let want = expected.result.model
                    expectClose([run.result.objective], [expected.result.objective], relative: 1e-12, absolute: 0, "objective, \(label)")
                    expectClose(model.weights, want.weights, relative: 1e-12, absolute: 1e-300, "weights, \(label)")
                    expectClose([model.noiseVariance], [want.noiseVariance], relative: 1e-12, absolute: 0, "σ², \(label)")
                    // The item parameters to 1e-12 of each array's largest magnitude: a
                    // loading near 0 lies along a direction the ELBO barely curves in, where
                    // EM's iterations carry the sums' different rounding (about 1e-16) to
                    // about 1e-13 absolute, more than 1e-12 of that entry's own size.
                    for (name, values, reference) in [("loadings", model.loadings, want.loadings), ("means", model.means, want.means),
                                                      ("covariances", model.covariances, want.covariances)] {
                        let scale = reference.map(abs).max() ?? 0
                        expectClose(values, reference, relative: 0, absolute: 1e-12 * scale, "\(name), \(label)")
                        Self.worst.record(name, values, reference, scale: scale)
                    }
                }
            }
        }
    }

    @Test func moreRanksThanUsersAreRefused() throws {
        let input = RatingInput(DenseRatingMatrix(rows: [[1, 2], [3, 0]]))
        let world = LocalWorld(size: 3)
        #expect(throws: MixFillError.self) { try DataShard(whole: input, group: LocalGroup(world: world, rank: 0)) }
    }

    /// Saved runs travel from rank 0 to the others as Doubles and come back equal.
    @Test func savedRunsSurviveTheirEncoding() throws {
        let mixture = Mixture(componentCount: 2, itemCount: 3, means: [1, 2, 3, 4, 5, 6.5], variances: [0.25, 1e-3],
                              weights: [0.3, 0.7])
        let runs: [SavedRun<Mixture>?] = [
            nil,
            SavedRun(state: EMState(model: mixture, trace: [-10.5, -9.25], converged: false, previousObjective: nil), seconds: 1.5),
            SavedRun(state: EMState(model: mixture, trace: [], converged: true, previousObjective: -3), seconds: 0),
        ]
        let coding = RankModelCoding<Mixture>.course
        let decoded = RankZeroObserver.decode(RankZeroObserver.encode(runs, coding: coding), count: 3, coding: coding)
        #expect(decoded.map { $0?.state } == runs.map { $0?.state })
        #expect(decoded.map { $0?.seconds } == runs.map { $0?.seconds })
    }

    /// A factor model travels without its user offsets: each rank decodes it with its own
    /// users' b_u, and rank 0's observer sees it with every user's.
    @Test func factorRunsTravelWithoutTheirUserOffsets() throws {
        let input = try Self.syntheticRecords()
        let matrix = input.table.matrix
        let offsets = RatingOffsets(BiasBaseline(matrix: matrix))
        let model = FactorInitialization.random(matrix: matrix, offsets: offsets, factorCount: 3, componentCount: 2,
                                                priors: FactorPriors(loadings: 40, means: 10), seed: 5)
        let runs: [SavedRun<FactorMixture>?] = [
            SavedRun(state: EMState(model: model, trace: [-7.5, -7.25], converged: false), seconds: 2), nil,
        ]
        let local = Array(offsets.userOffsets[10..<20])
        let coding = RankModelCoding<FactorMixture>.factor(localUserOffsets: local, allUserOffsets: offsets.userOffsets)
        let encoded = RankZeroObserver.encode(runs, coding: coding)
        #expect(encoded.count < 200 + model.loadings.count + model.means.count + model.covariances.count + offsets.itemOffsets.count,
                "no user offsets on the wire")
        let decoded = RankZeroObserver.decode(encoded, count: 2, coding: coding)
        let head = try #require(decoded.first)
        let first = try #require(head)
        var expected = model
        expected.offsets.userOffsets = local
        #expect(first.state.model == expected && first.state.trace == [-7.5, -7.25] && first.seconds == 2 && decoded[1] == nil)
        #expect(coding.whole(first.state.model) == model)
    }

    /// A stop requested on rank 0 while q, λ and K are chosen (nothing given) ends every
    /// rank after the choice's first iteration: rank 0 with its observer's error, the
    /// others with rank 0's signal, before any setting is chosen or run started.
    @Test(arguments: [1, 2, 3])
    func aStopWhileChoosingTheSettingsEndsEveryRank(size: Int) throws {
        let input = try Self.syntheticRecords()
        let engine = Engine(family: .mppca, kernel: .sparse, threads: 1)
        let stopping = RecordingObserver(stopAfter: 1)
        stopping.stopWhileChoosing = true
        let errors = try Self.onRanks(size) { group throws(MixFillError) -> MixFillError? in
            do throws(MixFillError) {
                _ = try DistributedFactorFit(group: group, shard: DataShard(whole: input, group: group), engine: engine)
                    .run(componentCounts: nil, start: .seeds([0]), settings: FactorSettings(), rule: StoppingRule(maxIterations: 40),
                         observer: group.rank == 0 ? stopping : nil)
                return nil
            } catch {
                return error
            }
        }
        #expect(errors.count == size)
        #expect(errors.first == MixFillError.interrupted(signal: SIGINT, message: "stopped while choosing"))
        for error in errors.dropFirst() {
            #expect(error == MixFillError.interrupted(signal: SIGINT, message: ProcessGroupMessages.rankZeroStopped))
        }
        #expect(stopping.choosingCalls == 1)
        #expect(stopping.settings.isEmpty && stopping.saved.isEmpty)
    }

    /// A distributed mppca fit stopped by rank 0's observer after iteration 3 and resumed
    /// from the states it saw (what `--checkpoint-every 1` and `--resume` do through files)
    /// ends with the uninterrupted fit's bits on every rank; what rank 0's observer saw
    /// holds every user's offsets, the single process's.
    @Test(arguments: [2, 3])
    func factorFitResumedThroughRankZeroIsTheUninterruptedFit(size: Int) throws {
        let input = try Self.syntheticRecords()
        let engine = Engine(family: .mppca, kernel: .sparse, threads: 1)
        let settings = FactorSettings(factorCount: 3, loadingsPrior: 40)
        let rule = StoppingRule(maxIterations: 40)
        let seeds: [UInt32] = [0, 1]
        @Sendable func fit(_ group: LocalGroup, observer: RecordingObserver?) throws(MixFillError) -> DistributedFactorFit.Outcome {
            try DistributedFactorFit(group: group, shard: DataShard(whole: input, group: group), engine: engine)
                .run(componentCounts: [2], start: .seeds(seeds), settings: settings, rule: rule,
                     observer: group.rank == 0 ? observer : nil)
        }
        let uninterrupted = try Self.onRanks(size) { group throws(MixFillError) in try fit(group, observer: nil) }
        let stopping = RecordingObserver(stopAfter: 3)
        let stopped = try Self.onRanks(size) { group throws(MixFillError) -> Bool in
            do {
                _ = try fit(group, observer: stopping)
                return false
            } catch {
                return true
            }
        }
        #expect(stopped == Array(repeating: true, count: size), "every rank stops at rank 0's word")
        let saved = stopping.saved
        #expect(saved.count == seeds.count && saved.allSatisfy { $0.state.iterations == 3 })
        let baseline = BiasBaseline(matrix: input.table.matrix)
        for run in saved {
            #expect(run.state.model.offsets.userOffsets.map(\.bitPattern) == baseline.userBiases.map(\.bitPattern))
        }
        #expect(stopping.settings == ["factors": "3", "prior-loadings": "40.0", "prior-means": "40.0"], "λ_m not given: tied to λ_W")
        let resuming = RecordingObserver(resuming: saved)
        let resumed = try Self.onRanks(size) { group throws(MixFillError) in try fit(group, observer: resuming) }
        #expect(resumed.count == size && uninterrupted.count == size)
        for (again, reference) in zip(resumed, uninterrupted) {
            #expect(again.fits.count == 1 && reference.fits.count == 1)
            #expect(!reference.fits[0].runs.isEmpty && again.fits[0].runs.count == reference.fits[0].runs.count)
            for (run, want) in zip(again.fits[0].runs, reference.fits[0].runs) {
                #expect(run.result.iterations == want.result.iterations && run.result.iterations > 3)
                #expect(run.result.trace.map(\.bitPattern) == want.result.trace.map(\.bitPattern))
                #expect(run.result.model == want.result.model)
            }
        }
    }
}

/// Rank 0's observer in `factorFitResumedThroughRankZeroIsTheUninterruptedFit` and
/// `aStopWhileChoosingTheSettingsEndsEveryRank`: records
/// the settings and, after iteration `stopAfter`, the runs' states, then stops the fit as
/// a signal would; or hands out `resuming` as the saved runs.
final class RecordingObserver: FitObserver, @unchecked Sendable {
    typealias Model = FactorMixture
    let stopAfter: Int?
    let resuming: [SavedRun<FactorMixture>]
    var saved: [SavedRun<FactorMixture>] = []
    var settings: [String: String] = [:]

    init(stopAfter: Int) {
        self.stopAfter = stopAfter
        resuming = []
    }

    init(resuming: [SavedRun<FactorMixture>]) {
        stopAfter = nil
        self.resuming = resuming
    }

    /// When set, the first iteration of the settings' choice stops the fit, as a signal would.
    var stopWhileChoosing = false
    var choosingCalls = 0

    func settingsChosen(_ settings: [String: String]) throws(MixFillError) { self.settings = settings }

    func choosingSettings() throws(MixFillError) {
        choosingCalls += 1
        if stopWhileChoosing { throw .interrupted(signal: SIGINT, message: "stopped while choosing") }
    }

    func savedRuns(componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> [SavedRun<FactorMixture>?] {
        resuming.isEmpty ? seeds.map { _ in nil } : resuming
    }

    func iterationEnded(componentCount: Int, seeds: [UInt32], progress: [RestartProgress<FactorMixture>]) throws(MixFillError) {
        guard let stopAfter, let first = progress.first, first.state.iterations == stopAfter else { return }
        saved = progress.map { SavedRun(state: $0.state, seconds: $0.seconds) }
        throw .interrupted(signal: 15, message: "stopped after iteration \(stopAfter)")
    }
}

/// `ProcessGroup.userRange` spelled out for the test's table.
enum SingleProcessRanges {
    static func range(_ users: Int, _ rank: Int, _ size: Int) -> Range<Int> {
        SingleProcess.userRange(userCount: users, rank: rank, size: size)
    }

    /// The rank whose range holds `user`.
    static func owner(_ user: Int, _ users: Int, _ size: Int) -> Int {
        (0..<size).first { range(users, $0, size).contains(user) } ?? -1
    }
}

/// The shared state of thread ranks: one slot per rank for collectives (each collective is
/// deposit, barrier, read, barrier) and a mailbox per ordered pair of ranks.
final class LocalWorld: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var slots: [[Double]]
    private var arrived = 0
    private var generation = 0
    private var mailboxes: [[[Double]]]
    /// Set when a rank failed: the others, waiting for it, stop (as MPI_Abort ends them).
    private var aborted = false

    init(size: Int) {
        self.size = size
        slots = Array(repeating: [], count: size)
        mailboxes = Array(repeating: [], count: size * size)
    }

    static let abortedError = MixFillError.runtime(message: "another rank failed")

    func abort() {
        condition.lock()
        aborted = true
        condition.broadcast()
        condition.unlock()
    }

    private func barrier() throws(MixFillError) {
        condition.lock()
        defer { condition.unlock() }
        let current = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == current && !aborted { condition.wait() }
            if generation == current { throw Self.abortedError }
        }
    }

    /// Every rank's contribution, once all have given theirs.
    func exchange(rank: Int, _ values: [Double]) throws(MixFillError) -> [[Double]] {
        condition.lock()
        slots[rank] = values
        condition.unlock()
        try barrier()
        condition.lock()
        let all = slots
        condition.unlock()
        try barrier()
        return all
    }

    func send(_ values: [Double], from: Int, to: Int) {
        condition.lock()
        mailboxes[from * size + to].append(values)
        condition.broadcast()
        condition.unlock()
    }

    func receive(from: Int, to: Int) throws(MixFillError) -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        while mailboxes[from * size + to].isEmpty && !aborted { condition.wait() }
        guard !mailboxes[from * size + to].isEmpty else { throw Self.abortedError }
        return mailboxes[from * size + to].removeFirst()
    }
}

final class LocalGroup: ProcessGroup {
    let world: LocalWorld
    let rank: Int
    var size: Int { world.size }

    init(world: LocalWorld, rank: Int) {
        self.world = world
        self.rank = rank
    }

    func gather(_ values: [Double]) throws(MixFillError) -> [Double] {
        let all = try world.exchange(rank: rank, values)
        return rank == 0 ? all.flatMap { $0 } : []
    }

    func broadcast(_ values: inout [Double], from root: Int) throws(MixFillError) {
        values = try world.exchange(rank: rank, values)[root]
    }

    func send(_ values: [Double], to rank: Int) throws(MixFillError) {
        world.send(values, from: self.rank, to: rank)
    }

    func receive(count: Int, from rank: Int) throws(MixFillError) -> [Double] {
        try world.receive(from: rank, to: self.rank)
    }
}

final class ResultSlots<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<Value, MixFillError>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<Value, MixFillError>) { lock.withLock { values[index] = value } }
}

