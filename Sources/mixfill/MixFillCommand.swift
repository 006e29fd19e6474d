import ArgumentParser
import Foundation
import MixFill
import MixFillTools

/// `mixfill`: fit Gaussian mixtures to incomplete rating matrices and fill them in.
///
/// Exit codes: 0 success; 1 runtime failure (for example an output that cannot be
/// written); 2 usage error or bad input (a bad option, a malformed data file); 3 a batch
/// that finished with failed jobs; 128 + signal (130, 143) when SIGINT or SIGTERM stopped
/// a fit after writing its checkpoint.
@main
struct MixFillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mixfill",
        abstract: "Fit Gaussian mixtures to incomplete rating matrices with EM and fill in the missing ratings.",
        discussion: """
            Examples:
              mixfill fit ratings.csv --family mppca --model-out model.json
              mixfill recommend --model model.json --user 1

            Exit codes: 0 success, 1 runtime failure, 2 usage error or bad input, 3 a batch \
            finished with failed jobs, 130 / 143 stopped by SIGINT / SIGTERM after a checkpoint.
            """,
        version: MixFillVersion.string,
        subcommands: [Fit.self, Fill.self, Eval.self, Select.self, Predict.self, Recommend.self, Batch.self, Convert.self],
        // Benchmarks and test data, for developing MixFill rather than using it.
        groupedSubcommands: [CommandGroup(name: "Developer", subcommands: [Measure.self, Bench.self, Synth.self])]
    )

    static func main() {
        // Writing past a file-size limit (ulimit -f) then fails with EFBIG, reported like a
        // full disk, instead of killing the process mid-write.
        signal(SIGXFSZ, SIG_IGN)
        let arguments = Array(CommandLine.arguments.dropFirst())
        // Errors found before a command runs (parsing, validation) are JSON lines too when
        // the command line asks for JSON logging; the command configures the rest.
        if asksForJSONLog(arguments) { Display.shared.configure(.silent, jsonErrors: true) }
        if let problem = emptyArgumentProblem(arguments) ?? unknownHelpTopic(arguments) ?? unknownCommand(arguments) {
            Terminal.error(problem + " (see 'mixfill help')")
            Foundation.exit(2)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as MixFillError {
            Terminal.error(error.description, exitCode: error.exitCode)
            Foundation.exit(error.exitCode)
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help and --version.
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            if code == .validationFailure {
                // A parse or validation error (argument-parser's, or a ValidationError).
                let message = self.message(for: error)
                let suggestion = otherCaseSuggestion(message, arguments) ?? ""
                Terminal.error(message.isEmpty ? "\(error)" : message + suggestion + " (see 'mixfill help')")
                Foundation.exit(2)
            }
            // Anything else failed while running (an I/O error Foundation threw, for
            // example writing to a full disk behind a redirected stdout): a runtime failure.
            Terminal.error(runtimeMessage(for: error), exitCode: 1)
            Foundation.exit(1)
        }
    }

    /// No option value or path of any command may be empty: an empty `--out ''` or DATA
    /// would otherwise reach the file system and fail as a runtime error with an empty name
    /// (or an empty list option as its parser's own message), after the work was done.
    static func emptyArgumentProblem(_ arguments: [String]) -> String? {
        // ArgumentParser's own completion requests (`---completion …`) may carry an empty word.
        if arguments.first?.hasPrefix("---") == true { return nil }
        for (index, argument) in arguments.enumerated() {
            // `--option=` with nothing after its first '='.
            if argument.hasPrefix("--"), argument.count > 3, argument.firstIndex(of: "=") == argument.index(before: argument.endIndex) {
                return "\(argument.dropLast()): its value is empty; give one, or leave the option out"
            }
            guard argument.isEmpty else { continue }
            if index > 0, arguments[index - 1].hasPrefix("-"), !arguments[index - 1].contains("=") {
                return "the argument after \(arguments[index - 1]) is empty; give a value or a path, or leave it out"
            }
            return "argument \(index + 1) is empty; give a path, or leave it out"
        }
        return nil
    }

    /// `mixfill help NAME` for a NAME that is no command: argument-parser prints the
    /// general help and succeeds, so a typo (`help fil`) would look like an answer.
    static func unknownHelpTopic(_ arguments: [String]) -> String? {
        guard arguments.count >= 2, arguments[0] == "help", !arguments[1].hasPrefix("-"),
              !commandNames.contains(arguments[1]) else { return nil }
        return "help: " + notACommand(arguments[1])
    }

    /// Whether `--log-format json` (or `--log-format=json`) is among the arguments.
    static func asksForJSONLog(_ arguments: [String]) -> Bool {
        zip(arguments, arguments.dropFirst()).contains { $0 == "--log-format" && $1 == "json" }
            || arguments.contains("--log-format=json")
    }

    /// A first argument that is no command nor option (`mixfill fitt data.csv`): argument-parser
    /// would call it an unexpected argument.
    static func unknownCommand(_ arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-"), first != "help", !commandNames.contains(first) else { return nil }
        return notACommand(first)
    }

    /// Every command's name, in `mixfill --help`'s order (`subcommands` holds the grouped
    /// developer commands too).
    static var commandNames: [String] { configuration.subcommands.map { $0._commandName } }

    /// Says that `word` is no command, suggests the closest commands by edit distance when
    /// they are within two edits (every one at the smallest distance: 'fil' is one edit from
    /// both fit and fill), and lists the commands.
    static func notACommand(_ word: String) -> String {
        let distances = commandNames.map { (name: $0, distance: editDistance(word, $0)) }
        let smallest = distances.map(\.distance).min() ?? Int.max
        let closest = distances.filter { $0.distance == smallest }.map { "'\($0.name)'" }
        let suggestion = smallest <= 2 ? "did you mean \(closest.joined(separator: " or "))? " : ""
        return "'\(word)' is not a command; \(suggestion)the commands are \(commandNames.joined(separator: ", "))"
    }

    /// For argument-parser's "Unknown option '-K'": ". Did you mean '-k'?" when the one-letter
    /// option in the other case is one of the command's (argument-parser suggests close long
    /// options itself, never a short one): the command line is parsed again with it swapped
    /// (`-K 2` and `-K=2`), and the suggestion stands when that parse names neither option
    /// as unknown.
    static func otherCaseSuggestion(_ message: String, _ arguments: [String]) -> String? {
        let prefix = "Unknown option '"
        guard message.hasPrefix(prefix) else { return nil }
        let option = String(message.dropFirst(prefix.count).prefix { $0 != "'" })
        guard option.count == 2, option.hasPrefix("-"), let letter = option.last, letter.isLetter else { return nil }
        let swapped = "-" + (letter.isUppercase ? letter.lowercased() : letter.uppercased())
        let retried = arguments.map { argument in
            argument == option ? swapped : argument.hasPrefix(option + "=") ? swapped + argument.dropFirst(2) : argument
        }
        do {
            _ = try parseAsRoot(retried)
        } catch {
            let again = self.message(for: error)
            if again.hasPrefix(prefix + swapped + "'") || again.hasPrefix(prefix + option + "'") { return nil }
        }
        return ". Did you mean '\(swapped)'?"
    }

    /// Levenshtein distance between two command names (insertions, deletions, substitutions).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + [Int](repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// One line for an error that is neither MixFill's nor a usage error: Foundation's
    /// description, with the system's reason when it wraps one (e.g. "No space left on device").
    static func runtimeMessage(for error: any Error) -> String {
        let nsError = error as NSError
        var text: String
        if nsError.domain == NSCocoaErrorDomain || nsError.domain == NSPOSIXErrorDomain {
            text = nsError.localizedDescription
        } else {
            let described = message(for: error)
            text = described.isEmpty ? "\(error)" : described
        }
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError {
            let reason = underlying.domain == NSPOSIXErrorDomain
                ? String(cString: strerror(Int32(underlying.code))) : underlying.localizedDescription
            if !text.contains(reason) { text += " (\(reason))" }
        }
        return text
    }
}

enum MixFillVersion {
    static let string = "0.1.0"
}

/// Writes errors and warnings to stderr (through `Display`, which keeps them off the live
/// progress line and writes them as JSON under `--log-format json`).
enum Terminal {
    static func error(_ message: String, exitCode: Int32 = 2) {
        Display.shared.error(message.split(separator: "\n", omittingEmptySubsequences: true).joined(separator: " "),
                             exitCode: exitCode)
    }

    static func warning(_ message: String) {
        Display.shared.warning(message)
    }
}
