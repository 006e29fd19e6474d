import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The factor family through the checkpoint machinery the course model uses: the same
/// file format (with a family line and the factor model's parameters), the same observer,
/// the same refusals; a stopped and resumed mppca fit is bit for bit the uninterrupted one.
@Suite(.blasProcessState) struct FactorCheckpointTests {
    static func bits(_ values: [Double]) -> [UInt64] { values.map(\.bitPattern) }

    /// Synthetic records (300 users × 120 items, 6,000 ratings, 3 taste groups) as loaded data.
    static func input() throws -> RatingInput {
        let folder = try Fixtures.scratchFolder()
        _ = try SyntheticRatings(userCount: 300, itemCount: 120, ratingCount: 6000, componentCount: 3, seed: 11)
            .write(to: folder + "/ratings.csv", layout: .csv, membershipsPath: folder + "/memberships.tsv")
        return try RatingInput.load(path: folder + "/ratings.csv")
    }

    static func expectIdentical(_ resumed: FitResult<FactorMixture>, _ reference: FitResult<FactorMixture>,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(resumed.iterations == reference.iterations, sourceLocation: sourceLocation)
        #expect(resumed.converged == reference.converged, sourceLocation: sourceLocation)
        #expect(resumed.objective.bitPattern == reference.objective.bitPattern, sourceLocation: sourceLocation)
        #expect(bits(resumed.trace) == bits(reference.trace), sourceLocation: sourceLocation)
        #expect(resumed.model == reference.model, sourceLocation: sourceLocation)
        #expect(bits(resumed.model.loadings) == bits(reference.model.loadings), sourceLocation: sourceLocation)
        #expect(bits(resumed.model.covariances) == bits(reference.model.covariances), sourceLocation: sourceLocation)
    }

    /// `FactorFitter.run` as `fit --family mppca` and `batch` run it, watched by a
    /// checkpointing `RunProgress`.
    static func fit(_ input: RatingInput, engine: Engine, settings: FactorSettings, componentCount: Int?, seeds: [UInt32],
                    folder: String?, every: Int? = 1, resume: Bool = false, rule: StoppingRule = StoppingRule(),
                    report: @escaping (FitEvent) -> Void = { _ in },
                    stopRequested: @escaping () -> Int32? = { nil }) throws -> FactorFitOutcome {
        let progress = folder.map { folder in
            RunProgress<FactorMixture>(
                context: .init(input: input, rule: rule, varianceFloor: nil, engine: engine),
                checkpointing: .init(folder: folder, every: every, resume: resume, resumeHint: "rerun with --resume"),
                report: report, stopRequested: stopRequested)
        }
        return try FactorFitter(engine: engine, rule: rule, settings: settings)
            .run(on: input, componentCounts: componentCount.map { [$0] }, start: .seeds(seeds), observer: progress)
    }

    static let given = FactorSettings(factorCount: 4, componentCount: nil, loadingsPrior: 30, meansPrior: 5)

