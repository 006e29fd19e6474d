import Foundation
@testable import MixFill
@testable import MixFillTools
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

    /// A fresh scratch folder. Every one a test process makes lives under one folder
    /// (`scratchRoot`), removed when the process exits, so a run of the suite leaves nothing
    /// behind in the system's temporary folder.
    static func scratchFolder() throws -> String {
        let path = scratchRoot + "/" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, named name: String, in folder: String) throws -> String {
        let path = folder + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// The folder holding this test process's scratch folders; created on first use, with an
/// exit handler that removes it (a crash leaves it behind, named for the process).
private let scratchRoot: String = {
    let path = NSTemporaryDirectory() + "mixfill-tests-\(getpid())-" + UUID().uuidString
    atexit { removeScratchRoot() }
    return path
}()

private func removeScratchRoot() {
    try? FileManager.default.removeItem(atPath: scratchRoot)
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

/// A course statistics record (`CourseRecord`) as named fields, to compare kernels.
struct CourseStatistics: Equatable {
    var logLikelihood: Double
    var userCount: Double
    var responsibilities: [Double]
    var weightedSquaredNorms: [Double]
    var weightedObservedCounts: [Double]
    var ratingSums: [Double]
    var observedWeights: [Double]

    init(_ record: ArraySlice<Double>, componentCount: Int, itemCount: Int) {
        let fields = CourseRecord(componentCount: componentCount, itemCount: itemCount)
        let values = Array(record)
        precondition(values.count == fields.length, "a record of \(fields.length) values, not \(values.count)")
        logLikelihood = values[CourseRecord.logLikelihood]
        userCount = values[CourseRecord.userCount]
        responsibilities = Array(values[CourseRecord.responsibilities..<fields.weightedSquaredNorms])
        weightedSquaredNorms = Array(values[fields.weightedSquaredNorms..<fields.weightedCounts])
        weightedObservedCounts = Array(values[fields.weightedCounts..<fields.ratingSums])
        ratingSums = Array(values[fields.ratingSums..<fields.observedWeights])
        observedWeights = Array(values[fields.observedWeights..<fields.length])
    }
}

/// The course model's EM loop as the tests drive it: one run is a batch of one, a batch is
/// several runs through the same loop.
struct CourseEM {
    let loop: EMLoop<CourseFamily>

    init(shards: [any StatisticsKernel<Mixture>], workers: Int = 1, stoppingRule: StoppingRule = StoppingRule(),
         varianceFloor: Double = Mixture.defaultVarianceFloor) {
        loop = EMLoop(family: CourseFamily(varianceFloor: varianceFloor), shards: shards, workers: workers, rule: stoppingRule)
    }

    init(kernel: any StatisticsKernel<Mixture>, stoppingRule: StoppingRule = StoppingRule()) {
        self.init(shards: [kernel], stoppingRule: stoppingRule)
    }

    /// The loop of `engine` on `input`, as the commands build it.
    init(engine: Engine, input: RatingInput, stoppingRule: StoppingRule = StoppingRule()) throws {
        loop = try engine.courseLoop(for: input, rule: stoppingRule)
    }

    func run(from initial: Mixture, previousLogLikelihood: Double? = nil) throws -> FitResult<Mixture> {
        try loop.run([EMState(initial: initial, previousObjective: previousLogLikelihood)])[0]
    }

    /// One run from `state`; `observer` sees its state after every iteration and may throw
    /// to stop it there.
    func run(resuming state: EMState<Mixture>,
             observer: ((EMState<Mixture>) throws(MixFillError) -> Void)? = nil) throws -> FitResult<Mixture> {
        try loop.run([state]) { (progress: [RestartProgress<Mixture>]) throws(MixFillError) in
            for run in progress { try observer?(run.state) }
        }[0]
    }

    func runBatched(from initials: [Mixture], previousLogLikelihoods: [Double?]? = nil) throws -> [FitResult<Mixture>] {
        try loop.run(initials.indices.map { EMState(initial: initials[$0], previousObjective: previousLogLikelihoods?[$0] ?? nil) })
    }

    func eStep(_ mixture: Mixture) throws -> CourseStatistics {
        let (layout, sum) = try loop.statistics([mixture])
        return CourseStatistics(sum[layout.record(0)], componentCount: mixture.componentCount, itemCount: mixture.itemCount)
    }

    func posteriors(_ mixture: Mixture) throws -> (posteriors: [Double], logLikelihood: Double) {
        let states = try loop.userStates(mixture)
        return (states.states, states.logLikelihood)
    }

    /// Every seed's run for K from the course initialisation, as one batch.
    func fit(data: some RatingData, componentCount: Int, seeds: [UInt32]) throws -> MultiStartFit<Mixture> {
        try loop.fit(componentCounts: [componentCount], start: .seeds(seeds), initial: { (componentCount, seed) throws(MixFillError) in
            try Initialization.courseMixture(data: data, componentCount: componentCount, seed: seed)
        })[0]
    }
}

extension StatisticsKernel where Model == Mixture {
    /// p(j|u) of this kernel's users and their log-likelihood.
    func posteriors(_ mixture: Mixture) -> (posteriors: [Double], logLikelihood: Double) {
        let states = userStates(mixture)
        return (states.states, states.logLikelihood)
    }
}

extension CourseStatistics {
    /// The flat record these fields came from.
    var record: [Double] {
        [logLikelihood, userCount] + responsibilities + weightedSquaredNorms + weightedObservedCounts + ratingSums + observedWeights
    }
}

/// The course M-step on statistics given as fields.
enum MStep {
    static func update(_ mixture: Mixture, with statistics: CourseStatistics,
                       varianceFloor: Double = Mixture.defaultVarianceFloor) -> Mixture {
        statistics.record.withUnsafeBufferPointer { CourseFamily(varianceFloor: varianceFloor).maximise(mixture, record: $0) }
    }
}

/// A fit of every seed for one K through `FitJob` on `engine`, watched by a `FitProgress`
/// with checkpoints in `folder` (as `fit --checkpoint-every` and `batch` run it).
func checkpointedFit(_ input: RatingInput, engine: Engine, componentCount: Int, seeds: [UInt32], folder: String,
                     every: Int?, resume: Bool, rule: StoppingRule = StoppingRule(),
                     report: @escaping (FitEvent) -> Void = { _ in },
                     stopRequested: @escaping () -> Int32? = { nil }) throws -> MultiStartFit<Mixture> {
    let progress = FitProgress(
        context: FitProgress.Context(input: input, rule: rule, varianceFloor: Mixture.defaultVarianceFloor, engine: engine),
        checkpointing: .init(folder: folder, every: every, resume: resume, resumeHint: "rerun with --resume"),
        report: report, stopRequested: stopRequested)
    return try FitJob(componentCounts: [componentCount], start: .seeds(seeds), rule: rule)
        .run(on: input, engine: engine, observer: progress).fits[0].fit
}

extension RatingInput {
    /// A dense matrix as loaded data.
    init(_ matrix: DenseRatingMatrix) {
        self.init(storage: .dense(matrix), format: .dense)
    }
}

extension Backend {
    /// The dense kernel of this backend over `data`.
    func makeKernel(for data: DenseRatingMatrix) -> any StatisticsKernel<Mixture> {
        self == .naive ? NaiveKernel(data) : BLASKernel(data)
    }
}

extension ModelFile {
    /// The course mixture of a model file the test wrote with the course family.
    var course: Mixture {
        guard let mixture else { preconditionFailure("a course model file") }
        return mixture
    }
}
