import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// Checkpoints: a run saved and continued is bit for bit the run never interrupted, and a
/// checkpoint that does not belong to the run, or is damaged, is refused with a reason.
@Suite(.blasProcessState) struct CheckpointTests {
    struct Stop: Error {}

    static func bits(_ values: [Double]) -> [UInt64] { values.map(\.bitPattern) }

    static func expectIdentical(_ resumed: FitResult<Mixture>, _ reference: FitResult<Mixture>,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(resumed.iterations == reference.iterations, sourceLocation: sourceLocation)
        #expect(resumed.converged == reference.converged, sourceLocation: sourceLocation)
        #expect(resumed.objective.bitPattern == reference.objective.bitPattern, sourceLocation: sourceLocation)
        #expect(bits(resumed.trace) == bits(reference.trace), sourceLocation: sourceLocation)
        #expect(bits(resumed.model.means) == bits(reference.model.means), sourceLocation: sourceLocation)
        #expect(bits(resumed.model.variances) == bits(reference.model.variances), sourceLocation: sourceLocation)
        #expect(bits(resumed.model.weights) == bits(reference.model.weights), sourceLocation: sourceLocation)
    }

    func identity(_ data: DenseRatingMatrix, k: Int, seed: UInt32, backend: Backend = .blas, threads: Int = 1) -> Checkpoint.Identity {
        Checkpoint.Identity(dataFingerprint: data.fingerprint, userCount: data.userCount, itemCount: data.itemCount,
                            observedCount: data.observedCount, componentCount: k, seed: seed, relativeTolerance: 1e-6,
                            varianceFloor: 0.25, maxIterations: 1000, settings: ["backend": backend.rawValue], threads: threads)
    }

    static func kernel(_ backend: Backend, _ data: DenseRatingMatrix) -> any StatisticsKernel<Mixture> {
        backend == .naive ? NaiveKernel(data) : BLASKernel(data)
    }

