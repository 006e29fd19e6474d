import MixFill

/// How the options that choose an engine are spelled where the user gave them, for error
/// messages: on the command line (`--precision`) or in a job file
/// (`jobs.json:4: "precision" in job "a"`). The engine reports conflicts as values
/// (`EngineConflict`); only this layer words them.
package struct OptionSpelling: Sendable {
    /// Where option `name` ("precision", "kernel", "backend") was given.
    package var place: @Sendable (_ name: String) -> String
    /// Option `name` set to the first of `values`, or the others: "--kernel sparse or blocked".
    package var setting: @Sendable (_ name: String, _ values: [String]) -> String
    /// The option itself: "--precision".
    package var option: @Sendable (_ name: String) -> String

    package init(place: @escaping @Sendable (String) -> String,
                 setting: @escaping @Sendable (String, [String]) -> String,
                 option: @escaping @Sendable (String) -> String) {
        self.place = place
        self.setting = setting
        self.option = option
    }

    /// The CLI's options: `--precision`, `--kernel dense`.
    package static let commandLine = OptionSpelling(
        place: { "--" + $0 },
        setting: { name, values in "--\(name) " + values.joined(separator: " or ") },
        option: { "--" + $0 })

    /// A job file's fields: `"kernel": "dense"`, placed at the job's line.
    package static func jobFile(_ path: String, line: Int, job: String) -> OptionSpelling {
        OptionSpelling(
            place: { "\(path):\(line): \"\($0)\" in job \"\(job)\"" },
            setting: { name, values in "\"\(name)\": " + values.map { "\"\($0)\"" }.joined(separator: " or ") },
            option: { "\"\($0)\"" })
    }
}

extension EngineConflict {
    /// The conflict as a bad option, placed and worded as `spelling` spells the options,
    /// with what to change.
    package func error(_ spelling: OptionSpelling) -> MixFillError {
        switch self {
        case .singleNeedsCourse:
            return .badOption(option: spelling.place("precision"), message: "\(reason); leave \(spelling.option("precision")) out")
        case .singleNeedsBLAS:
            return .badOption(option: spelling.place("precision"),
                              message: "\(reason); drop \(spelling.setting("backend", ["naive"])) or leave \(spelling.option("precision")) out")
        case .singleNeedsDense:
            return .badOption(option: spelling.place("precision"),
                              message: "\(reason); add \(spelling.setting("kernel", ["dense"])) or leave \(spelling.option("precision")) out")
        case let .naiveNeedsDense(kernel):
            return .badOption(option: spelling.place("backend"),
                              message: "'naive' is the dense textbook kernel and cannot run with \(spelling.setting("kernel", [kernel.rawValue])); drop \(spelling.setting("backend", ["naive"])) or use \(spelling.setting("kernel", ["dense"]))")
        case .denseTooLarge, .zeroRating:
            return .badOption(option: spelling.place("kernel"), message: "\(reason); use \(spelling.setting("kernel", ["sparse", "blocked"]))")
        }
    }
}

extension Engine {
    /// `Engine.resolve` with a conflict worded as `spelling` spells the options.
    package static func resolve(family: ModelFamily = .course, backend: Backend, kernel: KernelChoice, precision: Precision,
                                threads: Int, threading: Threading = .standard, for input: RatingInput, density: Double? = nil,
                                spelling: OptionSpelling) throws(MixFillError) -> Engine {
        do {
            return try resolve(family: family, backend: backend, kernel: kernel, precision: precision, threads: threads,
                               threading: threading, for: input, density: density)
        } catch {
            throw error.error(spelling)
        }
    }

    /// p(j|u) of every user of `input` under `mixture`: one E-step on this engine.
    package func posteriors(of mixture: Mixture, on input: RatingInput) throws(MixFillError) -> [Double] {
        do {
            return try courseLoop(for: input).userStates(mixture).states
        } catch let conflict as EngineConflict {
            throw conflict.error(.commandLine)
        } catch let error as MixFillError {
            throw error
        } catch {
            throw .runtime(message: "\(error)")
        }
    }
}

extension FitWarning {
    /// The warning in words, the iteration cap named as the caller spells it
    /// (`--max-iterations`, `max_iterations`).
    package func text(maxIterationsOption: String) -> String {
        switch self {
        case let .unconverged(componentCount, seed, iterations):
            return "K = \(componentCount), seed \(seed) stopped at \(maxIterationsOption) \(iterations) before converging"
        case let .objectiveFell(componentCount, seed, iterations):
            let at = iterations.map(String.init).joined(separator: ", ")
            return "K = \(componentCount), seed \(seed): the log-likelihood fell at iteration\(iterations.count == 1 ? "" : "s") \(at), which EM never does in exact arithmetic; the data may hold values so large or so close together that rounding dominates"
        case let .unlearnedMeans(componentCount, seed, share):
            let percent = (share * 100).rounded()
            return "K = \(componentCount), seed \(seed): \(percent >= 1 ? String(Int(percent)) : "under 1")% of a typical user's predictions come from component means still at their initial 0 (too few of the component's users rated those items to move them), far below any rating: the course model needs every item rated by enough of each component's users (dense data); for sparse ratings fit the mppca family"
        }
    }
}
