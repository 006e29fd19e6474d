import Foundation
import MixFill
import MixFillTools

/// What `fit` prints at its end, for either family (`FitReport`, `FactorFitReport`).
protocol FitReporting: Encodable {
    /// The model files written (`--model-out`), one per K.
    var model_files: [String]? { get set }
    /// The report as tables.
    func table() -> String
}

extension FitReporting {
    /// Ends the live display and prints the report, with the model files `written`, as
    /// one JSON object (`json`) or as tables.
    mutating func print(json: Bool, written: [String]) throws {
        model_files = written.isEmpty ? nil : written
        Display.shared.finish()
        if json {
            try printJSON(self)
        } else {
            try printText(table())
        }
    }
}

/// What `mixfill fit` reports, as tables or as one JSON object (field names are the JSON's).
struct FitReport: FitReporting {
    struct DataSummary: Encodable {
        var path: String
        /// The format DATA was read as, as `--format` names it.
        var format: String
        /// Whether `format` was detected from the content (`--format auto`).
        var format_detected: Bool
        var users: Int
        var items: Int
        var observed: Int

        init(path: String, format: String, format_detected: Bool, users: Int, items: Int, observed: Int) {
            self.path = path
            self.format = format
            self.format_detected = format_detected
            self.users = users
            self.items = items
            self.observed = observed
        }

        init(_ loaded: LoadedRatings) {
            path = loaded.path
            format = loaded.format
            format_detected = loaded.formatWasDetected
            users = loaded.userCount
            items = loaded.itemCount
            observed = loaded.observedCount
        }

        /// The report's `data:` line: path, format, shape and observed share.
        var line: String {
            let share = users > 0 && items > 0 ? 100 * Double(observed) / (Double(users) * Double(items)) : 0
            return "data: \(StandardInput.displayName(path)) (\(LoadedRatings.formatDescription(format: format, detected: format_detected))): \(counted(users, "user")) × \(counted(items, "item")), \(observed) observed (\(fixed(share, 1))%)"
        }
    }

    struct Run: Encodable {
        var seed: UInt32
        var log_likelihood: Double
        var iterations: Int
        var converged: Bool
        var seconds: Double
    }

    struct Best: Encodable {
        var seed: UInt32
        var log_likelihood: Double
        var bic: Double
    }

    struct RMSE: Encodable {
        var all_entries: Double
        var missing_entries: Double?
    }

    struct KReport: Encodable {
        var k: Int
        var runs: [Run]
        var best: Best
        var rmse: RMSE?

        init(_ fit: ComponentCountFit) {
            k = fit.fit.componentCount
            runs = fit.fit.runs.map {
                Run(seed: $0.seed, log_likelihood: $0.result.objective, iterations: $0.result.iterations,
                    converged: $0.result.converged, seconds: $0.result.seconds)
            }
            best = Best(seed: fit.best.seed, log_likelihood: fit.best.result.objective, bic: fit.bayesianInformationCriterion)
            rmse = fit.goldErrors.map { RMSE(all_entries: $0.allEntries, missing_entries: $0.missingEntries) }
        }
    }

    struct WarmStartSummary: Encodable {
        var model: String
        /// Whether DATA is the data the model was fitted on (same fingerprint).
        var same_data: Bool
        /// Iterations the saved fit had run on this data (0 for new data).
        var previous_iterations: Int
    }

    struct Timing: Encodable {
        var load_seconds: Double
        var fit_seconds: Double
        var total_seconds: Double
    }

    /// A distributed fit's ranks and the time its reductions took (gather to rank 0, sum,
    /// broadcast; waiting for the slowest rank included).
    struct DistributedSummary: Encodable {
        var ranks: Int
        var communication_seconds: Double
        var reductions: Int
        /// Every rank ended with the same parameters, objective traces and iteration counts,
        /// bit for bit (checked at the end of every distributed fit of two or more ranks).
        var ranks_bit_identical: Bool

        /// The summary of a fit whose statistics `reducer` summed across `group`.
        init(group: any ProcessGroup, reducer: GroupReducer) {
            ranks = group.size
            communication_seconds = reducer.clock.seconds
            reductions = reducer.clock.calls
            ranks_bit_identical = group.size > 1
        }
    }

