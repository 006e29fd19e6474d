import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// The factor family end to end: fit (settings chosen or given), the model file, fill,
/// predict and recommend with it, eval, and the refusals of bad settings.
@Suite(.serialized) struct FactorCLITests {
    /// Synthetic MovieLens-like records (400 users × 150 items, 8,000 ratings, 3 taste groups).
    static func ratings(in folder: String) throws -> String {
        let path = folder + "/ratings.csv"
        _ = try SyntheticRatings(userCount: 400, itemCount: 150, ratingCount: 8000, componentCount: 3, seed: 7)
            .write(to: path, layout: .csv, membershipsPath: folder + "/memberships.tsv")
        return path
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func fitChoosesItsSettingsAndWritesAModelThatServes() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Self.ratings(in: folder)
        let fit = try CLI.succeeded(["fit", data, "--family", "mppca", "--model-out", folder + "/m.json", "--json"])
        let report = try Self.object(fit.stdout)
        #expect(report["family"] as? String == "mppca")
        let settings = try #require(report["settings"] as? [String: Any])
        let factors = try #require(settings["factors"] as? Int)
        #expect([10, 20].contains(factors))
        let critical = try #require(settings["critical_prior"] as? Double)
        let prior = try #require(settings["prior_loadings"] as? Double)
        #expect(prior < critical && prior > 0, "the path walks down from λ_crit")
        #expect(settings["prior_means"] as? Double == prior, "λ_m not given: tied to the chosen λ_W")
        let path = try #require(settings["path"] as? [[String: Any]])
        #expect(path.count >= 3)
        #expect(settings["inner_held_out_ratings"] as? Int == 800)
        let fits = try #require(report["fits"] as? [[String: Any]])
        #expect(fits.count == 1)
        let runs = try #require(fits[0]["runs"] as? [[String: Any]])
        #expect(runs.count == 1 && runs[0]["converged"] as? Bool == true)

        let file = try ModelFile.read(path: folder + "/m.json")
        #expect(file.family == .mppca)
        let model = try #require(file.factorMixture)
        #expect(model.factorCount == factors && model.priors.loadings == prior && model.priors.means == prior)
        #expect(model.offsets.userOffsets.count == 400 && file.tuning?.criticalPrior == critical)
        #expect(String(decoding: try #require(fileBytes(folder + "/m.json")), as: UTF8.self).contains("\"version\":3"))

        // Predictions for training users: the fit's own E-step, in the file's ids.
        let predict = try CLI.succeeded(["predict", "--model", folder + "/m.json", "--user", "1", "--items", "1,2,3", "--json"])
        let predicted = try #require(try Self.object(predict.stdout)["predictions"] as? [[String: Any]])
        #expect(predicted.count == 3)
        let states = try Engine(family: .mppca, kernel: .naive, threads: 1).factorLoop(for: try RatingInput.load(path: data)).userStates(model).states
        let server = FactorPredictor(model: model, states: states, scale: try #require(file.training?.ratingScale))
        for entry in predicted {
            let item = try #require(entry["item"] as? Int)
            let index = try #require(file.items.index(of: Int64(item)))
            let expected = server.scale.clip(server.predict(user: try #require(file.users.index(of: 1)), item: index))
            #expect(abs(try #require(entry["prediction"] as? Double) - expected) <= 1e-9, "item \(item)")
        }
        // A new user folded in from ratings, and recommendations for a training user.
        let folded = try CLI.succeeded(["predict", "--model", folder + "/m.json", "--user", "999999", "--ratings", "1:5,2:4,3:1", "--items", "4,5"])
        #expect(folded.stdout.split(separator: "\n").count == 2)
        let recommend = try CLI.succeeded(["recommend", "--model", folder + "/m.json", "--user", "2", "--top", "5", "--json"])
        let recommended = try #require(try Self.object(recommend.stdout)["recommendations"] as? [[String: Any]])
        #expect(recommended.count == 5)
        let scores = recommended.compactMap { $0["score"] as? Double }
        #expect(scores.count == 5 && zip(scores, scores.dropFirst()).allSatisfy { $0 >= $1 })
        // The report's posterior is p(j | user), one per component, not the user's whole state.
        let posterior = try #require(try Self.object(recommend.stdout)["posterior"] as? [Double])
        #expect(posterior.count == model.componentCount && abs(posterior.reduce(0, +) - 1) <= 1e-12, "\(posterior)")
        let header = try CLI.succeeded(["recommend", "--model", folder + "/m.json", "--user", "2", "--top", "1"]).stdout
        #expect(header.contains("of \(model.componentCount) (p = "), "\(header)")
        // fill --pairs: observed ratings kept, others the model's predictions.
        let pairs = try Fixtures.write("user,item\n1,1\n1,149\n", named: "pairs.csv", in: folder)
        _ = try CLI.succeeded(["fill", data, "--model", folder + "/m.json", "--pairs", pairs, "--out", folder + "/p.tsv"])
        let lines = try String(contentsOfFile: folder + "/p.tsv", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
    }

    @Test func givenSettingsAreUsedAsGivenAndAWarmStartContinuesTheFit() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Self.ratings(in: folder)
        let arguments = ["fit", data, "--family", "mppca", "--factors", "3", "-k", "2", "--prior-loadings", "40", "--prior-means", "5", "--json"]
        let whole = try Self.object(try CLI.succeeded(arguments).stdout)
        let settings = try #require(whole["settings"] as? [String: Any])
        #expect(settings["factors"] as? Int == 3 && settings["prior_loadings"] as? Double == 40 && settings["prior_means"] as? Double == 5)
        #expect(settings["inner_held_out_ratings"] as? Int == 0 && settings["critical_prior"] == nil)
        let wholeRun = try #require(((whole["fits"] as? [[String: Any]])?.first?["runs"] as? [[String: Any]])?.first)
        let iterations = try #require(wholeRun["iterations"] as? Int)
        #expect(iterations > 6)

        // Stop early, save, continue: the continued run ends where the whole run ended.
        _ = try CLI.succeeded(Array(arguments.dropLast()) + ["--max-iterations", "5", "--model-out", folder + "/early.json"])
        let continued = try Self.object(try CLI.succeeded(["fit", data, "--init-model", folder + "/early.json", "--json"]).stdout)
        let run = try #require(((continued["fits"] as? [[String: Any]])?.first?["runs"] as? [[String: Any]])?.first)
        #expect(run["iterations"] as? Int == iterations - 5)
        let objective = try #require(run["objective"] as? Double)
        #expect(relativeError(objective, try #require(wholeRun["objective"] as? Double)) <= 1e-12)
    }

    @Test func evalScoresMppcaBesideTheBaselines() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Self.ratings(in: folder)
        let eval = try CLI.succeeded(["eval", data, "--folds", "3", "--models", "bias,mppca", "--json"])
        let results = try #require(try Self.object(eval.stdout)["results"] as? [[String: Any]])
        #expect(results.map { $0["model"] as? String } == ["bias", "mppca"])
        let rmse = results.compactMap { ($0["rmse"] as? [String: Any])?["mean"] as? Double }
        #expect(rmse.count == 2)
        #expect(rmse[1] < rmse[0], "mppca \(rmse[1]) should beat bias \(rmse[0]) on data with taste groups")
        let split = try #require((results[1]["splits"] as? [[String: Any]])?.first)
        #expect((split["factor_fit"] as? [String: Any])?["factors"] as? Int != nil)
        // The text report: each fold's chosen q, K and priors, as the JSON has them; no
        // course seeds when course is not scored.
        let text = try CLI.succeeded(["eval", data, "--folds", "3", "--models", "bias,mppca"]).stdout
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count > 2 && lines[2].hasPrefix("predictions clipped to the training ratings' range; backend ") && !text.contains("course:"), "\(text)")
        let splits = try #require(results[1]["splits"] as? [[String: Any]])
        #expect(splits.count == 3)
        let heading = try #require(lines.firstIndex(of: "mppca settings (chosen from each fold's training ratings where not given)"), "\(text)")
        for (index, split) in splits.enumerated() {
            let fit = try #require(split["factor_fit"] as? [String: Any])
            let q = try #require(fit["factors"] as? Int), k = try #require(fit["k"] as? Int)
            let loadings = try #require(fit["prior_loadings"] as? Double), means = try #require(fit["prior_means"] as? Double)
            #expect(loadings == means, "λ_m not given: tied to λ_W")
            #expect(heading + 1 + index < lines.count && lines[heading + 1 + index]
                    == "  fold \(index + 1): q = \(q), K = \(k), λ_W = λ_m = \(Self.priorText(loadings))", "\(text)")
        }
        // The table's K column: the K the folds chose (one value, or smallest–largest).
        let chosenK = splits.compactMap { ($0["factor_fit"] as? [String: Any])?["k"] as? Int }
        let low = try #require(chosenK.min()), high = try #require(chosenK.max())
        let kColumn = low == high ? "\(low)" : "\(low)–\(high)"
        let rows = lines.filter { $0.hasPrefix("  mppca ") }
        #expect(rows.count == 2 && rows.allSatisfy { $0.split(separator: " ").dropFirst().first.map(String.init) == kColumn }, "\(text)")
        // No course model: no course seeds in the JSON either.
        #expect(try Self.object(eval.stdout)["seeds"] == nil)
        // --model is the old spelling of --models.
        _ = try CLI.succeeded(["eval", data, "--folds", "2", "--model", "bias", "--json"])
    }

