import MixFill
/// A batch job file: JSON naming the fits to run, each with its data and settings.
///
///     {
///       "version": 1,                                   optional; a newer version is refused
///       "defaults": { <any job field but name> },       optional; every job starts from these
///       "jobs": [ { "name": "netflix-k12", "data": "netflix.txt", "k": [12], … }, … ]
///     }
///
/// Job fields (unknown fields are errors, never ignored):
///
///     name              required; the job's folder under --out: letters, digits, '.', '_', '-',
///                       1 to 100 characters, not starting with '.'; unique in the file
///     data              required; the rating matrix (relative paths are from the job file's folder)
///     format            "auto" (default: detected), "dense", "triplets", "csv", "netflix", "binary"
///     family            "course" (default) or "mppca", as `fit --family`
///     k                 a number 12, a list [1, 12] or a string "1,12", "1-16"; default as `fit -k`:
///                       [1, 12] for course, chosen from the training ratings for mppca
///     seeds             a number, a list or a string, default "0-4" for course, "0" for mppca
///     factors           mppca: latent factors q ≥ 0, below the data's items (default: chosen), as `fit --factors`
///     prior_loadings    mppca: prior precision λ_W > 0 (default: chosen), as `fit --prior-loadings`
///     prior_means       mppca: prior precision λ_m > 0, as `fit --prior-means`
///     backend           "blas" (default) or "naive"
///     kernel            "auto" (default), "dense", "blocked" or "sparse", as `fit --kernel`
///     precision         "double" (default) or "single" (the dense BLAS kernel only), as `fit --precision`
///     rating_scale      "MIN-MAX" or [MIN, MAX]: refuse data with a rating outside it, as `--rating-scale`
///     threads           threads for this job, 1 to 1024, as `fit --threads` uses them (default: all cores; 1 under --parallel > 1)
///     max_iterations    default 1000
///     gold              the complete matrix, to report RMSE
///     models            write model-k<K>.json files (default true)
///     checkpoint_every  checkpoint each run every N iterations (default: the batch's --checkpoint-every)
///
/// A field other than name and data may be null in a job: it is then not set, even where
/// "defaults" set it, and gets its default as above.
///
/// Every error names `file:line:column` of the offending field or value. New settings
/// (evaluation) slot in as new entries in `JobFields` (and its `clear`) and `canonicalText`.
package struct JobFile: Sendable, Equatable {
    package static let currentVersion = 1
    package var path: String
    package var jobs: [JobSpec]

    package static func read(path: String) throws(MixFillError) -> JobFile {
        let bytes = try FileBytes.read(path)
        // Messages name a job file read from standard input `<stdin>`, as every reader does.
        return try parse(bytes, name: StandardInput.displayName(path), baseFolder: AtomicFile.parentFolder(of: path))
    }

    /// Parses a job file's bytes; relative data paths are resolved against `baseFolder`.
    package static func parse(_ bytes: [UInt8], name: String, baseFolder: String) throws(MixFillError) -> JobFile {
        let document = try JSONDocument.parse(bytes, name: name)
        func error(_ at: (line: Int, column: Int), _ message: String) -> MixFillError {
            .badInput(file: name, line: at.line, column: at.column, message: message)
        }
        guard case let .object(members) = document.kind else {
            throw error((document.line, document.column), "the job file must be a JSON object with a \"jobs\" list, not \(document.description)")
        }
        var defaults = JobFields()
        var jobList: JSONValue?
        for member in members {
            switch member.key {
            case "version":
                guard case let .number(text) = member.value.kind, let version = Int(text), version >= 1 else {
                    throw error((member.value.line, member.value.column), "\"version\" must be a whole number ≥ 1, not \(member.value.description)")
                }
                guard version <= currentVersion else {
                    throw error((member.value.line, member.value.column), "job file version \(version) is newer than this MixFill reads (\(currentVersion)); upgrade MixFill")
                }
            case "defaults":
                guard case let .object(fields) = member.value.kind else {
                    throw error((member.value.line, member.value.column), "\"defaults\" must be an object of job fields, not \(member.value.description)")
                }
                for field in fields {
                    if field.key == "name" {
                        throw error((field.line, field.column), "\"name\" cannot be a default; every job names itself")
                    }
                    try defaults.apply(field, file: name, context: "in \"defaults\"")
                }
            case "jobs":
                jobList = member.value
            default:
                throw error((member.line, member.column), "unknown top-level field \"\(DenseMatrixReader.printable(member.key))\"; a job file has \"jobs\" and optionally \"defaults\" and \"version\"")
            }
        }
        guard let jobList else {
            throw error((document.line, document.column), "the job file has no \"jobs\" list; add \"jobs\": [{\"name\": …, \"data\": …, \"k\": …}]")
        }
        guard case let .array(entries) = jobList.kind else {
            throw error((jobList.line, jobList.column), "\"jobs\" must be a list of job objects, not \(jobList.description)")
        }
        guard !entries.isEmpty else {
            throw error((jobList.line, jobList.column), "\"jobs\" is empty; list at least one job")
        }
        var jobs = [JobSpec]()
        var names = [String: Int]()
        for (index, entry) in entries.enumerated() {
            guard case let .object(fields) = entry.kind else {
                throw error((entry.line, entry.column), "job \(index + 1) must be an object of job fields, not \(entry.description)")
            }
            var job = defaults
            var jobName: String?
            for field in fields where field.key == "name" {
                try job.apply(field, file: name, context: "in job \(index + 1)")
                jobName = job.name
            }
            let label = jobName.map { "job \"\($0)\"" } ?? "job \(index + 1)"
            for field in fields where field.key != "name" {
                try job.apply(field, file: name, context: "in \(label)")
            }
            let spec = try job.finish(at: (entry.line, entry.column), file: name, job: label, baseFolder: baseFolder)
            if let earlier = names[spec.name] {
                throw error((entry.line, entry.column), "a second job named \"\(spec.name)\" (the first is on line \(earlier)); job names must be unique")
            }
            names[spec.name] = entry.line
            jobs.append(spec)
        }
        return JobFile(path: name, jobs: jobs)
    }
}

