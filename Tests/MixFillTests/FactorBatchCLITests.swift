import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The mppca family in `batch`, in `fit --checkpoint-every` / `--resume` and with SIGTERM:
/// the same fits as `fit --family mppca`, bit for bit.
@Suite(.serialized) struct FactorBatchCLITests {
    struct FitReport: Decodable {
        struct Settings: Decodable { var factors: Int; var prior_loadings: Double; var prior_means: Double }
        struct Fit: Decodable { var k: Int; var runs: [Run] }
        struct Run: Decodable { var seed: UInt32; var objective: Double; var iterations: Int; var converged: Bool }
        var settings: Settings
        var fits: [Fit]
    }

    static func report(_ outcome: CLI.Outcome) throws -> FitReport {
        try JSONDecoder().decode(FitReport.self, from: Data(outcome.stdout.utf8))
    }

    @Test func anMppcaJobGivesFitsResultsAndModelFilesBitForBit() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try FactorCLITests.ratings(in: folder)
        let jobs = try Fixtures.write("""
            {"defaults": {"data": "\(data)", "family": "mppca", "threads": 2, "checkpoint_every": 2},
             "jobs": [
               {"name": "given", "k": [1, 2], "seeds": "0-1", "factors": 3, "prior_loadings": 40, "prior_means": 5},
               {"name": "chosen"}
             ]}
            """, named: "jobs.json", in: folder)
        let batch = try CLI.run(["batch", jobs, "--out", folder + "/out"])
        #expect(batch.status == 0, "\(batch.stderr)")

