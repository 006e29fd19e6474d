import Foundation

/// A batch job's `result.json`: what the job produced, or why it failed. It holds no
/// timings (those are in `log.jsonl`), so rerunning a job gives a byte-identical file;
/// `jobHash` is the content hash that lets a rerun skip a job whose result is current.
public struct JobResult: Sendable, Equatable, Codable {
    public static let formatName = "mixfill-job-result"
    public static let currentVersion = 1

    public struct DataSummary: Sendable, Equatable, Codable {
        public var path: String
        /// The format the file was read as (`dense`, `triplets`, …).
        public var format: String
        public var users: Int
        public var items: Int
        public var observed: Int

        public init(path: String, format: String, users: Int, items: Int, observed: Int) {
            self.path = path
            self.format = format
            self.users = users
            self.items = items
            self.observed = observed
        }
    }

    public struct Run: Sendable, Equatable, Codable {
        public var seed: UInt32
        public var logLikelihood: Double
        public var iterations: Int
        public var converged: Bool

        public init(seed: UInt32, logLikelihood: Double, iterations: Int, converged: Bool) {
            self.seed = seed
            self.logLikelihood = logLikelihood
            self.iterations = iterations
            self.converged = converged
        }

        enum CodingKeys: String, CodingKey {
            case seed, logLikelihood = "log_likelihood", iterations, converged
        }
    }

    public struct Best: Sendable, Equatable, Codable {
        public var seed: UInt32
        public var logLikelihood: Double
        public var bic: Double

        public init(seed: UInt32, logLikelihood: Double, bic: Double) {
            self.seed = seed
            self.logLikelihood = logLikelihood
            self.bic = bic
        }

        enum CodingKeys: String, CodingKey {
            case seed, logLikelihood = "log_likelihood", bic
        }
    }

    public struct RootMeanSquareErrors: Sendable, Equatable, Codable {
        public var allEntries: Double
        public var missingEntries: Double?

        public init(allEntries: Double, missingEntries: Double?) {
            self.allEntries = allEntries
            self.missingEntries = missingEntries
        }

        enum CodingKeys: String, CodingKey {
            case allEntries = "all_entries", missingEntries = "missing_entries"
        }
    }

    public struct Fit: Sendable, Equatable, Codable {
        public var k: Int
        public var runs: [Run]
        public var best: Best
        public var rmse: RootMeanSquareErrors?
        /// The model file's name in the job folder, when models are written.
        public var model: String?

        public init(k: Int, runs: [Run], best: Best, rmse: RootMeanSquareErrors?, model: String?) {
            self.k = k
            self.runs = runs
            self.best = best
            self.rmse = rmse
            self.model = model
        }
    }

    public struct Failure: Sendable, Equatable, Codable {
        public var message: String
        public var exitCode: Int32

        public init(message: String, exitCode: Int32) {
            self.message = message
            self.exitCode = exitCode
        }

        enum CodingKeys: String, CodingKey {
            case message, exitCode = "exit_code"
        }
    }

    public enum Status: String, Sendable, Codable {
        case ok
        case failed
    }

    public var format = formatName
    public var version = currentVersion
    public var job: String
    public var jobHash: String
    public var status: Status
    public var error: Failure?
    public var data: DataSummary?
    public var backend: String?
    /// The E-step kernel that ran (`auto` resolved).
    public var kernel: String?
    /// `single` when the job ran in single precision; absent for double (as before the
    /// field existed, so earlier results stay byte-identical).
    public var precision: String?
    public var seeds: [UInt32]?
    public var maxIterations: Int?
    public var fits: [Fit]?

    enum CodingKeys: String, CodingKey {
        case format, version, job, jobHash = "job_hash", status, error, data, backend, kernel, precision, seeds
        case maxIterations = "max_iterations", fits
    }

    public init(job: String, jobHash: String, status: Status, error: Failure? = nil, data: DataSummary? = nil,
                backend: String? = nil, kernel: String? = nil, precision: String? = nil, seeds: [UInt32]? = nil, maxIterations: Int? = nil,
                fits: [Fit]? = nil) {
        self.job = job
        self.jobHash = jobHash
        self.status = status
        self.error = error
        self.data = data
        self.backend = backend
        self.kernel = kernel
        self.precision = precision
        self.seeds = seeds
        self.maxIterations = maxIterations
        self.fits = fits
    }

    public func encoded() throws(MixFillError) -> [UInt8] {
        try BatchJSON.encode(self, what: "the result of job \(job)")
    }

    /// The result at `path`, or nil when there is none or it is not a current-format
    /// result (a rerun then simply redoes the job).
    public static func readIfPresent(path: String) -> JobResult? {
        guard let bytes = try? FileBytes.read(path),
              let result = try? JSONDecoder().decode(JobResult.self, from: Data(bytes)),
              result.format == formatName, result.version == currentVersion else { return nil }
        return result
    }
}

/// The batch's `summary.json`: one entry per job of the job file, in its order.
public struct BatchSummary: Sendable, Equatable, Codable {
    public static let formatName = "mixfill-batch-summary"

    public enum Status: String, Sendable, Codable {
        case ok, failed
        /// Not finished: the batch was interrupted before or while running it.
        case pending
    }

    public struct Entry: Sendable, Equatable, Codable {
        public var name: String
        public var status: Status
        public var error: JobResult.Failure?
        public var fits: [JobResult.Fit]?

        public init(name: String, status: Status, error: JobResult.Failure?, fits: [JobResult.Fit]?) {
            self.name = name
            self.status = status
            self.error = error
            self.fits = fits
        }
    }

    public struct Counts: Sendable, Equatable, Codable {
        public var total: Int
        public var ok: Int
        public var failed: Int
        public var pending: Int

        public init(total: Int, ok: Int, failed: Int, pending: Int) {
            self.total = total
            self.ok = ok
            self.failed = failed
            self.pending = pending
        }
    }

    public var format = formatName
    public var version = 1
    public var counts: Counts
    public var jobs: [Entry]

    public init(jobs: [Entry]) {
        self.jobs = jobs
        counts = Counts(total: jobs.count, ok: jobs.filter { $0.status == .ok }.count,
                        failed: jobs.filter { $0.status == .failed }.count,
                        pending: jobs.filter { $0.status == .pending }.count)
    }

    public func encoded() throws(MixFillError) -> [UInt8] {
        try BatchJSON.encode(self, what: "the batch summary")
    }

    /// `summary.csv`: one row per job and K (one row for a job without fits), RFC 4180
    /// quoting, numbers in the shortest form that reads back to the same Double.
    public func csv() -> [UInt8] {
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
                cells.append(String(describing: fit.best.bic))
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
        } catch {
            throw .runtime(message: "cannot encode \(what): \(error)")
        }
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
    public func jsonLine(time: String? = nil) -> String {
        let body = BatchJSON.line(self)
        guard let time, body.hasPrefix("{") else { return body }
        return "{\"time\":\"\(time)\"" + (body == "{}" ? "}" : "," + body.dropFirst())
    }
}