/// One job, with defaults applied and paths resolved.
package struct JobSpec: Sendable, Equatable {
    package var name: String
    /// The data path as written in the job file, and resolved against its folder.
    package var data: String
    package var dataPath: String
    package var format: RatingFormat
    package var family: ModelFamily
    /// K per fit; nil for an mppca job that leaves K to be chosen.
    package var componentCounts: [Int]?
    package var seeds: [UInt32]
    package var backend: Backend
    package var kernel: KernelChoice
    package var precision: Precision
    /// The declared rating scale (`rating_scale`), or nil.
    package var ratingScale: RatingScale?
    package var threads: Int?
    package var maxIterations: Int
    package var gold: String?
    package var goldPath: String?
    package var writeModels: Bool
    package var checkpointEvery: Int?
    /// mppca's hyperparameters as given (nil: chosen from the training ratings).
    package var factors: Int?
    package var priorLoadings: Double?
    package var priorMeans: Double?
    /// Where the job's object starts in the job file.
    package var line: Int
    /// Whether `componentCounts` is `fit`'s default for the family, the job giving no "k"
    /// (messages then say so rather than blame a field the job does not have).
    package var componentCountsAreDefault = false

    /// The settings that decide a job's outputs, one per line, in a fixed order: with the
    /// bytes of the data and gold files, what the content hash covers. Threads and
    /// checkpoint intervals change how a job runs, not what it writes, so they are left out.
    /// Settings added later (`precision`, `rating_scale`, `family` and mppca's) appear only
    /// when they differ from what every job did before they existed (double precision, no
    /// declared scale, the course family), so the hashes of jobs written before them stay
    /// the same.
    package var canonicalText: String {
        var text = "name=\(name)\ndata=\(data)\nformat=\(format.rawValue)\n"
        text += "k=\((componentCounts ?? []).map(String.init).joined(separator: ","))\n"
        text += "seeds=\(seeds.map(String.init).joined(separator: ","))\n"
        text += "backend=\(backend.rawValue)\nkernel=\(kernel.rawValue)\nmax_iterations=\(maxIterations)\n"
        text += "gold=\(gold ?? "")\nmodels=\(writeModels)\n"
        if precision != .double { text += "precision=\(precision.rawValue)\n" }
        if let ratingScale { text += "rating_scale=\(ratingScale.text)\n" }
        if family != .course {
            text += "family=\(family.rawValue)\n"
            text += "factors=\(factors.map(String.init) ?? "chosen")\n"
            text += "prior_loadings=\(priorLoadings.map { "\($0)" } ?? "chosen")\n"
            text += "prior_means=\(priorMeans.map { "\($0)" } ?? "default")\n"
        }
        return text
    }

    /// What the job's data readers accept (`RatingRules`), naming `rating_scale` in errors.
    package var ratingRules: RatingRules {
        RatingRules(scale: ratingScale, declaredBy: "\"rating_scale\"")
    }
}

