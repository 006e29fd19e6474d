import Foundation
import MixFill

/// A batch job's `result.json`: what the job produced, or why it failed. It holds no
/// timings (those are in `log.jsonl`), so rerunning a job gives a byte-identical file;
/// `jobHash` is the content hash that lets a rerun skip a job whose result is current.
package struct JobResult: Sendable, Equatable, Codable {
    package static let formatName = "mixfill-job-result"
    package static let currentVersion = 1

    package struct DataSummary: Sendable, Equatable, Codable {
        package var path: String
        /// The format the file was read as (`dense`, `triplets`, …).
        package var format: String
        package var users: Int
        package var items: Int
        package var observed: Int

        package init(path: String, format: String, users: Int, items: Int, observed: Int) {
            self.path = path
            self.format = format
            self.users = users
            self.items = items
            self.observed = observed
        }
    }

    package struct Run: Sendable, Equatable, Codable {
        package var seed: UInt32
        package var logLikelihood: Double
        package var iterations: Int
        package var converged: Bool

        package init(seed: UInt32, logLikelihood: Double, iterations: Int, converged: Bool) {
            self.seed = seed
            self.logLikelihood = logLikelihood
            self.iterations = iterations
            self.converged = converged
        }

        enum CodingKeys: String, CodingKey {
            case seed, logLikelihood = "log_likelihood", iterations, converged
        }
    }

    package struct Best: Sendable, Equatable, Codable {
        package var seed: UInt32
        package var logLikelihood: Double
        /// The course BIC; absent for mppca, whose objective (an ELBO with priors) has none.
        package var bic: Double?

        package init(seed: UInt32, logLikelihood: Double, bic: Double?) {
            self.seed = seed
            self.logLikelihood = logLikelihood
            self.bic = bic
        }

        enum CodingKeys: String, CodingKey {
            case seed, logLikelihood = "log_likelihood", bic
        }
    }

    package struct RootMeanSquareErrors: Sendable, Equatable, Codable {
        package var allEntries: Double
        package var missingEntries: Double?

        package init(allEntries: Double, missingEntries: Double?) {
            self.allEntries = allEntries
            self.missingEntries = missingEntries
        }

        enum CodingKeys: String, CodingKey {
            case allEntries = "all_entries", missingEntries = "missing_entries"
        }
    }

    package struct Fit: Sendable, Equatable, Codable {
        package var k: Int
        package var runs: [Run]
        package var best: Best
        package var rmse: RootMeanSquareErrors?
        /// The model file's name in the job folder, when models are written.
        package var model: String?

        package init(k: Int, runs: [Run], best: Best, rmse: RootMeanSquareErrors?, model: String?) {
            self.k = k
            self.runs = runs
            self.best = best
            self.rmse = rmse
            self.model = model
        }
    }

    /// An mppca job's hyperparameters, as given or chosen from the training ratings.
    package struct FactorSettings: Sendable, Equatable, Codable {
        package var factors: Int
        package var priorLoadings: Double
        package var priorMeans: Double

        package init(factors: Int, priorLoadings: Double, priorMeans: Double) {
            self.factors = factors
            self.priorLoadings = priorLoadings
            self.priorMeans = priorMeans
        }

        enum CodingKeys: String, CodingKey {
            case factors, priorLoadings = "prior_loadings", priorMeans = "prior_means"
        }
    }

    package struct Failure: Sendable, Equatable, Codable {
        package var message: String
        package var exitCode: Int32

        package init(message: String, exitCode: Int32) {
            self.message = message
            self.exitCode = exitCode
        }

        enum CodingKeys: String, CodingKey {
            case message, exitCode = "exit_code"
        }
    }

    package enum Status: String, Sendable, Codable {
        case ok
        case failed
    }

    package var format = formatName
    package var version = currentVersion
    package var job: String
    /// Absent when the job failed before its files could be hashed (a missing data file).
    package var jobHash: String?
    package var status: Status
    package var error: Failure?
    package var data: DataSummary?
    package var backend: String?
    /// The E-step kernel that ran (`auto` resolved).
    package var kernel: String?
    /// `single` when the job ran in single precision; absent for double (as before the
    /// field existed, so earlier results stay byte-identical).
    package var precision: String?
    package var seeds: [UInt32]?
    package var maxIterations: Int?
    package var fits: [Fit]?
    /// `mppca` for a job of that family; absent for course (as before the field existed).
    package var family: String?
    /// An mppca job's hyperparameters.
    package var settings: FactorSettings?

    enum CodingKeys: String, CodingKey {
        case format, version, job, jobHash = "job_hash", status, error, data, backend, kernel, precision, seeds
        case maxIterations = "max_iterations", fits, family, settings
    }

    package init(job: String, jobHash: String, status: Status, error: Failure? = nil, data: DataSummary? = nil,
                backend: String? = nil, kernel: String? = nil, precision: String? = nil, seeds: [UInt32]? = nil, maxIterations: Int? = nil,
                fits: [Fit]? = nil, family: String? = nil, settings: FactorSettings? = nil) {
        self.job = job
        self.jobHash = jobHash.isEmpty ? nil : jobHash
        self.status = status
        self.error = error
        self.data = data
        self.backend = backend
        self.kernel = kernel
        self.precision = precision
        self.seeds = seeds
        self.maxIterations = maxIterations
        self.fits = fits
        self.family = family
        self.settings = settings
    }

    package func encoded() throws(MixFillError) -> [UInt8] {
        try BatchJSON.encode(self, what: "the result of job \(job)")
    }

    /// The result at `path`, or nil when there is none or it is not a current-format
    /// result (a rerun then simply redoes the job).
    package static func readIfPresent(path: String) -> JobResult? {
        guard let bytes = try? FileBytes.read(path),
              let result = try? JSONDecoder().decode(JobResult.self, from: Data(bytes)),
              result.format == formatName, result.version == currentVersion else { return nil }
        return result
    }
}

