import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The bad-input and fault cases for dense data, model files and checkpoints, run through
/// the CLI: each gives one line naming the place, a documented exit code, and loses
/// nothing already written. (Job-file cases are in BatchCLITests and JobFileTests.)
@Suite(.serialized) struct BadInputTests {
    func write(_ bytes: [UInt8], named name: String, in folder: String) throws -> String {
        let path = folder + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func truncatedMatrix() throws {
        let folder = try Fixtures.scratchFolder()
        // The netflix matrix cut off in the middle of its third row.
        let bytes = try #require(fileBytes(Fixtures.netflixIncomplete))
        let newlines = bytes.indices.filter { bytes[$0] == UInt8(ascii: "\n") }
        let cut = newlines[1] + 1 + 1000
        let path = try write(Array(bytes[0..<cut]), named: "truncated.txt", in: folder)
        let line = try CLI.usageFailure(["fit", path, "-k", "1"])
        #expect(line == "mixfill: error: \(path):3:1001: row has 500 values but line 1 has 1200; every row must have one value per item")
    }

    @Test func binaryGarbage() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try write([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0xFF, 0x0A, 0x31], named: "garbage.bin", in: folder)
        let line = try CLI.usageFailure(["fit", path, "-k", "1"])
        #expect(line == "mixfill: error: \(path):1:1: '\\x7FELF\\x02\\x01\\x00\\xFF' is not a number; ratings are decimal numbers, 0 for missing")
    }