/// Job fields as read so far (from "defaults", then from the job itself).
struct JobFields {
    var name: String?
    var data: String?
    var format: RatingFormat?
    var family: ModelFamily?
    var componentCounts: [Int]?
    var seeds: [UInt32]?
    var backend: Backend?
    var kernel: KernelChoice?
    var precision: Precision?
    var ratingScale: RatingScale?
    var threads: Int?
    var maxIterations: Int?
    var gold: String?
    var writeModels: Bool?
    var checkpointEvery: Int?
    var factors: Int?
    var priorLoadings: Double?
    var priorMeans: Double?
    /// Where each field was set, for errors about fields that only fit together.
    var places = [String: (line: Int, column: Int)]()

    static let known = ["name", "data", "format", "family", "k", "seeds", "backend", "kernel", "precision", "rating_scale",
                        "threads", "max_iterations", "gold", "models", "checkpoint_every",
                        "factors", "prior_loadings", "prior_means"]
    /// The fields of the mppca family only.
    static let factorFields = ["factors", "prior_loadings", "prior_means"]

    mutating func apply(_ field: JSONValue.Member, file: String, context: String) throws(MixFillError) {
        let value = field.value
        places[field.key] = (field.line, field.column)
        func error(_ message: String) -> MixFillError {
            .badInput(file: file, line: value.line, column: value.column, message: message)
        }
        func string(_ what: String) throws(MixFillError) -> String {
            guard case let .string(text) = value.kind else {
                throw error("\"\(field.key)\" \(context) must be \(what) in double quotes, not \(value.description)")
            }
            return text
        }
        func integer(atLeast minimum: Int) throws(MixFillError) -> Int {
            guard case let .number(text) = value.kind, let number = Int(text), number >= minimum else {
                throw error("\"\(field.key)\" \(context) must be a whole number ≥ \(minimum), not \(value.description)")
            }
            return number
        }
        /// A list of whole numbers as `fit` takes one: a number (`12`), a JSON list
        /// (`[1, 12]`) or a string in the CLI's spelling (`"1,12"`, `"1-16"`). `list` and
        /// `strings` are examples of the field's own values for messages.
        func integerList(what: String, list: String, strings: [String]) throws(MixFillError) -> [Int] {
            let quoted = strings.map { "\"\($0)\"" }.joined(separator: " or ")
            switch value.kind {
            case let .number(text):
                guard let number = Int(text) else {
                    throw error("\"\(field.key)\" \(context) must be a whole number, a list like \(list) or a string like \(quoted), not \(value.description)")
                }
                return [number]
            case let .string(text):
                do {
                    return try IntegerRanges.parse(text, option: field.key, what: what, example: quoted)
                } catch {
                    throw .badInput(file: file, line: value.line, column: value.column,
                                    message: "\"\(field.key)\" \(context): \(error.message)")
                }
            case let .array(elements):
                guard !elements.isEmpty else { throw error("\"\(field.key)\" \(context) is an empty list; give at least one \(what), like \(list)") }
                guard elements.count <= IntegerRanges.maximumCount else {
                    throw error("\"\(field.key)\" \(context) lists \(elements.count) values; give at most \(IntegerRanges.maximumCount)")
                }
                var numbers = [Int]()
                for element in elements {
                    guard case let .number(text) = element.kind, let number = Int(text) else {
                        throw self.error(element, "\"\(field.key)\" \(context) must list whole numbers, not \(element.description)", file: file)
                    }
                    numbers.append(number)
                }
                return numbers
            default:
                throw error("\"\(field.key)\" \(context) must be a whole number, a list like \(list) or a string like \(quoted), not \(value.description)")
            }
        }

        /// Paths end up in messages and result files: no control characters (a "\n" in a
        /// path is a typo, not a file name anyone means).
        func checkPath(_ text: String) throws(MixFillError) {
            guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
                throw error("\"\(field.key)\" \(context) holds a control character ('\(DenseMatrixReader.printable(text))'); give a plain file path")
            }
            // A job's files are hashed and read again on every rerun: standard input cannot be.
            guard !StandardInput.isStandardInput(text) else {
                throw error("\"\(field.key)\" \(context) is '-', standard input, which a batch job cannot read (its files are hashed and read again on reruns); give a file path")
            }
        }

