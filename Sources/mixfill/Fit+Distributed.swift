import ArgumentParser
import Foundation
import MixFill
import MixFillTools
#if MPI
import MixFillMPI
#endif

/// `mixfill fit --distributed`: the course model's fit, or the mppca family's, as one
/// rank of an MPI job.
///
/// Each rank reads and keeps only its block of users of DATA (`DataShard`), whatever the
/// file's format (dense matrix, binary, text records); standard input, which `mpirun`
/// gives rank 0 alone, is refused. Rank 0 alone prints, writes model files and checkpoints; a rank that fails prints
/// the reason with its rank and ends the job (MPI_Abort).
extension Fit {
    func runDistributed() throws {
        #if MPI
        guard MPIGroup.isUnderLauncher else {
            throw MixFillError.badOption(option: "--distributed", message: "runs as one rank of an MPI job; start it as 'mpirun -np N mixfill fit DATA … --distributed'")
        }
        let group = MPIGroup()
        do {
            try runDistributed(group: group)
        } catch {
            let (message, code) = Self.describe(error)
            if ProcessGroupMessages.isSilent(message) {
                // Another rank has said why and ends the job; this rank only waits for that.
                group.finalize()
                Foundation.exit(code)
            }
            Terminal.error("rank \(group.rank) of \(group.size): \(message)", exitCode: code)
            group.abort(code: code)
        }
        group.finalize()
        #else
        throw MixFillError.badOption(option: "--distributed", message: "this mixfill was built without MPI; build it with Scripts/build-mpi and run it under mpirun")
        #endif
    }

    /// An error's one-line message and exit code, as `MixFillCommand.main` reports them.
    static func describe(_ error: any Error) -> (String, Int32) {
        if let error = error as? MixFillError { return (error.description, error.exitCode) }
        if let error = error as? ValidationError { return (error.message, 2) }
        return (MixFillCommand.runtimeMessage(for: error), 1)
    }

    /// What the ranks prepare before EM: each its shard, rank 0 also what its reports say
    /// about the whole data.
    private struct Prepared {
        var shard: DataShard
        var engine: Engine
        var loadSeconds: Double
        var warmStart: WarmStart?
        /// Rank 0 only.
        var training: TrainingDataRecord?
        var fingerprint: String
        /// The whole data, as a single process's report describes it.
        var data: FitReport.DataSummary
    }

    func runDistributed(group: any ProcessGroup) throws {
        let clock = ContinuousClock()
        let start = clock.now
        if group.rank == 0 {
            logging.configureDisplay()
            try checkpoints.prepare()
            for target in try modelTargets() { try AtomicFile.checkCanCreate(target) }
        } else {
            Display.shared.configure(.silent, jsonErrors: logging.logFormat == .json)
            // A signal reaches every rank; rank 0 decides when to stop, the others must
            // outlive it to stop with it.
            if checkpoints.isActive { StopSignals.install() }
        }
        if gold != nil {
            throw MixFillError.badOption(option: "--gold", message: "needs every user's posteriors on one process; score a distributed fit's model with 'mixfill eval' or 'mixfill fill'")
        }
        let prepared = try prepareShard(group: group, clock: clock, start: start)
        let warmStart = prepared.warmStart
        if prepared.engine.family == .mppca {
            try factor.check(itemCount: prepared.shard.itemCount, componentCounts: try k.map(IntegerList.componentCounts),
                             threads: engine.threadCount, runs: warmStart == nil ? try IntegerList.seeds(seeds ?? "0").count : 1)
            if warmStart == nil {
                try factor.requireEnoughToChoose(ratings: prepared.shard.observedCount, componentCounts: try k.map(IntegerList.componentCounts), data: data)
            }
            try runFactorDistributed(prepared, group: group, clock: clock, start: start)
            return
        }
        let componentCounts = try warmStart.map { [$0.model.componentCount] } ?? IntegerList.componentCounts(k ?? Self.courseDefaultK)
        let seedList = try IntegerList.seeds(seeds ?? "0-4")
        let rule = StoppingRule(maxIterations: maxIterations)
        let fitStart = warmStart?.courseStart ?? .seeds(seedList)
        let shard = prepared.shard
        let observer = group.rank == 0
            ? checkpoints.observer(context: FitProgress.Context(
                fingerprint: prepared.fingerprint, userCount: shard.userCount, itemCount: shard.itemCount,
                observedCount: shard.observedCount, rule: rule, varianceFloor: Mixture.defaultVarianceFloor,
                engine: prepared.engine, ranks: group.size))
            : nil
        let job = FitJob(componentCounts: componentCounts, start: fitStart, rule: rule)
        let fit = DistributedCourseFit(group: group, shard: shard)
        let outcome = try fit.run(job, engine: prepared.engine, observer: observer)
        guard group.rank == 0 else { return }

        var reports = [FitReport.KReport]()
        var written = [String]()
        for result in outcome.fits {
            let componentCount = result.fit.componentCount
            if let modelOut {
                let path = componentCounts.count == 1 ? modelOut : Self.modelPath(modelOut, componentCount: componentCount)
                let best = result.fit.best
                try ModelFile(mixture: best.result.model, logLikelihood: best.result.objective, seed: best.seed,
                              iterations: (warmStart?.previousIterations ?? 0) + best.result.iterations,
                              converged: best.result.converged, userCount: shard.userCount,
                              observedCount: shard.observedCount, training: prepared.training)
                    .write(to: path)
                written.append(path)
            }
            reports.append(FitReport.KReport(result))
        }
        for warning in outcome.warnings {
            Terminal.warning(warning.text(maxIterationsOption: "--max-iterations"))
        }
        var report = FitReport(
            data: prepared.data,
            backend: prepared.engine.kernel.backend.rawValue, kernel: prepared.engine.kernel.layoutName,
            precision: precision.rawValue, threads: prepared.engine.threads,
            warm_start: warmStart?.summary,
            fits: reports,
            timing: FitReport.Timing(load_seconds: prepared.loadSeconds, fit_seconds: outcome.seconds,
                                     total_seconds: (clock.now - start).seconds),
            distributed: FitReport.DistributedSummary(group: group, reducer: fit.reducer))
        try report.print(json: json, written: written)
    }