    @Test func byteOrderMarkCRLFAndTrailingSpacesReadLikeThePlainFile() throws {
        let folder = try Fixtures.scratchFolder()
        let plain = try String(contentsOfFile: Fixtures.smallIncomplete, encoding: .utf8)
        let decorated = "\u{FEFF}" + plain.split(separator: "\n").map { $0 + " \t" }.joined(separator: "\r\n") + "\r\n"
        let path = try Fixtures.write(decorated, named: "decorated.txt", in: folder)
        let expected = try CLI.succeeded(["fit", Fixtures.smallIncomplete, "-k", "4", "--seeds", "0", "--json"])
        let outcome = try CLI.run(["fit", path, "-k", "4", "--seeds", "0", "--json"])
        #expect(outcome.status == 0 && outcome.stderr.isEmpty, "\(outcome.stderr)")
        func best(_ text: String) throws -> [Double] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            let best = try #require((object["fits"] as? [[String: Any]])?.first?["best"] as? [String: Any])
            return [best["seed"], best["log_likelihood"], best["bic"]].map { ($0 as? NSNumber)?.doubleValue ?? .nan }
        }
        #expect(try best(outcome.stdout) == best(expected.stdout))
        #expect(try DenseMatrixReader.read(path: path) == DenseMatrixReader.read(path: Fixtures.smallIncomplete))
    }

    @Test func commaSeparatedValuesAreNamedAsSuch() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("1 2 3\n4 5 6,\n", named: "trailing-comma.txt", in: folder)
        let line = try CLI.usageFailure(["fit", path, "-k", "1"])
        #expect(line == "mixfill: error: \(path):2:5: '6,' is not a number; separate the values of a row with spaces or tabs, not commas or semicolons")
    }

    @Test func notANumberAndRatingsTooLarge() throws {
        let folder = try Fixtures.scratchFolder()
        let nan = try Fixtures.write("1 2\nNaN 3\n", named: "nan.txt", in: folder)
        #expect(try CLI.usageFailure(["fit", nan, "-k", "1"]) == "mixfill: error: \(nan):2:1: 'NaN' is not a finite number; ratings must be finite, 0 for missing")
        let huge = try Fixtures.write("1 2\n3 1.5e100\n", named: "huge.txt", in: folder)
        #expect(try CLI.usageFailure(["fit", huge, "-k", "1"]) == "mixfill: error: \(huge):2:3: rating '1.5e100' is too large; ratings must be at most 1e100 (their squares are summed), rescale them")
    }

    @Test func aUserWithNoRatingsAndAnItemNobodyRatedAreWarnings() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("5 4 0 1\n0 0 0 0\n4 5 0 2\n1 2 0 5\n2 1 0 4\n", named: "gaps.txt", in: folder)
        let outcome = try CLI.run(["fit", path, "-k", "2", "--seeds", "0", "--json", "--model-out", folder + "/m.json"])
        #expect(outcome.status == 0)
        #expect(outcome.stderr == """
            mixfill: warning: \(path): 1 user has no ratings (user 1, counting rows from 0); the model fills that row with its overall average
            mixfill: warning: \(path): 1 item has no ratings (item 2, counting columns from 0); the model learns nothing there, so fill and predict give them the mean training rating

            """)
        let fill = try CLI.run(["fill", path, "--model", folder + "/m.json", "--out", folder + "/filled.txt"])
        #expect(fill.status == 0)
        let filled = try DenseMatrixReader.read(path: folder + "/filled.txt")
        #expect(filled.values.allSatisfy { $0.isFinite })
    }

    @Test func identicalUsersFitWithEveryVarianceAtTheFloor() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write(String(repeating: "3 4 5 0 2\n", count: 7) + "3 4 5 1 2\n" + "3 4 5 1 2\n", named: "same.txt", in: folder)
        let outcome = try CLI.run(["fit", path, "-k", "3", "--seeds", "0-2", "--model-out", folder + "/m.json"])
        // The seven users without item 3 form components whose mean of it stays 0: the
        // course model fills 0 there, and says so.
        #expect(outcome.status == 0)
        #expect(outcome.stderr.hasPrefix("mixfill: warning: K = 3, seed 0: ") && outcome.stderr.contains(" of a typical user's predictions come from component means still at their initial 0"),
                "\(outcome.stderr)")
        let model = try ModelFile.read(path: folder + "/m.json")
        #expect(model.course.variances == [0.25, 0.25, 0.25])
        #expect(model.logLikelihood.isFinite && model.converged)
    }

    // MARK: Model files

    @Test func modelFilesFromANewerVersionOrDamagedAreRefused() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let text = try String(contentsOfFile: folder + "/m.json", encoding: .utf8)
        let current = ModelFile.currentVersion
        // A course model is written as version 2 (version 3 added the factor family).
        #expect(text.contains("\"version\":2"))
        let newer = try Fixtures.write(text.replacingOccurrences(of: "\"version\":2", with: "\"version\":\(current + 1)"), named: "newer.json", in: folder)
        let out = try Fixtures.write("keep me\n", named: "out.txt", in: folder)
        #expect(try CLI.usageFailure(["fill", "data/test_incomplete.txt", "--model", newer, "--out", out])
            == "mixfill: error: \(newer): model format version \(current + 1) is newer than this MixFill reads (\(current)); upgrade MixFill")
        let truncated = try Fixtures.write(String(text.prefix(text.count / 2)), named: "truncated.json", in: folder)
        #expect(try CLI.usageFailure(["fill", "data/test_incomplete.txt", "--model", truncated, "--out", out])
            == "mixfill: error: \(truncated): not a MixFill model file (not valid JSON); give a file written by `mixfill fit --model-out`")
        let garbage = try write([0x00, 0x9F, 0x92, 0x96, 0xFF], named: "garbage.json", in: folder)
        #expect(try CLI.usageFailure(["fill", "data/test_incomplete.txt", "--model", garbage, "--out", out])
            == "mixfill: error: \(garbage): not a MixFill model file (not valid JSON); give a file written by `mixfill fit --model-out`")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep me\n")
    }

    /// Parameters no fit writes: weights that do not sum to 1 (before: read, and every
    /// prediction shifted), a negative weight, a zero variance. Exit 2, one line, and the
    /// output that was there stays.
    @Test func modelFilesWithImpossibleParametersAreRefused() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let text = try String(contentsOfFile: folder + "/m.json", encoding: .utf8)
        let weights = try #require(text.firstMatch(of: /"weights":\[[^\]]*\]/)).output
        let variances = try #require(text.firstMatch(of: /"variances":\[[^\]]*\]/)).output
        let out = try Fixtures.write("keep me\n", named: "out.txt", in: folder)
        let cases: [(name: String, text: String, message: String)] = [
            ("sum.json", text.replacingOccurrences(of: weights, with: "\"weights\":[0.9,0.9]"),
             "model's weights sum to 1.8, not 1; refit and write it again"),
            ("negative.json", text.replacingOccurrences(of: weights, with: "\"weights\":[-0.5,1.5]"),
             "model has a non-finite mean, a negative weight or a non-positive variance; refit and write it again"),
            ("variance.json", text.replacingOccurrences(of: variances, with: "\"variances\":[0,1]"),
             "model has a non-finite mean, a negative weight or a non-positive variance; refit and write it again"),
            // Finite but unusable: squares that overflow, a variance with no finite reciprocal.
            ("huge-mean.json", text.replacing(/"means":\[\[[^,\]]*/, with: "\"means\":[[1e308", maxReplacements: 1),
             "model has a mean beyond ±1e150 or a variance outside 2.2e-308 … 1e300; no fit on ratings MixFill reads gives one. Refit and write it again"),
            ("tiny-variance.json", text.replacingOccurrences(of: variances, with: "\"variances\":[1e-320,1]"),
             "model has a mean beyond ±1e150 or a variance outside 2.2e-308 … 1e300; no fit on ratings MixFill reads gives one. Refit and write it again"),
        ]
        for item in cases {
            let path = try Fixtures.write(item.text, named: item.name, in: folder)
            #expect(try CLI.usageFailure(["fill", "data/test_incomplete.txt", "--model", path, "--out", out])
                == "mixfill: error: \(path): \(item.message)")
            #expect(try CLI.usageFailure(["predict", "--model", path, "--user", "1", "--items", "0"])
                == "mixfill: error: \(path): \(item.message)")
        }
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep me\n")
        // The same for an mppca model: its offsets, loadings and σ².
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "--family", "mppca", "-k", "1", "--factors", "2",
                             "--prior-loadings", "5", "--model-out", folder + "/f.json"]).status == 0)
        let factor = try String(contentsOfFile: folder + "/f.json", encoding: .utf8)
        let noise = try #require(factor.firstMatch(of: /"noise_variance":[^,]*/)).output
        let offsetMean = try #require(factor.firstMatch(of: /"mean":[^,}]*/)).output
        let factorMessage = "model has a loading, mean or offset beyond ±1e150, or a noise variance outside 2.2e-308 … 1e300; no fit on ratings MixFill reads gives one; refit and write the model again"
        for (name, edited) in [("tiny-noise.json", factor.replacingOccurrences(of: noise, with: "\"noise_variance\":1e-320")),
                               ("huge-offset.json", factor.replacingOccurrences(of: offsetMean, with: "\"mean\":1e308")),
                               ("huge-loading.json", factor.replacing(/"loadings":\[\[[^,\]]*/, with: "\"loadings\":[[1e300", maxReplacements: 1))] {
            #expect(edited != factor, "\(name) edits the file")
            let path = try Fixtures.write(edited, named: name, in: folder)
            #expect(try CLI.usageFailure(["predict", "--model", path, "--user", "1", "--items", "0"])
                == "mixfill: error: \(path): \(factorMessage)")
        }
        // A byte-order mark in front of the JSON reads like the plain file.
        let marked = try Fixtures.write("\u{FEFF}" + text, named: "marked.json", in: folder)
        let plain = try CLI.run(["predict", "--model", folder + "/m.json", "--user", "1", "--items", "0,1"])
        let withMark = try CLI.run(["predict", "--model", marked, "--user", "1", "--items", "0,1"])
        #expect(plain.status == 0 && withMark.status == 0 && withMark.stdout == plain.stdout && !plain.stdout.isEmpty)
    }

    // MARK: Checkpoints

    @Test func aCheckpointFromDifferentDataIsRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let checkpoints = folder + "/checkpoints"
        let first = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "3", "--seeds", "0", "--checkpoint-every", "2", "--checkpoint-dir", checkpoints])
        #expect(first.status == 0)
        let other = try Fixtures.write(String(repeating: "1 2 3 4 5\n5 4 3 2 1\n", count: 10), named: "other.txt", in: folder)
        let line = try CLI.usageFailure(["fit", other, "-k", "3", "--seeds", "0", "--checkpoint-dir", checkpoints, "--resume"])
        #expect(line.hasPrefix("mixfill: error: \(checkpoints)/k3-seed0.ckpt: this checkpoint was written for other data (20 users × 5 items, 81 ratings, fingerprint "))
        #expect(line.hasSuffix(") than this run's (20 × 5, 100 ratings, fingerprint \(try DenseMatrixReader.read(path: other).fingerprint.prefix(12))…); give the data and options it was written with, or delete \(checkpoints) to start over"))
        let otherOptions = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "3", "--seeds", "0", "--checkpoint-dir", checkpoints, "--resume", "--max-iterations", "7"])
        #expect(otherOptions == "mixfill: error: \(checkpoints)/k3-seed0.ckpt: this checkpoint was written with --max-iterations 1000, this run uses 7; give the data and options it was written with, or delete \(checkpoints) to start over")
    }

    @Test func aDamagedCheckpointIsRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let checkpoints = folder + "/checkpoints"
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "3", "--seeds", "0", "--checkpoint-every", "2", "--checkpoint-dir", checkpoints]).status == 0)
        let path = checkpoints + "/k3-seed0.ckpt"
        var bytes = try #require(fileBytes(path))
        bytes[bytes.count - 40] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let line = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "3", "--seeds", "0", "--checkpoint-dir", checkpoints, "--resume"])
        #expect(line == "mixfill: error: \(path): the checkpoint is damaged or truncated (its SHA-256 seal does not match); delete the checkpoint to start that run over")
    }

    // MARK: Output faults: nothing partial, nothing lost

    @Test func aFileSizeLimitFailsTheWriteAndKeepsTheOldFile() throws {
        // `ulimit -f` makes write() fail with EFBIG past the limit, as a full disk fails it
        // with ENOSPC: the same path through AtomicFile, on any machine, without root.
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/netflix_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let out = try Fixtures.write("the previous filled matrix\n", named: "filled.txt", in: folder)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -f 64 && exec \"$0\" fill data/netflix_incomplete.txt --model \"$1\" --out \"$2\"",
                             CLI.binary, folder + "/m.json", out]
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.root)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(stderr == "mixfill: error: \(out): cannot write: File too large; nothing was written\n")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "the previous filled matrix\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["filled.txt", "m.json"])
    }

    /// Whether this process may mount a tmpfs (root with mount(8) and the privilege to use
    /// it — a container's root may lack it): tried once, on a scratch folder.
    static let canMountTmpfs: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount"),
              let folder = try? Fixtures.scratchFolder() else { return false }
        guard (try? CLI.runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", folder])) == 0 else { return false }
        _ = try? CLI.runTool("/bin/umount", [folder])
        return true
    }()

    @Test(.enabled(if: BadInputTests.canMountTmpfs, "needs root and the privilege to mount a tmpfs"))
    func aFullDiskFailsTheJobButNotTheBatch() throws {
        // A 160 KiB tmpfs: a netflix K = 12 model (about 300 KB) does not fit, the small
        // job's files do.
        let folder = try Fixtures.scratchFolder()
        let disk = folder + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mount = try CLI.runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=160k", "tmpfs", disk])
        try #require(mount == 0)
        defer { _ = try? CLI.runTool("/bin/umount", [disk]) }
        let jobs = try Fixtures.write("""
            {"jobs": [
               {"name": "small", "data": "\(Fixtures.smallIncomplete)", "k": [3], "seeds": "0"},
               {"name": "large", "data": "\(Fixtures.netflixIncomplete)", "k": [12], "seeds": "0", "threads": 1}
            ]}
            """, named: "jobs.json", in: folder)
        let outcome = try CLI.run(["batch", jobs, "--out", disk + "/out"])
        #expect(outcome.status == 3, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("FAILED   large: \(disk)/out/large/model-k12.json: cannot write: No space left on device; nothing was written"), "\(outcome.stdout)")
        let failed = try #require(JobResult.readIfPresent(path: disk + "/out/large/result.json"))
        #expect(failed.status == .failed && failed.error?.exitCode == 1)
        #expect(JobResult.readIfPresent(path: disk + "/out/small/result.json")?.status == .ok)
        #expect(try ModelFile.read(path: disk + "/out/small/model-k3.json").course.componentCount == 3)
        let leftovers = filesBelow(disk + "/out").filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    /// An output folder that cannot be written — a file where the folder should be, or a
    /// read-only file system — is a runtime failure (exit 1) naming the path, for every
    /// kind of output, and nothing is written anywhere.
    @Test func unwritableOutputFoldersFailWithThePathAndWriteNothing() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let blocker = try Fixtures.write("a file, not a folder\n", named: "blocker", in: folder)
        func commands(_ place: String) -> [[String]] {
            [["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", place + "/m.json"],
             ["fill", "data/test_incomplete.txt", "--model", folder + "/m.json", "--out", place + "/f.txt"],
             ["convert", "data/test_incomplete.txt", place + "/x.mfr"],
             ["predict", "--model", folder + "/m.json", "--user", "1", "--items", "0", "--out", place + "/p.tsv"],
             ["select", "data/test_incomplete.txt", "-k", "1-2", "--seeds", "0", "--svg", place + "/s.svg"]]
        }
        let files = ["m.json", "f.txt", "x.mfr", "p.tsv", "s.svg"]
        #expect(commands(blocker).count == files.count)
        for (arguments, file) in zip(commands(blocker), files) {
            let outcome = try CLI.run(arguments)
            #expect(outcome.status == 1, "\(arguments)")
            #expect(outcome.stderr == "mixfill: error: \(blocker)/\(file): cannot create a file in \(blocker): Not a directory; check that the folder exists and is writable\n")
        }
        // fit checks --model-out's folder before it reads anything: a missing DATA is not
        // even looked at.
        let early = try CLI.run(["fit", folder + "/nowhere.txt", "-k", "2", "--model-out", blocker + "/m.json"])
        #expect(early.status == 1 && early.stdout.isEmpty)
        #expect(early.stderr == "mixfill: error: \(blocker)/m.json: cannot create a file in \(blocker): Not a directory; check that the folder exists and is writable\n")
        let checkpoints = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--checkpoint-every", "2", "--checkpoint-dir", blocker + "/ck"])
        #expect(checkpoints.status == 1)
        #expect(checkpoints.stderr == "mixfill: error: \(blocker)/ck: cannot create the checkpoint folder (\(blocker) exists and is not a folder); choose a writable place\n")
        #expect(try String(contentsOfFile: blocker, encoding: .utf8) == "a file, not a folder\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["blocker", "m.json"])

        // A read-only file system (root ignores permission bits, so a read-only mount is
        // the unwritable folder that holds for every user).
        guard Self.canMountTmpfs else { return }
        let readOnly = folder + "/read-only"
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: true)
        try #require(try CLI.runTool("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", readOnly]) == 0)
        defer { _ = try? CLI.runTool("/bin/umount", [readOnly]) }
        #expect(commands(readOnly).count == files.count)
        for (arguments, file) in zip(commands(readOnly), files) {
            let outcome = try CLI.run(arguments)
            #expect(outcome.status == 1, "\(arguments)")
            #expect(outcome.stderr == "mixfill: error: \(readOnly)/\(file): cannot create a file in \(readOnly): Read-only file system; check that the folder exists and is writable\n")
        }
        let jobs = try Fixtures.write(#"{"jobs": [{"name": "a", "data": "\#(Fixtures.smallIncomplete)", "k": [2], "seeds": "0"}]}"#, named: "jobs.json", in: folder)
        let batch = try CLI.run(["batch", jobs, "--out", readOnly + "/out"])
        #expect(batch.status == 1)
        #expect(batch.stderr == "mixfill: error: \(readOnly)/out: cannot create the output folder (\(readOnly)/out: Read-only file system); choose a writable place\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: readOnly).isEmpty)
    }

    @Test func aTargetThatIsNotARegularFileIsNeverReplaced() throws {
        let folder = try Fixtures.scratchFolder()
        let fifo = folder + "/pipe"
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let outcome = try CLI.run(["fill", "data/test_incomplete.txt", "--model", folder + "/m.json", "--out", fifo])
        #expect(outcome.status == 1)
        #expect(outcome.stderr == "mixfill: error: \(fifo): exists and is not a regular file; give the path of a file to write\n")
        var status = stat()
        #expect(stat(fifo, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO)
    }

    /// `fit --model-out` whose target is a folder is refused before the data is read (the
    /// fit's work would otherwise be lost at the end): NAME itself for one K or a K still to
    /// be chosen, NAME-k<K> for several.
    @Test func fitRefusesAFolderAsItsModelFileBeforeAnyWork() throws {
        let folder = try Fixtures.scratchFolder()
        for name in ["m.json", "m-k2.json"] {
            try FileManager.default.createDirectory(atPath: folder + "/" + name, withIntermediateDirectories: false)
        }
        let missing = folder + "/nowhere.txt"
        for (arguments, target) in [(["fit", missing, "-k", "2", "--model-out", folder + "/m.json"], "m.json"),
                                    (["fit", missing, "--family", "mppca", "--model-out", folder + "/m.json"], "m.json"),
                                    (["fit", missing, "-k", "1,2", "--model-out", folder + "/m.json"], "m-k2.json")] {
            let outcome = try CLI.run(arguments)
            #expect(outcome.status == 1 && outcome.stdout.isEmpty, "\(arguments)")
            #expect(outcome.stderr == "mixfill: error: \(folder)/\(target): exists and is not a regular file; give the path of a file to write\n", "\(arguments)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["m-k2.json", "m.json"])
    }

    /// The streaming writer (convert, synth, predict --out) refuses a FIFO or a folder at
    /// the target like `AtomicFile` does: exit 1, one line, the target untouched, no
    /// temporary file left behind.
    @Test func aStreamedOutputNeverReplacesAPipeOrAFolder() throws {
        let folder = try Fixtures.scratchFolder()
        let fifo = folder + "/pipe"
        #expect(mkfifo(fifo, 0o644) == 0)
        let target = folder + "/target"
        try FileManager.default.createDirectory(atPath: target + "/inside", withIntermediateDirectories: true)
        for path in [fifo, target] {
            for arguments in [["convert", "data/test_incomplete.txt", path],
                              ["convert", "data/test_incomplete.txt", path, "--to", "csv"],
                              ["synth", "--users", "10", "--items", "5", "--ratings", "20", "-k", "2", "--out", path]] {
                let outcome = try CLI.run(arguments)
                #expect(outcome.status == 1, "\(arguments)")
                #expect(outcome.stderr == "mixfill: error: \(path): exists and is not a regular file; give the path of a file to write\n", "\(arguments)")
            }
        }
        var status = stat()
        #expect(stat(fifo, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO)
        #expect(stat(target, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["inside"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["pipe", "target"])
    }

    @Test func staleTemporaryFilesAreRecognisedAndRemoved() throws {
        let folder = try Fixtures.scratchFolder()
        for name in [".model.json.tmp-Ab12Cd", ".x.tmp-123456", "model.json", ".hidden", ".a.tmp-short"] {
            _ = try Fixtures.write("x", named: name, in: folder)
        }
        #expect(AtomicFile.removeStaleTemporaries(inFolder: folder) == [".model.json.tmp-Ab12Cd", ".x.tmp-123456"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == [".a.tmp-short", ".hidden", "model.json"])
    }
}

extension CLI {
    /// Runs a system tool quietly and returns its exit status.
    static func runTool(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
