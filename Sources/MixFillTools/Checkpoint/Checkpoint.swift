/// One EM run's saved state: enough to continue it bit for bit (`EMState`), and enough
/// about where it came from (`CheckpointIdentity`) to refuse continuing it on other data or
/// settings. One format and one reader for every family: a family adds its shape lines and
/// its parameters' doubles (`CheckpointModel`), nothing else.
///
/// On disk (version 2): a text header, a binary body, a SHA-256 seal.
///
///     MIXFILL-CHECKPOINT 2
///     family <course|mppca>
///     data <the ratings' fingerprint, RatingFingerprint as in model files>
///     users <n>
///     items <d>
///     observed <ratings>
///     k <K>
///     seed <s>
///     tolerance <bit pattern of the relative tolerance, 16 hex digits>
///     floor <bit pattern of the variance floor>          course only
///     max-iterations <cap>
///     setting.<name> <value>        one line per setting that changes the arithmetic (backend, …;
///                                   for mppca also factors, prior-loadings, prior-means as chosen)
///     shape.<name> <whole number>   the family's shape besides K, d and n (mppca: shape.factors q)
///     previous-log-likelihood <bit pattern>   only for a warm-started run: the LL its first E-step is compared with
///     iterations <t>
///     converged <0|1>
///     seconds <bit pattern of the seconds spent so far>
///     threads <the run's thread count: part of its identity, since the number of shards
///              decides the order its statistics are summed in>
///     <empty line>
///     body: t objectives, then the family's parameters (`CheckpointModel.checkpointValues`),
///           each the Double's bit pattern as 8 little-endian bytes
///     seal: SHA-256 of every byte before it (32 bytes)
///
/// Version 1 is version 2 without the `family` line and always a course run; it is still
/// read. Doubles travel as bit patterns, so nothing is lost to decimal formatting; the seal
/// turns any damage (a torn copy, a flipped bit) into a clear refusal rather than a
/// silently different fit. Checkpoints are written with `AtomicFile`.
import MixFill

/// A model a checkpoint can hold: its family's name, the shape its header gives besides K,
/// d and n, and its parameters as the body's doubles. A family adds these and nothing else
/// to the checkpoint machinery (`ModelCheckpoint`, `RunProgress`).
package protocol CheckpointModel: Sendable, Equatable {
    static var family: ModelFamily { get }
    /// The shape fields (`shape.<name>` header lines) this family's checkpoints carry.
    static var shapeNames: [String] { get }
    var componentCount: Int { get }
    var itemCount: Int { get }
    /// The values of `shapeNames`, in their order.
    var shape: [Int] { get }
    /// The parameters, in the body's order.
    var checkpointValues: [Double] { get }
    /// Doubles the body holds for a model of this shape (n users), nil on overflow.
    static func checkpointValueCount(componentCount: Int, itemCount: Int, userCount: Int, shape: [String: Int]) -> Int?
    /// The model from the body's doubles (exactly `checkpointValueCount` of them), or why
    /// they cannot be one (a value out of range).
    static func checkpointModel(componentCount: Int, itemCount: Int, userCount: Int, shape: [String: Int],
                                values: ArraySlice<Double>) -> Result<Self, CheckpointValueError>
}

/// Why a checkpoint's body does not make a model.
package struct CheckpointValueError: Error, Sendable {
    package var message: String

    package init(_ message: String) { self.message = message }
}

