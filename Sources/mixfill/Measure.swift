import ArgumentParser
import Foundation
import MixFill
import MixFillTools

#if canImport(Glibc)
import Glibc
#endif

struct Measure: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time loading and EM iterations of one kernel on a data file (for benchmarks).",
        discussion: """
            Loads DATA, builds the kernel (its shards and threads as fit runs them), takes the course initialisation for seed 0, then runs \
            --iterations full EM iterations (E-step + M-step, no stopping rule) and reports the \
            load time, the median and fastest seconds per iteration and the peak resident memory \
            of the process so far. Scripts/bench-scale runs it.
            """
    )

    @Argument(help: ArgumentHelp(DataArgument.help, valueName: "DATA"))
    var data: String

    @Option(help: ArgumentHelp("Model family: course (default) or mppca.", valueName: "FAMILY"))
    var family: ModelFamily = .course

    @Option(name: .short, parsing: .unconditional, help: ArgumentHelp("Number of components.", valueName: "K"))
    var k: Int = 12

    @Option(parsing: .unconditional, help: ArgumentHelp("mppca: latent factors q.", valueName: "Q"))
    var factors: Int = 10

    @Option(name: .customLong("prior-loadings"), parsing: .unconditional, help: ArgumentHelp("mppca: prior precision of the loadings, λ_W.", valueName: "λ"))
    var priorLoadings: Double = 100

    @Option(name: .customLong("prior-means"), parsing: .unconditional, help: ArgumentHelp("mppca: prior precision of the component means, λ_m (default: λ_W).", valueName: "λ"))
    var priorMeans: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("EM iterations to time.", valueName: "N"))
    var iterations: Int = 5

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the initialisation.", valueName: "SEED"))
    var seed: UInt32 = 0

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @OptionGroup(title: HelpHeading.engine) var engine: EngineOptions

    @OptionGroup var input: InputOptions

    func validate() throws {
        if iterations < 1 { throw ValidationError("--iterations: \(iterations) is not allowed; give 1 or more") }
        if k < 1 { throw ValidationError("-k: K = \(k) is not allowed; K must be at least 1") }
        if factors < 0 { throw ValidationError("--factors: \(factors) is not allowed; give 0 or more") }
        if !(priorLoadings > 0) || !((priorMeans ?? priorLoadings) > 0) {
            throw ValidationError("--prior-loadings, --prior-means: give positive precisions")
        }
    }

    struct Report: Encodable {
        var path: String
        var format: String
        var users: Int
        var items: Int
        var ratings: Int
        /// The arithmetic (`--backend`) and the kernel that ran (`--kernel`'s names).
        var backend: String
        var kernel: String
        var threads: Int
        var k: Int
        var load_seconds: Double
        var kernel_seconds: Double
        var initialization_seconds: Double
        var iteration_seconds: [Double]
        var median_iteration_seconds: Double
        var fastest_iteration_seconds: Double
        /// Processor time of all threads per iteration (wall time × busy threads on an idle machine).
        var median_iteration_cpu_seconds: Double
        var log_likelihoods: [Double]
        var peak_resident_bytes: Int
        /// The sparse kernel's vector passes: "avx2" or "swift" (absent for other kernels).
        var vector_passes: String?
    }

    /// Processor time used by the whole process so far, in seconds.
    static func processorSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let loaded = try LoadedRatings.load(data, input.data).input
        let loadSeconds = (clock.now - start).seconds
        if k > loaded.userCount {
            throw MixFillError.badOption(option: "-k", message: "K = \(k) is more than the \(counted(loaded.userCount, "user")) in \(data); choose K ≤ \(loaded.userCount)")
        }
        if family == .mppca {
            try FactorOptions.check(factors: [factors], itemCount: loaded.itemCount, componentCounts: [k],
                                    threads: engine.threadCount, runs: 1)
        }
        let kernelStart = clock.now
        // The engine every command runs for these options: the same kernel, shards and threads.
        let fitEngine = try engine.makeEngine(for: loaded, family: family, kernel: input.kernel)
        let threadCount = fitEngine.threads
        let kernelSeconds: Double
        let initSeconds: Double
        var times = [Double]()
        var cpuTimes = [Double]()
        var logLikelihoods = [Double]()
        /// Runs `iterations` EM iterations from `initial` through `loop`, one at a time so
        /// each is timed alone.
        func time<Family: EMFamily>(_ loop: EMLoop<Family>, from initial: Family.Model) throws {
            var model = initial
            for _ in 0..<iterations {
                let iterationStart = clock.now
                let cpuStart = Self.processorSeconds()
                let result = try loop.run([EMState(initial: model)])[0]
                model = result.model
                times.append((clock.now - iterationStart).seconds)
                cpuTimes.append(Self.processorSeconds() - cpuStart)
                logLikelihoods.append(result.objective)
            }
        }
        let rule = StoppingRule(maxIterations: 1)
        switch family {
        case .course:
            let loop = try Result { () throws(EngineConflict) in try fitEngine.courseLoop(for: loaded, rule: rule) }
                .mapError { $0.error(.commandLine) }.get()
            kernelSeconds = (clock.now - kernelStart).seconds
            let initStart = clock.now
            let mixture = try Initialization.courseMixture(data: loaded.data, componentCount: k, seed: seed)
            initSeconds = (clock.now - initStart).seconds
            try time(loop, from: mixture)
        case .mppca:
            let loop = fitEngine.factorLoop(for: loaded, rule: rule)
            kernelSeconds = (clock.now - kernelStart).seconds
            let initStart = clock.now
            let matrix = loaded.table.matrix
            let offsets = RatingOffsets(BiasBaseline(matrix: matrix))
            let model = FactorInitialization.random(matrix: matrix, offsets: offsets, factorCount: factors, componentCount: k,
                                                    priors: FactorSettings(meansPrior: priorMeans).priors(loadings: priorLoadings), seed: UInt64(seed))
            initSeconds = (clock.now - initStart).seconds
            try time(loop, from: model)
        }
        let sorted = times.sorted()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let report = Report(
            path: data, format: loaded.format.rawValue, users: loaded.userCount, items: loaded.itemCount,
            ratings: loaded.observedCount, backend: fitEngine.kernel.backend.rawValue, kernel: fitEngine.kernel.layoutName, threads: threadCount, k: k,
            load_seconds: loadSeconds, kernel_seconds: kernelSeconds, initialization_seconds: initSeconds,
            iteration_seconds: times, median_iteration_seconds: sorted[sorted.count / 2],
            fastest_iteration_seconds: sorted[0],
            median_iteration_cpu_seconds: cpuTimes.sorted()[cpuTimes.count / 2], log_likelihoods: logLikelihoods,
            peak_resident_bytes: Int(usage.ru_maxrss) * 1024,
            vector_passes: fitEngine.kernel == .sparse ? Engine.sparsePasses : nil)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try writeStandardOutput(try encoder.encode(report) + Data("\n".utf8))
        } else {
            print("""
                data: \(data) (\(report.format)): \(counted(report.users, "user")) × \(counted(report.items, "item")), \(counted(report.ratings, "rating"))
                backend: \(report.backend), kernel: \(report.kernel)\(report.vector_passes.map { " (\($0) passes)" } ?? ""), threads: \(threadCount), K = \(k)
                load \(fixed(loadSeconds, 3)) s, kernel set-up \(fixed(kernelSeconds, 3)) s, initialisation \(fixed(initSeconds, 3)) s
                per iteration: median \(fixed(report.median_iteration_seconds, 4)) s, fastest \(fixed(report.fastest_iteration_seconds, 4)) s over \(iterations) (processor time \(fixed(report.median_iteration_cpu_seconds, 4)) s)
                peak resident memory: \(fixed(Double(report.peak_resident_bytes) / 1e6, 1)) MB
                """)
        }
    }
}
