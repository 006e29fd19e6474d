import Foundation

/// A fitted mixture on disk: versioned JSON.
///
///     {"format": "mixfill-model", "version": 1, "k": K, "d": d,
///      "weights": [K], "variances": [K], "means": [[d] × K],
///      "log_likelihood": LL, "seed": s, "iterations": t, "converged": true,
///      "data": {"users": n, "items": d, "observed": m}}
///
/// Readers refuse a version newer than theirs (with a message saying so) rather than
/// guess at fields they do not know.
public struct ModelFile: Sendable, Equatable {
    public static let currentVersion = 1
    public static let formatName = "mixfill-model"

    public var mixture: Mixture
    public var logLikelihood: Double
    public var seed: UInt32
    public var iterations: Int
    public var converged: Bool
    public var userCount: Int
    public var observedCount: Int

    public init(mixture: Mixture, logLikelihood: Double, seed: UInt32, iterations: Int, converged: Bool,
                userCount: Int, observedCount: Int) {
        self.mixture = mixture
        self.logLikelihood = logLikelihood
        self.seed = seed
        self.iterations = iterations
        self.converged = converged
        self.userCount = userCount
        self.observedCount = observedCount
    }

    struct Shape: Codable {
        var users: Int
        var items: Int
        var observed: Int
    }

    struct Document: Codable {
        var format: String
        var version: Int
        var k: Int
        var d: Int
        var weights: [Double]
        var variances: [Double]
        var means: [[Double]]
        var log_likelihood: Double
        var seed: UInt32
        var iterations: Int
        var converged: Bool
        var data: Shape
    }

    public func encoded() throws(MixFillError) -> [UInt8] {
        let k = mixture.componentCount
        let d = mixture.itemCount
        let document = Document(
            format: Self.formatName, version: Self.currentVersion, k: k, d: d,
            weights: mixture.weights, variances: mixture.variances,
            means: (0..<k).map { Array(mixture.mean($0)) },
            log_likelihood: logLikelihood, seed: seed, iterations: iterations, converged: converged,
            data: Shape(users: userCount, items: d, observed: observedCount))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return Array(try encoder.encode(document)) + [UInt8(ascii: "\n")]
        } catch {
            throw .runtime(message: "cannot encode the model: \(error)")
        }
    }

    public func write(to path: String) throws(MixFillError) {
        try AtomicFile.write(encoded(), to: path)
    }

    public static func read(path: String) throws(MixFillError) -> ModelFile {
        try decode(FileBytes.read(path), name: path)
    }

    public static func decode(_ bytes: [UInt8], name: String) throws(MixFillError) -> ModelFile {
        struct Header: Decodable { var format: String?; var version: Int? }
        let decoder = JSONDecoder()
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: Data(bytes))
        } catch {
            throw .badFile(file: name, message: "not a MixFill model file (not valid JSON); give a file written by `mixfill fit --model-out`")
        }
        guard header.format == formatName, let version = header.version else {
            throw .badFile(file: name, message: "not a MixFill model file (no \"format\": \"\(formatName)\"); give a file written by `mixfill fit --model-out`")
        }
        guard version <= currentVersion else {
            throw .badFile(file: name, message: "model format version \(version) is newer than this MixFill reads (\(currentVersion)); upgrade MixFill")
        }
        let document: Document
        do {
            document = try decoder.decode(Document.self, from: Data(bytes))
        } catch {
            throw .badFile(file: name, message: "model file is incomplete or has a field of the wrong type (\(describe(error))); refit and write it again")
        }
        let k = document.k
        let d = document.d
        guard k >= 1, d >= 1, document.weights.count == k, document.variances.count == k,
              document.means.count == k, document.means.allSatisfy({ $0.count == d }) else {
            throw .badFile(file: name, message: "model shapes disagree: k = \(k), d = \(d) but the arrays have other sizes")
        }
        let means = document.means.flatMap { $0 }
        guard means.allSatisfy(\.isFinite), document.weights.allSatisfy({ $0.isFinite && $0 >= 0 }),
              document.variances.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw .badFile(file: name, message: "model has a non-finite mean, a negative weight or a non-positive variance")
        }
        let mixture = Mixture(componentCount: k, itemCount: d, means: means,
                              variances: document.variances, weights: document.weights)
        return ModelFile(mixture: mixture, logLikelihood: document.log_likelihood, seed: document.seed,
                         iterations: document.iterations, converged: document.converged,
                         userCount: document.data.users, observedCount: document.data.observed)
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): return "missing \"\(key.stringValue)\""
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            return "bad value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "unreadable"
        }
    }
}
