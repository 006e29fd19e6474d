/// One EM run's saved state: enough to continue it bit for bit (`EMState`), and enough
/// about where it came from (`Identity`) to refuse continuing it on other data or settings.
///
/// On disk (version 1): a text header, a binary body, a SHA-256 seal.
///
///     MIXFILL-CHECKPOINT 1
///     data <the ratings' fingerprint, RatingFingerprint as in model files>
///     users <n>
///     items <d>
///     observed <ratings>
///     k <K>
///     seed <s>
///     tolerance <bit pattern of the relative tolerance, 16 hex digits>
///     floor <bit pattern of the variance floor>
///     max-iterations <cap>
///     setting.<name> <value>        one line per setting that changes the arithmetic (backend, …)
///     previous-log-likelihood <bit pattern>   only for a warm-started run: the LL its first E-step is compared with
///     iterations <t>
///     converged <0|1>
///     seconds <bit pattern of the seconds spent so far>
///     threads <the run's thread count: part of its identity, since the number of shards
///              decides the order its statistics are summed in>
///     <empty line>
///     body: t log-likelihoods, K weights, K variances, K·d means (row-major), each the
///           Double's bit pattern as 8 little-endian bytes
///     seal: SHA-256 of every byte before it (32 bytes)
///
/// Doubles travel as bit patterns, so nothing is lost to decimal formatting; the seal
/// turns any damage (a torn copy, a flipped bit) into a clear refusal rather than a
/// silently different fit. Checkpoints are written with `AtomicFile`.
import MixFill