        // null: the field is not set, even where "defaults" set it, so the job gets what
        // `fit` does without the option. `name` and `data` have no such default.
        if case .null = value.kind, Self.known.contains(field.key) {
            switch field.key {
            case "name":
                throw error("\"name\" \(context) is null; every job needs a name, e.g. \"name\": \"netflix-k12\"")
            case "data":
                throw error("\"data\" \(context) is null; every job needs its rating data, e.g. \"data\": \"ratings.txt\"")
            default:
                clear(field.key)
                places[field.key] = nil
                return
            }
        }

        switch field.key {
        case "name":
            let text = try string("the job's name")
            guard Self.isValidName(text) else {
                throw error("job name \"\(DenseMatrixReader.printable(text))\" cannot be a folder name; use 1 to 100 letters, digits, '.', '_' or '-', not starting with '.'")
            }
            guard !Self.reservedNames.contains(text) else {
                throw error("job name \"\(text)\" is the name of the batch's own \(text) in the output folder; choose another name")
            }
            name = text
        case "data":
            let text = try string("a file path")
            guard !text.isEmpty else { throw error("\"data\" \(context) is empty; give the rating matrix's path") }
            try checkPath(text)
            data = text
        case "format":
            let text = try string("an input format")
            guard let chosen = RatingFormat(rawValue: text) else {
                throw error("format \"\(DenseMatrixReader.printable(text))\" \(context) is not one this MixFill reads; use one of: \(RatingFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            format = chosen
        case "kernel":
            let text = try string("a kernel")
            guard let chosen = KernelChoice(rawValue: text) else {
                throw error("kernel \"\(DenseMatrixReader.printable(text))\" \(context) is unknown; use one of: \(KernelChoice.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kernel = chosen
        case "k":
            let values = try integerList(what: "component count", list: "[1, 12]", strings: ["1,12", "1-16"])
            for component in values where component < 1 {
                throw error("\"k\" \(context) has K = \(component); K must be at least 1")
            }
            componentCounts = Array(Set(values)).sorted()
        case "seeds":
            let values = try integerList(what: "seed", list: "[0, 1, 2]", strings: ["0-4", "0,1,2"])
            var list = [UInt32]()
            for seed in values {
                guard let valid = UInt32(exactly: seed) else {
                    throw error("\"seeds\" \(context) has seed \(seed); seeds are 0 to \(UInt32.max)")
                }
                list.append(valid)
            }
            seeds = IntegerRanges.distinct(list)
        case "backend":
            let text = try string("a backend")
            guard let chosen = Backend(rawValue: text) else {
                throw error("backend \"\(DenseMatrixReader.printable(text))\" \(context) is unknown; use one of: \(Backend.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            backend = chosen
        case "precision":
            let text = try string("a precision")
            guard let chosen = Precision(rawValue: text) else {
                throw error("precision \"\(DenseMatrixReader.printable(text))\" \(context) is unknown; use one of: \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            precision = chosen
        case "rating_scale":
            let hint = "give it as \"MIN-MAX\" or [MIN, MAX], e.g. \"1-5\" or [0.5, 5]"
            let scaleText: String
            switch value.kind {
            case let .string(text):
                scaleText = text
            case let .array(elements):
                var bounds = [String]()
                for element in elements {
                    guard case let .number(number) = element.kind else {
                        throw self.error(element, "\"rating_scale\" \(context) must list two numbers, not \(element.description); \(hint)", file: file)
                    }
                    bounds.append(number)
                }
                guard bounds.count == 2 else {
                    throw error("\"rating_scale\" \(context) lists \(bounds.count) number\(bounds.count == 1 ? "" : "s"); \(hint)")
                }
                scaleText = bounds[0] + "-" + bounds[1]
            default:
                throw error("\"rating_scale\" \(context) must be a string or a list, not \(value.description); \(hint)")
            }
            do {
                ratingScale = try RatingScale.parse(scaleText, option: "rating_scale")
            } catch {
                throw .badInput(file: file, line: value.line, column: value.column,
                                message: "\"rating_scale\" \(context): \(error.message)")
            }
        case "threads":
            guard case let .number(text) = value.kind, let number = Int(text), ThreadCount.allowed.contains(number) else {
                throw error("\"threads\" \(context) must be a whole number from \(ThreadCount.allowed.lowerBound) to \(ThreadCount.allowed.upperBound), not \(value.description)")
            }
            threads = number
        case "max_iterations":
            maxIterations = try integer(atLeast: 1)
        case "gold":
            let text = try string("a file path")
            guard !text.isEmpty else { throw error("\"gold\" \(context) is empty; give the complete matrix's path or leave the field out") }
            try checkPath(text)
            gold = text
        case "models":
            guard case let .bool(flag) = value.kind else {
                throw error("\"models\" \(context) must be true or false, not \(value.description)")
            }
            writeModels = flag
        case "checkpoint_every":
            checkpointEvery = try integer(atLeast: 1)
        case "family":
            let text = try string("a model family")
            guard let chosen = ModelFamily(rawValue: text) else {
                throw error("family \"\(DenseMatrixReader.printable(text))\" \(context) is unknown; use one of: \(ModelFamily.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            family = chosen
        case "factors":
            guard case let .number(text) = value.kind, let number = Int(text), number >= 0 else {
                throw error("\"factors\" \(context) must be a whole number ≥ 0 (latent factors q), not \(value.description)")
            }
            factors = number
        case "prior_loadings", "prior_means":
            guard case let .number(text) = value.kind, let number = Double(text), number > 0, number.isFinite else {
                throw error("\"\(field.key)\" \(context) must be a positive prior precision, e.g. 100, not \(value.description)")
            }
            if field.key == "prior_loadings" { priorLoadings = number } else { priorMeans = number }
        default:
            throw MixFillError.badInput(file: file, line: field.line, column: field.column,
                message: "unknown field \"\(DenseMatrixReader.printable(field.key))\" \(context); job fields are \(Self.known.joined(separator: ", "))")
        }
    }

    /// Forgets an optional field (`"key": null`), as if neither the job nor "defaults" set it.
    private mutating func clear(_ key: String) {
        switch key {
        case "format": format = nil
        case "family": family = nil
        case "k": componentCounts = nil
        case "seeds": seeds = nil
        case "backend": backend = nil
        case "kernel": kernel = nil
        case "precision": precision = nil
        case "rating_scale": ratingScale = nil
        case "threads": threads = nil
        case "max_iterations": maxIterations = nil
        case "gold": gold = nil
        case "models": writeModels = nil
        case "checkpoint_every": checkpointEvery = nil
        case "factors": factors = nil
        case "prior_loadings": priorLoadings = nil
        case "prior_means": priorMeans = nil
        default: break  // "name" and "data" are required: refused before
        }
    }

    private func error(_ value: JSONValue, _ message: String, file: String) -> MixFillError {
        .badInput(file: file, line: value.line, column: value.column, message: message)
    }

    /// The job's spec once all its fields are read; `job` names it in messages (`job "a"`,
    /// or `job 2` before it has a name).
    func finish(at place: (line: Int, column: Int), file: String, job: String, baseFolder: String) throws(MixFillError) -> JobSpec {
        func missing(_ field: String, _ example: String) -> MixFillError {
            .badInput(file: file, line: place.line, column: place.column, message: "\(job) has no \"\(field)\"; add it, e.g. \(example)")
        }
        guard let name else { throw missing("name", "\"name\": \"netflix-k12\"") }
        guard let data else { throw missing("data", "\"data\": \"ratings.txt\"") }
        let family = self.family ?? .course
        // K not given: `fit`'s default, the course's two K (1 and 12) for course; for mppca
        // nil, chosen from the training ratings as `fit --family mppca` chooses it.
        let componentCounts = self.componentCounts ?? family.defaultComponentCounts
        if family == .course {
            if let field = Self.factorFields.first(where: { places[$0] != nil }), let at = places[field] {
                throw .badInput(file: file, line: at.line, column: at.column,
                                message: "\"\(field)\" in \(job) is a setting of the mppca family, and the job fits the course family; add \"family\": \"mppca\" or drop \"\(field)\"")
            }
        }
        do {
            try Engine.check(family: family, backend: backend ?? .blas, kernel: kernel ?? .auto, precision: precision ?? .double)
        } catch {
            // The message points at where a field making the conflict was set: in the job,
            // or in "defaults" when the job inherits it.
            let message: String
            let fields: [String]
            switch error {
            case .singleNeedsCourse:
                message = "\(job) asks for precision \"single\" with family \"mppca\", which computes in double precision only; drop \"precision\""
                fields = ["precision", "family"]
            case let .naiveNeedsDense(kernel):
                message = "\(job) asks for backend \"naive\" (the dense textbook kernel) with kernel \"\(kernel.rawValue)\"; drop one of them"
                fields = ["kernel", "backend"]
            case .singleNeedsBLAS, .singleNeedsDense:
                let other = backend == .naive ? "backend \"naive\"" : "kernel \"\(kernel?.rawValue ?? "")\""
                message = "\(job) asks for precision \"single\", which runs on the dense BLAS kernel only, with \(other); drop one of them"
                fields = ["precision", backend == .naive ? "backend" : "kernel"]
            case .denseTooLarge, .zeroRating:
                message = "\(job): \(error.reason)"  // data conflicts: `check` reads no data
                fields = []
            }
            let at = fields.lazy.compactMap { places[$0] }.first ?? place
            throw .badInput(file: file, line: at.line, column: at.column, message: message)
        }
        func resolve(_ path: String) -> String {
            path.hasPrefix("/") || baseFolder == "." ? path : baseFolder + "/" + path
        }
        // A job's files are hashed and read again on every rerun: a pipe cannot be (as '-'
        // cannot, refused where the field is read).
        for (field, path) in [("data", data), ("gold", gold)] {
            guard let path, StreamInput.isStream(resolve(path)) else { continue }
            let at = places[field] ?? place
            throw .badInput(file: file, line: at.line, column: at.column,
                            message: "\"\(field)\" in \(job) is a pipe, which a batch job cannot read (its files are hashed and read again on reruns); give a file path")
        }
        var spec = JobSpec(name: name, data: data, dataPath: resolve(data), format: format ?? .auto, family: family,
                       componentCounts: componentCounts, seeds: seeds ?? (family == .course ? [0, 1, 2, 3, 4] : [0]),
                       backend: backend ?? .blas, kernel: kernel ?? .auto, precision: precision ?? .double,
                       ratingScale: ratingScale, threads: threads,
                       maxIterations: maxIterations ?? 1000,
                       gold: gold, goldPath: gold.map(resolve), writeModels: writeModels ?? true,
                       checkpointEvery: checkpointEvery, factors: factors, priorLoadings: priorLoadings, priorMeans: priorMeans,
                       line: place.line)
        spec.componentCountsAreDefault = self.componentCounts == nil && componentCounts != nil
        return spec
    }

    /// The files `batch` writes beside the job folders (`BatchRunner`): a job folder of that
    /// name would stand where the summary goes, and the batch could never finish.
    static let reservedNames: Set<String> = ["summary.json", "summary.csv"]

    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...100).contains(bytes.count), bytes[0] != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }
}
