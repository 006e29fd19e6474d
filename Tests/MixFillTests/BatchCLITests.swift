import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension CLI {
    /// Starts mixfill without waiting; stdout and stderr go to files in `folder`.
    static func start(_ arguments: [String], in folder: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.root)
        _ = FileManager.default.createFile(atPath: folder + "/stdout", contents: nil)
        _ = FileManager.default.createFile(atPath: folder + "/stderr", contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/stdout"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/stderr"))
        try process.run()
        return process
    }

    /// Polls `condition` every 2 ms for up to `seconds`.
    static func wait(upTo seconds: Double, for condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(2000)
        }
        return condition()
    }
}

func fileBytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { Array($0) }
}

func filesBelow(_ folder: String) -> [String] {
    (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).sorted()
}

/// `mixfill batch` end to end, and the checkpoint flags of `mixfill fit`, with signals.
@Suite(.serialized) struct BatchCLITests {
    /// A scratch folder with the course's small matrix as ratings.txt and its gold.
    func workspace() throws -> String {
        let folder = try Fixtures.scratchFolder()
        try FileManager.default.copyItem(atPath: Fixtures.smallIncomplete, toPath: folder + "/ratings.txt")
        try FileManager.default.copyItem(atPath: Fixtures.smallComplete, toPath: folder + "/gold.txt")
        return folder
    }

