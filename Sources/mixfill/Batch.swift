import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the fits a job file lists, resumably, into an output folder.",
        discussion: """
            Each job writes DIR/<name>/model-k<K>.json, result.json and log.jsonl; the batch \
            writes DIR/summary.json and DIR/summary.csv. A job whose result.json matches its \
            content hash (settings, data and gold bytes) is skipped, so rerunning the same \
            command resumes; an interrupted job continues from its checkpoints. A failing job \
            records its error and the batch goes on. Exit codes: 0 every job ok, 3 some job \
            failed, 2 the job file is invalid, 1 the output folder is unusable, 130 / 143 \
            stopped by SIGINT / SIGTERM (checkpoints written; rerun to continue).
            """
    )

    @Argument(help: ArgumentHelp("The job file (JSON; see docs/batch.md for the schema).", valueName: "JOBS"))
    var jobs: String

    @OptionGroup(title: HelpHeading.engine) var engine: BatchEngineOptions

    @OptionGroup(title: HelpHeading.checkpoints) var checkpoints: BatchCheckpointOptions

    @OptionGroup(title: HelpHeading.output) var output: BatchOutputOptions

    @OptionGroup(title: HelpHeading.output) var logging: LogOptions

    var out: String { output.out }
    var parallel: Int { engine.parallel }
    var checkpointEvery: Int? { checkpoints.checkpointEvery }

    func validate() throws {
        try refuseStandardOutput([("--out", out)])
        if parallel < 1 {
            throw ValidationError("--parallel: \(parallel) is not allowed; give 1 or more")
        }
        if let checkpointEvery, checkpointEvery < 1 {
            throw ValidationError("--checkpoint-every: \(checkpointEvery) is not allowed; give 1 or more")
        }
    }

    func run() throws {
        logging.configureDisplay()
        let jobFile = try JobFile.read(path: jobs)
        StopSignals.install()
        let runner = BatchRunner(
            jobFile: jobFile,
            options: BatchRunner.Options(outputFolder: out, parallel: parallel, checkpointEvery: checkpointEvery,
                                         defaultThreads: ProcessInfo.processInfo.activeProcessorCount,
                                         stopsIdleBLASPool: true),
            report: { event in
                Display.shared.event(event)
                if event.kind == .warning, let message = event.message {
                    Terminal.warning("[\(event.job ?? "")] " + message)
                }
            },
            stopRequested: StopSignals.pending)
        let outcome = try runner.run()
        Display.shared.finish()

        var lines = ""
        for (spec, result) in outcome.jobs {
            switch result {
            case let .completed(_, skipped):
                lines += "ok       \(spec.name)\(skipped ? " (skipped: result is current)" : "")\n"
            case let .failed(result):
                lines += "FAILED   \(spec.name): \(result.error?.message ?? "")\n"
            case .pending:
                lines += "pending  \(spec.name)\n"
            }
        }
        let counts = outcome.summary.counts
        lines += "batch: \(counted(counts.total, "job")), \(counts.ok) ok, \(counts.failed) failed, \(counts.pending) pending; summary in \(out)/summary.json and summary.csv\n"
        try writeStandardOutput(Data(lines.utf8))
        if let interruption = outcome.interruption {
            throw interruption
        }
        if counts.failed > 0 {
            throw ExitCode(3)
        }
    }
}

/// `batch --parallel`.
struct BatchEngineOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Jobs to run at once; above 1, each job's BLAS uses one thread.", valueName: "N"))
    var parallel = 1
}

/// `batch --checkpoint-every`.
struct BatchCheckpointOptions: ParsableArguments {
    @Option(name: .customLong("checkpoint-every"), parsing: .unconditional, help: ArgumentHelp(
        "Checkpoint every run every N iterations (jobs may set checkpoint_every).", valueName: "N"))
    var checkpointEvery: Int?
}

/// `batch --out`.
struct BatchOutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Output folder (created if missing).", valueName: "DIR"))
    var out: String
}
