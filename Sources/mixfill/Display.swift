import ArgumentParser
import Foundation
import MixFill
import MixFillTools
import Synchronization

/// How progress and warnings reach stderr.
enum LogFormat: String, CaseIterable, ExpressibleByArgument {
    /// A live line per run on a terminal; nothing but warnings and errors otherwise.
    case text
    /// One JSON object per line for every event, warning and error, terminal or not.
    case json
}

/// `--quiet` and `--log-format`, shared by the commands that fit.
struct LogOptions: ParsableArguments {
    @Flag(help: "No progress line and no JSON event lines (warnings and errors still go to stderr).")
    var quiet = false

    @Option(name: .customLong("log-format"), help: ArgumentHelp("text: a live progress line when stderr is a terminal; json: one JSON event per line on stderr.", valueName: "FORMAT"))
    var logFormat: LogFormat = .text

    /// Sets up the shared display and says whether anyone will see per-iteration events.
    @discardableResult
    func configureDisplay() -> Bool {
        let mode: Display.Mode
        switch logFormat {
        case .json: mode = quiet ? .silent : .json
        case .text: mode = quiet || isatty(STDERR_FILENO) == 0 ? .silent : .liveLine
        }
        Display.shared.configure(mode, jsonErrors: logFormat == .json)
        return mode != .silent
    }
}

/// Everything MixFill writes to stderr goes through here, so that a warning or an error
/// first clears the live progress line instead of being printed into the middle of it.
/// Thread-safe: batch jobs running in parallel report from their own threads.
final class Display: Sendable {
    static let shared = Display()

    enum Mode: Sendable {
        case silent
        case liveLine
        case json
    }

    private struct RunProgress {
        var firstIteration: Int
        var firstSeconds: Double
        var previousChange: Double?
    }

    private struct State {
        var mode = Mode.silent
        var jsonErrors = false
        var lineShown = false
        var lastDrawn: ContinuousClock.Instant?
        var runs = [String: RunProgress]()
    }

    private let state = Mutex(State())
    private let clock = ContinuousClock()

    func configure(_ mode: Mode, jsonErrors: Bool) {
        state.withLock {
            $0.mode = mode
            $0.jsonErrors = jsonErrors
        }
    }

    var isActive: Bool { state.withLock { $0.mode != .silent } }

    func event(_ event: FitEvent) {
        state.withLock { state in
            switch state.mode {
            case .silent:
                return
            case .json:
                if event.kind == .warning { return }  // warnings arrive through `warning`
                write(event.jsonLine(time: Date().ISO8601Format()) + "\n")
            case .liveLine:
                drawLiveLine(event, &state)
            }
        }
    }

    func warning(_ message: String) {
        state.withLock { state in
            if state.jsonErrors {
                write(FitEvent(.warning, message: message).jsonLine(time: Date().ISO8601Format()) + "\n")
                return
            }
            clearLine(&state)
            write("mixfill: warning: " + message + "\n")
        }
    }

    func error(_ message: String, exitCode: Int32) {
        state.withLock { state in
            if state.jsonErrors {
                write(ErrorLine(message: message, exitCode: exitCode).json(time: Date().ISO8601Format()) + "\n")
                return
            }
            clearLine(&state)
            write("mixfill: error: " + message + "\n")
        }
    }

    /// Shows `text` as the live line, on a terminal only (`liveLine`), at most ten times a
    /// second: what a command is doing while it prints nothing else (eval's folds,
    /// mppca's choice of settings). JSON logs and redirected stderr get nothing.
    func status(_ text: String) {
        state.withLock { state in
            guard state.mode == .liveLine else { return }
            let now = clock.now
            if state.lineShown, let last = state.lastDrawn, now - last < .milliseconds(100) { return }
            write("\r\u{1B}[2K" + text)
            state.lineShown = true
            state.lastDrawn = now
        }
    }

    /// Sets up the display for a command without progress events of its own (eval,
    /// select): a live status line when stderr is a terminal, else nothing.
    func configureForStatus() {
        configure(isatty(STDERR_FILENO) != 0 ? .liveLine : .silent, jsonErrors: state.withLock { $0.jsonErrors })
    }

