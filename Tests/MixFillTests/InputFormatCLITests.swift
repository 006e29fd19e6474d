import Foundation
import MixFill
import Testing

extension CLI {
    /// Runs the binary with `file` piped into its standard input (`cat FILE | mixfill …`,
    /// a real pipe, as a user's shell makes one).
    static func runPiped(from file: String, _ arguments: [String]) throws -> Outcome {
        try run(["-c", "f=$1; b=$2; shift 2; cat \"$f\" | \"$b\" \"$@\"", "sh", file, binary] + arguments, executable: "/bin/sh")
    }

    /// What `runWithPipe` replaces by the pipe's path.
    static let pipePath = "<pipe>"

    /// Runs the binary with `file` behind a pipe given by path, `/dev/fd/3`, as bash's
    /// process substitution gives one (`mixfill fit <(cat FILE)`); `pipePath` in
    /// `arguments` stands for it. Under `timeout`, so a read that waits fails the test.
    static func runWithPipe(from file: String, _ arguments: [String]) throws -> Outcome {
        let script = "f=$1; b=$2; shift 2; exec 3< <(cat \"$f\"); args=(); for a in \"$@\"; do [ \"$a\" = '\(pipePath)' ] && a=/dev/fd/3; args+=(\"$a\"); done; exec timeout 60 \"$b\" \"${args[@]}\""
        return try run(["-c", script, "bash", file, binary] + arguments, executable: "/bin/bash")
    }

    /// Runs `executable` (default: the mixfill binary) in the package root.
    static func run(_ arguments: [String], executable: String) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.root)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus,
                       stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// The inputs users bring: MovieLens 1M/10M `ratings.dat` (`::`), Netflix Prize files
/// detected, and `-` for standard input wherever a rating or pair file is read.
@Suite(.serialized) struct InputFormatCLITests {
    /// Four users, five items, `user::item::rating::timestamp` as in MovieLens 1M.
    static let ratingsDat = """
        1::10::5::978300760
        1::20::4::978302109
        2::10::4::978301968
        2::30::2::978300275
        2::40::3::978824291
        3::20::5::978302268
        3::30::3::978302039
        3::50::1::978300719
        4::40::4.5::978302268
        4::50::2::978301368

        """

    static let ratingsCSV = "userId,movieId,rating\n" + ratingsDat.split(separator: "\n").map {
        $0.components(separatedBy: "::").prefix(3).joined(separator: ",")
    }.joined(separator: "\n") + "\n"

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func bestLogLikelihood(_ fitJSON: String) throws -> Double {
        let fits = try #require(try object(fitJSON)["fits"] as? [[String: Any]])
        let best = try #require(fits.first?["best"] as? [String: Any])
        return try #require(best["log_likelihood"] as? Double)
    }

    @Test func ratingsDatIsDetectedAndReadLikeTheSameRatingsInCSV() throws {
        let folder = try Fixtures.scratchFolder()
        let dat = try Fixtures.write(Self.ratingsDat, named: "ratings.dat", in: folder)
        let csv = try Fixtures.write(Self.ratingsCSV, named: "ratings.csv", in: folder)
        let fromDat = try CLI.run(["fit", dat, "-k", "2", "--seeds", "0", "--model-out", folder + "/dat.json", "--json"])
        let named = try CLI.run(["fit", dat, "--format", "movielens-dat", "-k", "2", "--seeds", "0", "--json"])
        let fromCSV = try CLI.run(["fit", csv, "-k", "2", "--seeds", "0", "--model-out", folder + "/csv.json", "--json"])
        #expect(fromDat.status == 0 && named.status == 0 && fromCSV.status == 0, "\(fromDat.stderr) \(named.stderr) \(fromCSV.stderr)")
        let logLikelihood = try Self.bestLogLikelihood(fromCSV.stdout)
        #expect(try Self.bestLogLikelihood(fromDat.stdout) == logLikelihood)
        #expect(try Self.bestLogLikelihood(named.stdout) == logLikelihood)
        let datModel = try ModelFile.read(path: folder + "/dat.json")
        let csvModel = try ModelFile.read(path: folder + "/csv.json")
        #expect(datModel.training?.format == "movielens-dat" && csvModel.training?.format == "csv")
        #expect(datModel.training?.fingerprint == csvModel.training?.fingerprint)
        #expect(datModel.items.ids == [10, 20, 30, 40, 50] && datModel.users.ids == [1, 2, 3, 4])

        // fill's report names the format and whether it was detected or given.
        let pairs = try Fixtures.write("1 30\n4 10\n", named: "pairs.txt", in: folder)
        let detected = try CLI.run(["fill", dat, "--model", folder + "/dat.json", "--pairs", pairs, "--out", folder + "/p.tsv"])
        #expect(detected.status == 0, "\(detected.stderr)")
        #expect(detected.stdout == "data: \(dat) (movielens-dat, detected): 4 users × 5 items, 10 ratings\nwrote \(folder)/p.tsv: 2 predictions\n")
        let given = try CLI.succeeded(["fill", dat, "--format", "movielens-dat", "--model", folder + "/dat.json", "--pairs", pairs, "--out", folder + "/q.tsv"])
        #expect(given.stdout.hasPrefix("data: \(dat) (movielens-dat, --format): 4 users × 5 items, 10 ratings\n"))
        #expect(try String(contentsOfFile: folder + "/p.tsv", encoding: .utf8) == String(contentsOfFile: folder + "/q.tsv", encoding: .utf8))

        #expect(try CLI.run(["fit", "--help"]).stdout.contains("movielens-dat"))
    }

