import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// `mixfill eval` on rating records: a --test file matched by id (unknown users and items,
/// pairs also in DATA), ranking metrics, and records scored without densifying.
@Suite(.serialized) struct EvalRecordsCLITests {
    /// Users 1, 2, 3 and items 10, 20, 30 (indices 0, 1, 2 in training).
    static let training = "1 10 4\n1 20 2\n2 10 5\n2 30 3\n3 20 1\n3 30 4\n"
    /// Two known pairs; user 4 is unknown (one rating of the known item 10, one of the
    /// unknown item 40); item 50 is unknown.
    static let test = "1 30 5\n2 20 4\n4 10 3\n4 40 2\n3 50 5\n"
    /// μ and the biases of `training` (λ_u = 15, λ_i = 10), from numpy's exact solve of the
    /// normal equations (to the ALS's tolerance).
    static let mean = 19.0 / 6
    static let userBiases = [-0.01642036124794745, 0.0821018062397373, -0.06568144499178982]
    static let itemBiases = [0.21674876847290642, -0.2709359605911330, 0.05418719211822659]

    static func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let outcome = try CLI.succeeded(arguments, sourceLocation: sourceLocation)
        return try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any], sourceLocation: sourceLocation)
    }

    static func split(_ object: [String: Any], model: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let results = try #require(object["results"] as? [[String: Any]], sourceLocation: sourceLocation)
        let result = try #require(results.first { $0["model"] as? String == model }, sourceLocation: sourceLocation)
        return try #require((result["splits"] as? [[String: Any]])?.first, sourceLocation: sourceLocation)
    }

    @Test func theBiasBaselineMatchesTheHandSolution() {
        let indexed = [(0, 0, 4.0), (0, 1, 2), (1, 0, 5), (1, 2, 3), (2, 1, 1), (2, 2, 4)].map { IndexedRating(user: $0.0, item: $0.1, rating: $0.2) }
        let bias = BiasBaseline(training: indexed, userCount: 3, itemCount: 3)
        #expect(bias.mean == Self.mean)
        expectClose(bias.userBiases, Self.userBiases, absolute: 1e-10, "user biases")
        expectClose(bias.itemBiases, Self.itemBiases, absolute: 1e-10, "item biases")
    }

    @Test func unknownUsersAndItemsAreCountedAndScoredByTheirFallbacks() throws {
        let folder = try Fixtures.scratchFolder()
        let training = try Fixtures.write(Self.training, named: "train.txt", in: folder)
        let test = try Fixtures.write(Self.test, named: "test.txt", in: folder)
        let object = try Self.json(["eval", training, "--test", test, "--models", "mean,bias", "--json"])
        let method = try #require(object["held_out"] as? [String: Any])
        #expect(method["kind"] as? String == "test")
        #expect(method["unknown_users"] as? Int == 1 && method["unknown_items"] as? Int == 2)
        #expect(method["unknown_user_ratings"] as? Int == 1 && method["unknown_item_ratings"] as? Int == 2)

        // Predictions: (1, 30) μ + b_1 + b_30; (2, 20) μ + b_2 + b_20; (4, 10) μ + b_10 (an
        // unknown user); (4, 40) and (3, 50) μ (unknown items); all within [1, 5].
        let predictions = [Self.mean + Self.userBiases[0] + Self.itemBiases[2], Self.mean + Self.userBiases[1] + Self.itemBiases[1],
                           Self.mean + Self.itemBiases[0], Self.mean, Self.mean]
        let errors = zip(predictions, [5.0, 4, 3, 2, 5]).map { $0 - $1 }
        let bias = try Self.split(object, model: "bias")
        #expect(bias["test_ratings"] as? Int == 5 && bias["training_ratings"] as? Int == 6)
        let rmse = try #require(bias["rmse"] as? Double)
        let mae = try #require(bias["mae"] as? Double)
        #expect(abs(rmse - (errors.reduce(0) { $0 + $1 * $1 } / 5).squareRoot()) <= 1e-10)
        #expect(abs(mae - errors.reduce(0) { $0 + abs($1) } / 5) <= 1e-10)
        #expect(abs(rmse - 1.3518960800130022) <= 1e-10 && abs(mae - 1.2402298850574713) <= 1e-10)
        // The mean: errors 11/6, 5/6, −1/6, −7/6, 11/6.
        let mean = try Self.split(object, model: "mean")
        #expect(abs(try #require(mean["rmse"] as? Double) - (317.0 / 180).squareRoot()) <= 1e-15)
        #expect(abs(try #require(mean["mae"] as? Double) - 7.0 / 6) <= 1e-15)

        // One rating at a time, MAE is that rating's error: each fallback exactly.
        for (line, prediction) in [("4 10 3\n", Self.mean + Self.itemBiases[0]), ("3 50 5\n", Self.mean), ("2 40 1\n", Self.mean),
                                   ("1 30 5\n", Self.mean + Self.userBiases[0] + Self.itemBiases[2])] {
            let one = try Fixtures.write(line, named: "one.txt", in: folder)
            let single = try Self.split(try Self.json(["eval", training, "--test", one, "--models", "bias", "--json"]), model: "bias")
            let rating = try #require(Double(line.split(separator: " ")[2].dropLast()))
            #expect(abs(try #require(single["mae"] as? Double) - abs(prediction - rating)) <= 1e-10, "\(line)")
        }

        let table = try CLI.succeeded(["eval", training, "--test", test, "--models", "bias"]).stdout
        #expect(table.contains("held out: the 5 ratings in \(test)\n"))
        #expect(table.contains("unknown to the data: 1 user (1 rating of known items, predicted as for a user with no ratings), 2 items (2 ratings, predicted by the mean training rating); not ranked"))
    }

    @Test func theCourseAndMppcaPredictAnUnknownUserFromThePopulation() throws {
        // An unknown user's one rating: course Σ_j p_j μ_ji, mppca μ₀ + b_i + Σ_j π_j m̄_ji;
        // the same as for a training user with no rating, i.e. what `predict` says for an
        // unseen user of a model fitted on the same data.
        let folder = try Fixtures.scratchFolder()
        let training = try Fixtures.write(Self.training, named: "train.txt", in: folder)
        let one = try Fixtures.write("9 20 3\n", named: "one.txt", in: folder)
        for family in ["course", "mppca"] {
            // The mppca options only with mppca: eval refuses them where no mppca is scored.
            let factorOptions = family == "mppca" ? ["--factors", "1", "--prior-loadings", "1", "--prior-means", "1"] : []
            let object = try Self.json(["eval", training, "--test", one, "--models", family, "-k", "1", "--seeds", "0"]
                                       + factorOptions + ["--json"])
            let mae = try #require(try Self.split(object, model: family)["mae"] as? Double)
            let model = folder + "/\(family).json"
            var fit = ["fit", training, "-k", "1", "--seeds", "0", "--model-out", model]
            if family == "mppca" { fit += ["--family", "mppca", "--factors", "1", "--prior-loadings", "1", "--prior-means", "1"] }
            _ = try CLI.succeeded(fit)
            let predicted = try CLI.succeeded(["predict", "--model", model, "--user", "9", "--items", "20", "--json"]).stdout
            let prediction = try #require(try JSONSerialization.jsonObject(with: Data(predicted.utf8)) as? [String: Any])
            let rating = try #require((prediction["predictions"] as? [[String: Any]])?.first?["prediction"] as? Double)
            #expect(abs(mae - abs(rating - 3)) <= 1e-9, "\(family): \(predicted)")
            #expect(family != "course" || mae == 1.5, "K = 1: μ of item 20, the mean of its ratings 2 and 1")
        }
    }

    @Test func aTestRatingAlsoInTheDataIsRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let training = try Fixtures.write(Self.training, named: "train.txt", in: folder)
        let test = try Fixtures.write("4 10 3\n  2 30 1\n", named: "test.txt", in: folder)
        #expect(try CLI.usageFailure(["eval", training, "--test", test, "--models", "bias"])
                == "mixfill: error: \(test):2:3: holds a rating for user 2, item 30 that \(training) also has; held-out ratings must be missing from the training data")
        // Read from standard input, TEST cannot be read again to find the line: the message names no position.
        let piped = try CLI.runPiped(from: test, ["eval", training, "--test", "-", "--models", "bias"])
        #expect(piped.status == 2)
        #expect(piped.stderr.contains("mixfill: error: <stdin>: holds a rating for user 2, item 30 that \(training) also has"), "\(piped.stderr)")
        let netflix = try Fixtures.write("10:\n4,3\n30:\n1,2\n2,1\n", named: "test-netflix.txt", in: folder)
        #expect(try CLI.usageFailure(["eval", training, "--test", netflix, "--models", "bias"])
                == "mixfill: error: \(netflix):5:1: holds a rating for user 2, item 30 that \(training) also has; held-out ratings must be missing from the training data")
        let empty = try Fixtures.write("userId,movieId,rating,timestamp\n", named: "empty.csv", in: folder)
        #expect(try CLI.usageFailure(["eval", training, "--test", empty, "--models", "bias"]).hasPrefix("mixfill: error: \(empty): "))
    }

    /// Users 1–3 and items 1–5; item biases order items 1 > 2 > 3 > 4 (item 5 is user 1's
    /// training rating). Held out: user 1 rates items 1 (3), 2 (5), 4 (4); user 2 item 3 (4);
    /// user 3 item 5 (3).
    static let rankingTraining = "userId,movieId,rating,timestamp\n1,5,3,0\n2,1,5,0\n2,2,4,0\n2,4,1,0\n2,5,2,0\n3,1,5,0\n3,2,4,0\n3,3,3,0\n3,4,1,0\n"
    static let rankingTest = "userId,movieId,rating,timestamp\n1,1,3,0\n1,2,5,0\n1,4,4,0\n2,3,4,0\n3,5,3,0\n"

    @Test func rankingMetricsOnAHandRankedCase() throws {
        let folder = try Fixtures.scratchFolder()
        let training = try Fixtures.write(Self.rankingTraining, named: "train.csv", in: folder)
        let test = try Fixtures.write(Self.rankingTest, named: "test.csv", in: folder)
        // Top 2. User 1: candidates 1–4, list [1, 2], relevant {2, 4}: one hit at rank 2.
        // User 2: candidates {3} only, relevant {3}: a hit at rank 1 in a list of one.
        // User 3: nothing relevant at 4, not ranked.
        let object = try Self.json(["eval", training, "--test", test, "--models", "mean,bias", "--top", "2", "--json"])
        let protocolObject = try #require(object["ranking"] as? [String: Any])
        #expect(protocolObject["k"] as? Int == 2 && protocolObject["relevance"] as? Double == 4)
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results[0]["model"] as? String == "mean" && results[0]["ranking"] == nil)
        let summary = try #require(results[1]["ranking"] as? [String: Any])
        #expect(summary["k"] as? Int == 2)
        for key in ["precision", "recall", "ndcg"] { #expect((summary[key] as? [String: Double])?["std"] == 0, "\(key)") }
        let ranking = try #require(try Self.split(object, model: "bias")["ranking"] as? [String: Any])
        #expect(ranking["users"] as? Int == 2 && ranking["relevant"] as? Int == 3 && ranking["k"] as? Int == 2)
        #expect(ranking["seconds"] as? Double != nil)
        let discount = 1 / log2(3.0)
        #expect(abs(try #require(ranking["precision"] as? Double) - 0.5) <= 1e-15)
        #expect(abs(try #require(ranking["recall"] as? Double) - 0.75) <= 1e-15)
        #expect(abs(try #require(ranking["ndcg"] as? Double) - (discount / (1 + discount) + 1) / 2) <= 1e-15)

        // --relevance 3: user 1's relevant {1, 2, 4}, two hits in two; user 3 ranked too (item 5 alone).
        let lower = try Self.json(["eval", training, "--test", test, "--models", "bias", "--top", "2", "--relevance", "3", "--json"])
        let relaxed = try #require(try Self.split(lower, model: "bias")["ranking"] as? [String: Any])
        #expect(relaxed["users"] as? Int == 3 && relaxed["relevant"] as? Int == 5)
        let precision: Double = try #require(relaxed["precision"] as? Double)
        let recall: Double = try #require(relaxed["recall"] as? Double)
        let expectedPrecision: Double = (1 + 0.5 + 0.5) / 3
        let expectedRecall: Double = (2.0 / 3 + 1 + 1) / 3
        #expect(abs(precision - expectedPrecision) <= 1e-15 && abs(recall - expectedRecall) <= 1e-15)
        #expect(try #require(relaxed["ndcg"] as? Double) == 1)

        // The longest list there is: every candidate ranked (user 1 finds both relevant
        // items, user 2 its one), nothing allocated for a list longer than the items.
        let longest = try Self.json(["eval", training, "--test", test, "--models", "bias", "--top", "\(Int.max)", "--json"])
        let everything = try #require(try Self.split(longest, model: "bias")["ranking"] as? [String: Any])
        #expect(everything["users"] as? Int == 2 && everything["recall"] as? Double == 1)

        let outcome = try CLI.succeeded(["eval", training, "--test", test, "--models", "mean,bias", "--top", "2"])
        let table = outcome.stdout
        #expect(outcome.stderr.isEmpty, "ratings of 1–5 stars: no warning about the relevance threshold")
        #expect(table.contains("P@2") && table.contains("R@2") && table.contains("NDCG@2"))
        #expect(table.contains("  model  K          RMSE           MAE     P@2     R@2  NDCG@2  seconds\n"),
                "no course fit scored: no best-seed or log-likelihood column\n\(table)")
        #expect(table.split(separator: "\n").contains { $0.hasPrefix("  bias ") && $0.contains("0.5000  0.7500  0.6934") })
        #expect(table.contains("averaged over the 2 users with a relevant held-out item; mean: no ranking"))

        // mean alone ranks nothing, though users 1 and 2 have relevant held-out items in
        // TEST: the note says why, not that nobody has one; on one split and over folds.
        for split in [["--test", test], ["--folds", "2"]] {
            let alone = try CLI.succeeded(["eval", training] + split + ["--models", "mean", "--top", "2"]).stdout
            #expect(alone.contains("binary-gain NDCG\nmean: no ranking (one score for every item); add bias, course or mppca to --models for P@2, R@2 and NDCG@2\n"), "\(alone)")
            #expect(!alone.contains("nothing to rank"), "\(alone)")
        }
    }

    /// Ratings that are not stars out of five (here 2–10, the same data doubled) make the
    /// default threshold of 4 count nearly everything relevant: eval says so, unless
    /// --relevance is given.
    @Test func theDefaultRelevanceWarnsOnAnotherScale() throws {
        let folder = try Fixtures.scratchFolder()
        func doubled(_ text: String) -> String {
            text.split(separator: "\n").map { line in
                let fields = line.split(separator: ",")
                guard let rating = Double(fields[2]) else { return String(line) }
                return "\(fields[0]),\(fields[1]),\(rating * 2)"
            }.joined(separator: "\n") + "\n"
        }
        let training = try Fixtures.write(doubled(Self.rankingTraining), named: "train.csv", in: folder)
        let test = try Fixtures.write(doubled(Self.rankingTest), named: "test.csv", in: folder)
        let warned = try CLI.succeeded(["eval", training, "--test", test, "--models", "bias", "--top", "2"])
        #expect(warned.stderr == "mixfill: warning: ratings in \(training) run from 2 to 10; the ranking metrics count a held-out rating ≥ 4 as relevant, a threshold meant for 1–5 stars: give --relevance R for this scale\n")
        let given = try CLI.succeeded(["eval", training, "--test", test, "--models", "bias", "--top", "2", "--relevance", "8"])
        #expect(given.stderr.isEmpty)
        #expect(given.stdout.contains("relevant: held-out rating ≥ 8;"))
        // Nothing ranked (mean alone), nothing to warn of; and the range is DATA's, not
        // TEST's: 1–5 stars in DATA, whatever TEST holds.
        #expect(try CLI.succeeded(["eval", training, "--test", test, "--models", "mean", "--top", "2"]).stderr.isEmpty)
        let stars = try Fixtures.write(Self.rankingTraining, named: "stars.csv", in: folder)
        #expect(try CLI.succeeded(["eval", stars, "--test", test, "--models", "bias", "--top", "2"]).stderr.isEmpty)
    }

    @Test func rankingOptionsAreChecked() throws {
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--folds", "2", "--top", "0"])
                .hasPrefix("mixfill: error: --top: 0 is not allowed; give a list length of 1 or more"))
        #expect(try CLI.usageFailure(["eval", "data/test_incomplete.txt", "--folds", "2", "--relevance", "nan"])
                .hasPrefix("mixfill: error: --relevance: nan is not a rating; give a finite number, e.g. 4"))
        #expect(try CLI.usageFailure(["eval", "-", "--test", "-", "--models", "bias"])
                .hasPrefix("mixfill: error: DATA, --test: only one input can come from standard input"))
    }

    @Test func recordsSplitAsTheirDenseFormAndScoreTheSame() throws {
        // The course's small matrix as triplets (id = row, column): the same folds, the same figures.
        let folder = try Fixtures.scratchFolder()
        let triplets = folder + "/small.tsv"
        _ = try CLI.succeeded(["convert", "data/test_incomplete.txt", triplets, "--to", "triplets"])
        let arguments = ["--folds", "3", "--split-seed", "5", "--models", "mean,bias,course,mppca", "-k", "2", "--seeds", "0",
                         "--factors", "1", "--prior-loadings", "1", "--prior-means", "1", "--top", "2", "--relevance", "3", "--json"]
        let dense = try #require(try Self.json(["eval", "data/test_incomplete.txt"] + arguments)["results"] as? [[String: Any]])
        let records = try #require(try Self.json(["eval", triplets] + arguments)["results"] as? [[String: Any]])
        #expect(dense.count == 4 && records.count == 4)
        #expect(dense[2]["kernel"] as? String == "dense" && records[2]["kernel"] as? String == "sparse")
        // The naive backend densifies the records' training parts and runs the dense loops:
        // the dense BLAS kernel's figures to rounding.
        let naive = try #require(try Self.json(["eval", triplets, "--backend", "naive"] + arguments)["results"] as? [[String: Any]])
        #expect(naive.count == 4 && naive[2]["model"] as? String == "course" && naive[2]["kernel"] as? String == "dense")
        let naiveSplits = try #require(naive[2]["splits"] as? [[String: Any]])
        let denseSplits = try #require(dense[2]["splits"] as? [[String: Any]])
        #expect(naiveSplits.count == 3 && denseSplits.count == 3)
        for (x, y) in zip(naiveSplits, denseSplits) {
            let (p, q) = (try #require(x["rmse"] as? Double), try #require(y["rmse"] as? Double))
            #expect(abs(p - q) <= 1e-12 * p)
        }
        for (a, b) in zip(dense, records) {
            let splitsA = try #require(a["splits"] as? [[String: Any]])
            let splitsB = try #require(b["splits"] as? [[String: Any]])
            #expect(splitsA.count == 3 && splitsB.count == 3)
            // The course model runs the dense kernel on the matrix and the sparse kernel on
            // records, as `fit` does: the kernels agree to rounding, the others bit for bit.
            let tolerance = a["model"] as? String == "course" ? 1e-12 : 0
            #expect(a["model"] as? String == b["model"] as? String)
            for (x, y) in zip(splitsA, splitsB) {
                for key in ["rmse", "mae"] {
                    let (p, q) = (try #require(x[key] as? Double), try #require(y[key] as? Double))
                    #expect(abs(p - q) <= tolerance * p, "\(a["model"] ?? "") \(key)")
                }
                let rankingA = x["ranking"] as? [String: Any]
                let rankingB = y["ranking"] as? [String: Any]
                #expect(rankingA?["ndcg"] as? Double == rankingB?["ndcg"] as? Double)
                #expect((rankingA == nil) == (a["model"] as? String == "mean"))
            }
        }
        // A record test file of the entries the gold reveals scores as --gold does.
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let gold = try Fixtures.load(Fixtures.smallComplete)
        var lines = ""
        for user in 0..<20 {
            for item in 0..<5 where !data.isObserved(user: user, item: item) && gold[user, item] != 0 {
                lines += "\(user) \(item) \(Int(gold[user, item]))\n"
            }
        }
        let test = try Fixtures.write(lines, named: "revealed.txt", in: folder)
        let fromRecords = try Self.json(["eval", "data/test_incomplete.txt", "--test", test, "-k", "3", "--seeds", "0", "--json"])
        let fromGold = try Self.json(["eval", "data/test_incomplete.txt", "--gold", "data/test_complete.txt", "-k", "3", "--seeds", "0", "--json"])
        for model in ["mean", "bias", "course"] {
            let a = try Self.split(fromRecords, model: model)
            let b = try Self.split(fromGold, model: model)
            #expect(a["test_ratings"] as? Int == 19 && a["rmse"] as? Double == b["rmse"] as? Double, "\(model)")
        }
        #expect((fromRecords["held_out"] as? [String: Any])?["unknown_users"] as? Int == 0)
    }

    @Test func aZeroRatingIsARatingOfRecords() throws {
        // Records with a rating of 0 have no dense form (where 0 is missing); every model scores
        // them, the course model on the sparse kernel as `fit` runs it, and only the naive
        // backend, the dense loops, refuses them.
        // (--format: a file of 3 columns holding a 0 would be detected as a dense matrix.)
        let folder = try Fixtures.scratchFolder()
        let training = try Fixtures.write(Self.training + "3 10 0\n", named: "train.txt", in: folder)
        let test = try Fixtures.write(Self.test, named: "test.txt", in: folder)
        let object = try Self.json(["eval", training, "--test", test, "--models", "mean,bias", "--format", "triplets", "--json"])
        #expect(try Self.split(object, model: "mean")["training_ratings"] as? Int == 7)
        // μ = 19/7 now: the same five errors against it.
        let errors = [5.0, 4, 3, 2, 5].map { 19.0 / 7 - $0 }
        #expect(abs(try #require(try Self.split(object, model: "mean")["rmse"] as? Double)
                    - (errors.reduce(0) { $0 + $1 * $1 } / 5).squareRoot()) <= 1e-15)
        let course = try Self.json(["eval", training, "--test", test, "--models", "course", "-k", "2", "--format", "triplets", "--json"])
        let results = try #require(course["results"] as? [[String: Any]])
        #expect(results.count == 1 && results[0]["kernel"] as? String == "sparse")
        #expect(try Self.split(course, model: "course")["training_ratings"] as? Int == 7)
        #expect(try CLI.usageFailure(["eval", training, "--test", test, "--models", "bias,course", "-k", "2", "--format", "triplets",
                                      "--backend", "naive"])
                == "mixfill: error: \(training): user 3 has a rating of 0, which the dense form reads as missing; --backend naive runs the course model on the dense form of the data; leave --backend out to run it on the sparse kernel")
    }
}