extension JobResult.Fit {
    /// A K's runs as a result records them.
    package init<Model>(_ fit: MultiStartFit<Model>, bic: Double?, goldErrors: GoldErrors?, model: String?) {
        let best = fit.best
        self.init(k: fit.componentCount,
                  runs: fit.runs.map { JobResult.Run(seed: $0.seed, logLikelihood: $0.result.objective,
                                                     iterations: $0.result.iterations, converged: $0.result.converged) },
                  best: JobResult.Best(seed: best.seed, logLikelihood: best.result.objective, bic: bic),
                  rmse: goldErrors.map { JobResult.RootMeanSquareErrors(allEntries: $0.allEntries, missingEntries: $0.missingEntries) },
                  model: model)
    }
}

/// The batch's `summary.json`: one entry per job of the job file, in its order.
package struct BatchSummary: Sendable, Equatable, Codable {
    package static let formatName = "mixfill-batch-summary"

    package enum Status: String, Sendable, Codable {
        case ok, failed
        /// Not finished: the batch was interrupted before or while running it.
        case pending
    }

    package struct Entry: Sendable, Equatable, Codable {
        package var name: String
        package var status: Status
        package var error: JobResult.Failure?
        package var fits: [JobResult.Fit]?

        package init(name: String, status: Status, error: JobResult.Failure?, fits: [JobResult.Fit]?) {
            self.name = name
            self.status = status
            self.error = error
            self.fits = fits
        }
    }

    package struct Counts: Sendable, Equatable, Codable {
        package var total: Int
        package var ok: Int
        package var failed: Int
        package var pending: Int

        package init(total: Int, ok: Int, failed: Int, pending: Int) {
            self.total = total
            self.ok = ok
            self.failed = failed
            self.pending = pending
        }
    }

    package var format = formatName
    package var version = 1
    package var counts: Counts
    package var jobs: [Entry]

    package init(jobs: [Entry]) {
        self.jobs = jobs
        counts = Counts(total: jobs.count, ok: jobs.filter { $0.status == .ok }.count,
                        failed: jobs.filter { $0.status == .failed }.count,
                        pending: jobs.filter { $0.status == .pending }.count)
    }

    package func encoded() throws(MixFillError) -> [UInt8] {
        try BatchJSON.encode(self, what: "the batch summary")
    }

    /// `summary.csv`: one row per job and K (one row for a job without fits), RFC 4180
    /// quoting, numbers in the shortest form that reads back to the same Double.
    package func csv() -> [UInt8] {
        var text = "job,status,k,best_seed,log_likelihood,bic,iterations,converged,rmse_all_entries,rmse_missing_entries,model,error\r\n"
        func field(_ value: String) -> String {
            guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
            return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        for entry in jobs {
            let fits = entry.fits ?? []
            if fits.isEmpty {
                let cells = [entry.name, entry.status.rawValue, "", "", "", "", "", "", "", "", "", entry.error?.message ?? ""]
                text += cells.map(field).joined(separator: ",") + "\r\n"
            }
            for fit in fits {
                let bestRun = fit.runs.first { $0.seed == fit.best.seed }
                var cells: [String] = [entry.name, entry.status.rawValue, String(fit.k), String(fit.best.seed)]
                cells.append(String(describing: fit.best.logLikelihood))
                cells.append(fit.best.bic.map { String(describing: $0) } ?? "")
                cells.append(bestRun.map { String($0.iterations) } ?? "")
                cells.append(bestRun.map { String($0.converged) } ?? "")
                cells.append(fit.rmse.map { String(describing: $0.allEntries) } ?? "")
                cells.append(fit.rmse?.missingEntries.map { String(describing: $0) } ?? "")
                cells.append(fit.model ?? "")
                cells.append("")
                text += cells.map(field).joined(separator: ",") + "\r\n"
            }
        }
        return Array(text.utf8)
    }
}

/// JSON as the batch writes it: sorted keys, indented, so equal content gives equal bytes.
enum BatchJSON {
    static func encode<Value: Encodable>(_ value: Value, what: String) throws(MixFillError) -> [UInt8] {
        try JSONEncoder.fileBytes(value, formatting: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes], what: what)
    }

    /// One line of JSON (for log.jsonl and --log-format json).
    static func line<Value: Encodable>(_ value: Value) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension FitEvent {
    /// The event as one line of JSON, with `time` (UTC, ISO 8601) first when given.
    package func jsonLine(time: String? = nil) -> String {
        let body = BatchJSON.line(self)
        guard let time, body.hasPrefix("{") else { return body }
        return "{\"time\":\"\(time)\"" + (body == "{}" ? "}" : "," + body.dropFirst())
    }
}