    /// The ratings as pandas' `df.to_csv("ratings.csv")` writes them (an unnamed index
    /// column first): the same fit as the plain file, not users taken from the index.
    @Test func aPandasExportWithItsIndexColumnFitsLikeThePlainFile() throws {
        let folder = try Fixtures.scratchFolder()
        let csv = try Fixtures.write(Self.ratingsCSV, named: "ratings.csv", in: folder)
        let rows = Self.ratingsCSV.split(separator: "\n").dropFirst()
        let pandas = try Fixtures.write(",userId,movieId,rating\n" + rows.enumerated().map { "\($0.offset),\($0.element)\n" }.joined(),
                                        named: "exported.csv", in: folder)
        let plain = try CLI.succeeded(["fit", csv, "-k", "2", "--seeds", "0", "--json"])
        let exported = try CLI.succeeded(["fit", pandas, "-k", "2", "--seeds", "0", "--json"])
        #expect(try Self.bestLogLikelihood(exported.stdout) == Self.bestLogLikelihood(plain.stdout))
        let data = try #require(try Self.object(exported.stdout)["data"] as? [String: Any])
        #expect(data["users"] as? Int == 4 && data["items"] as? Int == 5 && data["format"] as? String == "csv")
    }

    @Test func aMalformedDatLineIsRefusedWithItsPlaceFromAFileAndFromStandardInput() throws {
        let folder = try Fixtures.scratchFolder()
        let bad = try Fixtures.write("1::10::5::978300760\n1::20::4::978302109\n2::10:4::978301968\n", named: "bad.dat", in: folder)
        let model = folder + "/m.json"
        let line = try CLI.usageFailure(["fit", bad, "-k", "1", "--model-out", model])
        #expect(line == "mixfill: error: \(bad):3:4: '10:4' is not an item id; ids are whole numbers")
        let piped = try CLI.runPiped(from: bad, ["fit", "-", "-k", "1", "--model-out", model])
        #expect(piped.status == 2 && piped.stdout.isEmpty)
        #expect(piped.stderr == "mixfill: error: <stdin>:3:4: '10:4' is not an item id; ids are whole numbers\n")
        // Given as movielens-dat, a CSV file is refused at its first line.
        let csv = try Fixtures.write(Self.ratingsCSV, named: "r.csv", in: folder)
        let wrongFormat = try CLI.runPiped(from: csv, ["fit", "-", "--format", "movielens-dat", "-k", "1"])
        #expect(wrongFormat.status == 2)
        #expect(wrongFormat.stderr == "mixfill: error: <stdin>:2:1: '1,10,5' is not a user id; ids are whole numbers\n")
        #expect(!FileManager.default.fileExists(atPath: model))
    }

    /// Netflix Prize files as they come: one movie per mv_*.txt file, or the
    /// combined_data_*.txt blocks; `--format auto` reads both as the Netflix layout.
    @Test func netflixPrizeFilesAreDetected() throws {
        let folder = try Fixtures.scratchFolder()
        let single = try Fixtures.write("1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n885013,4,2005-10-19\n30878,4,2005-12-26\n",
                                        named: "mv_0000001.txt", in: folder)
        let combined = try Fixtures.write("1:\r\n1488844,3,2005-09-06\r\n822109,5,2005-05-13\r\n2:\r\n2059652,4,2005-09-05\r\n1488844,2,2005-04-20\r\n",
                                          named: "combined_data_1.txt", in: folder)
        #expect(try RatingFormat.detect(path: single) == .netflix && RatingFormat.detect(path: combined) == .netflix)
        let converted = try CLI.succeeded(["convert", single, folder + "/single.tsv", "--to", "triplets"])
        #expect(converted.stdout.hasPrefix("wrote \(folder)/single.tsv (triplets): 4 ratings, 4 users × 1 item; read netflix in "), "\(converted.stdout) \(converted.stderr)")
        let piped = try CLI.runPiped(from: combined, ["convert", "-", folder + "/combined.tsv", "--to", "triplets"])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout.hasPrefix("wrote \(folder)/combined.tsv (triplets): 4 ratings, 3 users × 2 items; read netflix in "), "\(piped.stdout) \(piped.stderr)")
        let rows = try String(contentsOfFile: folder + "/combined.tsv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.suffix(4) == [["822109", "1", "5"], ["1488844", "1", "3"], ["1488844", "2", "2"], ["2059652", "2", "4"]])
    }