    @Test(arguments: [Backend.naive, .blas])
    func stoppedSavedAndResumedIsBitIdentical(_ backend: Backend) throws {
        let data = try #require(Fixtures.netflix)
        let subset = DenseRatingMatrix(userCount: 300, itemCount: 1200, values: Array(data.values[0..<(300 * 1200)]))
        let em = CourseEM(kernel: Self.kernel(backend, subset))
        let initial = try Initialization.courseMixture(data: subset, componentCount: 6, seed: 0)
        let reference = try em.run(from: initial)
        #expect(reference.iterations > 10)

        for stopAt in [1, 7, reference.iterations - 1] {
            var saved: [UInt8]?
            let stop = thrownError {
                _ = try em.run(resuming: EMState(initial: initial)) { (state: EMState<Mixture>) throws(MixFillError) in
                    if state.iterations == stopAt {
                        saved = Checkpoint(identity: identity(subset, k: 6, seed: 0, backend: backend), state: state,
                                           seconds: 1.5).encoded()
                        throw .interrupted(signal: SIGTERM, message: "test stop")
                    }
                }
            }
            #expect(stop?.exitCode == 143, "the observer's throw should stop the run")
            let checkpoint = try Checkpoint.decode(try #require(saved), name: "c.ckpt")
            #expect(checkpoint.state.iterations == stopAt)
            #expect(checkpoint.seconds == 1.5)
            // A fresh engine, as after a restart of the process.
            let freshEngine = CourseEM(kernel: Self.kernel(backend, subset))
            let resumed = try freshEngine.run(resuming: checkpoint.state)
            Self.expectIdentical(resumed, reference)
        }
    }

    /// `fit --precision single --checkpoint-every N` as the CLI runs it (the users in two
    /// shards on two worker threads, SGEMM): stopped, saved and resumed on a fresh engine, a
    /// run is bit for bit the one never stopped; its checkpoint records the precision, and
    /// a double-precision run refuses it.
    @Test func singlePrecisionRunsResumeBitForBitAndRecordTheirPrecision() throws {
        let data = try #require(Fixtures.netflix)
        let subset = DenseRatingMatrix(userCount: 300, itemCount: 1200, values: Array(data.values[0..<(300 * 1200)]))
        func engine(_ precision: Precision) -> CourseEM {
            CourseEM(shards: BLASKernel.shards(of: subset, count: 2, precision: precision), workers: 2)
        }
        let initial = try Initialization.courseMixture(data: subset, componentCount: 6, seed: 0)
        let reference = try engine(.single).run(from: initial)
        let double = try engine(.double).run(from: initial)
        #expect(reference.iterations > 8)
        #expect(reference.objective != double.objective, "single precision should not give double's bits")
        #expect(abs(reference.objective - double.objective) < 1e-5 * abs(double.objective))

        var single = identity(subset, k: 6, seed: 0, threads: 2)
        single.settings["precision"] = "single"
        var saved: [UInt8]?
        let stop = thrownError {
            _ = try engine(.single).run(resuming: EMState(initial: initial)) { (state: EMState<Mixture>) throws(MixFillError) in
                if state.iterations == 5 {
                    saved = Checkpoint(identity: single, state: state, seconds: 1).encoded()
                    throw .interrupted(signal: SIGTERM, message: "test stop")
                }
            }
        }
        #expect(stop?.exitCode == 143)
        let checkpoint = try Checkpoint.decode(try #require(saved), name: "c.ckpt")
        #expect(checkpoint.identity.settings["precision"] == "single")
        Self.expectIdentical(try engine(.single).run(resuming: checkpoint.state), reference)

        var doubleRun = single
        doubleRun.settings["precision"] = "double"
        #expect(checkpoint.identity.mismatch(continuing: doubleRun) == "was written with precision single, this run uses double")
        #expect(checkpoint.identity.mismatch(continuing: single) == nil)
        // Checkpoints written before precision was recorded come from double-precision fits.
        var unrecorded = single
        unrecorded.settings["precision"] = nil
        #expect(unrecorded.mismatch(continuing: doubleRun) == nil)
        #expect(unrecorded.mismatch(continuing: single) == "was written with precision double, this run uses single")
        // The thread count decides the shards, so it is part of the run's identity.
        var oneThread = single
        oneThread.threads = 1
        #expect(checkpoint.identity.mismatch(continuing: oneThread) == "was written with --threads 2 and this run uses 1: the thread count decides how the users are cut into shards and so the last bits of every sum; continue it with --threads 2")
    }

    @Test func aFinishedRunResumesToItselfWithoutIterating() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let em = CourseEM(kernel: NaiveKernel(data))
        let reference = try em.run(from: try Initialization.courseMixture(data: data, componentCount: 4, seed: 0))
        let state = EMState(model: reference.model, trace: reference.trace, converged: true)
        var calls = 0
        let again = try em.run(resuming: state) { (_: EMState<Mixture>) throws(MixFillError) in calls += 1 }
        #expect(calls == 0)
        Self.expectIdentical(again, reference)
    }

    @Test func aFitInterruptedBySignalThenResumedMatchesThePlainFit() throws {
        let data = try #require(Fixtures.netflix)
        let subset = DenseRatingMatrix(userCount: 400, itemCount: 1200, values: Array(data.values[0..<(400 * 1200)]))
        let input = RatingInput(subset)
        let engine = Engine(kernel: .dense(.double), threads: 1)
        let reference = try CourseEM(kernel: BLASKernel(subset)).fit(data: subset, componentCount: 5, seeds: [0, 1, 2])
        let folder = try Fixtures.scratchFolder() + "/checkpoints"

        // Stop in seed 1's run, at its 4th iteration, as a SIGTERM would.
        final class Counter: @unchecked Sendable { var iterations = 0; var seed: UInt32 = 0 }
        let counter = Counter()
        #expect(throws: MixFillError.interrupted(signal: SIGTERM, message: "SIGTERM received: K = 5, seed 1 saved at iteration 4 in \(folder)/k5-seed1.ckpt; rerun with --resume")) {
            try checkpointedFit(input, engine: engine, componentCount: 5, seeds: [1], folder: folder, every: 3, resume: false,
                                report: { event in
                                    if event.kind == .iteration { counter.iterations = event.iteration ?? 0; counter.seed = event.seed ?? 0 }
                                },
                                stopRequested: { counter.seed == 1 && counter.iterations == 4 ? SIGTERM : nil })
        }
        _ = try checkpointedFit(input, engine: engine, componentCount: 5, seeds: [0], folder: folder, every: 3, resume: true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["k5-seed0.ckpt", "k5-seed1.ckpt"])
        #expect(try Checkpoint.read(path: folder + "/k5-seed1.ckpt").state.iterations == 4)
        #expect(try Checkpoint.read(path: folder + "/k5-seed0.ckpt").isFinished)

        var events = [FitEvent]()
        let resumed = try checkpointedFit(input, engine: engine, componentCount: 5, seeds: [0, 1, 2], folder: folder,
                                          every: 3, resume: true, report: { events.append($0) })
        #expect(resumed.runs.count == reference.runs.count)
        for (run, expected) in zip(resumed.runs, reference.runs) {
            #expect(run.seed == expected.seed)
            Self.expectIdentical(run.result, expected.result)
        }
        let starts = events.filter { $0.kind == .runStart }.map(\.resumedFrom)
        #expect(starts == [reference.runs[0].result.iterations, 4, nil])
        // Seed 0 was finished: resuming ran no iteration for it.
        #expect(!events.contains { $0.kind == .iteration && $0.seed == 0 })
    }

