import ArgumentParser
import Foundation
import MixFill
import MixFillTools

/// `--checkpoint-every`, `--checkpoint-dir` and `--resume` for `mixfill fit`.
struct CheckpointOptions: ParsableArguments {
    @Option(name: .customLong("checkpoint-every"), parsing: .unconditional, help: ArgumentHelp(
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

    /// The fit's observer: progress on the terminal's live line or as JSON lines, and with
    /// these options checkpoints and signals. Nil when nothing needs to watch the fit.
    /// `Model` is the family's; the course's variance floor is recorded for course fits.
    func observer<Model: CheckpointModel>(for _: Model.Type, input: RatingInput, engine: Engine,
                                          rule: StoppingRule) -> RunProgress<Model>? {
        let floor = Model.family == .course ? Mixture.defaultVarianceFloor : nil
        return observer(context: RunProgress<Model>.Context(input: input, rule: rule, varianceFloor: floor, engine: engine))
    }

    /// The same for data described by `context` (a distributed fit's, whose ranks each hold
    /// a part of the data).
    func observer<Model: CheckpointModel>(context: RunProgress<Model>.Context) -> RunProgress<Model>? {
        guard isActive || Display.shared.isActive else { return nil }
        let checkpointing = isActive ? RunProgress<Model>.Checkpointing(
            folder: checkpointDir, every: checkpointEvery, resume: resume,
            resumeHint: "rerun with --resume to continue") : nil
        let progress = RunProgress(context: context,
                                   checkpointing: checkpointing, report: { Display.shared.event($0) },
                                   stopRequested: StopSignals.pending)
        progress.onChoosing = { iterations in
            Display.shared.status("choosing mppca's settings on a held-out tenth of the ratings: \(counted(iterations, "EM iteration"))")
        }
        return progress
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