    /// `-` reads standard input for the data (every format, detected there too), the
    /// training data (--data), pairs (--pairs) and titles: the same results as the files.
    @Test func standardInputReadsLikeTheFile() throws {
        let folder = try Fixtures.scratchFolder()
        let dat = try Fixtures.write(Self.ratingsDat, named: "ratings.dat", in: folder)
        let fromFile = try CLI.run(["fit", dat, "-k", "2", "--seeds", "0", "--model-out", folder + "/file.json", "--json"])
        let fromPipe = try CLI.runPiped(from: dat, ["fit", "-", "-k", "2", "--seeds", "0", "--model-out", folder + "/pipe.json", "--json"])
        #expect(fromFile.status == 0 && fromPipe.status == 0, "\(fromFile.stderr) \(fromPipe.stderr)")
        #expect(try Self.bestLogLikelihood(fromPipe.stdout) == Self.bestLogLikelihood(fromFile.stdout))
        let fileModel = try ModelFile.read(path: folder + "/file.json")
        let pipeModel = try ModelFile.read(path: folder + "/pipe.json")
        #expect(pipeModel.training?.fingerprint == fileModel.training?.fingerprint && pipeModel.mixture == fileModel.mixture)
        // Data from a pipe has no path to record: training users then need --data.
        #expect(fileModel.training?.path == dat && pipeModel.training?.path == nil)
        let noData = try CLI.usageFailure(["predict", "--model", folder + "/pipe.json", "--user", "1", "--items", "30"])
        #expect(noData == "mixfill: error: --data: predicting for training user 1 needs the model's training ratings and \(folder)/pipe.json records no data path; give the training data with --data")
        let fileAnswer = try CLI.run(["predict", "--model", folder + "/file.json", "--user", "1", "--items", "30,40"])
        let dataFromPipe = try CLI.runPiped(from: dat, ["predict", "--model", folder + "/pipe.json", "--data", "-", "--user", "1", "--items", "30,40"])
        #expect(fileAnswer.status == 0 && dataFromPipe.status == 0 && dataFromPipe.stdout == fileAnswer.stdout, "\(dataFromPipe.stderr)")

        // Pairs from a pipe, for predict and fill.
        let pairs = try Fixtures.write("user item\n1 30\n4 10\n9 20\n", named: "pairs.txt", in: folder)
        let predicted = try CLI.run(["predict", "--model", folder + "/file.json", "--pairs", pairs])
        let pipedPairs = try CLI.runPiped(from: pairs, ["predict", "--model", folder + "/file.json", "--pairs", "-"])
        #expect(predicted.status == 0 && pipedPairs.status == 0 && pipedPairs.stdout == predicted.stdout && pipedPairs.stdout.split(separator: "\n").count == 3)
        let filled = try CLI.run(["fill", dat, "--model", folder + "/file.json", "--pairs", pairs, "--out", folder + "/a.tsv"])
        let fillPairsPiped = try CLI.runPiped(from: pairs, ["fill", dat, "--model", folder + "/file.json", "--pairs", "-", "--out", folder + "/b.tsv"])
        let fillDataPiped = try CLI.runPiped(from: dat, ["fill", "-", "--model", folder + "/file.json", "--pairs", pairs, "--out", folder + "/c.tsv"])
        #expect(filled.status == 0 && fillPairsPiped.status == 0 && fillDataPiped.status == 0, "\(fillPairsPiped.stderr) \(fillDataPiped.stderr)")
        #expect(fillDataPiped.stdout == "data: <stdin> (movielens-dat, detected): 4 users × 5 items, 10 ratings\nwrote \(folder)/c.tsv: 3 predictions\n")
        #expect(fillDataPiped.stderr == "mixfill: warning: \(pairs): 1 pair has a user not in <stdin>; predicted from the mixture weights alone\n")
        let written = try String(contentsOfFile: folder + "/a.tsv", encoding: .utf8)
        #expect(written.split(separator: "\n").count == 3)
        for other in ["b.tsv", "c.tsv"] {
            #expect(try String(contentsOfFile: folder + "/" + other, encoding: .utf8) == written, "\(other)")
        }

        // A binary rating file through a pipe (read through a temporary copy: it seeks),
        // and a dense matrix.
        #expect(try CLI.run(["convert", dat, folder + "/r.mfr"]).status == 0)
        let binary = try CLI.runPiped(from: folder + "/r.mfr", ["fit", "-", "-k", "2", "--seeds", "0", "--json"])
        #expect(binary.status == 0, "\(binary.stderr)")
        #expect(try Self.bestLogLikelihood(binary.stdout) == Self.bestLogLikelihood(fromFile.stdout))
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0", "--model-out", folder + "/m4.json"]).status == 0)
        let denseFile = try CLI.run(["fill", "data/test_incomplete.txt", "--model", folder + "/m4.json", "--out", folder + "/f1.txt"])
        let densePipe = try CLI.runPiped(from: "data/test_incomplete.txt", ["fill", "-", "--model", folder + "/m4.json", "--out", folder + "/f2.txt"])
        #expect(denseFile.status == 0 && densePipe.status == 0, "\(densePipe.stderr)")
        #expect(densePipe.stdout.hasPrefix("data: <stdin> (dense, detected): 20 users × 5 items, 81 ratings\n"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/f1.txt")) == Data(contentsOf: URL(fileURLWithPath: folder + "/f2.txt")))

        // eval reads its data once, from a pipe as from the file.
        let evalFile = try CLI.run(["eval", dat, "--holdout", "0.2", "--model", "mean,course", "-k", "1", "--seeds", "0", "--json"])
        let evalPipe = try CLI.runPiped(from: dat, ["eval", "-", "--holdout", "0.2", "--model", "mean,course", "-k", "1", "--seeds", "0", "--json"])
        #expect(evalFile.status == 0 && evalPipe.status == 0, "\(evalPipe.stderr)")
        let fileResults = try #require(try Self.object(evalFile.stdout)["results"] as? [[String: Any]])
        let pipeResults = try #require(try Self.object(evalPipe.stdout)["results"] as? [[String: Any]])
        #expect(fileResults.count == 2 && pipeResults.count == 2)
        for (a, b) in zip(fileResults, pipeResults) {
            #expect((a["rmse"] as? [String: Any])?["mean"] as? Double == (b["rmse"] as? [String: Any])?["mean"] as? Double)
        }
    }