package struct Checkpoint: Sendable, Equatable {
    package static let currentVersion = 1
    static let magic = "MIXFILL-CHECKPOINT"
    /// Bounds a damaged header cannot exceed (the largest real one is a few hundred bytes).
    static let largestHeader = 1 << 16

    /// What a run depends on besides its state: the data, K, the seed and every setting
    /// that changes the arithmetic. Two runs with equal identities and equal states go on
    /// identically.
    package struct Identity: Sendable, Equatable {
        package var dataFingerprint: String
        package var userCount: Int
        package var itemCount: Int
        package var observedCount: Int
        package var componentCount: Int
        package var seed: UInt32
        package var relativeTolerance: Double
        package var varianceFloor: Double
        package var maxIterations: Int
        /// Named settings that change results (`backend`, `kernel`, `precision`). Names and
        /// values are single words.
        package var settings: [String: String]
        /// The thread count the run was fitted with (see the format above).
        package var threads: Int

        /// The value a setting had before checkpoints recorded it: checkpoints written
        /// before `precision` existed come from double-precision fits.
        package static let settingsBeforeRecorded = ["precision": "double"]

        package init(dataFingerprint: String, userCount: Int, itemCount: Int, observedCount: Int,
                    componentCount: Int, seed: UInt32, relativeTolerance: Double, varianceFloor: Double,
                    maxIterations: Int, settings: [String: String], threads: Int) {
            self.dataFingerprint = dataFingerprint
            self.userCount = userCount
            self.itemCount = itemCount
            self.observedCount = observedCount
            self.componentCount = componentCount
            self.seed = seed
            self.relativeTolerance = relativeTolerance
            self.varianceFloor = varianceFloor
            self.maxIterations = maxIterations
            self.settings = settings
            self.threads = threads
        }

        /// Why a checkpoint with identity `self` cannot continue a run with identity
        /// `current`, or nil when it can.
        package func mismatch(continuing current: Identity) -> String? {
            if dataFingerprint != current.dataFingerprint || userCount != current.userCount
                || itemCount != current.itemCount || observedCount != current.observedCount {
                return "was written for other data (\(userCount) users × \(itemCount) items, \(observedCount) ratings, fingerprint \(dataFingerprint.prefix(12))…) than this run's (\(current.userCount) × \(current.itemCount), \(current.observedCount) ratings, fingerprint \(current.dataFingerprint.prefix(12))…)"
            }
            if componentCount != current.componentCount || seed != current.seed {
                return "holds the run K = \(componentCount), seed \(seed), not K = \(current.componentCount), seed \(current.seed)"
            }
            if relativeTolerance != current.relativeTolerance || varianceFloor != current.varianceFloor {
                return "was written with tolerance \(relativeTolerance) and variance floor \(varianceFloor), this run uses \(current.relativeTolerance) and \(current.varianceFloor)"
            }
            if maxIterations != current.maxIterations {
                return "was written with --max-iterations \(maxIterations), this run uses \(current.maxIterations)"
            }
            if threads != current.threads {
                return "was written with --threads \(threads) and this run uses \(current.threads): the thread count decides how the users are cut into shards and so the last bits of every sum; continue it with --threads \(threads)"
            }
            for name in Set(settings.keys).union(current.settings.keys).sorted() {
                let written = settings[name] ?? Self.settingsBeforeRecorded[name]
                let wanted = current.settings[name] ?? Self.settingsBeforeRecorded[name]
                if written != wanted {
                    return "was written with \(name) \(written ?? "(unset)"), this run uses \(wanted ?? "(unset)")"
                }
            }
            return nil
        }
    }

    package var identity: Identity
    package var state: EMState<Mixture>
    /// Seconds the run has spent so far, over all its sessions.
    package var seconds: Double

    package init(identity: Identity, state: EMState<Mixture>, seconds: Double) {
        precondition(state.model.componentCount == identity.componentCount && state.model.itemCount == identity.itemCount,
                     "the state's mixture must have the identity's shape")
        self.identity = identity
        self.state = state
        self.seconds = seconds
    }

    /// The settings of `engine` that change a run's arithmetic, as checkpoints record them
    /// (the naive kernel as `backend naive, kernel dense`, as it always was).
    package static func settings(of engine: Engine) -> [String: String] {
        let kernel = engine.kernel == .naive ? "dense" : engine.kernel.name
        return ["backend": engine.kernel.backend.rawValue, "kernel": kernel, "precision": engine.kernel.precision.rawValue]
    }

    /// Whether the run is over (converged or at its iteration cap).
    package var isFinished: Bool {
        state.converged || state.iterations >= identity.maxIterations
    }

    // MARK: Encoding

    package func encoded() -> [UInt8] {
        var header = "\(Self.magic) \(Self.currentVersion)\n"
        header += "data \(identity.dataFingerprint)\n"
        header += "users \(identity.userCount)\nitems \(identity.itemCount)\nobserved \(identity.observedCount)\n"
        header += "k \(identity.componentCount)\nseed \(identity.seed)\n"
        header += "tolerance \(Self.hex(identity.relativeTolerance))\nfloor \(Self.hex(identity.varianceFloor))\n"
        header += "max-iterations \(identity.maxIterations)\n"
        for name in identity.settings.keys.sorted() {
            header += "setting.\(name) \(identity.settings[name] ?? "")\n"
        }
        if let previous = state.previousObjective {
            header += "previous-log-likelihood \(Self.hex(previous))\n"
        }
        header += "iterations \(state.iterations)\nconverged \(state.converged ? 1 : 0)\n"
        header += "seconds \(Self.hex(seconds))\nthreads \(identity.threads)\n\n"
        var bytes = Array(header.utf8)
        let mixture = state.model
        bytes.reserveCapacity(bytes.count + 8 * (state.iterations + 2 * mixture.componentCount + mixture.means.count) + 32)
        for value in state.trace { Self.append(value, to: &bytes) }
        for value in mixture.weights { Self.append(value, to: &bytes) }
        for value in mixture.variances { Self.append(value, to: &bytes) }
        for value in mixture.means { Self.append(value, to: &bytes) }
        bytes.append(contentsOf: Self.seal(bytes[...]))
        return bytes
    }

    package func write(to path: String) throws(MixFillError) {
        try AtomicFile.write(encoded(), to: path)
    }

    package static func read(path: String) throws(MixFillError) -> Checkpoint {
        try decode(FileBytes.read(path), name: path)
    }

    /// SHA-256 of `bytes`, the seal that ends every checkpoint.
    static func seal(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var hasher = ContentHasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    private static func hex(_ value: Double) -> String {
        let digits = String(value.bitPattern, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private static func append(_ value: Double, to bytes: inout [UInt8]) {
        let pattern = value.bitPattern
        for index in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: pattern >> UInt64(8 * index))) }
    }

    // MARK: Decoding

    /// Reads a checkpoint, refusing anything damaged, truncated, from a newer version or
    /// internally inconsistent with one message that names the file.
    package static func decode(_ bytes: [UInt8], name: String) throws(MixFillError) -> Checkpoint {
        func refuse(_ what: String) -> MixFillError {
            .badFile(file: name, message: "\(what); delete the checkpoint to start that run over")
        }
        let magicLine = Array("\(magic) ".utf8)
        guard bytes.count >= magicLine.count, Array(bytes[0..<magicLine.count]) == magicLine else {
            throw .badFile(file: name, message: "not a MixFill checkpoint (it does not start with \(magic)); give a file written by --checkpoint-every")
        }
        // The header ends at the first empty line.
        var headerEnd = -1
        var index = 0
        while index + 1 < min(bytes.count, largestHeader) {
            if bytes[index] == UInt8(ascii: "\n"), bytes[index + 1] == UInt8(ascii: "\n") {
                headerEnd = index + 2
                break
            }
            index += 1
        }
        guard headerEnd > 0 else { throw refuse("the checkpoint is truncated or damaged (its header never ends)") }
        guard let header = String(validating: bytes[0..<(headerEnd - 2)], as: UTF8.self) else {
            throw refuse("the checkpoint's header is damaged (not UTF-8)")
        }
        var lines = header.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.removeFirst()
        guard let version = Int(first.dropFirst(magicLine.count)), version >= 1 else {
            throw refuse("the checkpoint's first line '\(DenseMatrixReader.printable(first))' has no version")
        }
        guard version <= currentVersion else {
            throw .badFile(file: name, message: "checkpoint format version \(version) is newer than this MixFill reads (\(currentVersion)); continue it with a newer MixFill, or delete it to start over")
        }
        guard bytes.count >= headerEnd + 32 else { throw refuse("the checkpoint is truncated") }
        let sealStart = bytes.count - 32
        guard Array(bytes[sealStart...]) == seal(bytes[0..<sealStart]) else {
            throw refuse("the checkpoint is damaged or truncated (its SHA-256 seal does not match)")
        }

        var fields = [String: String]()
        var settings = [String: String]()
        for line in lines {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw refuse("the checkpoint's header line '\(DenseMatrixReader.printable(line))' is not 'name value'") }
            let key = String(parts[0])
            let value = String(parts[1])
            if key.hasPrefix("setting.") {
                let setting = String(key.dropFirst("setting.".count))
                guard !setting.isEmpty, settings[setting] == nil else { throw refuse("the checkpoint names setting '\(DenseMatrixReader.printable(setting))' twice or not at all") }
                settings[setting] = value
            } else {
                guard fields[key] == nil else { throw refuse("the checkpoint's header has '\(DenseMatrixReader.printable(key))' twice") }
                fields[key] = value
            }
        }
        let known: Set = ["data", "users", "items", "observed", "k", "seed", "tolerance", "floor",
                          "max-iterations", "previous-log-likelihood", "iterations", "converged", "seconds", "threads"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw refuse("the checkpoint's header has the unknown field '\(DenseMatrixReader.printable(unknown))'")
        }
        func integer(_ key: String, atLeast minimum: Int) throws(MixFillError) -> Int {
            guard let text = fields[key] else { throw refuse("the checkpoint's header lacks '\(key)'") }
            guard let value = Int(text), value >= minimum else { throw refuse("the checkpoint's '\(key)' is '\(DenseMatrixReader.printable(text))', not a whole number ≥ \(minimum)") }
            return value
        }
        func double(_ key: String) throws(MixFillError) -> Double {
            guard let text = fields[key] else { throw refuse("the checkpoint's header lacks '\(key)'") }
            guard text.count == 16, let pattern = UInt64(text, radix: 16) else { throw refuse("the checkpoint's '\(key)' is not 16 hex digits") }
            return Double(bitPattern: pattern)
        }
        guard let fingerprint = fields["data"], (1...100).contains(fingerprint.utf8.count),
              fingerprint.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw refuse("the checkpoint's data fingerprint is missing or malformed")
        }
        let userCount = try integer("users", atLeast: 1)
        let itemCount = try integer("items", atLeast: 1)
        let observedCount = try integer("observed", atLeast: 0)
        let componentCount = try integer("k", atLeast: 1)
        let seedValue = try integer("seed", atLeast: 0)
        guard let seed = UInt32(exactly: seedValue) else { throw refuse("the checkpoint's seed \(seedValue) is out of range") }
        let tolerance = try double("tolerance")
        let floor = try double("floor")
        let maxIterations = try integer("max-iterations", atLeast: 1)
        let iterations = try integer("iterations", atLeast: 0)
        let convergedFlag = try integer("converged", atLeast: 0)
        guard convergedFlag <= 1 else { throw refuse("the checkpoint's 'converged' is neither 0 nor 1") }
        let seconds = try double("seconds")
        let previous = fields["previous-log-likelihood"] == nil ? nil : try double("previous-log-likelihood")
        guard previous?.isFinite ?? true else { throw refuse("the checkpoint's previous log-likelihood is not finite") }
        let threads = try integer("threads", atLeast: 1)
        guard tolerance.isFinite, tolerance >= 0, floor.isFinite, floor > 0, seconds.isFinite, seconds >= 0 else {
            throw refuse("the checkpoint's tolerance, floor or seconds is out of range")
        }
        guard iterations <= maxIterations, convergedFlag == 0 || iterations >= 1 else {
            throw refuse("the checkpoint's iteration count \(iterations) does not fit its cap \(maxIterations)")
        }
        guard componentCount <= userCount else { throw refuse("the checkpoint has more components (\(componentCount)) than users (\(userCount))") }

        // t + 2K + K·d doubles, counted without overflow.
        let (meanCount, meanOverflow) = componentCount.multipliedReportingOverflow(by: itemCount)
        let valueCount = meanOverflow ? Int.max : iterations.addingReportingOverflow(2 * componentCount).partialValue
        let (totalCount, totalOverflow) = valueCount.addingReportingOverflow(meanCount)
        let bodyLength = sealStart - headerEnd
        guard !meanOverflow, !totalOverflow, totalCount <= bodyLength / 8, totalCount * 8 == bodyLength else {
            throw refuse("the checkpoint's body holds \(bodyLength) bytes, not the \(iterations) log-likelihoods and K = \(componentCount) × d = \(itemCount) parameters its header announces")
        }
        var cursor = headerEnd
        func take(_ count: Int) -> [Double] {
            var values = [Double]()
            values.reserveCapacity(count)
            for _ in 0..<count {
                var pattern: UInt64 = 0
                for byte in 0..<8 { pattern |= UInt64(bytes[cursor + byte]) << UInt64(8 * byte) }
                values.append(Double(bitPattern: pattern))
                cursor += 8
            }
            return values
        }
        let trace = take(iterations)
        let weights = take(componentCount)
        let variances = take(componentCount)
        let means = take(meanCount)
        guard trace.allSatisfy(\.isFinite), means.allSatisfy(\.isFinite),
              weights.allSatisfy({ $0.isFinite && $0 >= 0 }), variances.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw refuse("the checkpoint holds a non-finite log-likelihood or mean, a negative weight or a non-positive variance")
        }
        for (name, value) in settings {
            guard !value.isEmpty, !value.contains(" "), !name.contains(" ") else { throw refuse("the checkpoint's setting '\(DenseMatrixReader.printable(name))' is malformed") }
        }
        let identity = Identity(dataFingerprint: fingerprint, userCount: userCount, itemCount: itemCount,
                                observedCount: observedCount, componentCount: componentCount, seed: seed,
                                relativeTolerance: tolerance, varianceFloor: floor, maxIterations: maxIterations,
                                settings: settings, threads: threads)
        let mixture = Mixture(componentCount: componentCount, itemCount: itemCount, means: means,
                              variances: variances, weights: weights)
        return Checkpoint(identity: identity,
                          state: EMState(model: mixture, trace: trace, converged: convergedFlag == 1,
                                         previousObjective: previous),
                          seconds: seconds)
    }
}
