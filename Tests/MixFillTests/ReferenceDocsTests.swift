import Foundation
import Testing

/// The documentation that is generated from, or must agree with, the binary: the command
/// reference (docs/reference/, written by Scripts/docs-reference from `--help`), the JSON
/// report keys (docs/json.md), and the help texts' own conventions.
@Suite(.serialized) struct ReferenceDocsTests {
    /// `--help` as the reference pages hold it: wrapped at 80 columns whatever the
    /// terminal of whoever runs the tests.
    static func help(_ arguments: [String]) throws -> String {
        let outcome = try CLI.run(arguments + ["--help"], environment: ["COLUMNS": "80"])
        #expect(outcome.status == 0, "\(arguments) --help: \(outcome.stderr)")
        return outcome.stdout
    }

    /// The subcommands `mixfill --help` lists, in every SUBCOMMANDS section.
    static func subcommands() throws -> [String] {
        var names = [String]()
        var inside = false
        for line in try help([]).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.first?.isUppercase == true {
                inside = line.hasSuffix("SUBCOMMANDS:")
            } else if inside, line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first, word.first?.isLowercase == true {
                names.append(String(word))
            }
        }
        return names
    }

    /// The text of a reference page's ```text block.
    static func block(of page: String) -> String? {
        guard let open = page.range(of: "```text\n"),
              let close = page.range(of: "```\n", options: .backwards), close.lowerBound >= open.upperBound else { return nil }
        return String(page[open.upperBound..<close.lowerBound])
    }

    @Test func theReferencePagesAreWhatHelpPrintsNow() throws {
        let commands = try Self.subcommands()
        #expect(commands == ["fit", "fill", "eval", "select", "predict", "recommend", "batch", "convert", "measure", "bench", "synth"])
        let folder = Fixtures.root + "/docs/reference"
        let pages = [("mixfill", [String]())] + commands.map { ($0, [$0]) }
        for (name, arguments) in pages {
            let path = "docs/reference/\(name).md"
            let command = (["mixfill"] + arguments).joined(separator: " ")
            let page = try? String(contentsOfFile: Fixtures.root + "/" + path, encoding: .utf8)
            let text = try #require(page.map(Self.block),
                                    "\(path) is missing or has no ```text block; run Scripts/docs-reference to regenerate docs/reference/")
            let help = try Self.help(arguments)
            #expect(text == help,
                    "\(path) differs from what `\(command) --help` prints now; run Scripts/docs-reference to regenerate docs/reference/")
        }
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: folder))
        let expected = Set(pages.map { "\($0.0).md" } + ["README.md"])
        #expect(files == expected, "docs/reference/ holds \(files.subtracting(expected).sorted()) that no command has, or lacks \(expected.subtracting(files).sorted()); run Scripts/docs-reference")
        let index = try String(contentsOfFile: folder + "/README.md", encoding: .utf8)
        for command in commands {
            #expect(index.contains("- [\(command)](\(command).md): "), "docs/reference/README.md lacks \(command); run Scripts/docs-reference")
        }
    }

    /// Help says what options do, in one vocabulary, and offers only values that work.
    @Test func helpTextsFollowTheirConventions() throws {
        let commands = try Self.subcommands()
        for command in commands {
            let text = try Self.help([command])
            // Every value is named for what it is (<FILE>, <N>, <K-LIST>), never by the
            // property's name (<model-out>).
            for match in text.matches(of: /(?:(?:^|\s)-[a-z]|--[a-z-]+|\n ) <([^>]+)>/) {
                let name = String(match.1)
                #expect(name == name.uppercased() || name == "λ", "\(command) --help shows <\(name)>; give it a value name")
            }
            // No machine-dependent text: the pages are checked on other machines.
            #expect(!text.contains("\(ProcessInfo.processInfo.activeProcessorCount) cores") || ProcessInfo.processInfo.activeProcessorCount == 1024,
                    "\(command) --help names this machine's core count")
        }
        let fit = try Self.help(["fit"])
        for heading in ["ARGUMENTS:", "MODEL:", "INPUT:", "ENGINE:", "CHECKPOINTS:", "OUTPUT:"] {
            #expect(fit.contains("\n\(heading)\n"), "fit --help lacks \(heading)")
        }
        for synopsis in ["--model-out <FILE>", "--init-model <FILE>", "--max-iterations <N>", "--gold <FILE>", "-k <K-LIST>",
                         "--seeds <SEEDS>", "--checkpoint-dir <DIR>", "--backend <BACKEND>", "--kernel <KERNEL>"] {
            #expect(fit.contains(synopsis), "fit --help lacks \(synopsis)")
        }
        for command in ["fill", "eval", "select", "predict", "recommend", "batch"] {
            let text = try Self.help([command])
            #expect(text.contains("\nOUTPUT:\n") && text.contains("\nENGINE:\n"), "\(command) --help lacks its OUTPUT or ENGINE heading")
        }
        // --backend is the arithmetic and --kernel the layout, in the same words everywhere.
        let flat = { (text: String) in text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        for command in ["fit", "fill", "eval", "select", "predict", "recommend", "measure"] {
            let text = flat(try Self.help([command]))
            #expect(text.contains("--backend <BACKEND> Arithmetic of the E-step: blas (OpenBLAS GEMMs;"), "\(command)")
            #expect(text.contains("--threads <N> Threads, 1 to 1024 (default: all cores): the sparse kernel's own, one shard of users each for the dense BLAS kernel (on single-threaded OpenBLAS), OpenBLAS's for the blocked kernel."), "\(command)")
        }
        for command in ["fit", "fill", "measure"] {
            let text = flat(try Self.help([command]))
            #expect(text.contains("--kernel <KERNEL> Data layout of the E-step: auto (sparse for rating records and for matrices under 25% observed, else dense)"), "\(command)")
        }
        // The model file is --model FILE; lists of models and items have their own names.
        let eval = try Self.help(["eval"])
        #expect(flat(eval).contains("--models <LIST> Models to score") && !eval.contains("--model <"))
        let predict = flat(try Self.help(["predict"]))
        #expect(predict.contains("--item-ids <LIST> Items to predict for --user"))
        let recommend = flat(try Self.help(["recommend"]))
        #expect(recommend.contains("--items <FILE> Show titles beside item ids"))
        for command in ["fill", "predict", "recommend"] {
            let text = flat(try Self.help([command]))
            #expect(text.contains("--model <FILE> A model written by 'mixfill fit --model-out'."), "\(command)")
        }
        // Only the values that work are offered.
        let convert = flat(try Self.help(["convert"]))
        #expect(convert.contains("(values: binary, triplets, csv)"), "\(convert)")
        let dense = try CLI.usageFailure(["convert", "data/test_incomplete.txt", "/nonexistent/x", "--to", "dense"])
        #expect(dense == "mixfill: error: The value 'dense' is invalid for '--to <FORMAT>'. Please provide one of 'binary', 'triplets' or 'csv'. (see 'mixfill help')")
        for command in ["fit", "fill", "eval", "select"] {
            let text = flat(try Self.help([command]))
            #expect(text.contains("<DATA> Rating data: a dense matrix (0 = missing), rating records (triplets, CSV, MovieLens ratings.dat, the Netflix layout) or a binary rating file; '-' reads standard input."), "\(command)")
        }
        // The root: developer commands apart, and two examples.
        let root = try Self.help([])
        #expect(root.contains("DEVELOPER SUBCOMMANDS:\n  measure "), "\(root)")
        #expect(root.contains("  mixfill fit ratings.csv --family mppca --model-out model.json\n  mixfill recommend --model model.json --user 1\n"), "\(root)")
    }

    /// docs/json.md's sections by "## " heading: a report's keys appear in its section as
    /// "`key`", the data object's as "`data.key`".
    static func documentedKeys() throws -> [String: String] {
        let text = try String(contentsOfFile: Fixtures.root + "/docs/json.md", encoding: .utf8)
        var sections = [String: String]()
        for part in text.components(separatedBy: "\n## ").dropFirst() {
            let title = String(part.prefix { $0 != "\n" })
            sections[title] = part
        }
        return sections
    }

    static func object(_ outcome: CLI.Outcome) throws -> [String: Any] {
        #expect(outcome.status == 0, "\(outcome.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    }

    /// Every top-level key (and every key of `data`) that real reports print is in
    /// docs/json.md, under the report's heading.
    @Test func everyKeyOfARealReportIsDocumented() throws {
        let sections = try Self.documentedKeys()
        let dataSection = try #require(sections["The `data` object"], "docs/json.md has no '## The `data` object' section")
        let folder = try Fixtures.scratchFolder()
        let records = try Fixtures.write("userId,movieId,rating\n10,100,5\n10,200,4.5\n20,100,1\n20,300,2\n30,200,4\n30,300,1.5\n40,100,4\n40,300,3\n",
                                         named: "r.csv", in: folder)
        let reports: [(section: String, arguments: [String])] = [
            ("fit", ["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--gold", "data/test_complete.txt", "--json"]),
            ("fit --family mppca", ["fit", records, "--family", "mppca", "--factors", "1", "-k", "1", "--prior-loadings", "10", "--json"]),
            ("eval", ["eval", "data/test_incomplete.txt", "--holdout", "0.2", "--models", "mean,bias,course", "-k", "2", "--seeds", "0", "--json"]),
            ("select", ["select", "data/test_incomplete.txt", "-k", "1-2", "--seeds", "0", "--holdout", "0.2", "--json"]),
            ("select --family mppca", ["select", records, "--family", "mppca", "-k", "1", "--factors", "1", "--prior-loadings", "10", "--holdout", "0.25", "--json"]),
        ]
        for (name, arguments) in reports {
            let section = try #require(sections[name], "docs/json.md has no '## \(name)' section")
            let report = try Self.object(try CLI.run(arguments))
            for key in report.keys.sorted() {
                #expect(section.contains("`\(key)`"), "docs/json.md, '## \(name)': `\(key)` (printed by \(arguments.joined(separator: " "))) is not documented")
            }
            let data = try #require(report["data"] as? [String: Any], "\(name) --json has no data object")
            #expect(data.count == 6, "\(name): \(data.keys.sorted())")
            for key in data.keys.sorted() {
                #expect(dataSection.contains("`data.\(key)`"), "docs/json.md, '## The `data` object': `data.\(key)` is not documented")
            }
        }
        let model = folder + "/m.json"
        _ = try CLI.succeeded(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", model])
        let served: [(section: String, arguments: [String])] = [
            ("predict", ["predict", "--model", model, "--user", "1", "--item-ids", "0,1", "--json"]),
            ("recommend", ["recommend", "--model", model, "--user", "1", "--top", "2", "--json"]),
        ]
        for (name, arguments) in served {
            let section = try #require(sections[name], "docs/json.md has no '## \(name)' section")
            let report = try Self.object(try CLI.run(arguments))
            for key in report.keys.sorted() {
                #expect(section.contains("`\(key)`"), "docs/json.md, '## \(name)': `\(key)` is not documented")
            }
        }
    }

    /// The old spellings keep working: eval's list of models as --model, predict's list
    /// of items as --items; the new ones give the same numbers.
    @Test func deprecatedSpellingsStillWork() throws {
        let new = try CLI.succeeded(["eval", "data/test_incomplete.txt", "--folds", "5", "--models", "bias,course", "-k", "2", "--seeds", "0", "--json"])
        let old = try CLI.succeeded(["eval", "data/test_incomplete.txt", "--folds", "5", "--model", "bias,course", "-k", "2", "--seeds", "0", "--json"])
        let rmse = { (outcome: CLI.Outcome) throws -> [Double] in
            let results = try #require(try Self.object(outcome)["results"] as? [[String: Any]])
            return results.compactMap { ($0["rmse"] as? [String: Any])?["mean"] as? Double }
        }
        let newRMSE = try rmse(new)
        let oldRMSE = try rmse(old)
        #expect(newRMSE.count == 2 && newRMSE == oldRMSE)
        let both = try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--folds", "5", "--models", "bias", "--model", "mean"])
        #expect(both == "mixfill: error: --models, --model: --model is the old spelling of --models; give the list once (see 'mixfill help')")
        let folder = try Fixtures.scratchFolder()
        let model = folder + "/m.json"
        _ = try CLI.succeeded(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", model])
        let ids = try CLI.succeeded(["predict", "--model", model, "--user", "1", "--item-ids", "0,4"])
        #expect(ids.stdout.split(separator: "\n").count == 2)
        let oldItems = try CLI.succeeded(["predict", "--model", model, "--user", "1", "--items", "0,4"])
        #expect(oldItems.stdout == ids.stdout)
    }
}