    /// A pipe given by path, as the shell's process substitution makes one
    /// (`mixfill fit <(zcat ratings.dat.gz)`): read once, like `-`, so format detection's
    /// look ahead is kept for the reader rather than lost to a second open, and a pipe is
    /// never opened again (a drained one would block for ever).
    @Test func aPipeGivenByPathReadsLikeTheFile() throws {
        let folder = try Fixtures.scratchFolder()
        let dat = try Fixtures.write(Self.ratingsDat, named: "ratings.dat", in: folder)
        let fromFile = try CLI.run(["fit", dat, "-k", "2", "--seeds", "0", "--json", "--model-out", folder + "/m.json"])
        let fromPipe = try CLI.runWithPipe(from: dat, ["fit", CLI.pipePath, "-k", "2", "--seeds", "0", "--json"])
        #expect(fromFile.status == 0 && fromPipe.status == 0, "\(fromPipe.stderr)")
        #expect(try Self.bestLogLikelihood(fromPipe.stdout) == Self.bestLogLikelihood(fromFile.stdout))
        #expect(try CLI.run(["convert", dat, folder + "/r.mfr"]).status == 0)
        let binary = try CLI.runWithPipe(from: folder + "/r.mfr", ["fit", CLI.pipePath, "-k", "2", "--seeds", "0", "--json"])
        #expect(binary.status == 0, "\(binary.stderr)")
        #expect(try Self.bestLogLikelihood(binary.stdout) == Self.bestLogLikelihood(fromFile.stdout))
        // A held-out rating also in the training data: said without the pipe's line (it
        // cannot be read again), and without waiting on it.
        let test = try Fixtures.write("1::10::3\n", named: "test.dat", in: folder)
        let overlap = try CLI.runWithPipe(from: test, ["eval", dat, "--test", CLI.pipePath, "--models", "bias"])
        #expect(overlap.status == 2)
        #expect(overlap.stderr == "mixfill: error: /dev/fd/3: holds a rating for user 1, item 10 that \(dat) also has; held-out ratings must be missing from the training data\n", "\(overlap.stderr)")
        // One pipe for two inputs: the second is refused, not read empty.
        let twice = try CLI.runWithPipe(from: dat, ["fill", CLI.pipePath, "--model", folder + "/m.json", "--pairs", CLI.pipePath, "--out", folder + "/o.tsv"])
        #expect(twice.status == 2 && twice.stderr.contains("/dev/fd/3: is a pipe and was already read for another input"), "\(twice.stderr)")
        // The same pipe under another name is the same stream: refused too, not read empty
        // (nor waited on).
        let alias = try CLI.runWithPipe(from: dat, ["fill", CLI.pipePath, "--model", folder + "/m.json", "--pairs", "/proc/self/fd/3", "--out", folder + "/o.tsv"])
        #expect(alias.status == 2 && alias.stderr.contains("/proc/self/fd/3: is a pipe and was already read for another input"), "\(alias.stderr)")
        let stdinAlias = try CLI.runPiped(from: dat, ["fill", "-", "--model", folder + "/m.json", "--pairs", "/dev/stdin", "--out", folder + "/o.tsv"])
        #expect(stdinAlias.status == 2 && stdinAlias.stderr.contains("/dev/stdin: is a pipe and was already read for another input"), "\(stdinAlias.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/o.tsv"))
    }