    @Test func aCheckpointFromOtherDataOrSettingsIsRefused() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let folder = try Fixtures.scratchFolder()
        let naive = Engine(kernel: .naive, threads: 1)
        _ = try checkpointedFit(RatingInput(data), engine: naive, componentCount: 3, seeds: [0], folder: folder, every: 2, resume: false)
        let path = folder + "/k3-seed0.ckpt"

        var changed = data.values
        changed[7] = changed[7] == 0 ? 1 : 0
        let other = DenseRatingMatrix(userCount: 20, itemCount: 5, values: changed)
        let error = try #require(thrownError {
            _ = try checkpointedFit(RatingInput(other), engine: naive, componentCount: 3, seeds: [0], folder: folder, every: 2, resume: true)
        })
        #expect(error.exitCode == 2)
        guard case let .badFile(file, message) = error else { Issue.record("\(error)"); return }
        #expect(file == path)
        #expect(message.hasPrefix("this checkpoint was written for other data (20 users × 5 items, 81 ratings, fingerprint "))
        #expect(message.hasSuffix("give the data and options it was written with, or delete \(folder) to start over"))

        #expect(throws: MixFillError.badFile(file: path, message: "this checkpoint was written with backend naive, this run uses blas; give the data and options it was written with, or delete \(folder) to start over")) {
            try checkpointedFit(RatingInput(data), engine: Engine(kernel: .dense(.double), threads: 1), componentCount: 3,
                                seeds: [0], folder: folder, every: 2, resume: true)
        }
        #expect(throws: MixFillError.badFile(file: path, message: "this checkpoint was written with --threads 1 and this run uses 2: the thread count decides how the users are cut into shards and so the last bits of every sum; continue it with --threads 1; give the data and options it was written with, or delete \(folder) to start over")) {
            try checkpointedFit(RatingInput(data), engine: Engine(kernel: .naive, threads: 2), componentCount: 3,
                                seeds: [0], folder: folder, every: 2, resume: true)
        }
    }

    func sampleCheckpoint() throws -> Checkpoint {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let em = CourseEM(kernel: NaiveKernel(data))
        let result = try em.run(from: try Initialization.courseMixture(data: data, componentCount: 4, seed: 0))
        return Checkpoint(identity: identity(data, k: 4, seed: 0, backend: .naive, threads: 2),
                          state: EMState(model: result.model, trace: result.trace, converged: true),
                          seconds: 0.25)
    }

    @Test func roundTripsBitForBit() throws {
        let checkpoint = try sampleCheckpoint()
        let bytes = checkpoint.encoded()
        let decoded = try Checkpoint.decode(bytes, name: "c.ckpt")
        #expect(decoded == checkpoint)
        #expect(decoded.encoded() == bytes)
        let header = String(decoding: bytes.prefix(60), as: UTF8.self)
        #expect(header.hasPrefix("MIXFILL-CHECKPOINT 2\nfamily course\ndata mix64:"))
        // A warm-started run's state carries the LL its first E-step is compared with.
        var warm = checkpoint
        warm.state = EMState(model: checkpoint.state.model, trace: [-90.5], converged: false, previousObjective: -91.25)
        #expect(try Checkpoint.decode(warm.encoded(), name: "w.ckpt") == warm)
    }

    @Test func damagedTruncatedForeignAndNewerCheckpointsAreRefused() throws {
        let bytes = try sampleCheckpoint().encoded()
        let advice = "; delete the checkpoint to start that run over"
        var flipped = bytes
        flipped[bytes.count - 100] ^= 0x01
        #expect(throws: MixFillError.badFile(file: "c.ckpt", message: "the checkpoint is damaged or truncated (its SHA-256 seal does not match)" + advice)) {
            try Checkpoint.decode(flipped, name: "c.ckpt")
        }
        #expect(throws: MixFillError.badFile(file: "c.ckpt", message: "the checkpoint is damaged or truncated (its SHA-256 seal does not match)" + advice)) {
            try Checkpoint.decode(Array(bytes.dropLast(9)), name: "c.ckpt")
        }
        #expect(throws: MixFillError.badFile(file: "c.ckpt", message: "the checkpoint is truncated or damaged (its header never ends)" + advice)) {
            try Checkpoint.decode(Array(bytes.prefix(60)), name: "c.ckpt")
        }
        #expect(throws: MixFillError.badFile(file: "c.ckpt", message: "not a MixFill checkpoint (it does not start with MIXFILL-CHECKPOINT); give a file written by --checkpoint-every")) {
            try Checkpoint.decode(Array("{\"format\": \"mixfill-model\"}".utf8), name: "c.ckpt")
        }
        #expect(throws: MixFillError.badFile(file: "c.ckpt", message: "not a MixFill checkpoint (it does not start with MIXFILL-CHECKPOINT); give a file written by --checkpoint-every")) {
            try Checkpoint.decode([], name: "c.ckpt")
        }
        // A newer version is refused before its seal is even looked at.
        var newer = bytes
        newer[19] = UInt8(ascii: "3")
        #expect(throws: MixFillError.badFile(file: "c.ckpt", message: "checkpoint format version 3 is newer than this MixFill reads (2); continue it with a newer MixFill, or delete it to start over")) {
            try Checkpoint.decode(newer, name: "c.ckpt")
        }
    }

    @Test func aHeaderThatLiesAboutTheBodyIsRefusedEvenWhenSealed() throws {
        // Re-sealing a changed header must not let an inconsistent body through.
        let bytes = try sampleCheckpoint().encoded()
        let from = Array("\nk 4\n".utf8)
        let at = try #require((0..<(bytes.count - from.count)).first { Array(bytes[$0..<($0 + from.count)]) == from })
        var changed = Array(bytes.dropLast(32))
        changed[at + 3] = UInt8(ascii: "3")
        var hasher = ContentHasher()
        hasher.update(changed)
        changed += hasher.finalize()
        let error = try #require(thrownError { _ = try Checkpoint.decode(changed, name: "c.ckpt") })
        #expect(error.message.contains("not the 20 log-likelihoods and K = 3 × d = 5 parameters its header announces"), "\(error)")
    }
}

#if canImport(Glibc)
import Glibc
#endif
