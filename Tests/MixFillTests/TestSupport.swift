import Foundation
import MixFill
import Testing

/// Paths and helpers shared by the tests.
enum Fixtures {
    /// The package root, found from this file's path.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func data(_ name: String) -> String { root + "/data/" + name }

    /// ../shared/data beside the project (MovieLens lives there and is never committed).
    static let sharedData = URL(fileURLWithPath: root).deletingLastPathComponent().path + "/shared/data"

    static let smallIncomplete = data("test_incomplete.txt")
    static let smallComplete = data("test_complete.txt")
    static let netflixIncomplete = data("netflix_incomplete.txt")
    static let netflixComplete = data("netflix_complete.txt")

    static func load(_ path: String) throws -> DenseRatingMatrix {
        try DenseMatrixReader.read(path: path)
    }

    /// The netflix matrix, parsed once for all tests.
    static let netflix: DenseRatingMatrix? = try? DenseMatrixReader.read(path: netflixIncomplete)

    /// A fresh scratch folder under the system's temporary folder.
    static func scratchFolder() throws -> String {
        let path = NSTemporaryDirectory() + "mixfill-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, named name: String, in folder: String) throws -> String {
        let path = folder + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// The largest absolute difference between two equally long arrays.
func largestDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "shapes differ: \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// allclose in numpy's sense: |a − b| ≤ absolute + relative·|b| everywhere, shapes first.
func expectClose(_ actual: [Double], _ expected: [Double], relative: Double = 0, absolute: Double,
                 _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    guard actual.count == expected.count, !actual.isEmpty else { return }
    let excesses = actual.indices.map { abs(actual[$0] - expected[$0]) - (absolute + relative * abs(expected[$0])) }
    let worstIndex = excesses.indices.max(by: { excesses[$0] < excesses[$1] }) ?? 0
    let allClose = excesses.allSatisfy { $0 <= 0 }
    #expect(allClose, "\(what): worst at index \(worstIndex): \(actual[worstIndex]) vs \(expected[worstIndex]) (largest difference \(largestDifference(actual, expected)))", sourceLocation: sourceLocation)
}

/// The MixFillError `body` throws, or nil when it throws nothing (or something else).
func thrownError(_ body: () throws -> Void) -> MixFillError? {
    do {
        try body()
        return nil
    } catch {
        return error as? MixFillError
    }
}

func relativeError(_ actual: Double, _ expected: Double) -> Double {
    abs(actual - expected) / abs(expected)
}

/// The course's test_solutions.txt, parsed: numpy-printed arrays under section headings.
struct CourseSolutions {
    struct Snapshot {
        var means: [Double]
        var variances: [Double]
        var weights: [Double]
    }

    var initial: Snapshot
    var firstPosteriors: [Double]
    var firstLogLikelihood: Double
    var afterFirstMStep: Snapshot
    var converged: Snapshot
    var convergedPosteriors: [Double]
    var convergedLogLikelihood: Double
    var filled: [Double]

    init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let sections = Self.split(text, at: ["After first E-step:", "After first M-step:", "After a run", "X_gold:", "X_pred:"])
        func snapshot(_ section: String) throws -> Snapshot {
            Snapshot(means: try Self.array(after: "Mu:", in: section),
                     variances: try Self.array(after: "Var:", in: section),
                     weights: try Self.array(after: "P:", in: section))
        }
        initial = try snapshot(sections[0])
        firstPosteriors = try Self.array(after: "post:", in: sections[1])
        firstLogLikelihood = try Self.number(after: "LL:", in: sections[1])
        afterFirstMStep = try snapshot(sections[2])
        converged = try snapshot(sections[3])
        convergedPosteriors = try Self.array(after: "post:", in: sections[3])
        convergedLogLikelihood = try Self.number(after: "LL:", in: sections[3])
        filled = try Self.array(after: "", in: sections[5])
    }

    struct ParseError: Error { var what: String }

    static func split(_ text: String, at headings: [String]) -> [String] {
        var sections = [String]()
        var rest = Substring(text)
        for heading in headings {
            guard let range = rest.range(of: heading) else { return sections }
            sections.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        sections.append(String(rest))
        return sections
    }

    /// The bracketed numpy array that follows `label` (all numbers inside, row by row).
    static func array(after label: String, in section: String) throws -> [Double] {
        guard let labelRange = label.isEmpty ? section.startIndex..<section.startIndex : section.range(of: label),
              let open = section[labelRange.upperBound...].firstIndex(of: "[") else {
            throw ParseError(what: label)
        }
        var depth = 0
        var end = open
        for index in section[open...].indices {
            if section[index] == "[" { depth += 1 }
            if section[index] == "]" { depth -= 1 }
            if depth == 0 { end = index; break }
        }
        let body = section[open...end].replacingOccurrences(of: "[", with: " ").replacingOccurrences(of: "]", with: " ")
        return try body.split(whereSeparator: { $0 == " " || $0 == "\n" }).map {
            guard let value = Double($0) else { throw ParseError(what: "\(label) \($0)") }
            return value
        }
    }

    static func number(after label: String, in section: String) throws -> Double {
        guard let range = section.range(of: label) else { throw ParseError(what: label) }
        let token = section[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" }).first
        guard let token, let value = Double(token) else { throw ParseError(what: label) }
        return value
    }
}

/// OpenBLAS's thread count is one setting for the whole process, and fits set it (an
/// engine's `threads`, a batch of restarts). Tests in one process run concurrently, so a
/// test that fits with 2 BLAS threads could change the GEMM sums of another test that
/// expects a bit-for-bit result on 1. Every suite that runs fits in this process takes
/// this trait: their test cases run one at a time across suites, while the CLI suites
/// (separate processes) still run beside them.
struct BLASProcessState: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    /// One scope per test case (a test function without arguments has one case), so a
    /// suite never holds the lock while its own tests wait for it.
    func scopeProvider(for test: Test, testCase: Test.Case?) -> BLASProcessState? {
        testCase == nil ? nil : self
    }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        await Self.lock.acquire()
        // Every case starts from the same OpenBLAS thread count, whichever test ran before
        // (engines set it and leave it set, as the CLI's one engine per process may).
        BLASThreads.set(Self.startingThreadCount)
        do {
            try await function()
        } catch {
            await Self.lock.release()
            throw error
        }
        await Self.lock.release()
    }

    static let lock = AsyncLock()
    /// OpenBLAS's thread count when the first of these tests started (its default).
    static let startingThreadCount = BLASThreads.current
}

extension Trait where Self == BLASProcessState {
    /// Runs each test case alone among the suites that share OpenBLAS's process state.
    static var blasProcessState: BLASProcessState { BLASProcessState() }
}

/// A first-come, first-served lock for async code.
actor AsyncLock {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            held = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
