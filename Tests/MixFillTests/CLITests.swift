import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// Runs the built `mixfill` binary, as a user would.
enum CLI {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let binary: String = {
        var candidates = [String]()
        if let explicit = ProcessInfo.processInfo.environment["MIXFILL_BINARY"] { candidates.append(explicit) }
        // swift test runs the test bundle from the products folder that also holds mixfill.
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        candidates.append(runner.appendingPathComponent("mixfill").path)
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("mixfill").path)
        candidates.append(Fixtures.root + "/.build/release/mixfill")
        candidates.append(Fixtures.root + "/.build/debug/mixfill")
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "mixfill"
    }()

    /// Runs the binary; with `standardOutputPath` its stdout goes to that file (e.g.
    /// /dev/full) instead of being captured. `environment` adds to (or overrides) this
    /// process's environment.
    static func run(_ arguments: [String], standardOutputPath: String? = nil, environment: [String: String] = [:]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.root)
        let out = Pipe()
        let err = Pipe()
        let file = try standardOutputPath.map { path in try FileHandle(forWritingTo: URL(fileURLWithPath: path)) }
        process.standardOutput = file ?? out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a large output cannot block the child.
        let outData = file == nil ? out.fileHandleForReading.readDataToEndOfFile() : Data()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus,
                       stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a command that must succeed (exit 0): a comparison with its output means
    /// nothing if it failed.
    static func succeeded(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
        let outcome = try run(arguments)
        #expect(outcome.status == 0, "exit code for \(arguments): \(outcome.stderr)", sourceLocation: sourceLocation)
        return outcome
    }

    /// Runs a command that must fail with exit code 2 and exactly one line on stderr
    /// (no trap, no stack trace) and returns that line.
    static func usageFailure(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let outcome = try run(arguments)
        #expect(outcome.status == 2, "exit code for \(arguments)", sourceLocation: sourceLocation)
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(outcome.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(!outcome.stderr.contains("Fatal error") && !outcome.stderr.contains("Stack dump"), sourceLocation: sourceLocation)
        return lines.first.map(String.init) ?? ""
    }
}