/// What a run depends on besides its state: the family, the data, K, the seed and every
/// setting that changes the arithmetic. Two runs with equal identities and equal states go
/// on identically.
package struct CheckpointIdentity: Sendable, Equatable {
    package var family: ModelFamily
    package var dataFingerprint: String
    package var userCount: Int
    package var itemCount: Int
    package var observedCount: Int
    package var componentCount: Int
    package var seed: UInt32
    package var relativeTolerance: Double
    /// The course's variance floor; nil for a family without one.
    package var varianceFloor: Double?
    package var maxIterations: Int
    /// Named settings that change results (`backend`, `kernel`, `precision`; for mppca the
    /// chosen `factors`, `prior-loadings`, `prior-means`). Names and values are single words.
    package var settings: [String: String]
    /// The thread count the run was fitted with (see the format above).
    package var threads: Int

    /// The value a setting had before checkpoints recorded it: checkpoints written
    /// before `precision` existed come from double-precision fits.
    package static let settingsBeforeRecorded = ["precision": "double"]

    package init(family: ModelFamily = .course, dataFingerprint: String, userCount: Int, itemCount: Int, observedCount: Int,
                componentCount: Int, seed: UInt32, relativeTolerance: Double, varianceFloor: Double?,
                maxIterations: Int, settings: [String: String], threads: Int) {
        self.family = family
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

    /// The settings of `engine` that change a run's arithmetic, as checkpoints record them
    /// (the naive kernel as `backend naive, kernel dense`, as it always was).
    package static func settings(of engine: Engine) -> [String: String] {
        ["backend": engine.kernel.backend.rawValue, "kernel": engine.kernel.layoutName, "precision": engine.kernel.precision.rawValue]
    }

    /// Why a checkpoint with identity `self` cannot continue a run with identity
    /// `current`, or nil when it can.
    package func mismatch(continuing current: CheckpointIdentity) -> String? {
        if family != current.family {
            return "holds a run of the \(family.rawValue) family, not \(current.family.rawValue)"
        }
        if dataFingerprint != current.dataFingerprint || userCount != current.userCount
            || itemCount != current.itemCount || observedCount != current.observedCount {
            return "was written for other data (\(userCount) users × \(itemCount) items, \(observedCount) ratings, fingerprint \(dataFingerprint.prefix(12))…) than this run's (\(current.userCount) × \(current.itemCount), \(current.observedCount) ratings, fingerprint \(current.dataFingerprint.prefix(12))…)"
        }
        if componentCount != current.componentCount || seed != current.seed {
            return "holds the run K = \(componentCount), seed \(seed), not K = \(current.componentCount), seed \(current.seed)"
        }
        if relativeTolerance != current.relativeTolerance || varianceFloor != current.varianceFloor {
            func floor(_ value: Double?) -> String { value.map { "\($0)" } ?? "none" }
            return "was written with tolerance \(relativeTolerance) and variance floor \(floor(varianceFloor)), this run uses \(current.relativeTolerance) and \(floor(current.varianceFloor))"
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

/// The course model's checkpoints, by the name they always had.
package typealias Checkpoint = ModelCheckpoint<Mixture>

/// One run's checkpoint, for any family (`CheckpointModel`).
package struct ModelCheckpoint<Model: CheckpointModel>: Sendable, Equatable {
    package typealias Identity = CheckpointIdentity

    package static var currentVersion: Int { 2 }
    static var magic: String { "MIXFILL-CHECKPOINT" }
    /// Bounds a damaged header cannot exceed (the largest real one is a few hundred bytes).
    static var largestHeader: Int { 1 << 16 }

    package var identity: Identity
    package var state: EMState<Model>
    /// Seconds the run has spent so far, over all its sessions.
    package var seconds: Double

    package init(identity: Identity, state: EMState<Model>, seconds: Double) {
        precondition(state.model.componentCount == identity.componentCount && state.model.itemCount == identity.itemCount
                     && identity.family == Model.family,
                     "the state's model must have the identity's family and shape")
        self.identity = identity
        self.state = state
        self.seconds = seconds
    }

    /// See `CheckpointIdentity.settings(of:)`.
    package static func settings(of engine: Engine) -> [String: String] {
        CheckpointIdentity.settings(of: engine)
    }

    /// Whether the run is over (converged or at its iteration cap).
    package var isFinished: Bool {
        state.converged || state.iterations >= identity.maxIterations
    }

    // MARK: Encoding

    package func encoded() -> [UInt8] {
        var header = "\(Self.magic) \(Self.currentVersion)\nfamily \(Model.family.rawValue)\n"
        header += "data \(identity.dataFingerprint)\n"
        header += "users \(identity.userCount)\nitems \(identity.itemCount)\nobserved \(identity.observedCount)\n"
        header += "k \(identity.componentCount)\nseed \(identity.seed)\n"
        header += "tolerance \(Self.hex(identity.relativeTolerance))\n"
        if let floor = identity.varianceFloor { header += "floor \(Self.hex(floor))\n" }
        header += "max-iterations \(identity.maxIterations)\n"
        for name in identity.settings.keys.sorted() {
            header += "setting.\(name) \(identity.settings[name] ?? "")\n"
        }
        for (name, value) in zip(Model.shapeNames, state.model.shape) {
            header += "shape.\(name) \(value)\n"
        }
        if let previous = state.previousObjective {
            header += "previous-log-likelihood \(Self.hex(previous))\n"
        }
        header += "iterations \(state.iterations)\nconverged \(state.converged ? 1 : 0)\n"
        header += "seconds \(Self.hex(seconds))\nthreads \(identity.threads)\n\n"
        var bytes = Array(header.utf8)
        let values = state.model.checkpointValues
        bytes.reserveCapacity(bytes.count + 8 * (state.iterations + values.count) + 32)
        for value in state.trace { Self.append(value, to: &bytes) }
        for value in values { Self.append(value, to: &bytes) }
        bytes.append(contentsOf: Self.seal(bytes[...]))
        return bytes
    }

    package func write(to path: String) throws(MixFillError) {
        try AtomicFile.write(encoded(), to: path)
    }

    package static func read(path: String) throws(MixFillError) -> ModelCheckpoint {
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

    /// Reads a checkpoint, refusing anything damaged, truncated, from a newer version, of
    /// another family or internally inconsistent with one message that names the file.
    package static func decode(_ bytes: [UInt8], name: String) throws(MixFillError) -> ModelCheckpoint {
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
        var shapeTexts = [String: String]()
        for line in lines {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { throw refuse("the checkpoint's header line '\(DenseMatrixReader.printable(line))' is not 'name value'") }
            let key = String(parts[0])
            let value = String(parts[1])
            if key.hasPrefix("setting.") {
                let setting = String(key.dropFirst("setting.".count))
                guard !setting.isEmpty, settings[setting] == nil else { throw refuse("the checkpoint names setting '\(DenseMatrixReader.printable(setting))' twice or not at all") }
                settings[setting] = value
            } else if key.hasPrefix("shape."), version >= 2 {
                let shapeName = String(key.dropFirst("shape.".count))
                guard !shapeName.isEmpty, shapeTexts[shapeName] == nil else { throw refuse("the checkpoint names shape '\(DenseMatrixReader.printable(shapeName))' twice or not at all") }
                shapeTexts[shapeName] = value
            } else {
                guard fields[key] == nil else { throw refuse("the checkpoint's header has '\(DenseMatrixReader.printable(key))' twice") }
                fields[key] = value
            }
        }
        var known: Set = ["data", "users", "items", "observed", "k", "seed", "tolerance", "floor",
                          "max-iterations", "previous-log-likelihood", "iterations", "converged", "seconds", "threads"]
        if version >= 2 { known.insert("family") }
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw refuse("the checkpoint's header has the unknown field '\(DenseMatrixReader.printable(unknown))'")
        }
        // Version 1 knew one family.
        let familyText = version >= 2 ? fields["family"] : ModelFamily.course.rawValue
        guard let familyText, let family = ModelFamily(rawValue: familyText) else {
            throw refuse("the checkpoint's header names no family MixFill knows ('family \(DenseMatrixReader.printable(fields["family"] ?? ""))')")
        }
        guard family == Model.family else {
            let option = family == .course ? "leave --family out" : "give --family \(family.rawValue)"
            throw .badFile(file: name, message: "this checkpoint holds a run of the \(family.rawValue) family, and this fit is \(Model.family.rawValue); \(option) (a job file: \"family\": \"\(family.rawValue)\") to continue it, or delete it to start that run over")
        }
        if let unknown = shapeTexts.keys.sorted().first(where: { !Model.shapeNames.contains($0) }) {
            throw refuse("the checkpoint's header has the unknown shape field '\(DenseMatrixReader.printable(unknown))'")
        }
        func integer(_ key: String, atLeast minimum: Int, in table: [String: String]? = nil) throws(MixFillError) -> Int {
            guard let text = (table ?? fields)[key] else { throw refuse("the checkpoint's header lacks '\(key)'") }
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
        // The course's variance floor is part of its runs' identity; other families have none.
        let floor: Double? = family == .course || fields["floor"] != nil ? try double("floor") : nil
        let maxIterations = try integer("max-iterations", atLeast: 1)
        let iterations = try integer("iterations", atLeast: 0)
        let convergedFlag = try integer("converged", atLeast: 0)
        guard convergedFlag <= 1 else { throw refuse("the checkpoint's 'converged' is neither 0 nor 1") }
        let seconds = try double("seconds")
        let previous = fields["previous-log-likelihood"] == nil ? nil : try double("previous-log-likelihood")
        guard previous?.isFinite ?? true else { throw refuse("the checkpoint's previous log-likelihood is not finite") }
        let threads = try integer("threads", atLeast: 1)
        guard tolerance.isFinite, tolerance >= 0, floor.map({ $0.isFinite && $0 > 0 }) ?? true, seconds.isFinite, seconds >= 0 else {
            throw refuse("the checkpoint's tolerance, floor or seconds is out of range")
        }
        guard iterations <= maxIterations, convergedFlag == 0 || iterations >= 1 else {
            throw refuse("the checkpoint's iteration count \(iterations) does not fit its cap \(maxIterations)")
        }
        guard componentCount <= userCount else { throw refuse("the checkpoint has more components (\(componentCount)) than users (\(userCount))") }
        var shape = [String: Int]()
        for shapeName in Model.shapeNames {
            shape[shapeName] = try integer(shapeName, atLeast: 0, in: shapeTexts)
        }

        // t objectives + the model's values, counted without overflow.
        let valueCount = Model.checkpointValueCount(componentCount: componentCount, itemCount: itemCount, userCount: userCount, shape: shape)
        let (totalCount, totalOverflow) = (valueCount ?? Int.max).addingReportingOverflow(iterations)
        let bodyLength = sealStart - headerEnd
        guard valueCount != nil, !totalOverflow, totalCount <= bodyLength / 8, totalCount * 8 == bodyLength else {
            let shapeText = Model.shapeNames.map { ", \($0) = \(shape[$0] ?? 0)" }.joined()
            throw refuse("the checkpoint's body holds \(bodyLength) bytes, not the \(iterations) log-likelihoods and K = \(componentCount) × d = \(itemCount)\(shapeText) parameters its header announces")
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
        guard trace.allSatisfy(\.isFinite) else {
            throw refuse("the checkpoint holds a non-finite log-likelihood")
        }
        let model: Model
        switch Model.checkpointModel(componentCount: componentCount, itemCount: itemCount, userCount: userCount, shape: shape,
                                     values: take(valueCount ?? 0)[...]) {
        case let .success(decoded): model = decoded
        case let .failure(error): throw refuse(error.message)
        }
        for (name, value) in settings {
            guard !value.isEmpty, !value.contains(" "), !name.contains(" ") else { throw refuse("the checkpoint's setting '\(DenseMatrixReader.printable(name))' is malformed") }
        }
        let identity = Identity(family: family, dataFingerprint: fingerprint, userCount: userCount, itemCount: itemCount,
                                observedCount: observedCount, componentCount: componentCount, seed: seed,
                                relativeTolerance: tolerance, varianceFloor: floor, maxIterations: maxIterations,
                                settings: settings, threads: threads)
        return ModelCheckpoint(identity: identity,
                               state: EMState(model: model, trace: trace, converged: convergedFlag == 1, previousObjective: previous),
                               seconds: seconds)
    }
}

extension Mixture: CheckpointModel {
    package static var family: ModelFamily { .course }
    package static var shapeNames: [String] { [] }
    package var shape: [Int] { [] }

    /// K weights, K variances, K·d means (row-major).
    package var checkpointValues: [Double] { weights + variances + means }

    package static func checkpointValueCount(componentCount: Int, itemCount: Int, userCount: Int, shape: [String: Int]) -> Int? {
        let (means, overflow) = componentCount.multipliedReportingOverflow(by: itemCount)
        let (total, totalOverflow) = means.addingReportingOverflow(2 * componentCount)
        return overflow || totalOverflow ? nil : total
    }

    package static func checkpointModel(componentCount: Int, itemCount: Int, userCount: Int, shape: [String: Int],
                                        values: ArraySlice<Double>) -> Result<Mixture, CheckpointValueError> {
        let start = values.startIndex
        let weights = Array(values[start..<(start + componentCount)])
        let variances = Array(values[(start + componentCount)..<(start + 2 * componentCount)])
        let means = Array(values[(start + 2 * componentCount)...])
        guard means.allSatisfy(\.isFinite), weights.allSatisfy({ $0.isFinite && $0 >= 0 }),
              variances.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            return .failure(CheckpointValueError("the checkpoint holds a non-finite log-likelihood or mean, a negative weight or a non-positive variance"))
        }
        return .success(Mixture(componentCount: componentCount, itemCount: itemCount, means: means, variances: variances, weights: weights))
    }
}

extension FactorMixture: CheckpointModel {
    package static var family: ModelFamily { .mppca }
    package static var shapeNames: [String] { ["factors"] }
    package var shape: [Int] { [factorCount] }

    /// K weights, σ², λ_W, λ_m, μ₀, n user offsets, d item offsets, d·q loadings, d·K
    /// means, d·D(D+1)/2 packed covariances (D = q + K), each array in the model's order.
    /// The offsets are fixed during EM but part of every E-step, so they travel too.
    package var checkpointValues: [Double] {
        weights + [noiseVariance, priors.loadings, priors.means, offsets.globalMean]
            + offsets.userOffsets + offsets.itemOffsets + loadings + means + covariances
    }

    package static func checkpointValueCount(componentCount: Int, itemCount: Int, userCount: Int, shape: [String: Int]) -> Int? {
        guard let q = shape["factors"] else { return nil }
        let (dimension, o1) = q.addingReportingOverflow(componentCount)
        let (packedTwice, o2) = dimension.multipliedReportingOverflow(by: dimension + 1)
        let (perItem, o3) = (1 + q + componentCount).addingReportingOverflow(packedTwice / 2)
        let (items, o4) = perItem.multipliedReportingOverflow(by: itemCount)
        let (total, o5) = items.addingReportingOverflow(componentCount + 4 + userCount)
        return o1 || o2 || o3 || o4 || o5 ? nil : total
    }

    package static func checkpointModel(componentCount: Int, itemCount: Int, userCount: Int, shape: [String: Int],
                                        values: ArraySlice<Double>) -> Result<FactorMixture, CheckpointValueError> {
        guard let q = shape["factors"] else { return .failure(CheckpointValueError("the checkpoint's header lacks 'shape.factors'")) }
        let dimension = q + componentCount
        let packed = dimension * (dimension + 1) / 2
        var cursor = values.startIndex
        func take(_ count: Int) -> [Double] {
            defer { cursor += count }
            return Array(values[cursor..<(cursor + count)])
        }
        let weights = take(componentCount)
        let scalars = take(4)
        let userOffsets = take(userCount)
        let itemOffsets = take(itemCount)
        let loadings = take(itemCount * q)
        let means = take(itemCount * componentCount)
        let covariances = take(itemCount * packed)
        let (noise, loadingsPrior, meansPrior) = (scalars[0], scalars[1], scalars[2])
        guard values.allSatisfy(\.isFinite), weights.allSatisfy({ $0 >= 0 }), noise > 0, loadingsPrior > 0, meansPrior > 0 else {
            return .failure(CheckpointValueError("the checkpoint holds a non-finite parameter, a negative weight, or a non-positive noise variance or prior"))
        }
        return .success(FactorMixture(componentCount: componentCount, factorCount: q, itemCount: itemCount,
                                      offsets: RatingOffsets(globalMean: scalars[3], userOffsets: userOffsets, itemOffsets: itemOffsets),
                                      priors: FactorPriors(loadings: loadingsPrior, means: meansPrior),
                                      loadings: loadings, means: means, covariances: covariances,
                                      noiseVariance: noise, weights: weights))
    }
}
