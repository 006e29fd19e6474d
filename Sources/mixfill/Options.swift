import ArgumentParser
import Foundation
import MixFill
import MixFillTools

extension Backend: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
extension ModelFamily: ExpressibleByArgument {}

/// Options shared by every command that runs the E-step: the arithmetic (`--backend`) and
/// the threads. The data layout, `--kernel`, is `KernelOptions`'.
///
/// Help texts here must not depend on the machine (no core count): docs/reference is
/// generated from them and checked on other machines.
struct EngineOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Arithmetic of the E-step: blas (OpenBLAS GEMMs; the sparse kernel runs its own loops) or naive (plain loops over the dense matrix, the reference; needs the dense kernel).",
        valueName: "BACKEND"))
    var backend: Backend = .blas

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Threads, 1 to 1024 (default: all cores): the sparse kernel's own, one shard of users each for the dense BLAS kernel (on single-threaded OpenBLAS), OpenBLAS's for the blocked kernel.",
        valueName: "N"))
    var threads: Int?

    func validate() throws {
        if let threads, let problem = ThreadCount.problem(threads) {
            throw ValidationError("--threads: \(problem)")
        }
    }

    /// The thread count asked for: `--threads`, or all cores.
    var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    /// The E-step engine for `input` on `--threads` (see `Engine` for the thread policy),
    /// its BLAS threads claimed: a command owns its process and runs one engine, so it
    /// also stops OpenBLAS's idle pool when the engine runs BLAS on one thread beside
    /// threads of its own.
    func makeEngine(for input: RatingInput, family: ModelFamily = .course, density: Double? = nil,
                    kernel: KernelChoice = .auto, precision: Precision = .double) throws -> Engine {
        let engine = try Engine.resolve(family: family, backend: backend, kernel: kernel, precision: precision, threads: threadCount,
                                        for: input, density: density, spelling: .commandLine)
        engine.claimBLASThreads(stopIdlePool: true)
        return engine
    }

    /// The kernel of `eval`'s and `select`'s course fits: the one `fit` runs on the whole
    /// of `loaded` (`--kernel auto`: records and sparse matrices on the sparse kernel), so
    /// that their fits of all the data are `fit`'s, bit for bit. The naive backend runs the
    /// dense textbook loops, which need the dense form.
    func courseKernel(for loaded: LoadedRatings) throws -> Engine.Kernel {
        if backend == .naive {
            try loaded.requireDenseForm("--backend naive runs the course model on the dense form of the data; leave --backend out to run it on the sparse kernel")
            return .naive
        }
        return try Engine.resolve(backend: backend, kernel: .auto, precision: .double, threads: threadCount,
                                  for: loaded.input, spelling: .commandLine).kernel
    }
}

/// Integer lists as the CLI spells them (`1,12`, `0-4`, `0-2,7`): the library's
/// `IntegerRanges`, with its errors turned into argument-parser validation errors.
enum IntegerList {
    static func seeds(_ text: String) throws -> [UInt32] {
        do {
            return try IntegerRanges.seeds(text)
        } catch {
            throw ValidationError(error.description)
        }
    }

    static func componentCounts(_ text: String) throws -> [Int] {
        do {
            return try IntegerRanges.componentCounts(text)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Refuses a K above the `users` of `data` (K users start the K components). When -k
    /// was not `given`, the message says the K came from the command's default list: the
    /// user did not write it.
    static func requireAtMostUsers(_ counts: [Int], users: Int, data: String, given: String?, defaultList: String) throws {
        guard let count = counts.first(where: { $0 > users }) else { return }
        if given == nil {
            throw MixFillError.badOption(option: "-k", message: "K = \(count) (of the default -k \(defaultList)) is more than the \(counted(users, "user")) in \(data); give -k with values ≤ \(users)")
        }
        throw MixFillError.badOption(option: "-k", message: "K = \(count) is more than the \(counted(users, "user")) in \(data); choose K ≤ \(users)")
    }
}
