import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// `Engine`: the kernel, shards and thread policy every command runs, its conflicts, and
/// checkpointed fits (`FitJob` watched by `FitProgress`) that stop and resume bit for bit.
// Serialized: the thread-policy tests set OpenBLAS's process-wide thread count, which must
// not change under the bit-for-bit resume tests.
@Suite(.serialized, .blasProcessState) struct EngineTests {
    static func bits(_ values: [Double]) -> [UInt64] { values.map(\.bitPattern) }

    /// The first 300 users of the netflix matrix, dense and as records.
    static func subset() throws -> (dense: DenseRatingMatrix, records: RatingInput) {
        let data = try #require(Fixtures.netflix)
        let dense = DenseRatingMatrix(userCount: 300, itemCount: 1200, values: Array(data.values[0..<(300 * 1200)]))
        return (dense, RatingInput(storage: .records(RatingTable(dense: dense)), format: .csv))
    }

    @Test func threadPolicyPerKernel() throws {
        let (dense, records) = try Self.subset()
        let input = RatingInput(dense)
        let blas = try Engine.resolve(threads: 2, for: input)
        #expect(blas.kernel == .dense(.double))
        #expect(try blas.courseShards(for: input).map(\.name) == ["blas", "blas"])
        #expect(blas.workers == 2)
        #expect(blas.blasThreads == 1, "shard workers run on single-threaded OpenBLAS")
        #expect(Checkpoint.settings(of: blas) == ["backend": "blas", "kernel": "dense", "precision": "double"])

        let oneShard = Engine(kernel: .dense(.double), threads: 2, threading: .oneShardOnBLASThreads)
        #expect(try oneShard.courseShards(for: input).count == 1 && oneShard.workers == 1 && oneShard.blasThreads == 2)

        let sparse = try Engine.resolve(threads: 2, for: records)
        #expect(sparse.kernel == .sparse && sparse.workers == 2)
        #expect(sparse.blasThreads == 1, "the sparse kernel's threads run beside one-thread OpenBLAS")
        #expect(try sparse.courseShards(for: records).count == 2)

        let blocked = try Engine.resolve(kernel: .blocked, threads: 2, for: records)
        #expect(blocked.kernel == .blocked && blocked.workers == 1 && blocked.blasThreads == 2)

        let naive = try Engine.resolve(backend: .naive, threads: 2, for: input)
        #expect(naive.kernel == .naive && naive.workers == 1)
        #expect(try naive.courseShards(for: input).count == 1)
        #expect(Checkpoint.settings(of: naive) == ["backend": "naive", "kernel": "dense", "precision": "double"])

        let denseFromRecords = try Engine.resolve(kernel: .dense, precision: .single, threads: 3, for: records)
        #expect(try denseFromRecords.courseShards(for: records).count == 3)
        #expect(Checkpoint.settings(of: denseFromRecords)["precision"] == "single")

        // The owner of an engine claims OpenBLAS's threads for it, once.
        oneShard.claimBLASThreads()
        #expect(BLASThreads.current == 2)
        blas.claimBLASThreads()
        #expect(BLASThreads.current == 1)
    }

    /// Every engine gives the naive kernel's fits: log-likelihoods within 1e-10 relative,
    /// the same iteration counts.
    @Test func everyEngineAgreesWithNaive() throws {
        let (dense, records) = try Self.subset()
        let input = RatingInput(dense)
        let job = FitJob(componentCounts: [4], start: .seeds([0, 1]))
        let reference = try job.run(on: input, engine: Engine(kernel: .naive, threads: 1)).fits[0].fit
        let engines: [(Engine, RatingInput)] = [
            (Engine(kernel: .dense(.double), threads: 1), input), (Engine(kernel: .dense(.double), threads: 2), input),
            (Engine(kernel: .dense(.double), threads: 2, threading: .oneShardOnBLASThreads), input),
            (Engine(kernel: .sparse, threads: 2), records), (Engine(kernel: .blocked, threads: 2), records),
        ]
        for (engine, data) in engines {
            engine.claimBLASThreads()
            let fit = try job.run(on: data, engine: engine).fits[0].fit
            #expect(fit.runs.count == reference.runs.count)
            for (run, expected) in zip(fit.runs, reference.runs) {
                #expect(run.result.iterations == expected.result.iterations, "\(engine)")
                #expect(abs(run.result.objective - expected.result.objective) <= 1e-10 * abs(expected.result.objective), "\(engine)")
            }
        }
    }