    var data: DataSummary
    /// The arithmetic, as `--backend` names it: `blas` or `naive`.
    var backend: String
    /// The kernel that ran, as `--kernel` names it (`auto` resolved): `dense`, `blocked`, `sparse`.
    var kernel: String
    var precision: String
    var threads: Int
    var warm_start: WarmStartSummary?
    var fits: [KReport]
    var timing: Timing
    var distributed: DistributedSummary? = nil
    /// The model files written (`--model-out`), one per K.
    var model_files: [String]? = nil

    func table() -> String {
        var out = data.line + "\n"
        out += "backend: \(backend), kernel: \(kernel), threads: \(threads), precision: \(precision)\n"
        out += warm_start.map { FitReportText.warmStart($0, newRun: "its mixture") } ?? ""
        for fit in fits {
            out += FitReportText.component(
                k: fit.k, objective: "log-likelihood",
                runs: fit.runs.map { FitReportText.Row(seed: $0.seed, objective: $0.log_likelihood, iterations: $0.iterations, converged: $0.converged, seconds: $0.seconds) },
                best: "seed \(fit.best.seed), log-likelihood \(fit.best.log_likelihood), BIC \(fit.best.bic)", rmse: fit.rmse)
        }
        out += FitReportText.closing(timing: timing, distributed: distributed, modelFiles: model_files)
        return out
    }

}

/// `value` with `digits` decimals; from 1e15 on, in exponent form with as many (a fixed
/// point number that large is a wall of digits wider than any table).
func fixed(_ value: Double, _ digits: Int) -> String {
    if value.isFinite, abs(value) >= 1e15 { return String(format: "%.\(digits)e", value) }
    return String(format: "%.\(digits)f", value)
}

/// The text both families' fit reports share (`FitReport`, `FactorFitReport`): the warm
/// start's line, a K's table of runs with the gold's RMSE, and the closing lines.
enum FitReportText {
    /// One run: its seed, final objective, iterations, whether it converged, seconds.
    struct Row {
        var seed: UInt32
        var objective: Double
        var iterations: Int
        var converged: Bool
        var seconds: Double
    }

    /// The warm start's line; `newRun` says what a run on other data starts from.
    static func warmStart(_ summary: FitReport.WarmStartSummary, newRun: String) -> String {
        summary.same_data
            ? "warm start: \(summary.model), fitted on this data: continuing after its \(summary.previous_iterations) iterations\n"
            : "warm start: \(summary.model), fitted on other data: a new run from \(newRun)\n"
    }

    /// K's table: a row per run under the objective's name, the best run, and the RMSE
    /// against a gold matrix when there is one.
    static func component(k: Int, objective: String, runs: [Row], best: String, rmse: FitReport.RMSE?) -> String {
        var out = "\nK = \(k)\n"
        out += "  " + pad("seed", 6) + "  " + pad(objective, 22) + "  " + pad("iterations", 10) + "  " + pad("converged", 9) + "  " + pad("seconds", 8) + "\n"
        for run in runs {
            out += "  " + pad("\(run.seed)", 6) + "  " + pad("\(run.objective)", 22) + "  "
                + pad("\(run.iterations)", 10) + "  " + pad(run.converged ? "yes" : "no", 9) + "  " + pad(fixed(run.seconds, 3), 8) + "\n"
        }
        out += "  best: \(best)\n"
        if let rmse {
            out += "  RMSE vs gold: \(rmse.all_entries) over all entries"
            if let missing = rmse.missing_entries { out += ", \(missing) over missing entries only" }
            out += "\n"
        }
        return out
    }

    /// The timing line, a distributed fit's ranks and reductions, and the files written.
    static func closing(timing: FitReport.Timing, distributed: FitReport.DistributedSummary?, modelFiles: [String]?) -> String {
        var out = "\ntiming: load \(fixed(timing.load_seconds, 3)) s, fit \(fixed(timing.fit_seconds, 3)) s, total \(fixed(timing.total_seconds, 3)) s\n"
        if let distributed {
            out += "distributed: \(distributed.ranks) ranks, \(distributed.reductions) reductions in \(fixed(distributed.communication_seconds, 3)) s\n"
        }
        for path in modelFiles ?? [] { out += "wrote \(path)\n" }
        return out
    }

    /// `text` right-aligned in `width` columns.
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