    /// A job without "k" runs fit's default K = 1,12; on data with fewer users its failure
    /// says the K was the default, not the job's "k" (which it does not have).
    @Test func aDefaultKTooLargeForTheDataSaysItWasTheDefault() throws {
        let folder = try Fixtures.scratchFolder()
        _ = try Fixtures.write("1,1,4\n1,2,3\n2,1,5\n3,2,2\n", named: "tiny.csv", in: folder)
        let jobs = try Fixtures.write(#"{"jobs": [{"name": "default-k", "data": "tiny.csv", "seeds": "0"}]}"#, named: "jobs.json", in: folder)
        let outcome = try CLI.run(["batch", jobs, "--out", folder + "/out"])
        #expect(outcome.status == 3, "\(outcome.stderr)")
        #expect(outcome.stdout.hasPrefix("FAILED   default-k: \(jobs):1: job \"default-k\": K = 12 (of fit's default K = 1,12, the job giving no \"k\") is more than the 3 users in \(folder)/tiny.csv; give \"k\" with values ≤ 3\n"), "\(outcome.stdout)")
    }

    @Test func batchRunsRecordsFailuresSkipsOnRerunAndRedoesChangedJobs() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write("""
            {"defaults": {"backend": "naive", "threads": 1},
             "jobs": [
               {"name": "course", "data": "ratings.txt", "gold": "gold.txt", "k": [1, 4], "seeds": "0"},
               {"name": "missing-data", "data": "nowhere.txt", "k": [2]},
               {"name": "more", "data": "ratings.txt", "k": "2-3", "seeds": [0, 1], "models": false},
               {"name": "too-many", "data": "ratings.txt", "k": [2, 21]}
             ]}
            """, named: "jobs.json", in: folder)
        let out = folder + "/out"
        let first = try CLI.run(["batch", jobs, "--out", out])
        #expect(first.status == 3, "\(first.stderr)")
        #expect(first.stdout == """
            ok       course
            FAILED   missing-data: \(jobs):4: "data" in job "missing-data": \(folder)/nowhere.txt: no such file; check the path
            ok       more
            FAILED   too-many: \(jobs):6: "k" in job "too-many": K = 21 is more than the 20 users in \(folder)/ratings.txt; choose K ≤ 20
            batch: 4 jobs, 2 ok, 2 failed, 0 pending; summary in \(out)/summary.json and summary.csv

            """)
        #expect(filesBelow(out) == [
            ".mixfill-batch.lock", "course", "course/job.json", "course/log.jsonl", "course/model-k1.json",
            "course/model-k4.json", "course/result.json", "missing-data", "missing-data/log.jsonl",
            "missing-data/result.json", "more", "more/job.json", "more/log.jsonl", "more/result.json",
            "summary.csv", "summary.json", "too-many", "too-many/job.json", "too-many/log.jsonl", "too-many/result.json",
        ])
        #expect(JobResult.readIfPresent(path: out + "/too-many/result.json")?.error?.exitCode == 2)
        let result = try #require(JobResult.readIfPresent(path: out + "/course/result.json"))
        #expect(result.status == .ok && result.job == "course" && result.jobHash?.count == 64)
        #expect(result.data == JobResult.DataSummary(path: "ratings.txt", format: "dense", users: 20, items: 5, observed: 81))
        #expect(result.kernel == "dense" && result.backend == "naive")
        let four = try #require(result.fits?.last)
        #expect(four.k == 4 && four.best.seed == 0 && four.model == "model-k4.json")
        #expect(abs(four.best.logLikelihood - -84.98451993042474) <= 1e-10)
        #expect(abs((four.rmse?.allEntries ?? 0) - 0.31523012057496) <= 1e-12)
        let model = try ModelFile.read(path: out + "/course/model-k4.json")
        #expect(model.logLikelihood == four.best.logLikelihood && model.iterations == four.runs[0].iterations)

        let failed = try #require(JobResult.readIfPresent(path: out + "/missing-data/result.json"))
        #expect(failed.status == .failed && failed.jobHash == nil)
        #expect(failed.error == JobResult.Failure(message: "\(jobs):4: \"data\" in job \"missing-data\": \(folder)/nowhere.txt: no such file; check the path", exitCode: 2))

        let summary = try JSONDecoder().decode(BatchSummary.self, from: Data(try #require(fileBytes(out + "/summary.json"))))
        #expect(summary.counts == BatchSummary.Counts(total: 4, ok: 2, failed: 2, pending: 0))
        #expect(summary.jobs.map(\.status) == [.ok, .failed, .ok, .failed])
        let csv = String(decoding: try #require(fileBytes(out + "/summary.csv")), as: UTF8.self).split(separator: "\r\n")
        #expect(csv.count == 1 + 2 + 1 + 2 + 1)
        #expect(csv[0] == "job,status,k,best_seed,log_likelihood,bic,iterations,converged,rmse_all_entries,rmse_missing_entries,model,error")
        #expect(csv[2].hasPrefix("course,ok,4,0,-84.98451993042"))
        #expect(csv[2].hasSuffix(",model-k4.json,"))
        #expect(csv[3] == "missing-data,failed,,,,,,,,,,\"\(jobs):4: \"\"data\"\" in job \"\"missing-data\"\": \(folder)/nowhere.txt: no such file; check the path\"")
        let logLines = String(decoding: try #require(fileBytes(out + "/course/log.jsonl")), as: UTF8.self).split(separator: "\n")
        let events = try logLines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["event"] as? String
        }
        #expect(events.first == "job_start" && events.last == "job_end")
        #expect(events.filter { $0 == "run_end" }.count == 2)

        // A rerun skips the finished jobs and leaves their files byte for byte as they were.
        let before = fileBytes(out + "/course/result.json")
        let modelBefore = fileBytes(out + "/course/model-k4.json")
        let second = try CLI.run(["batch", jobs, "--out", out])
        #expect(second.status == 3)
        #expect(second.stdout.contains("ok       course (skipped: result is current)"))
        #expect(second.stdout.contains("ok       more (skipped: result is current)"))
        #expect(fileBytes(out + "/course/result.json") == before)
        #expect(fileBytes(out + "/course/model-k4.json") == modelBefore)

        // A deleted model is written again (from the checkpoint-free rerun: same bytes).
        try FileManager.default.removeItem(atPath: out + "/course/model-k4.json")
        let repaired = try CLI.run(["batch", jobs, "--out", out])
        #expect(repaired.status == 3, "the failing jobs still fail")
        #expect(repaired.stdout.contains("ok       course\n"))
        #expect(fileBytes(out + "/course/model-k4.json") == modelBefore)
        #expect(fileBytes(out + "/course/result.json") == before)

        // Changing one rating changes the content hash: that job runs again, the others skip.
        // (The gold changes with it: a gold must keep every rating of the data.)
        for file in ["/ratings.txt", "/gold.txt"] {
            let ratings = try String(contentsOfFile: folder + file, encoding: .utf8)
            try ("1" + ratings.dropFirst()).write(toFile: folder + file, atomically: true, encoding: .utf8)
        }
        let third = try CLI.run(["batch", jobs, "--out", out])
        #expect(third.status == 3, "the failing jobs still fail")
        #expect(third.stdout.contains("ok       course\n") && third.stdout.contains("ok       more\n"))
        let changed = try #require(JobResult.readIfPresent(path: out + "/course/result.json"))
        #expect(changed.jobHash != result.jobHash)
        #expect(changed.fits?.last?.best.logLikelihood != four.best.logLikelihood)

        // A job whose K list shrinks loses the models of the K it no longer has.
        let fewer = try Fixtures.write("""
            {"jobs": [{"name": "course", "data": "ratings.txt", "gold": "gold.txt", "k": [4], "seeds": "0",
                       "backend": "naive", "threads": 1}]}
            """, named: "fewer.json", in: folder)
        #expect(try CLI.run(["batch", fewer, "--out", out]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: out + "/course/model-k1.json"))
        #expect(FileManager.default.fileExists(atPath: out + "/course/model-k4.json"))
    }

    /// `fit --json`'s runs as (K, seed, log-likelihood, iterations), K by K. JSONDecoder
    /// reads doubles exactly (JSONSerialization may be an ulp off).
    static func runs(ofFitJSON text: String) throws -> [(Int, UInt32, Double, Int)] {
        struct Report: Decodable {
            struct Fit: Decodable { var k: Int; var runs: [Run] }
            struct Run: Decodable { var seed: UInt32; var log_likelihood: Double; var iterations: Int }
            var fits: [Fit]
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(text.utf8))
        return report.fits.flatMap { fit in fit.runs.map { (fit.k, $0.seed, $0.log_likelihood, $0.iterations) } }
    }

    /// The course's small matrix as CSV records, with these ids for its rows and columns.
    static func smallMatrixCSV(user: (Int) -> Int, item: (Int) -> Int) throws -> String {
        let matrix = try Fixtures.load(Fixtures.smallIncomplete)
        var csv = "userId,movieId,rating\n"
        for row in 0..<matrix.userCount {
            for column in 0..<matrix.itemCount where matrix[row, column] != 0 {
                csv += "\(user(row)),\(item(column)),\(Int(matrix[row, column]))\n"
            }
        }
        return csv
    }

    @Test func recordInputRunsWithItsKernelAndIds() throws {
        // The course's small matrix as CSV records with ids of our own: the sparse and the
        // dense kernel on it, the dense matrix itself, and a gold matrix refused for records.
        let folder = try workspace()
        _ = try Fixtures.write(try Self.smallMatrixCSV(user: { 100 + 7 * $0 }, item: { 9000 + $0 }), named: "ratings.csv", in: folder)
        let jobs = try Fixtures.write("""
            {"defaults": {"k": [3], "seeds": "0-1", "threads": 1},
             "jobs": [
               {"name": "sparse", "data": "ratings.csv"},
               {"name": "dense-kernel", "data": "ratings.csv", "format": "csv", "kernel": "dense"},
               {"name": "matrix", "data": "ratings.txt"},
               {"name": "gold-on-records", "data": "ratings.csv", "gold": "gold.txt"}
             ]}
            """, named: "jobs.json", in: folder)
        let outcome = try CLI.run(["batch", jobs, "--out", folder + "/out"])
        #expect(outcome.status == 3, "\(outcome.stderr)")
        let sparse = try #require(JobResult.readIfPresent(path: folder + "/out/sparse/result.json"))
        let denseKernel = try #require(JobResult.readIfPresent(path: folder + "/out/dense-kernel/result.json"))
        let plain = try #require(JobResult.readIfPresent(path: folder + "/out/matrix/result.json"))
        #expect(sparse.kernel == "sparse" && sparse.data?.format == "csv" && denseKernel.kernel == "dense")
        #expect(plain.data?.format == "dense")
        // Same data, same seeds: the kernels agree with each other and with the matrix.
        for (a, b) in [(sparse, denseKernel), (sparse, plain)] {
            let left = try #require(a.fits?.first?.runs)
            let right = try #require(b.fits?.first?.runs)
            #expect(left.map(\.iterations) == right.map(\.iterations))
            for (x, y) in zip(left, right) { #expect(relativeError(x.logLikelihood, y.logLikelihood) <= 1e-10) }
        }
        let model = try ModelFile.read(path: folder + "/out/sparse/model-k3.json")
        #expect(model.users.id(0) == 100 && model.items.id(4) == 9004 && model.training?.format == "csv")
        let refused = try #require(JobResult.readIfPresent(path: folder + "/out/gold-on-records/result.json"))
        #expect(refused.error == JobResult.Failure(message: "\(jobs):6: \"gold\" in job \"gold-on-records\": compares dense matrices, but \(folder)/ratings.csv holds rating records; leave \"gold\" out and score held-out records with 'mixfill eval'", exitCode: 2))
    }

    @Test func precisionAndRatingScaleJobs() throws {
        let folder = try workspace()
        _ = try Fixtures.write("userId,movieId,rating\n1,1,4\n1,2,5\n2,1,3\n2,2,1\n3,2,2\n", named: "ratings.csv", in: folder)
        let jobs = try Fixtures.write("""
            {"defaults": {"data": "ratings.txt", "k": [3], "seeds": "0-1", "threads": 1},
             "jobs": [
               {"name": "single", "precision": "single"},
               {"name": "single-on-records", "data": "ratings.csv", "precision": "single"},
               {"name": "scaled", "rating_scale": "2-5"},
               {"name": "scaled-ok", "rating_scale": [1, 5], "k": [2]}
             ]}
            """, named: "jobs.json", in: folder)
        let outcome = try CLI.run(["batch", jobs, "--out", folder + "/out"])
        #expect(outcome.status == 3, "\(outcome.stderr)")
        let single = try #require(JobResult.readIfPresent(path: folder + "/out/single/result.json"))
        #expect(single.status == .ok && single.precision == "single" && single.kernel == "dense")
        // The same runs as `fit --precision single` one restart at a time (as with checkpoints).
        let fit = try CLI.run(["fit", folder + "/ratings.txt", "-k", "3", "--seeds", "0-1", "--threads", "1", "--precision", "single",
                               "--checkpoint-every", "50", "--checkpoint-dir", folder + "/checkpoints", "--json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        // (Numbers read from the text: JSONSerialization rounds the last digit away.)
        let fitNumbers = fit.stdout.matches(of: /"log_likelihood"\s*:\s*(-?[0-9.eE+-]+)/).compactMap { Double(String($0.1)) }
        #expect(Set(fitNumbers) == Set(single.fits?.first?.runs.map(\.logLikelihood) ?? []))
        #expect(fitNumbers.count == 3)
        #expect(JobResult.readIfPresent(path: folder + "/out/scaled-ok/result.json")?.precision == nil)

        let records = try #require(JobResult.readIfPresent(path: folder + "/out/single-on-records/result.json"))
        #expect(records.error == JobResult.Failure(message: "\(jobs):4: \"precision\" in job \"single-on-records\": 'single' runs on the dense BLAS kernel only, and this fit runs the sparse kernel; add \"kernel\": \"dense\" or leave \"precision\" out", exitCode: 2))
        let scaled = try #require(JobResult.readIfPresent(path: folder + "/out/scaled/result.json"))
        #expect(scaled.error == JobResult.Failure(message: "\(folder)/ratings.txt:3:9: rating '1' is outside the declared scale (\"rating_scale\" 2-5); correct the rating or declare the scale the data use", exitCode: 2))
        #expect(JobResult.readIfPresent(path: folder + "/out/scaled-ok/result.json")?.status == .ok)
    }

    /// A batch job runs its K's seeds as `mixfill fit` does (the same `FitEngine`, the seeds as
    /// one batch, with checkpoints): on the same data, seeds and threads every run has fit's
    /// log-likelihood, bit for bit, and its iteration count — with and without fit's own
    /// checkpoints.
    @Test func aBatchJobGivesFitsResultsBitForBit() throws {
        let folder = try Fixtures.scratchFolder()
        let jobs = try Fixtures.write("""
            {"jobs": [{"name": "course", "data": "\(Fixtures.netflixIncomplete)", "k": [1, 4], "seeds": "0-2", "threads": 2,
                       "checkpoint_every": 3}]}
            """, named: "jobs.json", in: folder)
        #expect(try CLI.run(["batch", jobs, "--out", folder + "/out"]).status == 0)
        let result = try #require(JobResult.readIfPresent(path: folder + "/out/course/result.json"))
        let batchRuns = (result.fits ?? []).flatMap { fit in fit.runs.map { (fit.k, $0.seed, $0.logLikelihood, $0.iterations) } }
        #expect(batchRuns.count == 6)

        let common = ["fit", Fixtures.netflixIncomplete, "-k", "1,4", "--seeds", "0-2", "--threads", "2", "--json"]
        for extra in [[], ["--checkpoint-every", "3", "--checkpoint-dir", folder + "/checkpoints"]] {
            let fit = try CLI.run(common + extra)
            #expect(fit.status == 0)
            let fitRuns = try Self.runs(ofFitJSON: fit.stdout)
            #expect(fitRuns.count == batchRuns.count)
            for (fitRun, batchRun) in zip(fitRuns, batchRuns) {
                #expect(fitRun.0 == batchRun.0 && fitRun.1 == batchRun.1)
                #expect(fitRun.2.bitPattern == batchRun.2.bitPattern, "K = \(batchRun.0), seed \(batchRun.1)")
                #expect(fitRun.3 == batchRun.3, "K = \(batchRun.0), seed \(batchRun.1)")
            }
        }
    }

    /// With `--parallel` every job runs on one thread; a job's results depend on its
    /// threads (the dense BLAS kernel's shards, as in `fit`), so the jobs here ask for one.
    @Test func parallelJobsGiveTheSameFilesAsOneAtATime() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write("""
            {"defaults": {"threads": 1}, "jobs": [
               {"name": "a", "data": "ratings.txt", "k": [2, 3], "seeds": "0-3"},
               {"name": "b", "data": "ratings.txt", "k": [4], "seeds": "0-3", "backend": "naive"},
               {"name": "c", "data": "\(Fixtures.netflixIncomplete)", "k": [3], "seeds": "0"}
            ]}
            """, named: "jobs.json", in: folder)
        #expect(try CLI.run(["batch", jobs, "--out", folder + "/one"]).status == 0)
        #expect(try CLI.run(["batch", jobs, "--out", folder + "/two", "--parallel", "2"]).status == 0)
        for name in ["summary.json", "summary.csv", "a/result.json", "a/model-k3.json", "b/result.json", "c/model-k3.json"] {
            #expect(fileBytes(folder + "/one/" + name) == fileBytes(folder + "/two/" + name), "\(name)")
        }
    }

    // MARK: Job-file and output-folder errors: one line, the place, the exit code, nothing written.

    @Test func unknownJobFieldIsRejectedBeforeAnythingRuns() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write("{\"jobs\": [\n  {\"name\": \"a\", \"data\": \"ratings.txt\", \"k\": [2], \"kernal\": \"blas\"}\n]}\n",
                                      named: "jobs.json", in: folder)
        let line = try CLI.usageFailure(["batch", jobs, "--out", folder + "/out"])
        #expect(line == "mixfill: error: \(jobs):2:50: unknown field \"kernal\" in job \"a\"; job fields are name, data, format, family, k, seeds, backend, kernel, precision, rating_scale, threads, max_iterations, gold, models, checkpoint_every, factors, prior_loadings, prior_means")
        #expect(!FileManager.default.fileExists(atPath: folder + "/out"))
    }

    /// A job whose log.jsonl cannot be written (a folder stands in its place) warns once on
    /// stderr and still completes: its model and result.json are written, the exit code is 0.
    @Test func aLogThatCannotBeWrittenIsReportedOnceAndTheResultStillWritten() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write("{\"jobs\": [{\"name\": \"a\", \"data\": \"ratings.txt\", \"k\": [2], \"seeds\": \"0-2\", \"threads\": 1}]}",
                                      named: "jobs.json", in: folder)
        let out = folder + "/out"
        try FileManager.default.createDirectory(atPath: out + "/a/log.jsonl", withIntermediateDirectories: true)
        let outcome = try CLI.run(["batch", jobs, "--out", out])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stderr == "mixfill: warning: [a] cannot write the job's log: \(out)/a/log.jsonl: exists and is not a regular file; give the path of a file to write; the job goes on and its result is still written\n")
        let result = try #require(JobResult.readIfPresent(path: out + "/a/result.json"))
        #expect(result.status == .ok && result.fits?.count == 1)
        #expect(try ModelFile.read(path: out + "/a/model-k2.json").course.componentCount == 2)
        var status = stat()
        #expect(stat(out + "/a/log.jsonl", &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR)
    }

    @Test func aThreadCountBeyondTheCapIsRejectedWithItsPlace() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write("{\"jobs\": [\n  {\"name\": \"a\", \"data\": \"ratings.txt\", \"k\": [2], \"threads\": 4294967296}\n]}\n",
                                      named: "jobs.json", in: folder)
        let line = try CLI.usageFailure(["batch", jobs, "--out", folder + "/out"])
        #expect(line == "mixfill: error: \(jobs):2:61: \"threads\" in job \"a\" must be a whole number from 1 to 1024, not the number 4294967296")
        #expect(!FileManager.default.fileExists(atPath: folder + "/out"))
    }

    @Test func emptyAndMalformedJobFiles() throws {
        let folder = try workspace()
        let empty = try Fixtures.write("", named: "empty.json", in: folder)
        #expect(try CLI.usageFailure(["batch", empty, "--out", folder + "/out"]) == "mixfill: error: \(empty): the file is empty; it must hold one JSON object")
        let truncated = try Fixtures.write("{\"jobs\": [{\"name\": \"a\", ", named: "truncated.json", in: folder)
        #expect(try CLI.usageFailure(["batch", truncated, "--out", folder + "/out"]) == "mixfill: error: \(truncated):1:25: the file ends inside an object; it is incomplete (truncated?)")
        let missing = folder + "/none.json"
        #expect(try CLI.usageFailure(["batch", missing, "--out", folder + "/out"]) == "mixfill: error: \(missing): no such file; check the path")
        let garbage = folder + "/garbage.json"
        try Data([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x00, 0xFF, 0x0A]).write(to: URL(fileURLWithPath: garbage))
        #expect(try CLI.usageFailure(["batch", garbage, "--out", folder + "/out"])
            == "mixfill: error: \(garbage):1:1: expected a value (an object, list, string, number, true, false or null), found the byte \\x7F")
        #expect(!FileManager.default.fileExists(atPath: folder + "/out"))
        // A byte-order mark and CRLF line ends (a Windows editor's save) run as the plain file.
        let marked = try Fixtures.write("\u{FEFF}{\"jobs\": [\r\n {\"name\": \"a\", \"data\": \"ratings.txt\", \"k\": [2], \"seeds\": \"0\"}\r\n]}\r\n",
                                        named: "marked.json", in: folder)
        let outcome = try CLI.run(["batch", marked, "--out", folder + "/marked"])
        #expect(outcome.status == 0 && outcome.stdout.hasPrefix("ok       a\n"), "\(outcome.stdout)\(outcome.stderr)")
        #expect(JobResult.readIfPresent(path: folder + "/marked/a/result.json")?.status == .ok)
    }

    @Test func badOptionValues() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write(#"{"jobs": [{"name": "a", "data": "ratings.txt", "k": [2]}]}"#, named: "jobs.json", in: folder)
        #expect(try CLI.usageFailure(["batch", jobs, "--out", folder + "/out", "--parallel", "0"])
            == "mixfill: error: --parallel: 0 is not allowed; give 1 or more (see 'mixfill help')")
        #expect(try CLI.usageFailure(["batch", jobs, "--out", folder + "/out", "--checkpoint-every", "0"])
            == "mixfill: error: --checkpoint-every: 0 is not allowed; give 1 or more (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--checkpoint-every", "-2"])
            .hasPrefix("mixfill: error: "))
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--checkpoint-every", "0"])
            == "mixfill: error: --checkpoint-every: 0 is not allowed; give 1 or more (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--init-model", "m.json", "--resume"])
            == "mixfill: error: --checkpoint-every: a warm start (--init-model) is one run from a saved model; save it with --model-out instead of checkpoints (see 'mixfill help')")
    }

    @Test func unwritableOutputFolderIsARuntimeFailure() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write(#"{"jobs": [{"name": "a", "data": "ratings.txt", "k": [2]}]}"#, named: "jobs.json", in: folder)
        let blocker = try Fixtures.write("a file, not a folder\n", named: "blocker", in: folder)
        let outcome = try CLI.run(["batch", jobs, "--out", blocker + "/out"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr == "mixfill: error: \(blocker)/out: cannot create the output folder (\(blocker) exists and is not a folder); choose a writable place\n")
        #expect(try String(contentsOfFile: blocker, encoding: .utf8) == "a file, not a folder\n")
    }

    @Test func aSecondBatchOnTheSameFolderIsRefused() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write(#"{"jobs": [{"name": "a", "data": "ratings.txt", "k": [2]}]}"#, named: "jobs.json", in: folder)
        let out = folder + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let descriptor = open(out + "/.mixfill-batch.lock", O_RDWR | O_CREAT, 0o644)
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        let outcome = try CLI.run(["batch", jobs, "--out", out])
        close(descriptor)
        #expect(outcome.status == 1)
        #expect(outcome.stderr == "mixfill: error: \(out): another mixfill batch is writing into this folder; wait for it to finish or choose another --out\n")
        #expect(filesBelow(out) == [".mixfill-batch.lock"])
    }

    // MARK: Signals and checkpoints

    @Test func sigtermStopsAFitAtACheckpointAndResumeIsBitIdentical() throws {
        let folder = try Fixtures.scratchFolder()
        let common = ["fit", "data/netflix_incomplete.txt", "-k", "12", "--seeds", "0-3", "--json", "--threads", "1"]
        let reference = try CLI.run(common + ["--model-out", folder + "/reference.json"])
        #expect(reference.status == 0)

        let checkpoints = folder + "/checkpoints"
        let process = try CLI.start(common + ["--model-out", folder + "/model.json", "--checkpoint-every", "2",
                                              "--checkpoint-dir", checkpoints, "--log-format", "json"], in: folder)
        // Stop in the middle of the batch of seeds 0-3 (all of them checkpoint every 2 iterations).
        #expect(CLI.wait(upTo: 60) { FileManager.default.fileExists(atPath: checkpoints + "/k12-seed1.ckpt") })
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 143)
        let stderr = try String(contentsOfFile: folder + "/stderr", encoding: .utf8)
        let last = try #require(stderr.split(separator: "\n").last)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(error["event"] as? String == "error" && error["exit_code"] as? Int == 143)
        #expect((error["message"] as? String ?? "").hasPrefix("SIGTERM received: K = 12, seeds 0, 1"))
        #expect((error["message"] as? String ?? "").hasSuffix("; rerun with --resume to continue"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/model.json"))
        #expect(!filesBelow(checkpoints).contains { $0.hasPrefix(".") }, "temporary files left: \(filesBelow(checkpoints))")

        // Without --resume the checkpoints are protected.
        let refused = try CLI.usageFailure(common + ["--checkpoint-every", "2", "--checkpoint-dir", checkpoints])
        #expect(refused == "mixfill: error: --checkpoint-dir: \(checkpoints) holds checkpoints of an earlier fit; add --resume to continue it, or remove the folder to start over")

        let resumed = try CLI.run(common + ["--model-out", folder + "/model.json", "--checkpoint-every", "2",
                                            "--checkpoint-dir", checkpoints, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(fileBytes(folder + "/model.json") == fileBytes(folder + "/reference.json"))
        func runs(_ outcome: CLI.Outcome) throws -> [[String]] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            let fits = try #require(object["fits"] as? [[String: Any]])
            let list = try #require(fits[0]["runs"] as? [[String: Any]])
            return list.map { run in ["seed", "log_likelihood", "iterations", "converged"].map { "\(run[$0] ?? "")" } }
        }
        #expect(try runs(resumed) == runs(reference))
    }

    @Test func sigintStopsWithExitCode130() throws {
        let folder = try Fixtures.scratchFolder()
        let checkpoints = folder + "/checkpoints"
        let process = try CLI.start(["fit", "data/netflix_incomplete.txt", "-k", "12", "--seeds", "0-4", "--threads", "1",
                                     "--checkpoint-every", "3", "--checkpoint-dir", checkpoints], in: folder)
        #expect(CLI.wait(upTo: 60) { FileManager.default.fileExists(atPath: checkpoints + "/k12-seed0.ckpt") })
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let stderr = try String(contentsOfFile: folder + "/stderr", encoding: .utf8)
        #expect(stderr.hasPrefix("mixfill: error: SIGINT received: "), "\(stderr)")
        #expect(stderr.split(separator: "\n").count == 1)
    }

    /// Runs `batch JOBS --out OUT` and stops it with SIGTERM once its k12 job has written a
    /// checkpoint: exit 143, and that job has no result yet.
    func interrupt(_ jobs: String, out: String, in folder: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let started = Date()
        let process = try CLI.start(["batch", jobs, "--out", out], in: folder)
        #expect(CLI.wait(upTo: 60) { FileManager.default.fileExists(atPath: out + "/k12/checkpoints/k12-seed0.ckpt") },
                sourceLocation: sourceLocation)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 143, sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: out + "/k12/result.json"), sourceLocation: sourceLocation)
        // The job's log ends with its stop (not a failure): a rerun continues it.
        let log = try String(contentsOfFile: out + "/k12/log.jsonl", encoding: .utf8)
        let last = try #require(log.split(separator: "\n").last, sourceLocation: sourceLocation)
        let event = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], sourceLocation: sourceLocation)
        #expect(event["event"] as? String == "job_stop" && event["exit_code"] as? Int == 143, "\(last)", sourceLocation: sourceLocation)
        // Like job_end and job_fail, the time the job ran: it wrote a checkpoint, so more than
        // nothing, and less than the whole batch process lived.
        let seconds = try #require(event["seconds"] as? Double, "\(last)", sourceLocation: sourceLocation)
        #expect(seconds > 0 && seconds < Date().timeIntervalSince(started), "\(last)", sourceLocation: sourceLocation)
    }

    /// The event names docs/batch.md lists for `DIR/<job>/log.jsonl`.
    func documentedLogEvents() throws -> Set<String> {
        let text = try String(contentsOfFile: Fixtures.root + "/docs/batch.md", encoding: .utf8)
        let start = try #require(text.range(of: "DIR/<job>/log.jsonl"))
        let end = try #require(text.range(of: "DIR/<job>/job.json", range: start.upperBound..<text.endIndex))
        let kinds = ["job_start", "job_skip", "job_end", "job_fail", "job_stop", "run_start", "iteration", "checkpoint", "run_end", "warning"]
        #expect(kinds.allSatisfy { FitEvent.Kind(rawValue: $0) != nil })
        let words = text[start.upperBound..<end.lowerBound].split { !($0.isLetter || $0 == "_") }.map(String.init)
        return Set(words).intersection(kinds)
    }

    /// docs/batch.md lists exactly the events a batch writes in `log.jsonl` (job_stop, a
    /// signal's, is checked by `interrupt`): no `iteration`, and no `job_skip` on a rerun.
    @Test func logEventsAreTheDocumentedOnes() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write("""
            {"defaults": {"data": "ratings.txt", "k": [3], "seeds": "0-1", "checkpoint_every": 2},
             "jobs": [
               {"name": "ok", "threads": 2},
               {"name": "fails", "data": "nowhere.txt"}
             ]}
            """, named: "jobs.json", in: folder)
        let out = folder + "/out"
        // Under --parallel 2, "threads": 2 is ignored with a warning.
        let first = try CLI.run(["batch", jobs, "--out", out, "--parallel", "2"])
        #expect(first.status == 3, "\(first.stderr)")
        let rerun = try CLI.run(["batch", jobs, "--out", out, "--parallel", "2"])
        #expect(rerun.status == 3 && rerun.stdout.contains("ok       ok (skipped: result is current)"), "\(rerun.stdout)")
        var written = [String: [String]]()
        for job in ["ok", "fails"] {
            let lines = String(decoding: try #require(fileBytes(out + "/\(job)/log.jsonl")), as: UTF8.self).split(separator: "\n")
            written[job] = try lines.map { line in
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["time"] is String, "\(line)")
                return try #require(object["event"] as? String)
            }
        }
        let ok = try #require(written["ok"])
        #expect(ok.first == "job_start" && ok.last == "job_end", "\(ok)")
        #expect(ok.filter { $0 == "run_start" }.count == 2 && ok.filter { $0 == "run_end" }.count == 2, "\(ok)")
        #expect(ok.contains("warning") && ok.contains("checkpoint"), "\(ok)")
        #expect(written["fails"] == ["job_fail"])
        let documented = try documentedLogEvents()
        #expect(documented == ["job_start", "run_start", "checkpoint", "run_end", "warning", "job_end", "job_fail", "job_stop"])
        #expect(Set(ok + ["job_fail", "job_stop"]) == documented)
    }

    /// A course job without "k" runs `fit`'s default K (1 and 12), the same runs bit for bit;
    /// "k" may be a number; `"gold": null` drops the gold "defaults" gives, so a record data
    /// job shares the defaults of dense jobs.
    @Test func jobsTakeFitsDefaultKAndNullUnsetsADefault() throws {
        let folder = try workspace()
        _ = try Fixtures.write(try Self.smallMatrixCSV(user: { $0 + 1 }, item: { $0 + 1 }), named: "ratings.csv", in: folder)
        let jobs = try Fixtures.write("""
            {"defaults": {"data": "ratings.txt", "gold": "gold.txt", "seeds": "0-1", "threads": 1},
             "jobs": [
               {"name": "default-k"},
               {"name": "k-number", "k": 4},
               {"name": "records", "data": "ratings.csv", "gold": null, "k": 4}
             ]}
            """, named: "jobs.json", in: folder)
        let outcome = try CLI.run(["batch", jobs, "--out", folder + "/out"])
        #expect(outcome.status == 0, "\(outcome.stdout)\(outcome.stderr)")
        let defaultK = try #require(JobResult.readIfPresent(path: folder + "/out/default-k/result.json"))
        let batchRuns = (defaultK.fits ?? []).flatMap { fit in fit.runs.map { (fit.k, $0.seed, $0.logLikelihood, $0.iterations) } }
        #expect(batchRuns.map(\.0) == [1, 1, 12, 12] && batchRuns.map(\.1) == [0, 1, 0, 1])

        let fit = try CLI.run(["fit", folder + "/ratings.txt", "--gold", folder + "/gold.txt", "--seeds", "0-1", "--threads", "1", "--json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let fitRuns = try Self.runs(ofFitJSON: fit.stdout)
        #expect(fitRuns.count == 4)
        for (fitRun, batchRun) in zip(fitRuns, batchRuns) {
            #expect(fitRun.0 == batchRun.0 && fitRun.1 == batchRun.1)
            #expect(fitRun.2.bitPattern == batchRun.2.bitPattern && fitRun.3 == batchRun.3, "K = \(batchRun.0), seed \(batchRun.1)")
        }

        let dense = try #require(JobResult.readIfPresent(path: folder + "/out/k-number/result.json"))
        let records = try #require(JobResult.readIfPresent(path: folder + "/out/records/result.json"))
        #expect(dense.fits?.map(\.k) == [4] && records.fits?.map(\.k) == [4])
        #expect(dense.fits?.first?.rmse != nil && records.fits?.first?.rmse == nil, "gold unset for the records")
        #expect(records.data?.format == "csv" && records.kernel == "sparse")
        // The same ratings: the sparse kernel on the records agrees with the dense matrix's runs.
        let left = try #require(dense.fits?.first?.runs), right = try #require(records.fits?.first?.runs)
        #expect(left.map(\.iterations) == right.map(\.iterations))
        for (x, y) in zip(left, right) { #expect(relativeError(x.logLikelihood, y.logLikelihood) <= 1e-10) }
    }

    @Test func anInterruptedBatchContinuesToTheUninterruptedResult() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write("""
            {"defaults": {"data": "\(Fixtures.netflixIncomplete)", "threads": 1, "checkpoint_every": 4},
             "jobs": [
               {"name": "k8", "k": [8], "seeds": "0-2"},
               {"name": "k12", "k": [12], "seeds": "0-2"},
               {"name": "small", "data": "ratings.txt", "k": [3], "seeds": "0-1"}
             ]}
            """, named: "jobs.json", in: folder)
        #expect(try CLI.run(["batch", jobs, "--out", folder + "/reference"]).status == 0)

        let out = folder + "/out"
        try interrupt(jobs, out: out, in: folder)
        let summary = try JSONDecoder().decode(BatchSummary.self, from: Data(try #require(fileBytes(out + "/summary.json"))))
        #expect(summary.jobs.map(\.status) == [.ok, .pending, .pending])

        let rerun = try CLI.run(["batch", jobs, "--out", out])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("ok       k8 (skipped: result is current)"))
        let log = String(decoding: try #require(fileBytes(out + "/k12/log.jsonl")), as: UTF8.self)
        #expect(log.contains("\"resumed_from\""), "the k12 job should have continued from its checkpoint")
        for name in ["summary.json", "summary.csv", "k8/result.json", "k8/model-k8.json", "k12/result.json",
                     "k12/model-k12.json", "small/result.json", "small/model-k3.json"] {
            #expect(fileBytes(out + "/" + name) == fileBytes(folder + "/reference/" + name), "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/k12/checkpoints"))
        #expect(!filesBelow(out).contains { $0.split(separator: "/").last?.hasPrefix(".") == true && !$0.hasSuffix(".lock") })
    }

    /// A job interrupted on 2 threads and resumed under `--parallel 2` (which runs new jobs
    /// on 1 thread) continues on the 2 threads its checkpoints were written with, says so,
    /// and ends with the uninterrupted run's files (before: it failed on every rerun).
    @Test func aResumedJobKeepsTheThreadsOfItsCheckpoints() throws {
        let folder = try workspace()
        let jobs = try Fixtures.write("""
            {"defaults": {"data": "\(Fixtures.netflixIncomplete)", "threads": 2, "checkpoint_every": 4},
             "jobs": [{"name": "k12", "k": [12], "seeds": "0-2"}, {"name": "small", "data": "ratings.txt", "k": [3], "seeds": "0-1"}]}
            """, named: "jobs.json", in: folder)
        #expect(try CLI.run(["batch", jobs, "--out", folder + "/reference"]).status == 0)

        let out = folder + "/out"
        try interrupt(jobs, out: out, in: folder)

        let rerun = try CLI.run(["batch", jobs, "--out", out, "--parallel", "2"])
        #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
        let log = String(decoding: try #require(fileBytes(out + "/k12/log.jsonl")), as: UTF8.self)
        #expect(log.contains("\"resumed_from\""), "the k12 job should have continued from its checkpoint")
        #expect(log.contains("continuing on 2 threads, as its checkpoints were written, not 1"))
        #expect(!log.contains("is ignored"), "a job held at its checkpoints' 2 threads does not run on 1")
        for name in ["k12/result.json", "k12/model-k12.json"] {
            #expect(fileBytes(out + "/" + name) == fileBytes(folder + "/reference/" + name), "\(name)")
        }
    }

    // MARK: Progress and logs

    @Test func noProgressOffATerminalAndJSONEventsOnRequest() throws {
        let plain = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0,1"])
        #expect(plain.status == 0 && plain.stderr.isEmpty)

        let json = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0,1", "--log-format", "json"])
        #expect(json.status == 0)
        let events = try json.stderr.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        #expect(events.first?["event"] as? String == "run_start")
        #expect(events.last?["event"] as? String == "run_end")
        let iterations = events.filter { $0["event"] as? String == "iteration" && $0["seed"] as? Int == 0 }
        #expect(iterations.map { $0["iteration"] as? Int } == Array(1...iterations.count).map { $0 })
        #expect(iterations.allSatisfy { $0["k"] as? Int == 4 && $0["log_likelihood"] is Double && $0["time"] is String })
        #expect(abs((iterations.last?["log_likelihood"] as? Double ?? 0) - -84.98451993042474) <= 1e-9)
        // The report on stdout is the same as without logging.
        #expect(json.stdout.split(separator: "\n").filter { $0.contains("best:") } == plain.stdout.split(separator: "\n").filter { $0.contains("best:") })

        let quiet = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0", "--log-format", "json", "--quiet"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty)

        let failing = try CLI.run(["fit", "data/no-such-file.txt", "--log-format", "json"])
        #expect(failing.status == 2)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(failing.stderr.utf8)) as? [String: Any])
        #expect(error["event"] as? String == "error" && error["exit_code"] as? Int == 2)
        #expect(error["message"] as? String == "data/no-such-file.txt: no such file; check the path")
    }

    // util-linux `script` runs the command on a pseudo-terminal.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux's /usr/bin/script"))
    func aLiveLineOnATerminal() throws {
        let folder = try Fixtures.scratchFolder()
        let command = "\(CLI.binary) fit \(Fixtures.netflixIncomplete) -k 12 --seeds 0,1 --threads 1 >/dev/null"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, folder + "/typescript"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let screen = String(decoding: try #require(fileBytes(folder + "/typescript")), as: UTF8.self)
        #expect(screen.contains("K=12 seed 0: iteration 1, LL -"), "\(screen)")
        #expect(screen.contains("ΔLL") && screen.contains("ETA"))
        #expect(screen.contains("K=12 seed 0: converged after "))
        let quiet = try CLI.succeeded(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--quiet"])
        #expect(quiet.stderr.isEmpty)
    }
}