    /// The mppca fit on this rank's users (`DistributedFactorFit`: the hyperparameters not
    /// given chosen, then each K from every seed); rank 0 writes each K's
    /// model file (every user's offsets gathered to it) and prints the report a single
    /// process prints, with the `distributed` object added.
    private func runFactorDistributed(_ prepared: Prepared, group: any ProcessGroup, clock: ContinuousClock,
                                      start: ContinuousClock.Instant) throws {
        let seedList = try IntegerList.seeds(seeds ?? "0")
        let shard = prepared.shard
        let warmStart = prepared.warmStart
        let rule = StoppingRule(maxIterations: maxIterations)
        let fitStart = warmStart?.factorStart(users: shard.users, matrix: shard.input.table.matrix) ?? .seeds(seedList)
        let observer = group.rank == 0
            ? checkpoints.observer(context: RunProgress<FactorMixture>.Context(
                fingerprint: prepared.fingerprint, userCount: shard.userCount, itemCount: shard.itemCount,
                observedCount: shard.observedCount, rule: rule, varianceFloor: nil, engine: prepared.engine, ranks: group.size))
            : nil
        let fit = DistributedFactorFit(group: group, shard: shard, engine: prepared.engine)
        let outcome = try fit.run(componentCounts: try k.map { try IntegerList.componentCounts($0) }, start: fitStart,
                                  settings: factor.settings(componentCount: nil), rule: rule, observer: observer)
        guard group.rank == 0 else { return }
        var tuning = outcome.tuning
        var written = [String]()
        for result in outcome.fits {
            tuning.componentCount = result.componentCount
            if let modelOut {
                let path = outcome.fits.count == 1 ? modelOut : Self.modelPath(modelOut, componentCount: result.componentCount)
                let best = result.best
                var model = best.result.model
                model.offsets.userOffsets = outcome.userOffsets
                try ModelFile(parameters: .factor(model), logLikelihood: best.result.objective, seed: best.seed,
                              iterations: (warmStart?.previousIterations ?? 0) + best.result.iterations, converged: best.result.converged,
                              userCount: shard.userCount, observedCount: shard.observedCount,
                              training: prepared.training, tuning: tuning)
                    .write(to: path)
                written.append(path)
            }
        }
        for warning in outcome.warnings {
            Terminal.warning(warning.text(maxIterationsOption: "--max-iterations"))
        }
        var report = FactorFitReport(
            data: prepared.data,
            family: ModelFamily.mppca.rawValue, backend: prepared.engine.kernel.backend.rawValue,
            kernel: prepared.engine.kernel.layoutName, threads: prepared.engine.threads,
            warm_start: warmStart?.summary,
            settings: FactorFitReport.Settings(tuning),
            fits: outcome.fits.map { FactorFitReport.KReport($0, goldErrors: nil) },
            timing: FitReport.Timing(load_seconds: prepared.loadSeconds, fit_seconds: outcome.seconds,
                                     total_seconds: (clock.now - start).seconds),
            distributed: FitReport.DistributedSummary(group: group, reducer: fit.reducer))
        try report.print(json: json, written: written)
    }

