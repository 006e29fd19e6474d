import ArgumentParser
import Foundation
import MixFill

/// `mixfill`: fit Gaussian mixtures to incomplete rating matrices and fill them in.
///
/// Exit codes: 0 success; 1 runtime failure (for example an output that cannot be
/// written); 2 usage error or bad input (a bad option, a malformed data file).
@main
struct MixFillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mixfill",
        abstract: "Fit Gaussian mixtures to incomplete rating matrices with EM and fill in the missing ratings.",
        discussion: """
            Exit codes: 0 success, 1 runtime failure, 2 usage error or bad input.
            """,
        version: MixFillVersion.string,
        subcommands: [Fit.self, Fill.self, Eval.self, Select.self, Predict.self, Recommend.self, Synth.self, Convert.self, Measure.self]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as MixFillError {
            Terminal.error(error.description)
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
            let message = self.message(for: error)
            Terminal.error(message.isEmpty ? "\(error)" : message + " (see 'mixfill help')")
            Foundation.exit(2)
        }
    }
}

enum MixFillVersion {
    static let string = "0.1.0"
}

/// Writes to the standard streams.
enum Terminal {
    static func error(_ message: String) {
        let line = "mixfill: error: " + message.split(separator: "\n", omittingEmptySubsequences: true)
            .joined(separator: " ") + "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    static func warning(_ message: String) {
        FileHandle.standardError.write(Data(("mixfill: warning: " + message + "\n").utf8))
    }
}