    /// Clears the live line (before normal output on stdout, or at exit).
    func finish() {
        state.withLock { clearLine(&$0) }
    }

    /// Writes to stderr; a failing write (stderr on a full disk) is dropped: there is
    /// nowhere left to report it, and FileHandle's non-throwing `write(_:)` would trap.
    private func write(_ text: String) {
        try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
    }

    private func clearLine(_ state: inout State) {
        if state.lineShown {
            write("\r\u{1B}[2K")
            state.lineShown = false
        }
    }

    private func runKey(_ event: FitEvent) -> String {
        "\(event.job ?? "")/\(event.componentCount ?? 0)/\(event.seed ?? 0)"
    }

    private func label(_ event: FitEvent) -> String {
        let run = "K=\(event.componentCount ?? 0) seed \(event.seed ?? 0)"
        return event.job.map { "[\($0)] " + run } ?? run
    }

    private func drawLiveLine(_ event: FitEvent, _ state: inout State) {
        let key = runKey(event)
        switch event.kind {
        case .runStart:
            state.runs[key] = nil
        case .iteration:
            guard let iteration = event.iteration, let seconds = event.seconds, let logLikelihood = event.logLikelihood else { return }
            var progress = state.runs[key] ?? RunProgress(firstIteration: iteration - 1, firstSeconds: 0, previousChange: nil)
            if state.runs[key] == nil, iteration > 1 {
                // A resumed run: time this session only.
                progress = RunProgress(firstIteration: iteration, firstSeconds: seconds, previousChange: nil)
            }
            let previousChange = progress.previousChange
            progress.previousChange = event.logLikelihoodChange
            state.runs[key] = progress
            let now = clock.now
            if let last = state.lastDrawn, now - last < .milliseconds(100) { return }
            state.lastDrawn = now
            var line = "\(label(event)): iteration \(iteration), LL \(fixed(logLikelihood, 2))"
            if let change = event.logLikelihoodChange { line += ", ΔLL \(String(format: "%.3g", change))" }
            line += ", \(fixed(seconds, 1)) s"
            let done = iteration - progress.firstIteration
            if let change = event.logLikelihoodChange, let previousChange, let tolerance = event.tolerance,
               let maxIterations = event.maxIterations, done > 0,
               let remaining = ConvergenceForecast.remainingIterations(
                   previousChange: previousChange, change: change, logLikelihood: logLikelihood,
                   tolerance: tolerance, iterationsLeft: maxIterations - iteration) {
                let perIteration = (seconds - progress.firstSeconds) / Double(done)
                line += ", ETA ~\(fixed(perIteration * Double(remaining), 1)) s"
            } else {
                line += ", ETA ?"
            }
            write("\r\u{1B}[2K" + line)
            state.lineShown = true
        case .runEnd:
            state.runs[key] = nil
            clearLine(&state)
            let outcome = event.converged == true ? "converged" : "stopped at the cap"
            write("\(label(event)): \(outcome) after \(event.iteration ?? 0) iterations, LL \(event.logLikelihood.map { "\($0)" } ?? "?"), \(fixed(event.seconds ?? 0, 1)) s\n")
        case .jobSkip:
            clearLine(&state)
            write("[\(event.job ?? "")] skipped: \(event.message ?? "")\n")
        case .jobFail:
            clearLine(&state)
            write("[\(event.job ?? "")] failed: \(event.message ?? "")\n")
        case .jobStop:
            clearLine(&state)
            write("[\(event.job ?? "")] stopped: \(event.message ?? "")\n")
        case .jobStart, .jobEnd, .checkpoint, .warning:
            return
        }
    }
}

/// An error as a JSON log line: {"event": "error", "message": …, "exit_code": …}.
private struct ErrorLine: Encodable {
    var event = "error"
    var message: String
    var exitCode: Int32

    enum CodingKeys: String, CodingKey {
        case event, message, exitCode = "exit_code"
    }

    func json(time: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return "{\"time\":\"\(time)\"," + body.dropFirst()
    }
}