    /// Reads DATA, each rank only its part — its block of users of a binary file
    /// (`DataShard.readBinary`) or of a dense matrix's rows (`DataShard.readDense`), its
    /// part of a text record file's bytes, whose records go to the ranks owning their users
    /// (`DataShard.readRecords`) — with what the report and model file say of the whole
    /// data folded through the ranks; checks it as `fit` does, and resolves the engine on
    /// the whole data's density (so every rank picks the same kernel). Standard input is
    /// refused: `mpirun` hands it to rank 0 alone.
    private func prepareShard(group: any ProcessGroup, clock: ContinuousClock, start: ContinuousClock.Instant) throws -> Prepared {
        if StandardInput.isStandardInput(data) {
            // Every rank takes this branch; rank 0 alone says why.
            try group.agreeOnRankZero(.badOption(option: "DATA", message: "'-' (standard input) reaches rank 0 alone under mpirun; save the ratings to a file every rank can read and give its path"))
        }
        if StreamInput.isStream(data) {
            try group.agreeOnRankZero(.badOption(option: "DATA", message: "\(data) is a pipe, and each rank reads its own part of the data file; save the ratings to a file every rank can read and give its path"))
        }
        let requested = input.data.format
        // Detection refuses a compressed file on every rank; with --format given, each rank
        // looks itself before reading its part (only rank 0's part holds the file's start).
        if requested != .auto { try RatingFormat.refuseCompressed(path: data) }
        let format = requested == .auto ? try RatingFormat.detect(path: data) : requested
        let read: (shard: DataShard, training: TrainingDataRecord, duplicatePairs: Int)
        // What `fit` warns of a dense matrix for the course model, after checking its start.
        var denseWarnings = [String]()
        if format == .binary {
            read = try DataShard.readBinary(path: data, recordedPath: absolutePath(data), rules: input.data.rules(), group: group)
        } else if format.recordLayout != nil {
            read = try DataShard.readRecords(path: data, format: format, recordedPath: absolutePath(data),
                                             rules: input.data.rules(), group: group)
        } else {
            let dense = try DataShard.readDense(path: data, recordedPath: absolutePath(data), rules: input.data.rules(),
                                                formatDetected: requested == .auto, group: group)
            read = (dense.shard, dense.training, 0)
            denseWarnings = dense.warnings
        }
        let shard = read.shard
        if group.rank == 0 && read.duplicatePairs > 0 {
            Terminal.warning(DataWarnings.duplicates(path: data, count: read.duplicatePairs))
        }
        let warmStart = try initModel.map { path throws in
            try WarmStart(path: path, dataPath: data, users: shard.userCount, items: read.training.items,
                          fingerprint: read.training.fingerprint)
        }
        try checkStart(warmStart, userCount: shard.userCount)
        // The course model's warnings, as `fit` prints them.
        if group.rank == 0, fitFamily(warmStart) == .course {
            for warning in denseWarnings { Terminal.warning(warning) }
        }
        let density = Double(shard.observedCount) / (Double(shard.userCount) * Double(shard.itemCount))
        let engine = try self.engine.makeEngine(for: shard.input, family: fitFamily(warmStart), density: density,
                                                kernel: input.kernel, precision: precision)
        return Prepared(shard: shard, engine: engine, loadSeconds: (clock.now - start).seconds, warmStart: warmStart,
                        training: group.rank == 0 ? read.training : nil,
                        fingerprint: group.rank == 0 ? read.training.fingerprint : "",
                        data: FitReport.DataSummary(path: data, format: format.rawValue, format_detected: requested == .auto,
                                                    users: shard.userCount, items: shard.itemCount, observed: shard.observedCount))
    }

    /// What a distributed fit refuses of its start, as `fit` does: a --family other than the
    /// warm start's, mppca options that disagree with its model, a -k that disagrees with
    /// the warm start's K, a K above the number of users.
    private func checkStart(_ warmStart: WarmStart?, userCount: Int) throws {
        try checkOptions(against: warmStart)
        if let warmStart, let k, try IntegerList.componentCounts(k) != [warmStart.model.componentCount] {
            throw MixFillError.badOption(option: "-k", message: "\(k) disagrees with the \(warmStart.model.componentCount) components of --init-model \(warmStart.path); leave -k out or give -k \(warmStart.model.componentCount)")
        }
        if warmStart == nil {
            let defaultList = family == .mppca ? "1" : Self.courseDefaultK
            try IntegerList.requireAtMostUsers(try IntegerList.componentCounts(k ?? defaultList), users: userCount, data: data,
                                               given: k, defaultList: defaultList)
        }
    }
}
