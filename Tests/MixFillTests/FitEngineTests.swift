import Foundation
import MixFill
import Testing

/// `FitEngine`: the kernel, shards and thread policy every command runs, its errors, and
/// batched checkpointed fits (`ResumableFit.fitBatched`) that stop and resume bit for bit.
// Serialized: building an engine sets OpenBLAS's process-wide thread count (the thread-policy test
// asks for 2-threaded OpenBLAS), which must not change under the bit-for-bit resume tests.
@Suite(.serialized, .blasProcessState) struct FitEngineTests {
    static func bits(_ values: [Double]) -> [UInt64] { values.map(\.bitPattern) }

    /// The first 300 users of the netflix matrix, dense and as records.
    static func subset() throws -> (dense: DenseRatingMatrix, records: RatingInput) {
        let data = try #require(Fixtures.netflix)
        let dense = DenseRatingMatrix(userCount: 300, itemCount: 1200, values: Array(data.values[0..<(300 * 1200)]))
        return (dense, RatingInput(storage: .records(RatingTable(dense: dense)), format: .csv))
    }

    @Test func threadPolicyPerKernel() throws {
        let (dense, records) = try Self.subset()
        let blas = try FitEngine(matrix: dense, threads: 2)
        #expect(blas.shards.count == 2 && blas.shards.allSatisfy { $0 is BLASKernel })
        #expect(blas.parallelism == .shardWorkers(2))
        #expect(blas.parallelism.blasThreadCount == 1, "shard workers run on single-threaded OpenBLAS")
        #expect(blas.settings == ["backend": "blas", "kernel": "dense", "precision": "double"])

        let oneShard = try FitEngine(matrix: dense, threads: 2, threading: .oneShardOnBLASThreads)
        #expect(oneShard.shards.count == 1 && oneShard.parallelism == .blasThreads(2))
        #expect(oneShard.parallelism.blasThreadCount == 2)

        let sparse = try FitEngine(input: records, threads: 2)
        #expect(sparse.name == "sparse" && sparse.kernel == .sparse && sparse.parallelism == .blasThreads(1))
        #expect(sparse.parallelism.blasThreadCount == 1, "the sparse kernel's own threads run beside one-thread OpenBLAS")

        let blocked = try FitEngine(input: records, kernel: .blocked, threads: 2)
        #expect(blocked.name == "blocked" && blocked.parallelism == .blasThreads(2))

        let naive = try FitEngine(matrix: dense, backend: .naive, threads: 2)
        #expect(naive.name == "naive" && naive.shards.count == 1 && naive.parallelism.workerCount == 1)

        let denseFromRecords = try FitEngine(input: records, kernel: .dense, precision: .single, threads: 3)
        #expect(denseFromRecords.shards.count == 3 && denseFromRecords.settings["precision"] == "single")
    }