        let cases: [(job: String, options: [String], counts: [Int])] = [
            ("given", ["-k", "1,2", "--seeds", "0-1", "--factors", "3", "--prior-loadings", "40", "--prior-means", "5"], [1, 2]),
            ("chosen", [], []),
        ]
        for (job, options, counts) in cases {
            let fit = try CLI.run(["fit", data, "--family", "mppca", "--threads", "2", "--json",
                                   "--model-out", folder + "/\(job).json"] + options)
            #expect(fit.status == 0, "\(fit.stderr)")
            let report = try Self.report(fit)
            let result = try #require(JobResult.readIfPresent(path: folder + "/out/\(job)/result.json"))
            #expect(result.family == "mppca")
            #expect(result.settings == JobResult.FactorSettings(factors: report.settings.factors, priorLoadings: report.settings.prior_loadings,
                                                               priorMeans: report.settings.prior_means))
            let fits = result.fits ?? []
            #expect(fits.map(\.k) == report.fits.map(\.k))
            if !counts.isEmpty { #expect(fits.map(\.k) == counts) }
            for (batchFit, fitFit) in zip(fits, report.fits) {
                #expect(batchFit.best.bic == nil)
                #expect(batchFit.runs.count == fitFit.runs.count)
                for (batchRun, fitRun) in zip(batchFit.runs, fitFit.runs) {
                    #expect(batchRun.seed == fitRun.seed && batchRun.iterations == fitRun.iterations)
                    #expect(batchRun.logLikelihood.bitPattern == fitRun.objective.bitPattern, "\(job), K = \(batchFit.k), seed \(fitRun.seed)")
                }
                let fitModel = fits.count == 1 ? folder + "/\(job).json" : folder + "/\(job)-k\(batchFit.k).json"
                let batchModel = try #require(fileBytes(folder + "/out/\(job)/model-k\(batchFit.k).json"))
                #expect(batchModel == fileBytes(fitModel), "\(job): model-k\(batchFit.k).json")
            }
            #expect(!FileManager.default.fileExists(atPath: folder + "/out/\(job)/checkpoints"))
        }
        let csv = String(decoding: try #require(fileBytes(folder + "/out/summary.csv")), as: UTF8.self)
        #expect(csv.split(separator: "\r\n").count == 1 + 2 + 1)
        // A rerun skips both jobs.
        let rerun = try CLI.succeeded(["batch", jobs, "--out", folder + "/out"])
        #expect(rerun.stdout.contains("ok       given (skipped: result is current)") && rerun.stdout.contains("ok       chosen (skipped"))
    }

    @Test func badMppcaJobsNameTheJobFileTheJobAndTheField() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try FactorCLITests.ratings(in: folder)
        let typo = try Fixtures.write(#"{"jobs": [{"name": "m", "data": "r.csv", "family": "ppca"}]}"#, named: "typo.json", in: folder)
        #expect(try CLI.usageFailure(["batch", typo, "--out", folder + "/out"])
                == "mixfill: error: \(typo):1:52: family \"ppca\" in job \"m\" is unknown; use one of: course, mppca")
        let negative = try Fixtures.write(#"{"jobs": [{"name": "m", "data": "r.csv", "family": "mppca", "prior_loadings": -1}]}"#,
                                          named: "negative.json", in: folder)
        #expect(try CLI.usageFailure(["batch", negative, "--out", folder + "/out"])
                == "mixfill: error: \(negative):1:79: \"prior_loadings\" in job \"m\" must be a positive prior precision, e.g. 100, not the number -1")
        #expect(!FileManager.default.fileExists(atPath: folder + "/out"), "nothing runs before the job file is valid")

        // q ≥ d is known only with the data: that job fails with its place and exit code 2 in
        // result.json, and the batch goes on (exit 3, as for K beyond the users).
        let tooMany = try Fixtures.write("""
            {"jobs": [{"name": "wide", "data": "\(data)", "family": "mppca", "k": [1], "factors": 150, "prior_loadings": 10}]}
            """, named: "wide.json", in: folder)
        let failed = try CLI.run(["batch", tooMany, "--out", folder + "/out"])
        #expect(failed.status == 3)
        let result = try #require(JobResult.readIfPresent(path: folder + "/out/wide/result.json"))
        #expect(result.error == JobResult.Failure(message: "\(tooMany):1: \"factors\" in job \"wide\": q = 150 is not below the 150 items of \(data); give fewer factors", exitCode: 2))

        // Too few ratings to choose the settings left out: the same, naming "data".
        let one = try Fixtures.write("1,1,4\n", named: "one.csv", in: folder)
        let few = try Fixtures.write("""
            {"jobs": [{"name": "few", "data": "\(one)", "family": "mppca"}]}
            """, named: "few.json", in: folder)
        #expect(try CLI.run(["batch", few, "--out", folder + "/few-out"]).status == 3)
        let fewResult = try #require(JobResult.readIfPresent(path: folder + "/few-out/few/result.json"))
        #expect(fewResult.error == JobResult.Failure(message: "\(few):1: \"data\" in job \"few\": \(one) has 1 rating, too few to choose mppca's settings from (a tenth of them is held out to choose them); give \"factors\", \"k\" and \"prior_loadings\", or more ratings", exitCode: 2))
    }

    /// `fit --family mppca --checkpoint-every 1`, stopped by SIGTERM after its first
    /// checkpoints, then `--resume`: the same runs and the same model file as the fit never
    /// stopped.
    @Test func sigtermStopsAnMppcaFitAndResumeIsBitIdentical() throws {
        let folder = try Fixtures.scratchFolder()
        let common = ["fit", "data/netflix_incomplete.txt", "--family", "mppca", "-k", "2", "--factors", "6",
                      "--prior-loadings", "20", "--seeds", "0-1", "--threads", "1", "--json"]
        let reference = try CLI.run(common + ["--model-out", folder + "/reference.json"])
        #expect(reference.status == 0, "\(reference.stderr)")
        let expected = try Self.report(reference)
        #expect(expected.fits[0].runs.allSatisfy { $0.iterations > 10 })

        let checkpoints = folder + "/checkpoints"
        let arguments = common + ["--model-out", folder + "/model.json", "--checkpoint-every", "1", "--checkpoint-dir", checkpoints]
        let process = try CLI.start(arguments, in: folder)
        #expect(CLI.wait(upTo: 60) { FileManager.default.fileExists(atPath: checkpoints + "/k2-seed1.ckpt") })
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 143)
        let stderr = try String(contentsOfFile: folder + "/stderr", encoding: .utf8)
        #expect(stderr.hasPrefix("mixfill: error: SIGTERM received: K = 2, seeds 0, 1 saved at iteration"), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/model.json"))
        let saved = try ModelCheckpoint<FactorMixture>.read(path: checkpoints + "/k2-seed0.ckpt")
        #expect(saved.state.iterations >= 1 && saved.state.iterations < expected.fits[0].runs[0].iterations)

        // Other settings or threads are refused; the same ones continue to the uninterrupted result.
        var otherPrior = arguments
        otherPrior[try #require(otherPrior.firstIndex(of: "20"))] = "25"
        #expect(try CLI.usageFailure(otherPrior + ["--resume"])
                == "mixfill: error: \(checkpoints)/k2-seed0.ckpt: this checkpoint was written with prior-loadings 20.0, this run uses 25.0; give the data and options it was written with, or delete \(checkpoints) to start over")
        let resumed = try CLI.run(arguments + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let runs = try Self.report(resumed).fits[0].runs
        #expect(runs.map(\.iterations) == expected.fits[0].runs.map(\.iterations))
        #expect(runs.map(\.objective.bitPattern) == expected.fits[0].runs.map(\.objective.bitPattern))
        #expect(fileBytes(folder + "/model.json") == fileBytes(folder + "/reference.json"))
    }

    @Test func aWarmStartFromACourseModelIsRefusedForMppca() throws {
        let folder = try Fixtures.scratchFolder()
        _ = try CLI.succeeded(["fit", Fixtures.smallIncomplete, "-k", "2", "--seeds", "0", "--model-out", folder + "/course.json"])
        #expect(try CLI.usageFailure(["fit", Fixtures.smallIncomplete, "--family", "mppca", "--init-model", folder + "/course.json"])
                == "mixfill: error: --family: mppca disagrees with --init-model \(folder)/course.json, a course model; leave --family out")
    }
}