    /// The stroke of every series line (`polyline`) and legend swatch (a `line` 2 px wide)
    /// of an SVG chart, in document order: its colour and dash pattern (nil: solid).
    static func seriesStrokes(_ svg: String) -> (lines: [[String?]], swatches: [[String?]]) {
        var lines = [[String?]](), swatches = [[String?]]()
        for element in svg.matches(of: /<(polyline|line) ([^>]*)\/>/) {
            var attributes = [String: String]()
            for attribute in element.2.matches(of: /([a-z-]+)="([^"]*)"/) {
                attributes[String(attribute.1)] = String(attribute.2)
            }
            let stroke = [attributes["stroke"], attributes["stroke-dasharray"]]
            if element.1 == "polyline" {
                lines.append(stroke)
            } else if attributes["stroke-width"] == "2" {
                swatches.append(stroke)
            }
        }
        return (lines, swatches)
    }

    /// More series than the palette's 7 colours: each pass through the palette draws with its
    /// own dash pattern, the line and its legend swatch alike, so no two series look the same.
    @Test func selectChartTellsApartMoreSeriesThanColours() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Self.ratings(in: folder)
        let chart = folder + "/select.svg"
        _ = try CLI.succeeded(["select", data, "--family", "mppca", "-k", "1,2", "--factors", "1,2,3,4,5",
                               "--prior-loadings", "10,30,100", "--holdout", "0.2", "--svg", chart])
        let svg = try String(contentsOfFile: chart, encoding: .utf8)
        let (lines, swatches) = Self.seriesStrokes(svg)
        // 5 q × 3 λ_W = 15 series: two passes through the colours and one series more.
        #expect(lines.count == 15 && Set(lines).count == 15, "\(lines)")
        #expect(swatches == lines, "each legend swatch is drawn as its line")
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
        #expect(lines.map { $0[0] } == (0..<15).map { colours[$0 % 7] })
        #expect(lines.map { $0[1] } == Array(repeating: nil, count: 7) + Array(repeating: "8 4", count: 7) + ["2 3"])
        // The legend names the series in the same order, each once.
        let names = svg.matches(of: />(q = [0-9]+, λ_W = [0-9]+)</).map { String($0.1) }
        #expect(names == (1...5).flatMap { q in [10, 30, 100].map { "q = \(q), λ_W = \($0)" } }, "\(names)")
        // Two K per series: every line has two points.
        #expect(svg.matches(of: #/<polyline points="[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+" /#).count == 15)
    }

    @Test func selectSweepsKAndQAndPicksTheSmallestHeldOutRMSE() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Self.ratings(in: folder)
        // Values given twice are one candidate each.
        let chart = folder + "/select.svg"
        let select = try CLI.succeeded(["select", data, "--family", "mppca", "-k", "1,2,1", "--factors", "2,4,2",
                                        "--prior-loadings", "30,30", "--holdout", "0.2", "--json", "--svg", chart])
        let report = try Self.object(select.stdout)
        // The chart: held-out RMSE against K, a line per q, the chosen K marked.
        let svg = try String(contentsOfFile: chart, encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("held-out RMSE, 20% holdout (smaller is better)"), "\(svg.prefix(300))")
        #expect(svg.contains("q = 2, λ_W = 30") && svg.contains("q = 4, λ_W = 30"))
        #expect(svg.contains("chosen K = \(try #require(report["chosen_k"] as? Int)), q = \(try #require(report["chosen_factors"] as? Int))"))
        let candidates = try #require(report["candidates"] as? [[String: Any]])
        #expect(candidates.count == 4, "K ∈ {1, 2} × q ∈ {2, 4} × one λ_W")
        let pairs = candidates.compactMap { c -> [Int]? in
            guard let k = c["k"] as? Int, let q = c["factors"] as? Int else { return nil }
            return [k, q]
        }
        #expect(pairs == [[1, 2], [1, 4], [2, 2], [2, 4]])
        let rmse = candidates.compactMap { ($0["heldout_rmse"] as? [String: Any])?["mean"] as? Double }
        #expect(rmse.count == 4 && rmse.allSatisfy { $0 > 0.3 && $0 < 2 })
        let chosenPair = [try #require(report["chosen_k"] as? Int), try #require(report["chosen_factors"] as? Int)]
        let chosen = try #require(pairs.firstIndex(of: chosenPair))
        #expect(rmse[chosen] == rmse.min())
        #expect(report["family"] as? String == "mppca" && report["chosen_prior_loadings"] as? Double == 30)
        // The chosen candidate's figure is the one eval gives for the same settings and split.
        let best = candidates[chosen]
        let eval = try Self.object(try CLI.succeeded([
            "eval", data, "--models", "mppca", "-k", String(try #require(best["k"] as? Int)),
            "--factors", String(try #require(best["factors"] as? Int)), "--prior-loadings", "30",
            "--holdout", "0.2", "--json"]).stdout)
        let evalRMSE = try #require(((eval["results"] as? [[String: Any]])?.first?["rmse"] as? [String: Any])?["mean"] as? Double)
        #expect(abs(evalRMSE - rmse[chosen]) <= 1e-12)
        // The text table's seconds are summed over the folds, and its header says so.
        let folded = try CLI.succeeded(["select", data, "--family", "mppca", "-k", "1", "--factors", "2",
                                        "--prior-loadings", "30", "--folds", "2"]).stdout
        #expect(folded.contains("held-out MAE  seconds, 2 folds\n") && folded.contains(" ± "), "\(folded)")
        #expect(folded.contains("\nchosen: K = 1, q = 2, λ_W = 30 (the smallest held-out RMSE)\n"), "\(folded)")
        // One split: no spread column (a standard deviation of one value says nothing).
        let single = try CLI.succeeded(["select", data, "--family", "mppca", "-k", "1", "--factors", "2",
                                        "--prior-loadings", "30", "--holdout", "0.2"]).stdout
        #expect(single.contains("  held-out RMSE  held-out MAE  seconds\n") && !single.contains(" ± "), "\(single)")
        #expect(try CLI.usageFailure(["select", data, "--family", "mppca", "--factors", "2,x", "--holdout", "0.2"])
                .contains("--factors: 'x'"))
        // A range, as -k takes one.
        let ranged = try Self.object(try CLI.succeeded(["select", data, "--family", "mppca", "-k", "1", "--factors", "1-3",
                                                        "--prior-loadings", "30", "--holdout", "0.2", "--json"]).stdout)
        #expect((ranged["candidates"] as? [[String: Any]])?.compactMap { $0["factors"] as? Int } == [1, 2, 3])
    }

    /// A prior as the text reports print it: one decimal from 10 up, 4 significant digits below.
    static func priorText(_ value: Double) -> String {
        value >= 10 ? String(format: "%.1f", value) : String(format: "%.4g", value)
    }

    @Test func badSettingsAreRefusedWithExitTwo() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Self.ratings(in: folder)
        #expect(try CLI.usageFailure(["fit", data, "--family", "mppca", "--factors=-1"])
                == "mixfill: error: --factors: -1 is not allowed; give 0 or more latent factors (see 'mixfill help')")
        // A negative value after a space reaches the same checks (not "Missing value").
        #expect(try CLI.usageFailure(["fit", data, "--family", "mppca", "--factors", "-1"])
                == "mixfill: error: --factors: -1 is not allowed; give 0 or more latent factors (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", data, "--family", "mppca", "--prior-loadings", "-1"])
                == "mixfill: error: --prior-loadings: -1.0 is not allowed; give a positive prior precision, e.g. 100 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["eval", data, "--folds", "2", "--models", "mppca", "--prior-means", "-0.5"])
                == "mixfill: error: --prior-means: -0.5 is not allowed; give a positive prior precision, e.g. 100 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["select", data, "--family", "mppca", "--holdout", "0.2", "--factors", "-1,2"])
                == "mixfill: error: --factors: '-1' in '-1,2' is not a number of latent factors or range; write the list like 10,20 or 2-12 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["select", data, "--family", "mppca", "--holdout", "0.2", "--prior-loadings", "-5,10"])
                == "mixfill: error: --prior-loadings: '-5' is not a positive prior precision; give a list such as 50,100,200 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["select", data, "--family", "mppca", "--holdout", "0.2", "--prior-means", "-0.5"])
                == "mixfill: error: --prior-means: -0.5 is not allowed; give a positive prior precision, e.g. 100 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", data, "--family", "mppca", "--factors", "150"])
                == "mixfill: error: --factors: q = 150 is not below the 150 items of the data; give fewer factors")
        #expect(try CLI.usageFailure(["measure", data, "--family", "mppca", "--factors", "150", "-k", "1"])
                == "mixfill: error: --factors: q = 150 is not below the 150 items of the data; give fewer factors")
        #expect(try CLI.usageFailure(["fit", data, "--family", "mppca", "--prior-loadings=-3"])
                == "mixfill: error: --prior-loadings: -3.0 is not allowed; give a positive prior precision, e.g. 100 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["eval", data, "--folds", "2", "--models", "mppca", "--prior-means", "0"])
                == "mixfill: error: --prior-means: 0.0 is not allowed; give a positive prior precision, e.g. 100 (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", data, "--family", "mppca", "--precision", "single", "--kernel", "dense"])
                == "mixfill: error: --precision: mppca computes in double precision only; leave --precision out (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", data, "--family", "gmm"]).contains("--family"))
        #expect(try CLI.usageFailure(["select", data, "--family", "mppca", "--holdout", "0.2", "--criterion", "bic"])
                == "mixfill: error: --criterion bic: mppca has no BIC (its objective carries priors); select chooses mppca's settings by held-out RMSE. Leave --criterion out or give heldout (see 'mixfill help')")
    }

    /// A q whose item-side arrays cannot fit in memory is refused before anything is
    /// allocated (exit 2 on the command line, the job's place in a batch): q = 19,999 on
    /// 20,000 items asks for terabytes on any machine. It used to end the process at the
    /// allocation ("Fatal error: failed to allocate").
    @Test func factorsThatCannotFitInMemoryAreRefusedBeforeAnyWork() throws {
        let folder = try Fixtures.scratchFolder()
        let lines = (0..<20_000).map { "\($0 % 50),\($0),\(1 + $0 % 5)" }
        let data = try Fixtures.write("userId,movieId,rating\n" + lines.joined(separator: "\n") + "\n", named: "wide.csv", in: folder)
        let expectedStart = "mixfill: error: --factors: q = 19999 factors and K = 1 for 20000 items need at least "
        let expectedEnd = " GB with 1 thread (arrays of (q + K)(q + K + 3)/2 numbers per item, several per thread) but half of this machine's memory is "
        for command in [["fit", data, "--family", "mppca", "--factors", "19999", "-k", "1", "--prior-loadings", "10"],
                        ["eval", data, "--models", "mppca", "--factors", "19999", "--holdout", "0.5"],
                        ["select", data, "--family", "mppca", "--factors", "10,19999", "-k", "1", "--holdout", "0.5"],
                        ["measure", data, "--family", "mppca", "--factors", "19999", "-k", "1"]] {
            let message = try CLI.usageFailure(command + ["--threads", "1"])
            #expect(message.hasPrefix(expectedStart) && message.contains(expectedEnd)
                    && message.hasSuffix(" GB; give fewer factors or --threads"), "\(command): \(message)")
        }
        let jobs = try Fixtures.write("""
            {"jobs": [{"name": "huge", "data": "\(data)", "family": "mppca", "k": [1], "factors": 19999, "prior_loadings": 10, "threads": 1}]}
            """, named: "huge.json", in: folder)
        #expect(try CLI.run(["batch", jobs, "--out", folder + "/out"]).status == 3)
        let result = try #require(JobResult.readIfPresent(path: folder + "/out/huge/result.json"))
        #expect(result.error?.exitCode == 2)
        #expect(result.error?.message.hasPrefix("\(jobs):1: \"factors\" in job \"huge\": q = 19999 factors and K = 1 for 20000 items need at least ") == true,
                "\(String(describing: result.error))")
        #expect(result.error?.message.hasSuffix(" GB; give fewer \"factors\" or \"threads\"") == true)
    }

    /// Ratings too few for the inner split that chooses the settings are bad input (exit 2,
    /// naming the file) before any fit; with every setting given the same file fits.
    @Test func tooFewRatingsToChooseTheSettingsAreRefusedWithExitTwo() throws {
        let folder = try Fixtures.scratchFolder()
        let one = try Fixtures.write("1,1,4\n", named: "one.csv", in: folder)
        let five = try Fixtures.write("1,1,4\n1,2,3\n2,1,5\n2,2,2\n3,1,1\n", named: "five.csv", in: folder)
        let remedy = "too few to choose mppca's settings from (a tenth of them is held out to choose them); give --factors, -k and --prior-loadings, or more ratings"
        #expect(try CLI.usageFailure(["fit", one, "--family", "mppca"])
                == "mixfill: error: \(one): 1 training rating is \(remedy)")
        #expect(try CLI.usageFailure(["eval", five, "--folds", "5", "--models", "bias,mppca"])
                == "mixfill: error: \(five): 4 training ratings in its smallest split are \(remedy)")
        #expect(try CLI.usageFailure(["select", five, "--family", "mppca", "-k", "1,2", "--holdout", "0.2"])
                == "mixfill: error: \(five): 4 training ratings are \(remedy)")
        #expect(try CLI.run(["fit", one, "--family", "mppca", "--factors", "0", "-k", "1", "--prior-loadings", "1"]).status == 0)
    }

    /// Without --factors, q is chosen among 10 and 20 only below the d items, else d − 1:
    /// on the course's 20 × 5 matrix fit, eval and select all use q = 4.
    @Test func theDefaultQIsBelowTheNumberOfItems() throws {
        #expect(FactorSettings.factorCandidates(itemCount: 1) == [0])
        #expect(FactorSettings.factorCandidates(itemCount: 5) == [4])
        #expect(FactorSettings.factorCandidates(itemCount: 11) == [10])
        #expect(FactorSettings.factorCandidates(itemCount: 20) == [10])
        #expect(FactorSettings.factorCandidates(itemCount: 21) == [10, 20])
        let folder = try Fixtures.scratchFolder()
        let data = Fixtures.smallIncomplete
        let fit = try Self.object(try CLI.succeeded(["fit", data, "--family", "mppca", "--model-out", folder + "/m.json", "--json"]).stdout)
        let settings = try #require(fit["settings"] as? [String: Any])
        #expect(settings["factors"] as? Int == 4)
        #expect((settings["inner_rmse_by_factors"] as? [String: Any])?.keys.sorted() == ["4"])
        #expect(try #require(try ModelFile.read(path: folder + "/m.json").factorMixture).factorCount == 4)
        // The saved model is one the explicit check accepts: a warm start from it runs.
        _ = try CLI.succeeded(["fit", data, "--init-model", folder + "/m.json", "--factors", "4"])

        let eval = try Self.object(try CLI.succeeded(["eval", data, "--holdout", "0.2", "--models", "mppca", "--json"]).stdout)
        let split = try #require(((eval["results"] as? [[String: Any]])?.first?["splits"] as? [[String: Any]])?.first)
        #expect((split["factor_fit"] as? [String: Any])?["factors"] as? Int == 4)

        let select = try Self.object(try CLI.succeeded(["select", data, "--family", "mppca", "-k", "1,2", "--holdout", "0.2", "--json"]).stdout)
        let candidates = try #require(select["candidates"] as? [[String: Any]])
        #expect(candidates.count == 2 && candidates.allSatisfy { $0["factors"] as? Int == 4 })
        #expect(select["chosen_factors"] as? Int == 4)
    }

    /// The mppca options where nothing takes them are refused, not ignored: a course fit,
    /// an eval without mppca, a warm start whose model has other values (equal ones pass).
    @Test func mppcaOptionsWithoutAnMppcaFitAreRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let data = Fixtures.smallIncomplete
        #expect(try CLI.usageFailure(["fit", data, "--family", "course", "--factors", "3", "--prior-loadings", "5"])
                == "mixfill: error: --factors, --prior-loadings: these are the mppca family's; add --family mppca (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", data, "--prior-means", "5"])
                == "mixfill: error: --prior-means: these are the mppca family's; add --family mppca (see 'mixfill help')")
        #expect(try CLI.usageFailure(["eval", data, "--holdout", "0.2", "--models", "bias", "--factors", "3"])
                == "mixfill: error: --factors: these are the mppca family's; add mppca to --models (see 'mixfill help')")
        #expect(try CLI.usageFailure(["select", data, "--prior-loadings", "5"])
                == "mixfill: error: --prior-loadings: these are the mppca family's; add --family mppca (see 'mixfill help')")

        let model = folder + "/m.json"
        _ = try CLI.succeeded(["fit", data, "--family", "mppca", "--factors", "2", "-k", "1", "--prior-loadings", "40",
                               "--max-iterations", "3", "--model-out", model])
        #expect(try CLI.usageFailure(["fit", data, "--init-model", model, "--factors", "5", "--prior-loadings", "50"])
                == "mixfill: error: --factors: 5 disagrees with the q = 2 factors of --init-model \(model); leave --factors out or give --factors 2")
        #expect(try CLI.usageFailure(["fit", data, "--init-model", model, "--prior-loadings", "50"])
                == "mixfill: error: --prior-loadings: 50 disagrees with λ_W = 40 of --init-model \(model); leave --prior-loadings out or give --prior-loadings 40")
        #expect(try CLI.usageFailure(["fit", data, "--init-model", model, "--prior-means", "0.5"])
                == "mixfill: error: --prior-means: 0.5 disagrees with λ_m = 40 of --init-model \(model); leave --prior-means out or give --prior-means 40")
        let same = try Self.object(try CLI.succeeded(["fit", data, "--init-model", model, "--factors", "2", "--prior-loadings", "40",
                                                      "--prior-means", "40", "--json"]).stdout)
        let settings = try #require(same["settings"] as? [String: Any])
        #expect(settings["factors"] as? Int == 2 && settings["prior_loadings"] as? Double == 40 && settings["prior_means"] as? Double == 40)

        let course = folder + "/course.json"
        _ = try CLI.succeeded(["fit", data, "-k", "2", "--seeds", "0", "--model-out", course])
        #expect(try CLI.usageFailure(["fit", data, "--init-model", course, "--factors", "2"])
                == "mixfill: error: --factors: these are the mppca family's, but --init-model \(course) is a course model; leave them out")
    }

    /// Priors print with one decimal from 10 up and 4 significant digits below, so a small
    /// λ never shows as 0.0 (the course's 20 × 5 matrix chooses λ_W ≈ 0.005).
    @Test func smallPriorsPrintWithFourSignificantDigits() throws {
        let data = Fixtures.smallIncomplete
        let given = ["fit", data, "--family", "mppca", "--factors", "2", "-k", "1", "--max-iterations", "3"]
        #expect(try CLI.succeeded(given + ["--prior-loadings", "0.005"]).stdout.contains("settings: q = 2 factors, prior precision λ_W = λ_m = 0.005\n"))
        #expect(try CLI.succeeded(given + ["--prior-loadings", "204.94"]).stdout.contains("settings: q = 2 factors, prior precision λ_W = λ_m = 204.9\n"))
        #expect(try CLI.succeeded(given + ["--prior-loadings", "0.005", "--prior-means", "0.0123456"]).stdout
                .contains("settings: q = 2 factors, prior precisions λ_W = 0.005, λ_m = 0.01235\n"))

        let json = try Self.object(try CLI.succeeded(["fit", data, "--family", "mppca", "--json"]).stdout)
        let settings = try #require(json["settings"] as? [String: Any])
        let prior = try #require(settings["prior_loadings"] as? Double)
        let critical = try #require(settings["critical_prior"] as? Double)
        let path = try #require(settings["path"] as? [[String: Any]])
        #expect(prior < 0.1 && !path.isEmpty, "\(settings)")
        let text = try CLI.succeeded(["fit", data, "--family", "mppca"]).stdout
        #expect(text.contains("prior precision λ_W = λ_m = \(Self.priorText(prior))\n") && !text.contains("λ_m = 0.0\n"), "\(text)")
        let points = try path.map { point -> String in
            let loadings = try #require(point["prior_loadings"] as? Double)
            let rmse = try #require(point["inner_rmse"] as? Double)
            return "\(Self.priorText(loadings)): \(String(format: "%.4f", rmse))"
        }
        #expect(text.contains("from λ_crit = \(Self.priorText(critical)) (" + points.joined(separator: ", ") + ")\n"), "\(text)")
    }

    /// The help gives each family's prediction and objective, not only the course model's.
    @Test func helpDescribesBothFamilies() throws {
        for command in ["fill", "predict", "recommend"] {
            let help = try CLI.succeeded([command, "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(help.contains("Σ_j p(j|u)·μ_ji") && help.contains("μ₀ + b_u + b_i"), "\(command): \(help)")
        }
        let fit = try CLI.succeeded(["fit", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(fit.contains("the highest ELBO") && fit.contains("the highest log-likelihood"), "\(fit)")
    }
}