    /// A stop requested while the settings are chosen (nothing given: q, λ and K chosen)
    /// ends the fit after the first iteration of the choice's first fit, with its own
    /// message, and before any run starts or any checkpoint is written.
    @Test func aStopWhileChoosingTheSettingsEndsTheChoice() throws {
        let input = try Self.input()
        let folder = try Fixtures.scratchFolder() + "/checkpoints"
        var events = [FitEvent]()
        var asked = 0
        #expect(throws: MixFillError.interrupted(signal: SIGINT, message: "SIGINT received: stopped while choosing the settings, before any run (nothing to save: the choice is made again on resuming); rerun with --resume")) {
            _ = try Self.fit(input, engine: Engine(family: .mppca, kernel: .sparse, threads: 1), settings: FactorSettings(),
                             componentCount: nil, seeds: [0], folder: folder, report: { events.append($0) },
                             stopRequested: { asked += 1; return SIGINT })
        }
        #expect(asked == 1)
        #expect(events.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: folder))
    }

    @Test(arguments: [1, 2])
    func anMppcaFitStoppedBySignalAndResumedIsBitIdentical(_ componentCount: Int) throws {
        let input = try Self.input()
        let engine = Engine(family: .mppca, kernel: .sparse, threads: 2)
        let reference = try Self.fit(input, engine: engine, settings: Self.given, componentCount: componentCount,
                                     seeds: [0, 1], folder: nil)
        let references = reference.fits[0].runs
        #expect(references.count == 2 && references.allSatisfy { $0.result.iterations > 8 && $0.result.converged })
        let folder = try Fixtures.scratchFolder() + "/checkpoints"

        // SIGTERM after the 5th iteration of the batch of seeds 0 and 1.
        final class Counter: @unchecked Sendable { var iterations = 0 }
        let counter = Counter()
        let stop = try #require(thrownError {
            _ = try Self.fit(input, engine: engine, settings: Self.given, componentCount: componentCount, seeds: [0, 1], folder: folder,
                             report: { event in if event.kind == .iteration { counter.iterations = event.iteration ?? 0 } },
                             stopRequested: { counter.iterations == 5 ? SIGTERM : nil })
        })
        #expect(stop.exitCode == 143)
        #expect(stop.message.hasPrefix("SIGTERM received: K = \(componentCount), seeds 0, 1 saved at iteration 5 in \(folder)"), "\(stop)")
        for seed in [0, 1] {
            let saved = try ModelCheckpoint<FactorMixture>.read(path: folder + "/k\(componentCount)-seed\(seed).ckpt")
            #expect(saved.state.iterations == 5)
            #expect(saved.identity.family == .mppca && saved.identity.varianceFloor == nil)
            #expect(saved.identity.settings["factors"] == "4" && saved.identity.settings["prior-loadings"] == "30.0"
                    && saved.identity.settings["prior-means"] == "5.0")
            #expect(String(decoding: try #require(fileBytes(folder + "/k\(componentCount)-seed\(seed).ckpt")).prefix(35), as: UTF8.self)
                    == "MIXFILL-CHECKPOINT 2\nfamily mppca\nd")
        }

        var events = [FitEvent]()
        let resumed = try Self.fit(input, engine: engine, settings: Self.given, componentCount: componentCount, seeds: [0, 1],
                                   folder: folder, resume: true, report: { events.append($0) })
        #expect(events.filter { $0.kind == .runStart }.map(\.resumedFrom) == [5, 5])
        #expect(resumed.fits[0].runs.count == references.count)
        for (run, expected) in zip(resumed.fits[0].runs, references) {
            #expect(run.seed == expected.seed)
            Self.expectIdentical(run.result, expected.result)
        }
        // The model files match byte for byte (the tuning, the iteration count, the offsets).
        let path = input.fingerprint
        let files = resumed.modelFiles(for: input, path: path).map { try? $0.encoded() }
        let referenceFiles = reference.modelFiles(for: input, path: path).map { try? $0.encoded() }
        #expect(files == referenceFiles)
    }

    @Test func aCheckpointWithOtherHyperparametersThreadsOrFamilyIsRefused() throws {
        let input = try Self.input()
        let engine = Engine(family: .mppca, kernel: .sparse, threads: 1)
        let folder = try Fixtures.scratchFolder() + "/checkpoints"
        let rule = StoppingRule(maxIterations: 3)
        _ = try Self.fit(input, engine: engine, settings: Self.given, componentCount: 1, seeds: [0], folder: folder, rule: rule)
        let path = folder + "/k1-seed0.ckpt"
        let advice = "; give the data and options it was written with, or delete \(folder) to start over"

        var otherPrior = Self.given
        otherPrior.loadingsPrior = 60
        #expect(throws: MixFillError.badFile(file: path, message: "this checkpoint was written with prior-loadings 30.0, this run uses 60.0" + advice)) {
            try Self.fit(input, engine: engine, settings: otherPrior, componentCount: 1, seeds: [0], folder: folder, resume: true, rule: rule)
        }
        var otherFactors = Self.given
        otherFactors.factorCount = 5
        #expect(throws: MixFillError.badFile(file: path, message: "this checkpoint was written with factors 4, this run uses 5" + advice)) {
            try Self.fit(input, engine: engine, settings: otherFactors, componentCount: 1, seeds: [0], folder: folder, resume: true, rule: rule)
        }
        #expect(throws: MixFillError.badFile(file: path, message: "this checkpoint was written with --threads 1 and this run uses 2: the thread count decides how the users are cut into shards and so the last bits of every sum; continue it with --threads 1" + advice)) {
            try Self.fit(input, engine: Engine(family: .mppca, kernel: .sparse, threads: 2), settings: Self.given, componentCount: 1, seeds: [0],
                         folder: folder, resume: true, rule: rule)
        }
        // The course model reading an mppca checkpoint (the same file name) is told which family it holds.
        #expect(throws: MixFillError.badFile(file: path, message: "this checkpoint holds a run of the mppca family, and this fit is course; give --family mppca (a job file: \"family\": \"mppca\") to continue it, or delete it to start that run over")) {
            try Checkpoint.read(path: path)
        }
        // The same settings continue it: the run was finished at its cap, so nothing iterates.
        var events = [FitEvent]()
        let again = try Self.fit(input, engine: engine, settings: Self.given, componentCount: 1, seeds: [0], folder: folder,
                                 resume: true, rule: rule, report: { events.append($0) })
        #expect(again.fits[0].runs[0].result.iterations == 3)
        #expect(!events.contains { $0.kind == .iteration })
    }

    @Test func factorCheckpointsRoundTripAndVersionOneCourseCheckpointsStillLoad() throws {
        let input = try Self.input()
        let outcome = try Self.fit(input, engine: Engine(family: .mppca, kernel: .naive, threads: 1), settings: Self.given, componentCount: 2,
                                   seeds: [3], folder: nil, rule: StoppingRule(maxIterations: 4))
        let run = outcome.fits[0].runs[0].result
        let identity = CheckpointIdentity(family: .mppca, dataFingerprint: input.fingerprint, userCount: input.userCount,
                                          itemCount: input.itemCount, observedCount: input.observedCount, componentCount: 2, seed: 3,
                                          relativeTolerance: 1e-6, varianceFloor: nil, maxIterations: 4,
                                          settings: outcome.tuning.runSettings, threads: 1)
        let checkpoint = ModelCheckpoint(identity: identity, state: EMState(model: run.model, trace: run.trace, converged: false,
                                                                            previousObjective: -12.5), seconds: 0.5)
        let bytes = checkpoint.encoded()
        let decoded = try ModelCheckpoint<FactorMixture>.decode(bytes, name: "f.ckpt")
        #expect(decoded == checkpoint)
        #expect(decoded.encoded() == bytes)
        let text = String(decoding: bytes.prefix(400), as: UTF8.self)
        #expect(text.contains("\nshape.factors 4\n") && !text.contains("\nfloor "))
        // A header that lies about q is refused even when sealed again.
        var lying = Array(bytes.dropLast(32))
        let from = Array("shape.factors 4".utf8)
        let at = try #require((0..<(lying.count - from.count)).first { Array(lying[$0..<($0 + from.count)]) == from })
        lying[at + from.count - 1] = UInt8(ascii: "5")
        lying += Checkpoint.seal(lying[...])
        let error = try #require(thrownError { _ = try ModelCheckpoint<FactorMixture>.decode(lying, name: "f.ckpt") })
        #expect(error.message.contains("not the 4 log-likelihoods and K = 2 × d = 120, factors = 5 parameters its header announces"), "\(error)")

        // A course checkpoint of version 1 (no family line) is read as the course run it is.
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let mixture = try Initialization.courseMixture(data: data, componentCount: 2, seed: 0)
        let course = Checkpoint(identity: CheckpointIdentity(dataFingerprint: data.fingerprint, userCount: data.userCount,
                                                             itemCount: data.itemCount, observedCount: data.observedCount,
                                                             componentCount: 2, seed: 0, relativeTolerance: 1e-6, varianceFloor: 0.25,
                                                             maxIterations: 1000, settings: ["backend": "naive"], threads: 1),
                                state: EMState(model: mixture, trace: [-100.25], converged: false), seconds: 0)
        let current = course.encoded()
        #expect(String(decoding: current.prefix(35), as: UTF8.self) == "MIXFILL-CHECKPOINT 2\nfamily course\n")
        let unsealed = Array(current.dropLast(32))
        let firstLines = Array("MIXFILL-CHECKPOINT 2\nfamily course\n".utf8)
        var old = Array("MIXFILL-CHECKPOINT 1\n".utf8) + unsealed[firstLines.count...]
        old += Checkpoint.seal(old[...])
        #expect(try Checkpoint.decode(old, name: "old.ckpt") == course)
        #expect(throws: MixFillError.badFile(file: "old.ckpt", message: "this checkpoint holds a run of the course family, and this fit is mppca; leave --family out (a job file: \"family\": \"course\") to continue it, or delete it to start that run over")) {
            try ModelCheckpoint<FactorMixture>.decode(old, name: "old.ckpt")
        }
    }
}
