import ArgumentParser
import Foundation
import MixFill

/// `--checkpoint-every`, `--checkpoint-dir` and `--resume` for `mixfill fit`.
struct CheckpointOptions: ParsableArguments {
    @Option(name: .customLong("checkpoint-every"), help: ArgumentHelp(
        "Save each run's EM state every N iterations (and when a run ends or SIGINT/SIGTERM arrives).",
        valueName: "N"))
    var checkpointEvery: Int?

    @Option(name: .customLong("checkpoint-dir"), help: ArgumentHelp("Folder for checkpoint files.", valueName: "DIR"))
    var checkpointDir = "mixfill-checkpoints"

    @Flag(help: "Continue from the checkpoints in --checkpoint-dir; the result is bit for bit the uninterrupted one.")
    var resume = false

    func validate() throws {
        if let checkpointEvery, checkpointEvery < 1 {
            throw ValidationError("--checkpoint-every: \(checkpointEvery) is not allowed; give 1 or more")
        }
    }

    var isActive: Bool { checkpointEvery != nil || resume }

    /// Fits every seed for one K: `multiStart` (the engine's own batched loop) when
    /// nothing needs to watch the iterations, else the same batch through `ResumableFit`,
    /// with checkpoints and progress (the same runs, bit for bit). Checkpoints record the
    /// engine's settings (backend, kernel, precision) with `fingerprint`, the data's.
    func fit(em: ExpectationMaximization, data: any RatingData, fingerprint: String, engine: FitEngine,
             componentCount: Int, seeds: [UInt32],
             multiStart: () throws(MixFillError) -> MultiStartFit) throws(MixFillError) -> MultiStartFit {
        guard isActive || Display.shared.isActive else {
            return try multiStart()
        }
        let checkpointing = isActive ? ResumableFit.Checkpointing(
            folder: checkpointDir, every: checkpointEvery, resume: resume,
            resumeHint: "rerun with --resume to continue") : nil
        let fitter = ResumableFit(em: em, data: data, fingerprint: fingerprint, settings: engine.settings,
                                  checkpointing: checkpointing, threads: engine.threads, parallelism: engine.parallelism,
                                  report: { Display.shared.event($0) }, stopRequested: StopSignals.pending)
        return try fitter.fitBatched(componentCount: componentCount, seeds: seeds)
    }

    /// Before fitting: refuses to overwrite the checkpoints of an earlier fit unless asked to
    /// resume it, and turns SIGINT/SIGTERM into a checkpoint and exit 130/143.
    func prepare() throws(MixFillError) {
        guard isActive else { return }
        if !resume {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointDir)) ?? []
            if names.contains(where: { $0.hasSuffix(".ckpt") }) {
                throw .badOption(option: "--checkpoint-dir", message: "\(checkpointDir) holds checkpoints of an earlier fit; add --resume to continue it, or remove the folder to start over")
            }
        }
        StopSignals.install()
    }
}