    /// Every engine gives the naive kernel's fits: log-likelihoods within 1e-10 relative,
    /// the same iteration counts.
    @Test func everyEngineAgreesWithNaive() throws {
        let (dense, records) = try Self.subset()
        let seeds: [UInt32] = [0, 1]
        let reference = try FitEngine(matrix: dense, backend: .naive, threads: 1).fit(data: dense, componentCount: 4, seeds: seeds)
        let engines = [
            try FitEngine(matrix: dense, threads: 1), try FitEngine(matrix: dense, threads: 2),
            try FitEngine(matrix: dense, threads: 2, threading: .oneShardOnBLASThreads),
            try FitEngine(input: records, threads: 2), try FitEngine(input: records, kernel: .blocked, threads: 2),
        ]
        for engine in engines {
            let fit = try engine.fit(data: records.data, componentCount: 4, seeds: seeds)
            for (run, expected) in zip(fit.runs, reference.runs) {
                #expect(run.result.iterations == expected.result.iterations, "\(engine.name), \(engine.parallelism)")
                #expect(abs(run.result.logLikelihood - expected.result.logLikelihood) <= 1e-10 * abs(expected.result.logLikelihood),
                        "\(engine.name), \(engine.parallelism)")
            }
        }
    }

    @Test func conflictsAreNamedAsTheUserSpelledThem() throws {
        let (_, records) = try Self.subset()
        #expect(throws: MixFillError.badOption(option: "--precision", message: "'single' runs on the dense BLAS kernel only, and this fit runs the sparse kernel; add --kernel dense or leave --precision out")) {
            try FitEngine(input: records, precision: .single, threads: 1)
        }
        let job = FitEngine.Spelling.jobFile("jobs.json", line: 4, job: "a")
        #expect(throws: MixFillError.badOption(option: "jobs.json:4: \"precision\" in job \"a\"", message: "'single' runs on the dense BLAS kernel only, and this fit runs the blocked kernel; add \"kernel\": \"dense\" or leave \"precision\" out")) {
            try FitEngine(input: records, kernel: .blocked, precision: .single, threads: 1, spelling: job)
        }
        #expect(throws: MixFillError.badOption(option: "jobs.json:4: \"backend\" in job \"a\"", message: "'naive' is the dense textbook kernel and cannot run with \"kernel\": \"sparse\"; drop \"backend\": \"naive\" or use \"kernel\": \"dense\"")) {
            try FitEngine(input: records, kernel: .sparse, backend: .naive, threads: 1, spelling: job)
        }
        let zero = try RecordReader.parse(Array("1 1 0\n1 2 4\n2 1 5\n".utf8), name: "zeros", layout: .triplets)
        #expect(throws: MixFillError.badOption(option: "jobs.json:4: \"kernel\" in job \"a\"", message: "user 1 has a rating of 0, which the dense form reads as missing; use \"kernel\": \"sparse\" or \"blocked\"")) {
            try FitEngine(input: RatingInput(storage: .records(zero), format: .triplets), kernel: .dense, threads: 1, spelling: job)
        }
    }

    /// `fit` and `batch` run a K's seeds through `ResumableFit.fitBatched` on the engine's
    /// threads: stopped by a signal (every restart saved at the same iteration), then stopped
    /// again after a SIGKILL-like loss that leaves one restart's checkpoint older than the
    /// others', and resumed on fresh engines, every run is bit for bit the plain batched fit's.
    @Test(arguments: [Precision.double, .single])
    func batchedCheckpointedFitsResumeBitForBit(_ precision: Precision) throws {
        let (dense, _) = try Self.subset()
        func engine() throws -> FitEngine { try FitEngine(matrix: dense, precision: precision, threads: 2) }
        let seeds: [UInt32] = [0, 1, 2]
        let reference = try engine().fit(data: dense, componentCount: 5, seeds: seeds)
        #expect(reference.runs.allSatisfy { $0.result.iterations > 8 })
        let folder = try Fixtures.scratchFolder() + "/checkpoints"

        final class Counter: @unchecked Sendable { var iteration = 0; var stopAt = 4 }
        let counter = Counter()
        func fitter(resume: Bool, report: @escaping (FitEvent) -> Void = { _ in }) throws -> ResumableFit {
            let fitEngine = try engine()
            return ResumableFit(
                em: fitEngine.expectationMaximization(), data: dense, settings: fitEngine.settings,
                checkpointing: .init(folder: folder, every: 3, resume: resume, resumeHint: "rerun with --resume"),
                threads: 2, parallelism: fitEngine.parallelism,
                report: { event in
                    if event.kind == .iteration { counter.iteration = event.iteration ?? 0 }
                    report(event)
                },
                stopRequested: { counter.iteration == counter.stopAt ? SIGTERM : nil })
        }
        #expect(throws: MixFillError.interrupted(signal: SIGTERM, message: "SIGTERM received: K = 5, seeds 0, 1, 2 saved at iteration 4 in \(folder); rerun with --resume")) {
            try fitter(resume: false).fitBatched(componentCount: 5, seeds: seeds)
        }
        for seed in seeds {
            #expect(try Checkpoint.read(path: folder + "/k5-seed\(seed).ckpt").state.iterations == 4)
        }
        // Seed 0's checkpoint of iteration 4 stands in for one a SIGKILL kept from before the
        // others were saved at iteration 7.
        let older = try #require(fileBytes(folder + "/k5-seed0.ckpt"))
        counter.stopAt = 7
        #expect(throws: MixFillError.interrupted(signal: SIGTERM, message: "SIGTERM received: K = 5, seeds 0, 1, 2 saved at iteration 7 in \(folder); rerun with --resume")) {
            try fitter(resume: true).fitBatched(componentCount: 5, seeds: seeds)
        }
        try Data(older).write(to: URL(fileURLWithPath: folder + "/k5-seed0.ckpt"))

        counter.stopAt = -1
        var events = [FitEvent]()
        let resumed = try fitter(resume: true) { events.append($0) }.fitBatched(componentCount: 5, seeds: seeds)
        #expect(events.filter { $0.kind == .runStart }.map(\.resumedFrom) == [4, 7, 7])
        #expect(events.filter { $0.kind == .runEnd }.count == 3)
        for (run, expected) in zip(resumed.runs, reference.runs) {
            #expect(run.seed == expected.seed)
            #expect(run.result.iterations == expected.result.iterations)
            #expect(run.result.converged == expected.result.converged)
            if precision == .double {
                #expect(Self.bits(run.result.logLikelihoodTrace) == Self.bits(expected.result.logLikelihoodTrace))
                #expect(Self.bits(run.result.mixture.means) == Self.bits(expected.result.mixture.means))
                #expect(Self.bits(run.result.mixture.variances) == Self.bits(expected.result.mixture.variances))
            } else {
                // SGEMM's sums depend on the batch's width, which the older checkpoint changed
                // for a few iterations: Float rounding, not bits.
                #expect(abs(run.result.logLikelihood - expected.result.logLikelihood) <= 1e-7 * abs(expected.result.logLikelihood))
            }
        }
        // Every run is saved as finished.
        for seed in seeds {
            #expect(try Checkpoint.read(path: folder + "/k5-seed\(seed).ckpt").isFinished)
        }
    }

    /// A batch stopped only by signals (all restarts saved together) resumes to the plain
    /// batched fit's bits in single precision too.
    @Test func singlePrecisionBatchStoppedBySignalResumesBitForBit() throws {
        let (dense, _) = try Self.subset()
        func engine() throws -> FitEngine { try FitEngine(matrix: dense, precision: .single, threads: 2) }
        let seeds: [UInt32] = [0, 1, 2]
        let reference = try engine().fit(data: dense, componentCount: 5, seeds: seeds)
        let folder = try Fixtures.scratchFolder() + "/checkpoints"
        final class Counter: @unchecked Sendable { var iteration = 0 }
        let counter = Counter()
        func fitter(resume: Bool, stopAt: Int) throws -> ResumableFit {
            let fitEngine = try engine()
            return ResumableFit(
                em: fitEngine.expectationMaximization(), data: dense, settings: fitEngine.settings,
                checkpointing: .init(folder: folder, every: nil, resume: resume, resumeHint: "resume"),
                threads: 2, parallelism: fitEngine.parallelism,
                report: { if $0.kind == .iteration { counter.iteration = $0.iteration ?? 0 } },
                stopRequested: { counter.iteration == stopAt ? SIGINT : nil })
        }
        #expect(thrownError { _ = try fitter(resume: false, stopAt: 5).fitBatched(componentCount: 5, seeds: seeds) }?.exitCode == 130)
        let resumed = try fitter(resume: true, stopAt: -1).fitBatched(componentCount: 5, seeds: seeds)
        for (run, expected) in zip(resumed.runs, reference.runs) {
            #expect(run.result.iterations == expected.result.iterations)
            #expect(Self.bits(run.result.logLikelihoodTrace) == Self.bits(expected.result.logLikelihoodTrace))
            #expect(Self.bits(run.result.mixture.means) == Self.bits(expected.result.mixture.means))
        }
    }
}
