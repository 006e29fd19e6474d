import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// `mixfill eval`, `select` and `fit --init-model`, run as a user would.
@Suite(.serialized) struct EvalCLITests {
    static func json(_ outcome: CLI.Outcome, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(outcome.status == 0, "\(outcome.stderr)", sourceLocation: sourceLocation)
        return try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any], sourceLocation: sourceLocation)
    }

    @Test func evalWithTheNetflixGoldGivesTheCourseMissingEntryRMSE() throws {
        let object = try Self.json(try CLI.run(["eval", "data/netflix_incomplete.txt", "--gold", "data/netflix_complete.txt",
                                                "--model", "course", "-k", "12", "--seeds", "0-4", "--json"]))
        #expect((object["held_out"] as? [String: Any])?["kind"] as? String == "gold")
        #expect(object["seeds"] as? [Int] == [0, 1, 2, 3, 4])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.count == 1 && results[0]["model"] as? String == "course" && results[0]["k"] as? Int == 12)
        let split = try #require((results[0]["splits"] as? [[String: Any]])?.first)
        #expect(abs(try #require(split["rmse_missing_entries"] as? Double) - 1.0064122372) <= 1e-9)
        #expect(abs(try #require(split["rmse"] as? Double) - 0.95068945510165) <= 1e-10)
        #expect(split["test_ratings"] as? Int == 325_803 && split["training_ratings"] as? Int == 1_111_768)
        let fit = try #require(split["fit"] as? [String: Any])
        #expect(fit["best_seed"] as? Int == 1)
        #expect(relativeError(try #require(fit["log_likelihood"] as? Double), -1390234.4223469414) <= 1e-10)
    }

    @Test func evalTableOnARandomHoldout() throws {
        let outcome = try CLI.run(["eval", "data/netflix_incomplete.txt", "--holdout", "0.2", "--model", "mean,bias"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("held out: 222354 of 1111768 observed ratings (20.0%), split seed 0"))
        // numpy on the same split (np.random.seed(0); np.random.permutation) gives 1.04047092… and 0.87293917007.
        let lines = outcome.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("  mean ") && $0.contains("1.0404709220") })
        #expect(lines.contains { $0.hasPrefix("  bias ") && $0.contains("0.8729391701") })
        // Neither course nor mppca scored: no seeds, backend or threads to report.
        #expect(lines.count > 2 && lines[2] == "predictions clipped to the training ratings' range", "\(outcome.stdout)")
    }

    @Test func evalFoldsReportEveryFoldAndTheirMeanAndSpread() throws {
        let object = try Self.json(try CLI.run(["eval", "data/test_incomplete.txt", "--folds", "3", "--split-seed", "5",
                                                "-k", "2", "--seeds", "0", "--json"]))
        let method = try #require(object["held_out"] as? [String: Any])
        #expect(method["kind"] as? String == "folds" && method["folds"] as? Int == 3 && method["split_seed"] as? Int == 5)
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.map { $0["model"] as? String } == ["mean", "bias", "course"])
        for result in results {
            let splits = try #require(result["splits"] as? [[String: Any]])
            #expect(splits.map { $0["test_ratings"] as? Int } == [27, 27, 27])
            #expect(splits.allSatisfy { $0["training_ratings"] as? Int == 54 })
            let rmses = splits.compactMap { $0["rmse"] as? Double }
            let rmse = try #require(result["rmse"] as? [String: Double])
            let spread = MeanAndSpread(rmses)
            // (JSONSerialization may round the last bit of what it parses.)
            #expect(abs((rmse["mean"] ?? 0) - spread.mean) <= 1e-15 && abs((rmse["std"] ?? 0) - spread.standardDeviation) <= 1e-15)
            #expect(rmses.allSatisfy { $0 > 0 && $0 < 4 })
        }
        let table = try CLI.succeeded(["eval", "data/test_incomplete.txt", "--folds", "3", "--split-seed", "5", "-k", "2", "--seeds", "0"])
        #expect(table.stdout.contains("held out: 3-fold cross-validation of 81 observed ratings, folds of 27 ratings, split seed 5"))
        #expect(table.stdout.contains("RMSE per fold"))
        #expect(table.stdout.contains(" ± "))
        #expect(table.stdout.contains("predictions clipped to the training ratings' range; course: best of seeds 0, backend "))
        // The seconds are each model's over all 3 folds, and the header says so.
        let header = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("  model ") })
        #expect(header.hasSuffix("  seconds, 3 folds"), "\(header)")
    }

    @Test func aTestFileScoresLikeTheGoldItComesFrom() throws {
        // The gold's entries missing from the data, as a held-out file of the same shape.
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let gold = try Fixtures.load(Fixtures.smallComplete)
        let heldOut = (0..<100).map { data.values[$0] == 0 ? gold.values[$0] : 0 }
        let folder = try Fixtures.scratchFolder()
        try DenseMatrixWriter.write(DenseRatingMatrix(userCount: 20, itemCount: 5, values: heldOut), to: folder + "/test.txt")
        let fromTest = try Self.json(try CLI.run(["eval", "data/test_incomplete.txt", "--test", folder + "/test.txt", "-k", "3", "--seeds", "0", "--json"]))
        let fromGold = try Self.json(try CLI.run(["eval", "data/test_incomplete.txt", "--gold", "data/test_complete.txt", "-k", "3", "--seeds", "0", "--json"]))
        let testResults = try #require(fromTest["results"] as? [[String: Any]])
        let goldResults = try #require(fromGold["results"] as? [[String: Any]])
        #expect(testResults.count == 3 && goldResults.count == 3)
        for (a, b) in zip(testResults, goldResults) {
            let splitA = try #require((a["splits"] as? [[String: Any]])?.first)
            let splitB = try #require((b["splits"] as? [[String: Any]])?.first)
            #expect(splitA["test_ratings"] as? Int == 19)
            #expect(splitA["rmse"] as? Double == splitB["rmse"] as? Double)
            #expect(splitA["mae"] as? Double == splitB["mae"] as? Double)
            #expect(splitA["rmse_missing_entries"] == nil && splitB["rmse_missing_entries"] != nil)
        }
    }

    @Test func evalRefusesWhatItCannotScore() throws {
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt"])
                == "mixfill: error: give the ratings to score: --test FILE, --holdout F, --folds K or --gold FILE (see 'mixfill help')")
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--holdout", "0.2", "--folds", "3"])
                .hasPrefix("mixfill: error: --holdout, --folds: give only one way to hold ratings out"))
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--holdout", "1.5"])
                .hasPrefix("mixfill: error: --holdout: 1.5 is not a fraction between 0 and 1; give e.g. 0.2"))
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--folds", "1"])
                .hasPrefix("mixfill: error: --folds: 1 is not allowed; give 2 or more folds"))
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--gold", "data/test_complete.txt", "--split-seed", "3"])
                .hasPrefix("mixfill: error: --split-seed: only a random split (--holdout or --folds) has a seed"))
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--folds", "2", "--model", "mean,svd"])
                .hasPrefix("mixfill: error: --models: 'svd' is not a model; choose from mean, bias, course, mppca"))
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--folds", "2", "--model", "out/m.json"])
                .hasPrefix("mixfill: error: --models: 'out/m.json' looks like a model file, but eval fits the models it scores"))
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--folds", "2", "-k", "21"])
                == "mixfill: error: -k: K = 21 is more than the 20 users in data/test_incomplete.txt; choose K ≤ 20")
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--folds", "2", "--models", "bias,mppca", "-k", "30"])
                == "mixfill: error: -k: K = 30 is more than the 20 users in data/test_incomplete.txt; choose K ≤ 20")
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--test", "data/test_complete.txt"])
                == "mixfill: error: data/test_complete.txt: holds a rating for user 0, item 0 that data/test_incomplete.txt also has; held-out ratings must be missing from the training data (a complete matrix goes with --gold)")
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--gold", "data/netflix_complete.txt"])
                == "mixfill: error: data/netflix_complete.txt: is 1200 × 1200 but data/test_incomplete.txt is 20 × 5; give a matrix of the same shape")
    }

    /// A gold matrix of the right shape that is not the data's complete version (here its
    /// rows reversed) is refused by eval and fit alike, naming the first rating it
    /// contradicts: scored, it would have judged every prediction against another user.
    @Test func aGoldMatrixThatContradictsTheDataIsRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let rows = try String(contentsOfFile: "data/test_complete.txt", encoding: .utf8).split(separator: "\n")
        let reversed = try Fixtures.write(rows.reversed().joined(separator: "\n") + "\n", named: "reversed.txt", in: folder)
        let message = "mixfill: error: \(reversed): is not the complete version of data/test_incomplete.txt: 46 of its 81 ratings differ, first user 0, item 2 (counted from 0), 4 here and 3 there; give the matrix whose entries keep every rating of the data"
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--gold", reversed, "--models", "bias"]) == message)
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--gold", reversed, "-k", "1"]) == message)
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--gold", reversed, "--family", "mppca", "-k", "1", "--factors", "1"]) == message)
        // The complete version itself passes, and scores.
        let scored = try CLI.succeeded(["eval", "data/test_incomplete.txt", "--gold", "data/test_complete.txt", "--models", "bias"])
        #expect(scored.stdout.contains("bias"))
    }

    // MARK: select

    @Test func selectOnTheNetflixMatrixPrintsBICPerKAndPicksOne() throws {
        let folder = try Fixtures.scratchFolder()
        let object = try Self.json(try CLI.run(["select", "data/netflix_incomplete.txt", "-k", "1-16", "--seeds", "0-4",
                                                "--json", "--svg", folder + "/select.svg"]))
        let candidates = try #require(object["candidates"] as? [[String: Any]])
        #expect(candidates.map { $0["k"] as? Int } == Array(1...16))
        #expect(relativeError(try #require(candidates[0]["log_likelihood"] as? Double), -1521060.9539852473) <= 1e-12)
        #expect(relativeError(try #require(candidates[11]["log_likelihood"] as? Double), -1390234.4223469414) <= 1e-10)
        var best = (k: 0, bic: -Double.infinity)
        for candidate in candidates {
            let k = try #require(candidate["k"] as? Int)
            let logLikelihood = try #require(candidate["log_likelihood"] as? Double)
            let bic = try #require(candidate["bic"] as? Double)
            let expected = logLikelihood - 0.5 * Double(k * 1200 + 2 * k - 1) * log(1200.0)
            #expect(abs(bic - expected) <= 1e-9 * abs(expected), "K = \(k)")
            #expect(candidate["heldout_rmse"] == nil)
            if bic > best.bic { best = (k, bic) }
        }
        #expect(object["criterion"] as? String == "bic")
        #expect(object["chosen_k"] as? Int == best.k)
        #expect(best.k == 9, "BIC's choice on the course data, seeds 0-4")
        let svg = try String(contentsOfFile: folder + "/select.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"))
        #expect(svg.contains("chosen K = 9 (bic)"))
        #expect(svg.components(separatedBy: "<polyline").count == 2)
        #expect(svg.components(separatedBy: "<circle").count == 17)
    }

    @Test func selectByHeldOutRMSEAsCSVAndTable() throws {
        let outcome = try CLI.run(["select", "data/test_incomplete.txt", "-k", "1-4", "--seeds", "0,1", "--folds", "3",
                                   "--criterion", "heldout", "--csv"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let rows = outcome.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.first == ["k", "best_seed", "log_likelihood", "bic", "iterations", "converged", "heldout_rmse",
                               "heldout_rmse_std", "heldout_mae", "heldout_mae_std", "chosen"])
        #expect(rows.count == 5 && rows.dropFirst().allSatisfy { $0.count == 11 })
        let errors = rows.dropFirst().map { Double($0[6]) ?? .nan }
        #expect(errors.allSatisfy { $0.isFinite })
        let smallest = errors.indices.min { errors[$0] < errors[$1] } ?? -1
        #expect(rows.dropFirst().map { $0[10] } == (0..<4).map { $0 == smallest ? "true" : "false" })

        let table = try CLI.succeeded(["select", "data/test_incomplete.txt", "-k", "1-4", "--seeds", "0,1", "--folds", "3", "--criterion", "heldout"])
        #expect(table.stdout.contains("chosen: K = \(smallest + 1) (the smallest held-out RMSE)"))
        #expect(table.stdout.contains("held-out RMSE (mean ± sd)"))
    }

    @Test func selectOnRecordsRunsFitsKernelAndItsFitsBitForBit() throws {
        // Sparse records: select's fits of all the data are `fit`'s on the sparse kernel, the
        // same log-likelihood, seed and iterations for every K.
        let folder = try Fixtures.scratchFolder()
        let data = folder + "/ratings.tsv"
        _ = try CLI.succeeded(["synth", "--users", "300", "--items", "200", "--ratings", "3000", "-k", "3", "--out", data])
        let select = try Self.json(try CLI.run(["select", data, "-k", "1-3", "--seeds", "0-2", "--threads", "2", "--json"]))
        #expect(select["kernel"] as? String == "sparse")
        let candidates = try #require(select["candidates"] as? [[String: Any]])
        #expect(candidates.count == 3)
        for k in 1...3 {
            let fit = try Self.json(try CLI.run(["fit", data, "-k", String(k), "--seeds", "0-2", "--threads", "2", "--json"]))
            #expect(fit["kernel"] as? String == "sparse")
            let fitOfK = try #require((fit["fits"] as? [[String: Any]])?.first)
            let best = try #require(fitOfK["best"] as? [String: Any])
            let run = try #require((fitOfK["runs"] as? [[String: Any]])?.first { $0["seed"] as? Int == best["seed"] as? Int })
            let candidate = candidates[k - 1]
            #expect(try #require(candidate["k"] as? Int) == k)
            #expect(try #require(candidate["log_likelihood"] as? Double) == (try #require(best["log_likelihood"] as? Double)), "K = \(k)")
            #expect(try #require(candidate["bic"] as? Double) == (try #require(best["bic"] as? Double)), "K = \(k)")
            #expect(try #require(candidate["best_seed"] as? Int) == (try #require(best["seed"] as? Int)), "K = \(k)")
            #expect(try #require(candidate["iterations"] as? Int) == (try #require(run["iterations"] as? Int)), "K = \(k)")
        }
    }

    @Test func selectRefusesAHeldOutCriterionWithoutHeldOutRatings() throws {
        #expect(try CLI.usageFailure(["select", "data/test_incomplete.txt", "-k", "1-3", "--criterion", "heldout"])
                .hasPrefix("mixfill: error: --criterion heldout: needs held-out ratings; add --holdout F, --folds K, --test FILE or --gold FILE"))
        #expect(try CLI.usageFailure(["select", "data/test_incomplete.txt", "-k", "1-3", "--json", "--csv"])
                .hasPrefix("mixfill: error: --json, --csv: choose one output format"))
    }

    // MARK: fit --init-model

    @Test func aWarmStartOnTheSameDataEndsWhereTheUninterruptedFitEnds() throws {
        let folder = try Fixtures.scratchFolder()
        let first = try CLI.run(["fit", "data/netflix_incomplete.txt", "-k", "12", "--seeds", "1", "--max-iterations", "10",
                                 "--model-out", folder + "/partial.json"])
        #expect(first.status == 0 && first.stderr.contains("stopped at --max-iterations 10"))
        let resumed = try Self.json(try CLI.run(["fit", "data/netflix_incomplete.txt", "--init-model", folder + "/partial.json",
                                                 "--model-out", folder + "/resumed.json", "--json"]))
        let warm = try #require(resumed["warm_start"] as? [String: Any])
        #expect(warm["same_data"] as? Bool == true && warm["previous_iterations"] as? Int == 10)
        let runs = try #require((resumed["fits"] as? [[String: Any]])?.first?["runs"] as? [[String: Any]])
        #expect(runs.count == 1 && runs[0]["seed"] as? Int == 1 && runs[0]["iterations"] as? Int == 17)
        let straight = try CLI.run(["fit", "data/netflix_incomplete.txt", "-k", "12", "--seeds", "1", "--model-out", folder + "/straight.json"])
        #expect(straight.status == 0)
        let resumedModel = try ModelFile.read(path: folder + "/resumed.json")
        let straightModel = try ModelFile.read(path: folder + "/straight.json")
        #expect(resumedModel == straightModel)
        #expect(resumedModel.iterations == 27)
    }

    @Test func aWarmStartOnNewDataWithTheSameItemsIsANewRun() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let object = try Self.json(try CLI.run(["fit", "data/test_complete.txt", "--init-model", folder + "/m.json",
                                                "--model-out", folder + "/next.json", "--json"]))
        let warm = try #require(object["warm_start"] as? [String: Any])
        #expect(warm["same_data"] as? Bool == false && warm["previous_iterations"] as? Int == 0)
        let next = try ModelFile.read(path: folder + "/next.json")
        #expect(next.observedCount == 100 && next.converged)
        #expect(next.training?.fingerprint == (try Fixtures.load(Fixtures.smallComplete)).fingerprint)
    }

    @Test func aWarmStartRefusesSeedsOtherKOrOtherItems() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--init-model", folder + "/m.json", "--seeds", "0-4"])
                .hasPrefix("mixfill: error: --seeds: a warm start (--init-model) continues one saved mixture and draws no seeds"))
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--init-model", folder + "/m.json", "-k", "3"])
                == "mixfill: error: -k: 3 disagrees with the 4 components of --init-model \(folder)/m.json; leave -k out or give -k 4")
        #expect(try CLI.usageFailure(["fit", "data/netflix_incomplete.txt", "--init-model", folder + "/m.json"])
                == "mixfill: error: data/netflix_incomplete.txt: has 1200 items but --init-model \(folder)/m.json was fitted on 5; a warm start needs the model's items")
        // As many items, other ids: said so, naming one the model lacks.
        let shifted = try Fixtures.write("1,10,4\n1,21,3\n2,10,5\n2,21,2\n", named: "shifted.csv", in: folder)
        let original = try Fixtures.write("1,10,4\n1,20,3\n2,10,5\n2,20,2\n", named: "original.csv", in: folder)
        #expect(try CLI.run(["fit", original, "-k", "1", "--seeds", "0", "--model-out", folder + "/ids.json"]).status == 0)
        #expect(try CLI.usageFailure(["fit", shifted, "--init-model", folder + "/ids.json"])
                == "mixfill: error: \(shifted): has the 2 items of --init-model \(folder)/ids.json in number but not by id (item 21 is not one of the model's); a warm start needs the model's items")
    }
}