    @Test func conflictsAreNamedAsTheUserSpelledThem() throws {
        let (_, records) = try Self.subset()
        #expect(throws: MixFillError.badOption(option: "--precision", message: "'single' runs on the dense BLAS kernel only, and this fit runs the sparse kernel; add --kernel dense or leave --precision out")) {
            try Engine.resolve(backend: .blas, kernel: .auto, precision: .single, threads: 1, for: records, spelling: .commandLine)
        }
        let job = OptionSpelling.jobFile("jobs.json", line: 4, job: "a")
        #expect(throws: MixFillError.badOption(option: "jobs.json:4: \"precision\" in job \"a\"", message: "'single' runs on the dense BLAS kernel only, and this fit runs the blocked kernel; add \"kernel\": \"dense\" or leave \"precision\" out")) {
            try Engine.resolve(backend: .blas, kernel: .blocked, precision: .single, threads: 1, for: records, spelling: job)
        }
        #expect(throws: MixFillError.badOption(option: "jobs.json:4: \"backend\" in job \"a\"", message: "'naive' is the dense textbook kernel and cannot run with \"kernel\": \"sparse\"; drop \"backend\": \"naive\" or use \"kernel\": \"dense\"")) {
            try Engine.resolve(backend: .naive, kernel: .sparse, precision: .double, threads: 1, for: records, spelling: job)
        }
        let zero = try RecordReader.parse(Array("1 1 0\n1 2 4\n2 1 5\n".utf8), name: "zeros", layout: .triplets)
        #expect(throws: MixFillError.badOption(option: "jobs.json:4: \"kernel\" in job \"a\"", message: "user 1 has a rating of 0, which the dense form reads as missing; use \"kernel\": \"sparse\" or \"blocked\"")) {
            try Engine.resolve(backend: .blas, kernel: .dense, precision: .double, threads: 1,
                               for: RatingInput(storage: .records(zero), format: .triplets), spelling: job)
        }
    }

    /// The family is part of the engine. The mppca family has no single precision, refused
    /// before any data is read (`Engine.check`, what a job file runs when it is read). Its
    /// kernels all read records, so its dense kernel runs where the course family's dense
    /// form is refused (a rating of 0, which the dense matrix reads as missing).
    @Test func theFamilyDecidesWhatAnEngineCanRun() throws {
        #expect(throws: EngineConflict.singleNeedsCourse) {
            try Engine.check(family: .mppca, backend: .blas, kernel: .dense, precision: .single)
        }
        #expect(throws: EngineConflict.singleNeedsDense(kernel: .sparse)) {
            try Engine.check(family: .course, backend: .blas, kernel: .sparse, precision: .single)
        }
        try Engine.check(family: .course, backend: .blas, kernel: .dense, precision: .single)
        let zero = try RecordReader.parse(Array("1 1 0\n1 2 4\n2 1 5\n2 2 3\n".utf8), name: "zeros", layout: .triplets)
        let input = RatingInput(storage: .records(zero), format: .triplets)
        #expect(throws: MixFillError.badOption(option: "--precision", message: "mppca computes in double precision only; leave --precision out")) {
            try Engine.resolve(family: .mppca, backend: .blas, kernel: .dense, precision: .single, threads: 1, for: input, spelling: .commandLine)
        }
        #expect(throws: EngineConflict.zeroRating(user: "1")) { try Engine.resolve(kernel: .dense, threads: 1, for: input) }
        #expect(throws: EngineConflict.zeroRating(user: "1")) { try Engine.resolve(backend: .naive, threads: 1, for: input) }
        let dense = try Engine.resolve(family: .mppca, kernel: .dense, threads: 2, for: input)
        #expect(dense.family == .mppca && dense.kernel == .dense(.double))
        #expect(dense.factorShards(for: input).map(\.name) == ["blas", "blas"])
        let naive = try Engine.resolve(family: .mppca, backend: .naive, threads: 2, for: input)
        #expect(naive.family == .mppca && naive.kernel == .naive)
        #expect(naive.factorShards(for: input).map(\.name) == ["naive"])
        #expect(try Engine.resolve(threads: 1, for: input).family == .course)
        // The course model's job refuses an mppca engine with an error, not a trap.
        #expect(throws: MixFillError.runtime(message: "a FitJob fits the course model, and this engine is for the mppca family; resolve one with family .course")) {
            try FitJob(componentCounts: [1], start: .seeds([0])).run(on: input, engine: dense)
        }
    }

    /// `fit` and `batch` run a K's seeds as one batch through `FitJob` on the engine's
    /// threads: stopped by a signal (every restart saved at the same iteration), then stopped
    /// again after a SIGKILL-like loss that leaves one restart's checkpoint older than the
    /// others', and resumed on fresh engines, every run is bit for bit the plain batched fit's.
    @Test(arguments: [Precision.double, .single])
    func batchedCheckpointedFitsResumeBitForBit(_ precision: Precision) throws {
        let (dense, _) = try Self.subset()
        let input = RatingInput(dense)
        let engine = Engine(kernel: .dense(precision), threads: 2)
        let seeds: [UInt32] = [0, 1, 2]
        let reference = try FitJob(componentCounts: [5], start: .seeds(seeds)).run(on: input, engine: engine).fits[0].fit
        #expect(reference.runs.allSatisfy { $0.result.iterations > 8 })
        let folder = try Fixtures.scratchFolder() + "/checkpoints"

        final class Counter: @unchecked Sendable { var iteration = 0; var stopAt = 4 }
        let counter = Counter()
        func fit(resume: Bool, report: @escaping (FitEvent) -> Void = { _ in }) throws -> MultiStartFit<Mixture> {
            try checkpointedFit(input, engine: engine, componentCount: 5, seeds: seeds, folder: folder, every: 3, resume: resume,
                                report: { event in
                                    if event.kind == .iteration { counter.iteration = event.iteration ?? 0 }
                                    report(event)
                                },
                                stopRequested: { counter.iteration == counter.stopAt ? SIGTERM : nil })
        }
        #expect(throws: MixFillError.interrupted(signal: SIGTERM, message: "SIGTERM received: K = 5, seeds 0, 1, 2 saved at iteration 4 in \(folder); rerun with --resume")) {
            try fit(resume: false)
        }
        for seed in seeds {
            #expect(try Checkpoint.read(path: folder + "/k5-seed\(seed).ckpt").state.iterations == 4)
        }
        // Seed 0's checkpoint of iteration 4 stands in for one a SIGKILL kept from before the
        // others were saved at iteration 7.
        let older = try #require(fileBytes(folder + "/k5-seed0.ckpt"))
        counter.stopAt = 7
        #expect(throws: MixFillError.interrupted(signal: SIGTERM, message: "SIGTERM received: K = 5, seeds 0, 1, 2 saved at iteration 7 in \(folder); rerun with --resume")) {
            try fit(resume: true)
        }
        try Data(older).write(to: URL(fileURLWithPath: folder + "/k5-seed0.ckpt"))

        counter.stopAt = -1
        var events = [FitEvent]()
        let resumed = try fit(resume: true) { events.append($0) }
        #expect(events.filter { $0.kind == .runStart }.map(\.resumedFrom) == [4, 7, 7])
        #expect(events.filter { $0.kind == .runEnd }.count == 3)
        #expect(resumed.runs.count == reference.runs.count)
        for (run, expected) in zip(resumed.runs, reference.runs) {
            #expect(run.seed == expected.seed)
            #expect(run.result.iterations == expected.result.iterations)
            #expect(run.result.converged == expected.result.converged)
            if precision == .double {
                #expect(Self.bits(run.result.trace) == Self.bits(expected.result.trace))
                #expect(Self.bits(run.result.model.means) == Self.bits(expected.result.model.means))
                #expect(Self.bits(run.result.model.variances) == Self.bits(expected.result.model.variances))
            } else {
                // SGEMM's sums depend on the batch's width, which the older checkpoint changed
                // for a few iterations: Float rounding, not bits.
                #expect(abs(run.result.objective - expected.result.objective) <= 1e-7 * abs(expected.result.objective))
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
        let input = RatingInput(dense)
        let engine = Engine(kernel: .dense(.single), threads: 2)
        let seeds: [UInt32] = [0, 1, 2]
        let reference = try FitJob(componentCounts: [5], start: .seeds(seeds)).run(on: input, engine: engine).fits[0].fit
        let folder = try Fixtures.scratchFolder() + "/checkpoints"
        final class Counter: @unchecked Sendable { var iteration = 0 }
        let counter = Counter()
        func fit(resume: Bool, stopAt: Int) throws -> MultiStartFit<Mixture> {
            try checkpointedFit(input, engine: engine, componentCount: 5, seeds: seeds, folder: folder, every: nil, resume: resume,
                                report: { if $0.kind == .iteration { counter.iteration = $0.iteration ?? 0 } },
                                stopRequested: { counter.iteration == stopAt ? SIGINT : nil })
        }
        #expect(thrownError { _ = try fit(resume: false, stopAt: 5) }?.exitCode == 130)
        let resumed = try fit(resume: true, stopAt: -1)
        #expect(resumed.runs.count == reference.runs.count)
        for (run, expected) in zip(resumed.runs, reference.runs) {
            #expect(run.result.iterations == expected.result.iterations)
            #expect(Self.bits(run.result.trace) == Self.bits(expected.result.trace))
            #expect(Self.bits(run.result.model.means) == Self.bits(expected.result.model.means))
        }
    }
}