@Suite(.serialized) struct CLITests {
    @Test func courseJobPrintsTheCourseNumbersAsJSON() throws {
        let outcome = try CLI.run(["fit", "data/netflix_incomplete.txt", "-k", "1,12", "--seeds", "0-4",
                                   "--gold", "data/netflix_complete.txt", "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        let data = try #require(object["data"] as? [String: Any])
        #expect(data["users"] as? Int == 1200 && data["items"] as? Int == 1200 && data["observed"] as? Int == 1_111_768)
        #expect(data["format"] as? String == "dense" && data["format_detected"] as? Bool == true)
        // The arithmetic and, apart, the kernel `auto` chose for a matrix this dense.
        #expect(object["backend"] as? String == "blas" && object["kernel"] as? String == "dense")
        let fits = try #require(object["fits"] as? [[String: Any]])
        #expect(fits.map { $0["k"] as? Int } == [1, 12])
        let one = try #require(fits[0]["best"] as? [String: Any])
        #expect(relativeError(try #require(one["log_likelihood"] as? Double), -1521060.9539852473) <= 1e-12)
        let twelve = try #require(fits[1]["best"] as? [String: Any])
        #expect(twelve["seed"] as? Int == 1)
        #expect(relativeError(try #require(twelve["log_likelihood"] as? Double), -1390234.4223469414) <= 1e-10)
        let rmse = try #require(fits[1]["rmse"] as? [String: Any])
        #expect(abs(try #require(rmse["all_entries"] as? Double) - 0.48049085054007) <= 1e-10)
        #expect(abs(try #require(rmse["missing_entries"] as? Double) - 1.0064122372) <= 1e-9)
        let runs = try #require(fits[1]["runs"] as? [[String: Any]])
        #expect(runs.map { $0["seed"] as? Int } == [0, 1, 2, 3, 4])
        #expect(runs.allSatisfy { $0["converged"] as? Bool == true && ($0["iterations"] as? Int ?? 0) > 1 })
        let timing = try #require(object["timing"] as? [String: Any])
        #expect(["load_seconds", "fit_seconds", "total_seconds"].allSatisfy { (timing[$0] as? Double ?? -1) >= 0 })
        // BIC = LL − ½·(K·d + K + K − 1)·ln n
        let bic = try #require(twelve["bic"] as? Double)
        let expected = (twelve["log_likelihood"] as? Double ?? 0) - 0.5 * Double(12 * 1200 + 12 + 11) * log(1200.0)
        #expect(abs(bic - expected) <= 1e-9 * abs(expected))
    }

    @Test func tableOutputNamesTheBestSeedAndBothRMSEs() throws {
        let outcome = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0",
                                   "--gold", "data/test_complete.txt", "--backend", "naive", "--threads", "1"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains("data: data/test_incomplete.txt (dense, detected): 20 users × 5 items, 81 observed (81.0%)"))
        #expect(outcome.stdout.contains("backend: naive, kernel: dense, threads: 1"))
        #expect(outcome.stdout.contains("best: seed 0, log-likelihood -84.9845199304"))
        #expect(outcome.stdout.contains("RMSE vs gold: 0.31523012057496"))
        #expect(outcome.stdout.contains("over missing entries only"))
    }

    @Test func fitWritesModelsThatFillReproduces() throws {
        let folder = try Fixtures.scratchFolder()
        let fit = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "3,4", "--seeds", "0",
                               "--model-out", folder + "/model.json", "--json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["model-k3.json", "model-k4.json"])
        // The files written are named in the report: the JSON's model_files, the table's
        // last lines.
        let report = try #require(try JSONSerialization.jsonObject(with: Data(fit.stdout.utf8)) as? [String: Any])
        #expect(report["model_files"] as? [String] == [folder + "/model-k3.json", folder + "/model-k4.json"])
        let table = try CLI.succeeded(["fit", "data/test_incomplete.txt", "-k", "3,4", "--seeds", "0", "--model-out", folder + "/model.json"])
        #expect(table.stdout.hasSuffix("\nwrote \(folder)/model-k3.json\nwrote \(folder)/model-k4.json\n"), "\(table.stdout)")
        let model = try ModelFile.read(path: folder + "/model-k4.json")
        #expect(model.course.componentCount == 4 && model.seed == 0 && model.converged)
        #expect(abs(model.logLikelihood - -84.98451993042474) <= 1e-10)

        let fill = try CLI.run(["fill", "data/test_incomplete.txt", "--model", folder + "/model-k4.json",
                                "--out", folder + "/filled.txt"])
        #expect(fill.status == 0, "\(fill.stderr)")
        #expect(fill.stdout == "data: data/test_incomplete.txt (dense, detected): 20 users × 5 items, 81 ratings\nwrote \(folder)/filled.txt: 20 × 5, 19 missing entries filled\n")
        let filled = try DenseMatrixReader.read(path: folder + "/filled.txt")
        let solutions = try CourseSolutions(path: Fixtures.data("test_solutions.txt"))
        expectClose(filled.values, solutions.filled, absolute: 1e-8, "filled by the CLI")
        let remaining = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }
        #expect(remaining.isEmpty, "temporary files left behind: \(remaining)")
    }

