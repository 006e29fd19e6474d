/// What a running fit or batch reports as it goes: the CLI turns these into a live line on
/// a terminal or JSON lines (`--log-format json`), and the batch runner keeps them in each
/// job's `log.jsonl`. Fields a kind of event does not have are nil and left out of JSON.
package struct FitEvent: Sendable, Equatable, Encodable {
    package enum Kind: String, Sendable, Encodable {
        case jobStart = "job_start"
        case jobSkip = "job_skip"
        case jobEnd = "job_end"
        case jobFail = "job_fail"
        /// A signal stopped the job; its checkpoints are kept and a rerun continues it.
        case jobStop = "job_stop"
        case runStart = "run_start"
        case iteration
        case checkpoint
        case runEnd = "run_end"
        case warning
    }

    package var kind: Kind
    package var job: String?
    package var componentCount: Int?
    package var seed: UInt32?
    /// E-steps run so far in this run (over all its sessions).
    package var iteration: Int?
    package var maxIterations: Int?
    package var logLikelihood: Double?
    /// LL − LL of the previous E-step.
    package var logLikelihoodChange: Double?
    /// The stopping rule's relative tolerance, so a reader can forecast the end.
    package var tolerance: Double?
    package var converged: Bool?
    /// Seconds spent in the run (or job) so far, over all its sessions.
    package var seconds: Double?
    /// The iteration a resumed run continued from.
    package var resumedFrom: Int?
    package var path: String?
    package var message: String?
    package var exitCode: Int32?

    package init(_ kind: Kind, job: String? = nil, componentCount: Int? = nil, seed: UInt32? = nil,
                iteration: Int? = nil, maxIterations: Int? = nil, logLikelihood: Double? = nil,
                logLikelihoodChange: Double? = nil, tolerance: Double? = nil, converged: Bool? = nil,
                seconds: Double? = nil, resumedFrom: Int? = nil, path: String? = nil,
                message: String? = nil, exitCode: Int32? = nil) {
        self.kind = kind
        self.job = job
        self.componentCount = componentCount
        self.seed = seed
        self.iteration = iteration
        self.maxIterations = maxIterations
        self.logLikelihood = logLikelihood
        self.logLikelihoodChange = logLikelihoodChange
        self.tolerance = tolerance
        self.converged = converged
        self.seconds = seconds
        self.resumedFrom = resumedFrom
        self.path = path
        self.message = message
        self.exitCode = exitCode
    }

    enum CodingKeys: String, CodingKey {
        case kind = "event", job, componentCount = "k", seed, iteration, maxIterations = "max_iterations"
        case logLikelihood = "log_likelihood", logLikelihoodChange = "delta", tolerance, converged, seconds
        case resumedFrom = "resumed_from", path, message, exitCode = "exit_code"
    }
}

/// A forecast of when EM will meet its stopping rule, from its last two steps.
package enum ConvergenceForecast {
    /// Near an optimum EM's LL changes shrink geometrically, Δ_t ≈ r·Δ_{t−1} with r < 1, so
    /// the rule Δ ≤ tolerance·|LL| holds after about log(tolerance·|LL| / Δ_t) / log r more
    /// iterations. Nil when the changes do not shrink yet (no honest forecast); never more
    /// than the iterations left before the cap.
    package static func remainingIterations(previousChange: Double, change: Double, logLikelihood: Double,
                                           tolerance: Double, iterationsLeft: Int) -> Int? {
        let target = tolerance * abs(logLikelihood)
        guard iterationsLeft > 0 else { return 0 }
        if change <= target { return 0 }
        guard previousChange > 0, change > 0, change < previousChange, target > 0 else { return nil }
        let ratio = change / previousChange
        let estimate = (log(target / change) / log(ratio)).rounded(.up)
        guard estimate.isFinite, estimate >= 0 else { return nil }
        return min(Int(min(estimate, Double(iterationsLeft))), iterationsLeft)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
