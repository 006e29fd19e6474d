import ArgumentParser
import Foundation
import MixFill
import MixFillTools

/// `mixfill bench`: seconds per EM iteration of every backend and precision, against the
/// naive kernel and against this machine's own GEMM rate.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time an EM iteration on each backend and precision and compare them.",
        discussion: """
            Times EM iterations (E-step and M-step) from the course initialisation for each \
            K: the naive kernel, the BLAS kernel in double and single precision with one \
            restart, and with --restarts seeds run as one batch. Prints the median seconds \
            per iteration (per restart for batches), the rate in GFLOP/s counted as the GEMM \
            form's 8·n·d·K operations per iteration for every backend, the speed-up over \
            naive, and the fraction of this machine's square-GEMM rate, which bench measures \
            first on the same threads. With more than one thread it also compares the ways \
            to use the threads, per iteration and on whole fits. Give DATA, or --users, --items and --density for a \
            generated matrix.
            """
    )

    @Argument(help: ArgumentHelp("Dense rating matrix (or generate one with --users, --items, --density).", valueName: "DATA"))
    var data: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Users of a generated matrix.", valueName: "N"))
    var users: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Items of a generated matrix.", valueName: "N"))
    var items: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Share of observed entries in a generated matrix, in (0, 1].", valueName: "F"))
    var density: Double?

    @Option(name: .short, parsing: .unconditional, help: ArgumentHelp("Numbers of components: a list or range, e.g. 1,4,12,32.", valueName: "K-LIST"))
    var k: String = "1,4,12,32"

    @Option(parsing: .unconditional, help: ArgumentHelp("Timed iterations per case and round (after one untimed warm-up); the median over all rounds is reported.", valueName: "N"))
    var iterations: Int = 5

    @Option(parsing: .unconditional, help: ArgumentHelp("Rounds: every case is timed once per round, the cases taking turns, so load changes touch all alike.", valueName: "N"))
    var rounds: Int = 3

    @Option(parsing: .unconditional, help: ArgumentHelp("Seeds run as one batch in the batched cases (seeds 0 to N−1).", valueName: "N"))
    var restarts: Int = 5

    @Option(parsing: .unconditional, help: ArgumentHelp("Threads (default: all cores).", valueName: "N"))
    var threads: Int?

    @Option(name: .customLong("gemm-size"), parsing: .unconditional, help: ArgumentHelp("Size of the square GEMM that measures the machine's rate.", valueName: "N"))
    var gemmSize: Int = 2000

    @Flag(help: "Print one JSON object on stdout instead of tables.")
    var json = false

    @Option(help: ArgumentHelp("Write a chart of the speed-up over naive against K (SVG) here.", valueName: "FILE"))
    var svg: String?

    @Option(help: ArgumentHelp("Also write the Markdown tables here (useful with --json).", valueName: "FILE"))
    var markdown: String?

    func validate() throws {
        try refuseStandardOutput([("--svg", svg), ("--markdown", markdown)])
        _ = try IntegerList.componentCounts(k)
        let generated = [users != nil, items != nil, density != nil]
        if data != nil, generated.contains(true) {
            throw ValidationError("give either DATA or --users/--items/--density, not both")
        }
        if data == nil, generated.contains(false) {
            throw ValidationError("give DATA, or all of --users, --items and --density for a generated matrix")
        }
        if let users, users < 1 { throw ValidationError("--users: \(users) is not allowed; give 1 or more") }
        if let items, items < 1 { throw ValidationError("--items: \(items) is not allowed; give 1 or more") }
        if let density, !(density > 0 && density <= 1) {
            throw ValidationError("--density: \(density) is not allowed; give a share in (0, 1], e.g. 0.05")
        }
        if iterations < 1 { throw ValidationError("--iterations: \(iterations) is not allowed; give 1 or more") }
        if rounds < 1 { throw ValidationError("--rounds: \(rounds) is not allowed; give 1 or more") }
        if restarts < 2 { throw ValidationError("--restarts: \(restarts) is not allowed; a batch needs 2 or more") }
        if let threads, let problem = ThreadCount.problem(threads) { throw ValidationError("--threads: \(problem)") }
        if gemmSize < 64 { throw ValidationError("--gemm-size: \(gemmSize) is too small to measure; give 64 or more") }
        if let problem = GEMMRate.sizeProblem(gemmSize) { throw ValidationError("--gemm-size: \(problem)") }
        if let users, let items, let problem = Self.generatedMatrixProblem(users: users, items: items) {
            throw ValidationError(problem)
        }
    }

    /// Bytes per entry a generated matrix takes in bench: the matrix (8), the double BLAS
    /// shards' mask (8), the single-precision shards' ratings and mask (4 + 4), the
    /// one-shard kernel's mask (8).
    static let bytesPerGeneratedEntry = 32.0

    /// Why a generated users × items matrix cannot be benchmarked here, naming the options,
    /// or nil when it can: its entries must not overflow, each side must fit OpenBLAS's
    /// Int32 dimensions, and all copies must fit in half of this machine's memory.
    static func generatedMatrixProblem(users: Int, items: Int) -> String? {
        let (entries, overflow) = users.multipliedReportingOverflow(by: items)
        let bytes = bytesPerGeneratedEntry * Double(users) * Double(items)
        let available = KernelChoice.physicalMemoryBytes / 2
        if overflow || users > Int(Int32.max) || items > Int(Int32.max) || bytes > available {
            let shown = overflow ? "more than \(Int.max)" : "\(entries)"
            return "--users, --items: a generated \(users) × \(items) matrix (\(shown) entries, \(Int(bytesPerGeneratedEntry)) bytes each in bench) needs \(RatingInput.gigabytes(bytes)) GB but half of this machine's memory is \(RatingInput.gigabytes(available)) GB; give fewer users or items"
        }
        return nil
    }

    func run() throws {
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let componentCounts = try IntegerList.componentCounts(k)
        let matrix: DenseRatingMatrix
        let source: String
        if let data {
            // bench times the dense course kernels; a rating file would fail as a malformed
            // matrix at its first comma, so it is named for what it is. (Whitespace triplets
            // are also a valid 3- or 4-column matrix, and are read as one.)
            let format = try RatingFormat.detect(path: data)
            if ![.dense, .triplets].contains(format) {
                throw MixFillError.badFile(file: data, message: "holds rating records (\(format.rawValue)), and bench times the dense kernels on a dense matrix; give one, or time this file's fit with 'mixfill measure'")
            }
            matrix = try DenseMatrixReader.read(path: data)
            source = data
        } else if let users, let items, let density {
            matrix = Self.generatedMatrix(users: users, items: items, density: density)
            source = "generated \(users) × \(items), density \(density)"
        } else {
            throw ValidationError("give DATA, or all of --users, --items and --density")
        }
        for count in componentCounts where count > matrix.userCount {
            throw MixFillError.badOption(option: "-k", message: "K = \(count) is more than the \(counted(matrix.userCount, "user")); choose K ≤ \(matrix.userCount)")
        }

        // Every case is timed in each of --rounds rounds, the cases taking turns within a
        // round, so that a change in the machine's load shows in all of them alike; the
        // medians are over all rounds' iterations.
        // The engines as `fit` builds them, plus the one-shard-on-threaded-OpenBLAS
        // configuration that the thread policy was chosen against; each loop's kernels are
        // built once and reused by every case and round.
        let input = RatingInput(storage: .dense(matrix), format: .dense)
        let rule = StoppingRule(relativeTolerance: -.infinity, maxIterations: 1 + iterations)
        let naive = try TimedEngine(Engine(kernel: .naive, threads: 1), input, rule)
        var blasByPrecision = [Precision: TimedEngine]()
        for precision in Precision.allCases {
            blasByPrecision[precision] = try TimedEngine(Engine(kernel: .dense(precision), threads: threadCount), input, rule)
        }
        let oneShard = try TimedEngine(Engine(kernel: .dense(.double), threads: threadCount, threading: .oneShardOnBLASThreads),
                                       input, rule)
        struct Timed {
            var k: Int
            var backend: String
            var precision: Precision
            var restarts: Int
            var engine: TimedEngine
            var samples: [Double] = []
        }
        var timed = [Timed]()
        var policyTimed = [(blasThreads: Timed, shardWorkers: Timed)]()
        for componentCount in componentCounts {
            timed.append(Timed(k: componentCount, backend: "naive", precision: .double, restarts: 1, engine: naive))
            for restartCount in [1, restarts] {
                for precision in Precision.allCases {
                    guard let engine = blasByPrecision[precision] else { continue }
                    timed.append(Timed(k: componentCount, backend: "blas", precision: precision, restarts: restartCount,
                                       engine: engine))
                }
            }
            if threadCount > 1, let shardEngine = blasByPrecision[.double] {
                for restartCount in [1, restarts] {
                    policyTimed.append((
                        Timed(k: componentCount, backend: "blas", precision: .double, restarts: restartCount, engine: oneShard),
                        Timed(k: componentCount, backend: "blas", precision: .double, restarts: restartCount,
                              engine: shardEngine)))
                }
            }
        }
        var gemmDouble = [Double]()
        var gemmSingle = [Double]()
        var gemmOneThread = [Double]()
        for _ in 0..<rounds {
            gemmDouble.append(GEMMRate.measure(size: gemmSize, precision: .double, threads: threadCount, repeats: 3) / 1e9)
            gemmSingle.append(GEMMRate.measure(size: gemmSize, precision: .single, threads: threadCount, repeats: 3) / 1e9)
            gemmOneThread.append(GEMMRate.measure(size: gemmSize, precision: .double, threads: 1, repeats: 3) / 1e9)
            for index in timed.indices {
                timed[index].samples += try timeIterations(timed[index].engine, matrix,
                                                           timed[index].k, restarts: timed[index].restarts)
            }
            for index in policyTimed.indices {
                for which in 0..<2 {
                    let item = which == 0 ? policyTimed[index].blasThreads : policyTimed[index].shardWorkers
                    let samples = try timeIterations(item.engine, matrix, item.k, restarts: item.restarts)
                    if which == 0 { policyTimed[index].blasThreads.samples += samples } else { policyTimed[index].shardWorkers.samples += samples }
                }
            }
        }
        let gemm = BenchReport.GEMM(size: gemmSize, threads: threadCount, double_gflops: Self.median(gemmDouble),
                                    single_gflops: Self.median(gemmSingle), double_gflops_one_thread: Self.median(gemmOneThread))

        let flopsPerComponent = 8 * Double(matrix.userCount) * Double(matrix.itemCount)
        var cases = [BenchReport.Case]()
        for item in timed {
            let seconds = Self.median(item.samples)
            let naiveSeconds = Self.median(timed.first { $0.k == item.k && $0.backend == "naive" }?.samples ?? [])
            let gflops = flopsPerComponent * Double(item.k) / seconds / 1e9
            let peak = item.precision == .double ? gemm.double_gflops : gemm.single_gflops
            cases.append(BenchReport.Case(
                k: item.k, backend: item.backend, precision: item.precision.rawValue, restarts: item.restarts,
                seconds_per_iteration: seconds, gflops: gflops, speedup_over_naive: naiveSeconds / seconds,
                fraction_of_gemm_peak: gflops / peak))
        }
        let policies = policyTimed.map {
            BenchReport.PolicyCase(k: $0.blasThreads.k, restarts: $0.blasThreads.restarts,
                                   blas_threads_seconds: Self.median($0.blasThreads.samples),
                                   shard_workers_seconds: Self.median($0.shardWorkers.samples))
        }

        // Whole fits to convergence, the decision that matters for `fit`: the batch of seeds
        // at K = 12 (or the largest K asked for) under each way of using the threads.
        var fitPolicies: BenchReport.FitPolicies?
        if threadCount > 1, let componentCount = componentCounts.contains(12) ? 12 : componentCounts.max() {
            var initials = [Mixture]()
            for seed in 0..<restarts {
                initials.append(try Initialization.courseMixture(data: matrix, componentCount: componentCount, seed: UInt32(seed)))
            }
            fitPolicies = try timeFitPolicies(matrix, initials, threads: threadCount)
        }

        let report = BenchReport(
            data: BenchReport.DataSummary(source: source, users: matrix.userCount, items: matrix.itemCount,
                                          observed: matrix.observedCount),
            blas: BLASThreads.configuration, threads: threadCount, iterations: iterations, rounds: rounds, restarts: restarts,
            policy: "\(threadCount) shard\(threadCount == 1 ? "" : "s") of users on \(threadCount) thread\(threadCount == 1 ? "" : "s"), single-threaded OpenBLAS each",
            gemm: gemm, cases: cases, policies: policies, fit_policies: fitPolicies)
        if let svg {
            try AtomicFile.write(Array(BenchChart(report: report).svg().utf8), to: svg)
        }
        if let markdown {
            try AtomicFile.write(Array(report.markdown().utf8), to: markdown)
        }
        if json {
            try printJSON(report)
        } else {
            try writeStandardOutput(Data(report.markdown().utf8))
        }
    }

    /// An engine and its EM loop on the benchmark's matrix, built once.
    struct TimedEngine {
        let engine: Engine
        let loop: EMLoop<CourseFamily>

        init(_ engine: Engine, _ input: RatingInput, _ rule: StoppingRule) throws {
            self.engine = engine
            loop = try Result { () throws(EngineConflict) in try engine.courseLoop(for: input, rule: rule) }
                .mapError { $0.error(.commandLine) }.get()
        }

        /// Wall seconds of every iteration of one run of the loop from `initials`, timed
        /// by the loop's observer (called after each iteration).
        func iterationSeconds(from initials: [Mixture]) throws -> [Double] {
            let clock = ContinuousClock()
            var seconds = [Double]()
            var last = clock.now
            _ = try loop.run(initials.map { EMState(initial: $0) }) { (_: [RestartProgress<Mixture>]) throws(MixFillError) in
                let now = clock.now
                seconds.append((now - last).seconds)
                last = now
            }
            return seconds
        }
    }

    /// Seconds per iteration per restart of `iterations` timed iterations: `restarts` seeds
    /// from the course initialisation run as one batch, after one untimed warm-up (the
    /// stopping rule is off, so every iteration is timed at full batch width).
    func timeIterations(_ timed: TimedEngine, _ data: DenseRatingMatrix,
                        _ componentCount: Int, restarts: Int) throws -> [Double] {
        var initials = [Mixture]()
        for seed in 0..<restarts {
            initials.append(try Initialization.courseMixture(data: data, componentCount: componentCount, seed: UInt32(seed)))
        }
        // As in `fit`: the engine's threads, without OpenBLAS's idle pool spinning beside them.
        timed.engine.claimBLASThreads(stopIdlePool: true)
        return try timed.iterationSeconds(from: initials).dropFirst().map { $0 / Double(restarts) }
    }

    /// The median (the mean of the middle two for an even count; 0 for none).
    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Median wall seconds (of --rounds runs, the policies taking turns) of running EM from `initials` to convergence as one batch
    /// (double precision, initialisation excluded) under the three ways to use `threads`
    /// threads: one shard of all users on multi-threaded OpenBLAS; one shard of users per
    /// thread on single-threaded OpenBLAS; the restarts dealt out over the threads, each
    /// thread running its share as a batch over all users on single-threaded OpenBLAS.
    func timeFitPolicies(_ data: DenseRatingMatrix, _ initials: [Mixture], threads: Int) throws -> BenchReport.FitPolicies {
        let clock = ContinuousClock()
        let rounds = self.rounds

        let input = RatingInput(storage: .dense(data), format: .dense)
        let rule = StoppingRule()
        let oneShard = try TimedEngine(Engine(kernel: .dense(.double), threads: threads, threading: .oneShardOnBLASThreads),
                                       input, rule)
        let shards = try TimedEngine(Engine(kernel: .dense(.double), threads: threads), input, rule)
        let groups = (0..<min(threads, initials.count)).map { worker in
            stride(from: worker, to: initials.count, by: threads).map { initials[$0] }
        }
        // One single-threaded engine per restart worker.
        let groupLoops = try groups.map { _ in try TimedEngine(Engine(kernel: .dense(.double), threads: 1), input, rule).loop }
        let states = initials.map { EMState(initial: $0) }
        var blasThreadsSeconds = [Double]()
        var shardWorkersSeconds = [Double]()
        var restartWorkersSeconds = [Double]()
        var iterations = 0
        for _ in 0..<rounds {
            oneShard.engine.claimBLASThreads()
            var start = clock.now
            let reference = try oneShard.loop.run(states)
            blasThreadsSeconds.append((clock.now - start).seconds)
            iterations = reference.reduce(0) { $0 + $1.iterations }

            shards.engine.claimBLASThreads(stopIdlePool: true)
            start = clock.now
            _ = try shards.loop.run(states)
            shardWorkersSeconds.append((clock.now - start).seconds)

            let outcomes = groups.map { _ in GroupOutcome() }
            start = clock.now
            let work = GroupWork(loops: groupLoops, groups: groups, outcomes: outcomes)
            DispatchQueue.concurrentPerform(iterations: groups.count) { worker in work.run(worker) }
            restartWorkersSeconds.append((clock.now - start).seconds)
            for outcome in outcomes { _ = try outcome.runs?.get() }
        }
        return BenchReport.FitPolicies(
            k: initials[0].componentCount, restarts: initials.count, iterations: iterations,
            blas_threads_seconds: Self.median(blasThreadsSeconds), shard_workers_seconds: Self.median(shardWorkersSeconds),
            restart_workers_seconds: Self.median(restartWorkersSeconds))
    }

    /// One thread's share of the restart-workers policy.
    private final class GroupOutcome {
        var runs: Result<[FitResult<Mixture>], MixFillError>?
    }

    /// The restart-workers policy's threads: worker w runs group w with its own kernel and
    /// writes only outcome w, hence safe to send.
    private struct GroupWork: @unchecked Sendable {
        let loops: [EMLoop<CourseFamily>]
        let groups: [[Mixture]]
        let outcomes: [GroupOutcome]

        func run(_ worker: Int) {
            outcomes[worker].runs = Result { () throws(MixFillError) in try loops[worker].run(groups[worker].map { EMState(initial: $0) }) }
        }
    }

    /// A users × items matrix with each entry observed with probability `density`, ratings
    /// uniform in 1…5, from MT19937 seeded with 0 (so the same every run). Every user gets
    /// at least one rating.
    static func generatedMatrix(users: Int, items: Int, density: Double) -> DenseRatingMatrix {
        var generator = MersenneTwister(seed: 0)
        var values = [Double](repeating: 0, count: users * items)
        let threshold = UInt32(min(Double(UInt32.max), (density * 4_294_967_296).rounded(.down)))
        for user in 0..<users {
            var rated = false
            for item in 0..<items where density >= 1 || generator.nextUInt32() < threshold {
                values[user * items + item] = Double(1 + generator.nextUInt32() % 5)
                rated = true
            }
            if !rated {
                values[user * items + Int(generator.nextUInt32() % UInt32(items))] = Double(1 + generator.nextUInt32() % 5)
            }
        }
        return DenseRatingMatrix(userCount: users, itemCount: items, values: values)
    }
}