    @Test func helpAndVersion() throws {
        for command in [["--help"], ["fit", "--help"], ["fill", "--help"]] {
            let outcome = try CLI.run(command)
            #expect(outcome.status == 0)
            #expect(outcome.stdout.contains("USAGE:"))
        }
        let version = try CLI.run(["--version"])
        #expect(version.status == 0 && version.stdout == "0.1.0\n")
        // help NAME for a command, a developer command, and a typo.
        for name in ["fit", "synth"] {
            let help = try CLI.run(["help", name])
            #expect(help.status == 0 && help.stdout.contains("USAGE: mixfill \(name)"), "\(name)")
        }
        #expect(try CLI.usageFailure(["help", "fil"])
                == "mixfill: error: help: 'fil' is not a command; did you mean 'fit' or 'fill'? the commands are fit, fill, eval, select, predict, recommend, batch, convert, measure, bench, synth (see 'mixfill help')")
        // A misspelt command is named, with the closest command within two edits.
        #expect(try CLI.usageFailure(["fitt", "data.csv"])
                == "mixfill: error: 'fitt' is not a command; did you mean 'fit'? the commands are fit, fill, eval, select, predict, recommend, batch, convert, measure, bench, synth (see 'mixfill help')")
        #expect(try CLI.usageFailure(["recomend", "--model", "m.json"]).hasPrefix("mixfill: error: 'recomend' is not a command; did you mean 'recommend'? "))
        #expect(try CLI.usageFailure(["ratings.csv"])
                == "mixfill: error: 'ratings.csv' is not a command; the commands are fit, fill, eval, select, predict, recommend, batch, convert, measure, bench, synth (see 'mixfill help')")
        #expect(try CLI.usageFailure(["slect"]).hasPrefix("mixfill: error: 'slect' is not a command; did you mean 'select'? "))
        // A one-letter option in the wrong case is named in the right one; argument-parser
        // suggests close long options itself.
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-K", "2"])
                == "mixfill: error: Unknown option '-K'. Did you mean '-k'? (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-K=2"])
                == "mixfill: error: Unknown option '-K'. Did you mean '-k'? (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-X"]) == "mixfill: error: Unknown option '-X' (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-X=1"]).hasPrefix("mixfill: error: Unknown option '-X' (see"))
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--thread", "2"])
                == "mixfill: error: Unknown option '--thread'. Did you mean '--threads'? (see 'mixfill help')")
    }

    /// `--log-format json` makes every error a JSON line, those found while the command line
    /// is parsed and checked included (docs/formats.md).
    @Test func jsonLoggingCoversOptionErrors() throws {
        for arguments in [["fit", "data/test_incomplete.txt", "--threads", "0", "--log-format", "json"],
                          ["fit", "data/test_incomplete.txt", "-k", "0", "--log-format=json"],
                          ["fit", "data/test_incomplete.txt", "--no-such-option", "--log-format", "json"]] {
            let outcome = try CLI.run(arguments)
            #expect(outcome.status == 2 && outcome.stdout.isEmpty, "\(arguments)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stderr.utf8)) as? [String: Any], "\(outcome.stderr)")
            #expect(object["event"] as? String == "error" && (object["exit_code"] as? NSNumber)?.intValue == 2, "\(object)")
            #expect((object["message"] as? String)?.isEmpty == false)
        }
    }

    // MARK: Bad input: one line naming the place, exit code 2, no trap.

    @Test func missingFile() throws {
        let line = try CLI.usageFailure(["fit", "data/no-such-file.txt"])
        #expect(line == "mixfill: error: data/no-such-file.txt: no such file; check the path")
    }

    /// A negative number after a space reaches the option's own check, as after `=`,
    /// instead of the parser's "Missing value": every numeric option and number list.
    @Test func negativeNumbersAfterASpaceReachTheOptionsChecks() throws {
        let data = "data/test_incomplete.txt"
        #expect(try CLI.usageFailure(["fit", data, "-k", "-1"])
                == "mixfill: error: -k: '-1' in '-1' is not a component count or range; write the list like 1,12 or 1-16 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", data, "--seeds", "-1"])
                == "mixfill: error: --seeds: '-1' in '-1' is not a seed or range; write the list like 0-4 or 0,1,2 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", data, "--threads", "-2"])
                == "mixfill: error: --threads: -2 is not allowed; give 1 to 1024 threads (see 'mixfill help')")
        #expect(try CLI.usageFailure(["measure", data, "-k", "-3"])
                == "mixfill: error: -k: K = -3 is not allowed; K must be at least 1 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["measure", data, "--seed", "-1"])
                == "mixfill: error: The value '-1' is invalid for '--seed <SEED>' (see 'mixfill help')")
        #expect(try CLI.usageFailure(["eval", data, "--folds", "-1"])
                == "mixfill: error: --folds: -1 is not allowed; give 2 or more folds (see 'mixfill help')")
        #expect(try CLI.usageFailure(["synth", "--users", "-1", "--items", "5", "--ratings", "5", "-k", "2", "--out", "unused.tsv"])
                == "mixfill: error: --users: -1 is not allowed; give 1 or more")
    }

    /// An empty option value or path is a usage error before anything runs (before: an
    /// empty `--out` failed after the work, exit 1, naming an empty file).
    @Test func emptyArgumentsAreUsageErrors() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "1", "--model-out", ""])
                == "mixfill: error: the argument after --model-out is empty; give a value or a path, or leave it out (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "1", "--model-out="])
                == "mixfill: error: --model-out: its value is empty; give one, or leave the option out (see 'mixfill help')")
        // Before anything is read: a missing DATA is not what is reported.
        #expect(try CLI.usageFailure(["fill", folder + "/nowhere.txt", "--model", folder + "/m.json", "--out", ""])
                == "mixfill: error: the argument after --out is empty; give a value or a path, or leave it out (see 'mixfill help')")
        // A value may end in '=' after its first one.
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "1", "--seeds", "0", "--model-out=\(folder)/m=.json"]).status == 0)
        #expect(try CLI.usageFailure(["fit", "", "-k", "1"])
                == "mixfill: error: argument 2 is empty; give a path, or leave it out (see 'mixfill help')")
        #expect(try CLI.usageFailure(["convert", "data/test_incomplete.txt", "", "--to", "triplets"])
                == "mixfill: error: argument 3 is empty; give a path, or leave it out (see 'mixfill help')")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["m=.json"])
    }

    /// A K or seed listed twice is one fit or run; K in ascending order, as docs/json.md says.
    @Test func repeatedKAndSeedsRunOnceAndKAscends() throws {
        let outcome = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4,1,4", "--seeds", "1,0,1", "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        let fits = try #require(object["fits"] as? [[String: Any]])
        #expect(fits.map { $0["k"] as? Int } == [1, 4])
        for fit in fits {
            #expect((fit["runs"] as? [[String: Any]])?.map { $0["seed"] as? Int } == [1, 0])
        }
    }

    /// '-' is standard input everywhere; as an output it is standard output where a command
    /// prints (predict, recommend) or streams its result (fill, whose report then goes to
    /// standard error), and refused where the output is a file (before: a file named '-').
    @Test func aDashAsOutputIsStandardOutputOrRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let model = folder + "/m.json"
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", model]).status == 0)
        let refusal = "'-' means standard input in MixFill, not an output; give a file path (see 'mixfill help')"
        #expect(try CLI.usageFailure(["convert", "data/test_incomplete.txt", "-", "--to", "triplets"]) == "mixfill: error: OUT: \(refusal)")
        // fill: the same bytes as the file, the report on standard error.
        let filledFile = try CLI.succeeded(["fill", "data/test_incomplete.txt", "--model", model, "--out", folder + "/f.txt"])
        let filledDash = try CLI.succeeded(["fill", "data/test_incomplete.txt", "--model", model, "--out", "-"])
        #expect(filledDash.stdout == (try String(contentsOfFile: folder + "/f.txt", encoding: .utf8)) && filledDash.stdout.split(separator: "\n").count == 20)
        #expect(filledDash.stderr == filledFile.stdout.replacingOccurrences(of: folder + "/f.txt", with: "standard output"))
        let pairs = try Fixtures.write("0 1\n3 4\n", named: "pairs.txt", in: folder)
        _ = try CLI.succeeded(["fill", "data/test_incomplete.txt", "--model", model, "--pairs", pairs, "--out", folder + "/p.tsv"])
        let pairsDash = try CLI.succeeded(["fill", "data/test_incomplete.txt", "--model", model, "--pairs", pairs, "--out", "-"])
        #expect(pairsDash.stdout == (try String(contentsOfFile: folder + "/p.tsv", encoding: .utf8)) && pairsDash.stdout.split(separator: "\n").count == 2)
        #expect(pairsDash.stderr.hasSuffix("wrote standard output: 2 predictions\n"), "\(pairsDash.stderr)")
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "1", "--model-out", "-"]) == "mixfill: error: --model-out: \(refusal)")
        #expect(try CLI.usageFailure(["synth", "--users", "5", "--items", "5", "--ratings", "9", "-k", "1", "--out", "-"]) == "mixfill: error: --out: \(refusal)")
        #expect(!FileManager.default.fileExists(atPath: Fixtures.root + "/-"))
        let printed = try CLI.run(["predict", "--model", model, "--user", "1"])
        let dashed = try CLI.run(["predict", "--model", model, "--user", "1", "--out", "-"])
        #expect(printed.status == 0 && dashed.status == 0 && dashed.stdout == printed.stdout && !printed.stdout.isEmpty)
        let rows = try CLI.run(["recommend", "--model", model, "--all-users", "--top", "2"])
        let dashedRows = try CLI.run(["recommend", "--model", model, "--all-users", "--top", "2", "--out", "-"])
        #expect(rows.status == 0 && dashedRows.status == 0 && dashedRows.stdout == rows.stdout && rows.stdout.hasPrefix("user\trank\titem\tscore\n"))
    }

    /// `synth --memberships` naming the `--out` file (spelled another way) would write the
    /// memberships over the ratings: refused before anything is written.
    @Test func synthRefusesMembershipsOverItsRatings() throws {
        let folder = try Fixtures.scratchFolder()
        let out = folder + "/s.csv"
        let line = try CLI.usageFailure(["synth", "--users", "10", "--items", "5", "--ratings", "20", "-k", "2",
                                         "--out", out, "--memberships", folder + "/./s.csv"])
        #expect(line == "mixfill: error: --memberships: \(folder)/./s.csv is the --out file; the memberships would overwrite the ratings. Give another path or leave --memberships out (OUT.memberships) (see 'mixfill help')")
        #expect(!FileManager.default.fileExists(atPath: out))
        let written = try CLI.run(["synth", "--users", "10", "--items", "5", "--ratings", "20", "-k", "2",
                                   "--out", out, "--memberships", folder + "/m.tsv"])
        #expect(written.status == 0)
        #expect(try String(contentsOfFile: folder + "/m.tsv", encoding: .utf8).split(separator: "\n").count == 10)
    }

    @Test func raggedRows() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("1 2 3\n4 5 6\n7 8\n", named: "ragged.txt", in: folder)
        let line = try CLI.usageFailure(["fit", path, "-k", "1"])
        // Rows of 3 values could be triplets: the message says how the file was read.
        #expect(line == "mixfill: error: \(path):3:4: row has 2 values but line 1 has 3; every row must have one value per item\(Self.readAsDense)")
    }

    @Test func nonNumericToken() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("1 2 3\n4 five 6\n", named: "words.txt", in: folder)
        let line = try CLI.usageFailure(["fit", path, "-k", "1"])
        #expect(line == "mixfill: error: \(path):2:3: 'five' is not a number; ratings are decimal numbers, 0 for missing\(Self.readAsDense)")
        // Given as dense, the format is no guess, and the message says nothing of it.
        #expect(try CLI.usageFailure(["fit", path, "-k", "1", "--format", "dense"])
                == "mixfill: error: \(path):2:3: 'five' is not a number; ratings are decimal numbers, 0 for missing")
    }

    /// What a parse error in a detected dense file of 3 or 4 columns adds: the file may be
    /// triplets that detection read as a matrix.
    static let readAsDense = " (read as dense, detected; give --format triplets if the file holds records)"

    @Test func tripletsReadAsADenseMatrixSayHowTheyWereRead() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("1 2 5\n1 x 4\n2 3 1\n", named: "bad.txt", in: folder)
        #expect(try CLI.usageFailure(["fit", path])
                == "mixfill: error: \(path):2:3: 'x' is not a number; ratings are decimal numbers, 0 for missing\(Self.readAsDense)")
        // The same from standard input, and with a timestamp column (4 values a row); an
        // error in the first row counts that row's values.
        let outcome = try CLI.runPiped(from: path, ["fit", "-"])
        #expect(outcome.status == 2 && outcome.stderr == "mixfill: error: <stdin>:2:3: 'x' is not a number; ratings are decimal numbers, 0 for missing\(Self.readAsDense)\n",
                "\(outcome.stderr)")
        let first = try Fixtures.write("1 2 -5 881250949\n", named: "first.txt", in: folder)
        #expect(try CLI.usageFailure(["fit", first])
                == "mixfill: error: \(first):1:5: negative rating '-5'; ratings must be ≥ 0 (0 marks a missing entry)\(Self.readAsDense)")
        // Rows of another width are no triplets: no hint.
        let wide = try Fixtures.write("1 2 3 4 5\n1 x 3 4 5\n", named: "wide.txt", in: folder)
        #expect(try CLI.usageFailure(["fit", wide])
                == "mixfill: error: \(wide):2:3: 'x' is not a number; ratings are decimal numbers, 0 for missing")
    }

    @Test func negativeValue() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("1 2 3\n4 5 -1\n", named: "negative.txt", in: folder)
        let line = try CLI.usageFailure(["fit", path, "-k", "1"])
        #expect(line == "mixfill: error: \(path):2:5: negative rating '-1'; ratings must be ≥ 0 (0 marks a missing entry)\(Self.readAsDense)")
    }

    @Test func nonFiniteValue() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("1 2 3\n4 inf 1\n", named: "infinite.txt", in: folder)
        let line = try CLI.usageFailure(["fit", path, "-k", "1"])
        #expect(line == "mixfill: error: \(path):2:3: 'inf' is not a finite number; ratings must be finite, 0 for missing")
    }

    @Test func emptyFile() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("", named: "empty.txt", in: folder)
        let line = try CLI.usageFailure(["fit", path])
        #expect(line == "mixfill: error: \(path): no ratings found (the file is empty or holds only blank lines and comments); give a matrix with one user per line, or one rating per line ('user item rating')")
        // Given as dense, the file is a matrix with no row.
        #expect(try CLI.usageFailure(["fit", path, "--format", "dense"])
                == "mixfill: error: \(path): no ratings found (the file is empty or holds only blank lines and comments); give a matrix with one user per line")
    }

    @Test func componentCountBelowOne() throws {
        let line = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "0"])
        #expect(line.hasPrefix("mixfill: error: -k: K = 0 is not allowed; K must be at least 1"))
    }

    @Test func componentCountAboveUsers() throws {
        let line = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "4,21"])
        #expect(line == "mixfill: error: -k: K = 21 is more than the 20 users in data/test_incomplete.txt; choose K ≤ 20")
        // A default K too large for the data says it was the default.
        let folder = try Fixtures.scratchFolder()
        let small = try Fixtures.write("1,1,4\n1,2,3\n2,1,5\n3,2,2\n", named: "small.csv", in: folder)
        #expect(try CLI.usageFailure(["fit", small])
                == "mixfill: error: -k: K = 12 (of the default -k 1,12) is more than the 3 users in \(small); give -k with values ≤ 3")
        #expect(try CLI.usageFailure(["select", small])
                .hasPrefix("mixfill: error: -k: K = 4 (of the default -k 1-16) is more than the 3 users in \(small); give -k with values ≤ 3"))
    }

    /// A dense matrix of zeros is all missing: fit, eval, select and batch refuse it
    /// instead of "fitting" it with a log-likelihood of 0.
    @Test func aMatrixWithoutRatingsIsRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("0 0 0\n0 0 0\n", named: "zeros.txt", in: folder)
        let expected = "mixfill: error: \(path): holds no ratings: every entry is 0 (missing), so there is nothing to fit; give a matrix with at least one rating"
        #expect(try CLI.usageFailure(["fit", path, "-k", "1", "--model-out", folder + "/m.json"]) == expected)
        #expect(try CLI.usageFailure(["eval", path, "--holdout", "0.5"]) == expected)
        #expect(try CLI.usageFailure(["select", path, "-k", "1-2"]) == expected)
        #expect(!FileManager.default.fileExists(atPath: folder + "/m.json"))
        let jobs = try Fixtures.write(#"{"jobs": [{"name": "z", "data": "zeros.txt", "k": [1]}]}"#, named: "jobs.json", in: folder)
        let batch = try CLI.run(["batch", jobs, "--out", folder + "/out"])
        #expect(batch.status == 3, "\(batch.stderr)")  // a job failed
        #expect(JobResult.readIfPresent(path: folder + "/out/z/result.json")?.error == JobResult.Failure(
            message: "\(path): holds no ratings: every entry is 0 (missing), so there is nothing to fit; give a matrix with at least one rating",
            exitCode: 2))
        #expect(!FileManager.default.fileExists(atPath: folder + "/out/z/model-k1.json"))
    }

    @Test func malformedSeedList() throws {
        let expected = [
            "0-": "'0-' in '0-' is not a seed or range; write the list like 0-4 or 0,1,2",
            "a": "'a' in 'a' is not a seed or range; write the list like 0-4 or 0,1,2",
            "1,,2": "'' in '1,,2' is not a seed or range; write the list like 0-4 or 0,1,2",
            "4-2": "the range '4-2' runs backwards; write it as 2-4",
            "-3": "'-3' in '-3' is not a seed or range; write the list like 0-4 or 0,1,2",
        ]
        for (seeds, message) in expected {
            let line = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--seeds=\(seeds)"])
            #expect(line == "mixfill: error: --seeds: \(message) (see 'mixfill help')", "for --seeds \(seeds)")
        }
        let line = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--seeds", "0-x"])
        #expect(line.hasPrefix("mixfill: error: --seeds: '0-x' in '0-x' is not a seed or range; write the list like 0-4 or 0,1,2"))
    }

    /// A report that cannot be written — stdout on /dev/full — is a runtime failure: exit
    /// 1, one line naming standard output and the reason, no "see 'mixfill help'" (it is
    /// no usage error), no trap. Usage errors keep exit 2 and the hint.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "needs /dev/full"))
    func aFailingStdoutIsARuntimeFailureNotAUsageError() throws {
        for arguments in [["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--json"],
                          ["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0"],
                          ["eval", "data/test_incomplete.txt", "--holdout", "0.2", "--model", "mean"]] {
            let outcome = try CLI.run(arguments, standardOutputPath: "/dev/full")
            #expect(outcome.status == 1, "\(arguments): \(outcome.stderr)")
            #expect(outcome.stderr == "mixfill: error: standard output: cannot write: No space left on device; the report was not written in full\n", "\(arguments)")
        }
        let usage = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--bogus"])
        #expect(usage == "mixfill: error: Unknown option '--bogus' (see 'mixfill help')")
        let validation = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--max-iterations", "0"])
        #expect(validation.hasSuffix(" (see 'mixfill help')"))
        // An error report that cannot be written (stderr on /dev/full) still exits 2, no trap.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["fit", "data/no-such-file.txt"]
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.root)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/full"))
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
    }

    /// A list holds at most 100,000 values in all, checked before anything is allocated.
    @Test func seedAndComponentListsAreBounded() throws {
        let seeds = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--seeds", "0-4294967295"])
        #expect(seeds == "mixfill: error: --seeds: '0-4294967295' holds more than 100000 values; give at most 100000 (see 'mixfill help')")
        let k = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "1-9223372036854775807"])
        #expect(k == "mixfill: error: -k: '1-9223372036854775807' holds more than 100000 values; give at most 100000 (see 'mixfill help')")
        #expect(try IntegerRanges.seeds("0-99999").count == 100_000)
        // 100,000 values listed (the bound counts what is written); 7 twice is one seed.
        #expect(try IntegerRanges.seeds("0-49999,50000-99998,7").count == 99_999)
        #expect(throws: MixFillError.badOption(option: "--seeds", message: "'0-49999,50000-99999,7' holds more than 100000 values; give at most 100000")) {
            try IntegerRanges.seeds("0-49999,50000-99999,7")
        }
        #expect(throws: MixFillError.badOption(option: "--seeds", message: "'0-99999,0-99999' holds more than 100000 values; give at most 100000")) {
            try IntegerRanges.seeds("0-99999,0-99999")
        }
    }

    @Test func unknownBackendAndBadThreads() throws {
        let backend = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--backend", "gpu"])
        #expect(backend.contains("--backend"))
        let threads = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--threads", "0"])
        #expect(threads == "mixfill: error: --threads: 0 is not allowed; give 1 to 1024 threads (see 'mixfill help')")
    }

    /// Counts beyond OpenBLAS's Int32 (or beyond any machine's threads) are refused, never
    /// converted: every command that takes --threads, bench's own option included.
    @Test func threadCountsBeyondTheCapAreRefused() throws {
        for count in ["1025", "4294967296", "9223372036854775807"] {
            for command in [["fit", "data/test_incomplete.txt", "-k", "2"],
                            ["eval", "data/test_incomplete.txt", "--holdout", "0.2"],
                            ["bench", "data/test_incomplete.txt", "-k", "1"]] {
                let line = try CLI.usageFailure(command + ["--threads", count])
                #expect(line == "mixfill: error: --threads: \(count) is not allowed; give 1 to 1024 threads (see 'mixfill help')")
            }
        }
        // The cap itself is fine (the sparse kernel then runs one thread per user at most).
        let fit = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--kernel", "sparse", "--threads", "1024", "--json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(fit.stdout.contains("\"threads\":1024") || fit.stdout.contains("\"threads\" : 1024"), "\(fit.stdout)")
    }

    @Test func fillRefusesAModelForOtherItemsAndWritesNothing() throws {
        let folder = try Fixtures.scratchFolder()
        let fit = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"])
        #expect(fit.status == 0)
        let other = try Fixtures.write("1 2\n3 0\n", named: "other.txt", in: folder)
        let line = try CLI.usageFailure(["fill", other, "--model", folder + "/m.json", "--out", folder + "/out.txt"])
        #expect(line == "mixfill: error: \(other): has 2 items but the model \(folder)/m.json was fitted on 5; give data with the model's items")
        #expect(!FileManager.default.fileExists(atPath: folder + "/out.txt"))
    }

    @Test func unwritableOutputIsARuntimeFailure() throws {
        let folder = try Fixtures.scratchFolder()
        let fit = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"])
        #expect(fit.status == 0)
        let outcome = try CLI.run(["fill", "data/test_incomplete.txt", "--model", folder + "/m.json", "--out", folder + "/missing/out.txt"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("mixfill: error: \(folder)/missing/out.txt: cannot create a file in \(folder)/missing"))
    }
}