    /// `-` with nothing piped in: a terminal is refused rather than waited on (script(1)
    /// gives the process one), and an empty pipe is an empty file.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) to run mixfill on a terminal"))
    func aTerminalOrAnEmptyPipeAsStandardInputIsRefused() throws {
        let terminal = try CLI.run(["-qec", "'\(CLI.binary)' fit - -k 1", "/dev/null"], executable: "/usr/bin/script")
        #expect(terminal.status == 2)
        #expect(terminal.stdout.contains("mixfill: error: <stdin>: is a terminal, not data; pipe or redirect the data into mixfill (for example 'mixfill fit - < ratings.dat'), or give the file's path instead of '-'"), "\(terminal.stdout)")
        let empty = try CLI.runPiped(from: "/dev/null", ["fit", "-", "-k", "1"])
        #expect(empty.status == 2)
        #expect(empty.stderr == "mixfill: error: <stdin>: no ratings found (the file is empty or holds only blank lines and comments); give a matrix with one user per line, or one rating per line ('user item rating')\n")
    }

    /// Standard input can feed one input of a command; a second `-` is refused before
    /// anything is read, and so is a batch job's data, whose hash is taken before it is read.
    @Test func standardInputFeedsOneInputAndIsRefusedWhereItCannotServe() throws {
        let folder = try Fixtures.scratchFolder()
        let dat = try Fixtures.write(Self.ratingsDat, named: "ratings.dat", in: folder)
        #expect(try CLI.run(["fit", dat, "-k", "1", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let twice = try CLI.usageFailure(["fill", "-", "--model", folder + "/m.json", "--pairs", "-", "--out", folder + "/p.tsv"])
        #expect(twice == "mixfill: error: DATA, --pairs: only one input can come from standard input ('-'); save the others to files and give their paths (see 'mixfill help')")
        let predictTwice = try CLI.usageFailure(["predict", "--model", folder + "/m.json", "--data", "-", "--pairs", "-"])
        #expect(predictTwice.hasPrefix("mixfill: error: --pairs, --data: only one input can come from standard input ('-')"))
        // fit's own options (not checked up front) meet the reader's refusal instead.
        let gold = try CLI.runPiped(from: "data/test_incomplete.txt", ["fit", "-", "--gold", "-", "-k", "1", "--seeds", "0"])
        #expect(gold.status == 2)
        #expect(gold.stderr == "mixfill: error: <stdin>: was already read for another input given as '-'; only one input of a command can come from standard input, so give the others as files\n")
        #expect(!FileManager.default.fileExists(atPath: folder + "/p.tsv"))

        let jobs = try Fixtures.write(#"{"jobs": [{"name": "piped", "data": "-", "k": [1], "seeds": "0"}]}"#, named: "jobs.json", in: folder)
        let batch = try CLI.runPiped(from: jobs, ["batch", "-", "--out", folder + "/out"])
        // A job's data cannot be standard input: refused when the job file is read, nothing runs.
        #expect(batch.status == 2 && batch.stdout.isEmpty, "\(batch.stdout)")
        #expect(batch.stderr == "mixfill: error: <stdin>:1:37: \"data\" in job \"piped\" is '-', standard input, which a batch job cannot read (its files are hashed and read again on reruns); give a file path\n")
        #expect(!FileManager.default.fileExists(atPath: folder + "/out/piped"))
    }
}
