import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// `mixfill predict` and `recommend`, with training users, folded-in users and strangers.
@Suite(.serialized) struct ServingCLITests {
    /// A K = 4 model of the course's small matrix (seed 0), written to a fresh folder.
    static func smallModel() throws -> (folder: String, model: String) {
        let folder = try Fixtures.scratchFolder()
        let fit = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0", "--model-out", folder + "/m.json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        return (folder, folder + "/m.json")
    }

    static func lines(_ text: String) -> [[String]] {
        text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    }

    @Test func predictionsForMissingEntriesAreTheFilledValuesClipped() throws {
        let (folder, model) = try Self.smallModel()
        #expect(try CLI.run(["fill", "data/test_incomplete.txt", "--model", model, "--out", folder + "/filled.txt"]).status == 0)
        let filled = try DenseMatrixReader.read(path: folder + "/filled.txt")
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let pairs = (0..<100).map { "\($0 / 5) \($0 % 5)" }.joined(separator: "\n") + "\n"
        let pairsPath = try Fixtures.write(pairs, named: "pairs.txt", in: folder)
        let outcome = try CLI.run(["predict", "--model", model, "--pairs", pairsPath])
        #expect(outcome.status == 0 && outcome.stderr.isEmpty, "\(outcome.stderr)")
        let rows = Self.lines(outcome.stdout)
        #expect(rows.count == 100)
        for (index, row) in rows.enumerated() {
            #expect(row.count == 3 && row[0] == String(index / 5) && row[1] == String(index % 5))
            guard !data.isObserved(user: index / 5, item: index % 5) else { continue }
            #expect(Double(row[2]) == min(max(filled.values[index], 1), 5), "pair \(index)")
        }

        // fill --pairs on the same matrix takes its posteriors from the same kernel (dense,
        // the matrix being 81 % observed): the missing entries' predictions are predict's
        // to the last digit, written the same way.
        let missing = (0..<100).filter { !data.isObserved(user: $0 / 5, item: $0 % 5) }
        let missingPairs = try Fixtures.write(missing.map { "\($0 / 5) \($0 % 5)\n" }.joined(), named: "missing.txt", in: folder)
        let fillPairs = try CLI.succeeded(["fill", "data/test_incomplete.txt", "--model", model, "--pairs", missingPairs, "--out", "-"])
        let predicted = Dictionary(uniqueKeysWithValues: rows.map { ("\($0[0]) \($0[1])", $0[2]) })
        let fillRows = fillPairs.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(fillRows.count == missing.count && missing.count == 19)
        for row in fillRows {
            #expect(row.count == 3 && predicted["\(row[0]) \(row[1])"] == row[2], "\(row)")
        }
    }

    @Test func predictOnNetflixWritesAtomicallyAndRepeatsItselfExactly() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/netflix_incomplete.txt", "-k", "12", "--seeds", "1", "--model-out", folder + "/m.json"]).status == 0)
        let pairs = (0..<3000).map { "\($0 * 7 % 1200) \($0 * 13 % 1200)" }.joined(separator: "\n")
        let pairsPath = try Fixtures.write(pairs, named: "pairs.txt", in: folder)
        let first = try CLI.run(["predict", "--model", folder + "/m.json", "--pairs", pairsPath, "--out", folder + "/a.txt"])
        #expect(first.status == 0 && first.stdout == "wrote \(folder)/a.txt: 3000 predictions\n")
        let second = try CLI.succeeded(["predict", "--model", folder + "/m.json", "--pairs", pairsPath, "--backend", "naive"])
        let written = try String(contentsOfFile: folder + "/a.txt", encoding: .utf8)
        #expect(Self.lines(written).count == 3000)
        // The naive kernel's posteriors agree with BLAS's to rounding, so the predictions do too.
        #expect(Self.lines(second.stdout).count == 3000)
        for (a, b) in zip(Self.lines(written), Self.lines(second.stdout)) {
            #expect(a[0] == b[0] && a[1] == b[1])
            #expect(abs((Double(a[2]) ?? 0) - (Double(b[2]) ?? 9)) <= 1e-10)
        }
        let third = try CLI.succeeded(["predict", "--model", folder + "/m.json", "--pairs", pairsPath])
        #expect(third.stdout == written)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test func strangersGetDocumentedFallbacksNeverNaN() throws {
        let (folder, model) = try Self.smallModel()
        let pairsPath = try Fixtures.write("3 1\n20 1\n3 5\n-7 99\n", named: "pairs.txt", in: folder)
        let outcome = try CLI.run(["predict", "--model", model, "--pairs", pairsPath, "--json"])
        #expect(outcome.status == 0)
        #expect(outcome.stderr.contains("mixfill: warning: 1 of 4 predictions are for users the model does not know"))
        #expect(outcome.stderr.contains("mixfill: warning: 2 of 4 predictions are for items the model does not know or that had no training rating; they are the mean training rating, 3.345679012345679"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        let predictions = try #require(object["predictions"] as? [[String: Any]])
        #expect(predictions.map { $0["basis"] as? String } == ["training", "prior", "item-fallback", "item-fallback"])
        #expect(predictions.allSatisfy { ($0["prediction"] as? Double).map { $0 >= 1 && $0 <= 5 } ?? false })
        #expect(object["basis_counts"] as? [String: Int] == ["training": 1, "prior": 1, "item-fallback": 2, "fold-in": 0])
        #expect(object["rating_range"] as? [Double] == [1, 5])
    }

    @Test func foldInFromAListOrAFileAgreesAndMatchesTheTrainingUser() throws {
        let (folder, model) = try Self.smallModel()
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        // User 6's training ratings, given again as a new user's.
        let ratings = (0..<5).filter { data.isObserved(user: 6, item: $0) }.map { ($0, data[6, $0]) }
        let list = ratings.map { "\($0.0):\(String(Int($0.1)))" }.joined(separator: ",")
        let file = try Fixtures.write(ratings.map { "\($0.0) \(String(Int($0.1)))" }.joined(separator: "\n"), named: "r.txt", in: folder)
        let fromList = try CLI.run(["predict", "--model", model, "--user", "100", "--ratings", list])
        let fromFile = try CLI.run(["predict", "--model", model, "--user", "100", "--ratings-file", file])
        let asTrained = try CLI.run(["predict", "--model", model, "--user", "6"])
        #expect(fromList.status == 0 && fromFile.status == 0 && asTrained.status == 0)
        #expect(fromList.stdout == fromFile.stdout)
        // A byte-order mark in front of the file reads as without it.
        let marked = try Fixtures.write("\u{FEFF}" + (try String(contentsOfFile: file, encoding: .utf8)), named: "marked.txt", in: folder)
        let fromMarked = try CLI.run(["predict", "--model", model, "--user", "100", "--ratings-file", marked])
        #expect(fromMarked.status == 0 && fromMarked.stdout == fromFile.stdout, "\(fromMarked.stderr)")
        // An empty file folds in a user without ratings, and says so.
        let empty = try Fixtures.write("# no ratings yet\n", named: "empty.txt", in: folder)
        let fromEmpty = try CLI.run(["predict", "--model", model, "--user", "100", "--ratings-file", empty])
        let withoutRatings = try CLI.run(["predict", "--model", model, "--user", "100"])
        #expect(fromEmpty.status == 0 && withoutRatings.status == 0 && fromEmpty.stdout == withoutRatings.stdout)
        #expect(fromEmpty.stderr.contains("mixfill: warning: \(empty): holds no ratings (write one per line: ITEM RATING); the user is folded in from none, as a user without ratings\n"))
        let folded = Self.lines(fromList.stdout)
        let trained = Self.lines(asTrained.stdout)
        #expect(folded.count == 5 && trained.count == 5)
        for (a, b) in zip(folded, trained) {
            #expect(a[0] == "100" && b[0] == "6" && a[1] == b[1])
            #expect(abs((Double(a[2]) ?? 0) - (Double(b[2]) ?? 9)) <= 1e-12)
        }
    }

    @Test func recommendForATrainingUserLeavesOutWhatTheyRated() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/netflix_incomplete.txt", "-k", "12", "--seeds", "1", "--model-out", folder + "/m.json"]).status == 0)
        let outcome = try CLI.run(["recommend", "--model", folder + "/m.json", "--user", "5", "--top", "10", "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        #expect(object["basis"] as? String == "training" && object["user"] as? Int == 5)
        let data = try #require(Fixtures.netflix)
        #expect(object["rated_items"] as? Int == (0..<1200).filter { data.isObserved(user: 5, item: $0) }.count)
        let entries = try #require(object["recommendations"] as? [[String: Any]])
        #expect(entries.map { $0["rank"] as? Int } == Array(1...10).map { $0 })
        let items = entries.compactMap { $0["item"] as? Int }
        #expect(items.count == 10 && items.allSatisfy { !data.isObserved(user: 5, item: $0) })
        let scores = entries.compactMap { $0["score"] as? Double }
        #expect(zip(scores, scores.dropFirst()).allSatisfy { $0 >= $1 })
        #expect(entries.allSatisfy { ($0["prediction"] as? Double) == min(max($0["score"] as? Double ?? 0, 1), 5) })
        let posterior = try #require(object["posterior"] as? [Double])
        #expect(posterior.count == 12 && abs(posterior.reduce(0, +) - 1) <= 1e-12)

        let table = try CLI.succeeded(["recommend", "--model", folder + "/m.json", "--user", "5", "--top", "3"])
        #expect(table.stdout.hasPrefix("user 5: from 1071 training ratings; most likely component"))
        #expect(Self.lines(table.stdout).last?.first == "3")
        // At the default --min-ratings 1 the header says nothing of it; above 1 it does.
        let header = table.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(header.count > 1 && header[1] == "top 3, rated items left out", "\(table.stdout)")
        let strict = try CLI.succeeded(["recommend", "--model", folder + "/m.json", "--user", "5", "--top", "3", "--min-ratings", "3"])
        let strictHeader = strict.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(strictHeader.count > 1 && strictHeader[1] == "top 3, rated items left out, items with fewer than 3 training ratings left out",
                "\(strict.stdout)")
    }

    /// Fold-in with ratings at the readers' ±1e100 limit on all 1,200 netflix items: every
    /// prediction and the posterior stay finite (never "nan" in the output).
    @Test func extremeFoldInRatingsNeverPrintNaN() throws {
        let folder = try Fixtures.scratchFolder()
        #expect(try CLI.run(["fit", "data/netflix_incomplete.txt", "-k", "4", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let ratings = (0..<1200).map { "\($0):\($0 % 2 == 0 ? "1e100" : "-1e100")" }.joined(separator: ",")
        let predict = try CLI.run(["predict", "--model", folder + "/m.json", "--user", "5000", "--ratings", ratings])
        #expect(predict.status == 0, "\(predict.stderr)")
        let lines = Self.lines(predict.stdout)
        #expect(lines.count == 1200)
        #expect(lines.allSatisfy { $0.count == 3 && (Double($0[2]).map { $0.isFinite && $0 >= 1 && $0 <= 5 } ?? false) })
        #expect(!predict.stdout.lowercased().contains("nan"))
        let recommend = try CLI.run(["recommend", "--model", folder + "/m.json", "--ratings", ratings, "--top", "5", "--json"])
        #expect(recommend.status == 0, "\(recommend.stderr)")
        #expect(!recommend.stdout.lowercased().contains("nan"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(recommend.stdout.utf8)) as? [String: Any])
        let posterior = try #require(object["posterior"] as? [Double])
        #expect(posterior.count == 4 && posterior.allSatisfy(\.isFinite) && abs(posterior.reduce(0, +) - 1) <= 1e-12)
    }

    @Test func recommendForANewUserAndForAStranger() throws {
        let (_, model) = try Self.smallModel()
        let folded = try CLI.run(["recommend", "--model", model, "--ratings", "0:5,3:1,9:4", "--top", "10", "--json"])
        #expect(folded.status == 0)
        #expect(folded.stderr == "mixfill: warning: --ratings: item 9 is not in the model; its rating is left out of the fold-in\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(folded.stdout.utf8)) as? [String: Any])
        #expect(object["basis"] as? String == "fold-in" && object["rated_items"] as? Int == 2)
        let items = (object["recommendations"] as? [[String: Any]])?.compactMap { $0["item"] as? Int }
        #expect(items.map(Set.init) == Set([1, 2, 4]))

        let stranger = try CLI.run(["recommend", "--model", model, "--user", "777", "--top", "2"])
        #expect(stranger.status == 0)
        #expect(stranger.stderr.contains("user 777 is not in the model and has no ratings given; recommending by the mixture's weights"))
        #expect(stranger.stdout.hasPrefix("user 777: unknown: the population's ranking"))
    }

    @Test func trainingUsersNeedTheirTrainingData() throws {
        let folder = try Fixtures.scratchFolder()
        let copy = folder + "/train.txt"
        try FileManager.default.copyItem(atPath: Fixtures.smallIncomplete, toPath: copy)
        #expect(try CLI.run(["fit", copy, "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        try FileManager.default.removeItem(atPath: copy)
        #expect(try CLI.usageFailure(["predict", "--model", folder + "/m.json", "--user", "3", "--items", "0"])
                == "mixfill: error: --data: predicting for training user 3 needs the model's training ratings; \(folder)/m.json records \(copy), which cannot be read (\(copy): no such file; check the path); give the training data with --data")
        // Other data under the same shape is refused by fingerprint.
        let other = try CLI.usageFailure(["recommend", "--model", folder + "/m.json", "--user", "3", "--data", "data/test_complete.txt"])
        #expect(other.hasPrefix("mixfill: error: data/test_complete.txt: is not the data \(folder)/m.json was fitted on (fingerprint mix64:"))
        // The right data, given with --data, works; so does a user who needs no data.
        let given = try CLI.run(["predict", "--model", folder + "/m.json", "--user", "3", "--items", "0", "--data", "data/test_incomplete.txt"])
        #expect(given.status == 0 && Self.lines(given.stdout).first?.prefix(2) == ["3", "0"])
        #expect(try CLI.run(["predict", "--model", folder + "/m.json", "--user", "50", "--items", "0"]).status == 0)
    }

    /// A model fitted with `--format` finds its training data again in that format: a
    /// 3-column triplets file is detected as a dense matrix, and was refused as "not the
    /// data" by predict and recommend, both from the recorded path and from --data.
    @Test func aModelFittedWithAFormatReadsItsDataInThatFormat() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write("1\t1\t4\n1\t2\t0\n2\t1\t5\n2\t3\t1\n3\t2\t2\n3\t3\t4\n", named: "z.tsv", in: folder)
        #expect(try RatingFormat.detect(path: data) == .dense)
        #expect(try CLI.run(["fit", data, "--format", "triplets", "-k", "1", "--seeds", "0", "--model-out", folder + "/z.json"]).status == 0)
        let recorded = try CLI.succeeded(["predict", "--model", folder + "/z.json", "--user", "1"])
        let given = try CLI.succeeded(["predict", "--model", folder + "/z.json", "--user", "1", "--data", data])
        #expect(Self.lines(recorded.stdout).map { Array($0.prefix(2)) } == [["1", "1"], ["1", "2"], ["1", "3"]] && given.stdout == recorded.stdout)
        // The binary copy of it, given with --data, is detected as binary and fits too.
        #expect(try CLI.run(["convert", data, folder + "/z.mfr", "--format", "triplets"]).status == 0)
        #expect(try CLI.succeeded(["predict", "--model", folder + "/z.json", "--user", "1", "--data", folder + "/z.mfr"]).stdout == recorded.stdout)
        let all = try CLI.succeeded(["recommend", "--model", folder + "/z.json", "--all-users", "--top", "1"])
        #expect(all.stdout.split(separator: "\n").count == 4, "\(all.stdout)")
        // --data that detection cannot read at all (ragged, with a 0: read as a matrix) is
        // read again in the recorded format.
        let ragged = try Fixtures.write("1 1 0 100\n1 2 5\n2 1 4\n2 2 3\n3 1 2\n", named: "t.txt", in: folder)
        #expect(try CLI.run(["fit", ragged, "-k", "1"]).status == 2)
        #expect(try CLI.run(["fit", ragged, "--format", "triplets", "-k", "1", "--seeds", "0", "--model-out", folder + "/t.json"]).status == 0)
        let copy = folder + "/t-copy.txt"
        try FileManager.default.copyItem(atPath: ragged, toPath: copy)
        let fromCopy = try CLI.succeeded(["predict", "--model", folder + "/t.json", "--user", "1", "--data", copy])
        #expect(fromCopy.stdout == (try CLI.succeeded(["predict", "--model", folder + "/t.json", "--user", "1"])).stdout && fromCopy.stderr.isEmpty)
        // A 3-column matrix fitted as one: detection's triplets reading (with repeated
        // pairs) is dropped quietly, no warning about records it did not keep.
        let matrix = try Fixtures.write("5 3 4\n4 2 1\n1 5 5\n2 4 3\n1 5 2\n", named: "d3.txt", in: folder)
        #expect(try CLI.run(["fit", matrix, "--format", "dense", "-k", "1", "--seeds", "0", "--model-out", folder + "/d3.json"]).status == 0)
        let matrixCopy = folder + "/d3-copy.txt"
        try FileManager.default.copyItem(atPath: matrix, toPath: matrixCopy)
        let dense = try CLI.succeeded(["predict", "--model", folder + "/d3.json", "--user", "0", "--data", matrixCopy])
        #expect(dense.stderr.isEmpty && dense.stdout.split(separator: "\n").count == 3, "\(dense.stderr)")
    }

    /// fill on data whose items disagree with the model, its format detected as dense
    /// where the model was fitted on triplets (or the other way round, detection's one
    /// ambiguity): the error says to give the format the model records.
    @Test func fillHintsAtTheRecordedFormatWhenDetectionDisagrees() throws {
        let folder = try Fixtures.scratchFolder()
        // Triplets with a rating of 0: detected as a 6 × 3 matrix; 3 users × 5 items as records.
        let triplets = try Fixtures.write("1 1 4\n1 2 0\n2 3 5\n2 4 1\n3 5 2\n3 1 4\n", named: "t.txt", in: folder)
        #expect(try RatingFormat.detect(path: triplets) == .dense)
        #expect(try CLI.run(["fit", triplets, "--format", "triplets", "-k", "1", "--seeds", "0", "--model-out", folder + "/t.json"]).status == 0)
        #expect(try CLI.usageFailure(["fill", triplets, "--model", folder + "/t.json", "--out", folder + "/f.txt"])
                == "mixfill: error: \(triplets): has 3 items but the model \(folder)/t.json was fitted on 5; give data with the model's items; it was read as dense (detected) but \(folder)/t.json was fitted on triplets data: if it holds triplets data, give --format triplets")
        #expect(try CLI.usageFailure(["fill", triplets, "--model", folder + "/t.json", "--pairs", triplets, "--out", folder + "/f.txt"])
                .hasSuffix("give data with the model's items; it was read as dense (detected) but \(folder)/t.json was fitted on triplets data: if it holds triplets data, give --format triplets"))
        #expect(try CLI.run(["fill", triplets, "--model", folder + "/t.json", "--format", "triplets", "--out", folder + "/f.txt"]).status == 0)
        // predict reads a --data file again in the recorded format; a pipe, read once, is
        // refused with the hint to give it as a file.
        #expect(try CLI.succeeded(["predict", "--model", folder + "/t.json", "--user", "1", "--data", triplets]).stdout.hasPrefix("1 1 "))
        let piped = try CLI.runWithPipe(from: triplets, ["predict", "--model", folder + "/t.json", "--user", "1", "--data", CLI.pipePath])
        #expect(piped.status == 2 && piped.stderr.hasPrefix("mixfill: error: /dev/fd/3: is not the data \(folder)/t.json was fitted on (fingerprint "), "\(piped.stderr)")
        #expect(piped.stderr.hasSuffix("give the training data with --data, or refit; it was read from a pipe as dense (detected), but \(folder)/t.json was fitted on triplets data: give the data as a file, which is read as triplets when detection's reading is not the model's data\n"), "\(piped.stderr)")
        // Given --format, no hint: the mismatch is the data's.
        #expect(try CLI.usageFailure(["fill", triplets, "--format", "dense", "--model", folder + "/t.json", "--out", folder + "/g.txt"])
                == "mixfill: error: \(triplets): has 3 items but the model \(folder)/t.json was fitted on 5; give data with the model's items")
        // A 3-column matrix without zeros: detected as triplets, whose items (3, 4, 5) are
        // none of the matrix model's (0, 1, 2); then one that shares one item, a warning.
        let matrix = try Fixtures.write("5 3 4\n4 4 1\n1 5 5\n", named: "d3.txt", in: folder)
        #expect(try RatingFormat.detect(path: matrix) == .triplets)
        #expect(try CLI.run(["fit", matrix, "--format", "dense", "-k", "1", "--seeds", "0", "--model-out", folder + "/d.json"]).status == 0)
        #expect(try CLI.usageFailure(["fill", matrix, "--model", folder + "/d.json", "--out", folder + "/f.txt"])
                == "mixfill: error: \(matrix): none of its 3 ratings is of an item the model \(folder)/d.json was fitted on, so nothing in it can inform a prediction; give data whose item ids are the training data's; it was read as triplets (detected) but \(folder)/d.json was fitted on dense data: if it holds dense data, give --format dense")
        let shared = try Fixtures.write("5 3 4\n4 2 1\n1 5 5\n", named: "d3b.txt", in: folder)
        let warned = try CLI.run(["fill", shared, "--model", folder + "/d.json", "--out", folder + "/w.txt"])
        #expect(warned.status == 0 && warned.stderr == "mixfill: warning: \(shared): 2 ratings of items the model was not fitted on were ignored; it was read as triplets (detected) but \(folder)/d.json was fitted on dense data: if it holds dense data, give --format dense\n", "\(warned.stderr)")
        #expect(try CLI.run(["fill", shared, "--format", "dense", "--model", folder + "/d.json", "--out", folder + "/w.txt"]).status == 0)
    }

    /// An item nobody rated in training (an all-zero column) is one the model cannot speak
    /// for: fill, fill --pairs and predict all give it the mean training rating, instead of
    /// fill writing its start's mean (0 for the course model: "missing" in a dense file).
    @Test func anItemWithoutTrainingRatingsGetsTheFallbackEverywhere() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write("5 0 3 0\n4 0 0 2\n0 0 0 0\n1 0 5 3\n2 0 4 1\n", named: "d.txt", in: folder)
        #expect(try CLI.run(["fit", data, "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        // Mean training rating: (5+3+4+2+1+5+3+2+4+1)/10 = 3.
        let predicted = try CLI.succeeded(["predict", "--model", folder + "/m.json", "--user", "0", "--item-ids", "1", "--json"])
        let prediction = try #require((try JSONSerialization.jsonObject(with: Data(predicted.stdout.utf8)) as? [String: Any])?["predictions"] as? [[String: Any]])
        #expect(prediction.count == 1 && prediction[0]["prediction"] as? Double == 3 && prediction[0]["basis"] as? String == "item-fallback")
        let filled = try CLI.succeeded(["fill", data, "--model", folder + "/m.json", "--out", folder + "/f.txt"])
        #expect(filled.stderr == "mixfill: warning: 1 item has no training rating in the model; its missing entries are the mean training rating, 3, as predict gives them\n")
        let rows = try String(contentsOfFile: folder + "/f.txt", encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.count == 5 && rows.allSatisfy { $0.count == 4 && $0[1] == "3" }, "\(rows)")
        #expect(rows.allSatisfy { !$0.contains("0") })
        // fit --gold scores the missing entries as fill writes them.
        let gold = try Fixtures.write("5 2 3 4\n4 3 3 2\n1 5 4 2\n1 1 5 3\n2 4 4 1\n", named: "g.txt", in: folder)
        let scored = try CLI.succeeded(["fit", data, "-k", "2", "--seeds", "0", "--gold", gold, "--json"])
        let fit = try #require((try JSONSerialization.jsonObject(with: Data(scored.stdout.utf8)) as? [String: Any])?["fits"] as? [[String: Any]])
        let reported = try #require((fit.first?["rmse"] as? [String: Any])?["missing_entries"] as? Double)
        let given = try Fixtures.load(data), complete = try Fixtures.load(gold)
        let filledValues = try Fixtures.load(folder + "/f.txt").values
        let missing = given.values.indices.filter { given.values[$0] == 0 }
        let expected = (missing.map { pow(filledValues[$0] - complete.values[$0], 2) }.reduce(0, +) / Double(missing.count)).squareRoot()
        #expect(missing.count == 10 && abs(reported - expected) <= 1e-12, "\(reported) vs \(expected)")
        // Pairs: an item without training ratings, one the model lacks, each for a known
        // and a new user; each pair counted once, under what its value is.
        let pairs = try Fixtures.write("0 1\n9 1\n0 7\n9 7\n9 2\n", named: "p.txt", in: folder)
        let written = try CLI.succeeded(["fill", data, "--model", folder + "/m.json", "--pairs", pairs, "--out", folder + "/p.tsv"])
        #expect(written.stderr == "mixfill: warning: \(pairs): 1 pair has a user not in \(data); predicted from the mixture weights alone\n"
                + "mixfill: warning: \(pairs): 4 pairs have items the model was not fitted on or has no training rating for; written as the mean training rating, 3, as predict gives it\n")
        let values = try String(contentsOfFile: folder + "/p.tsv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(values.prefix(4).map { $0.last } == ["3", "3", "3", "3"] && values.count == 5 && values[4][2] != "3", "\(values)")
    }

    /// Data none of whose items the model knows cannot inform a single prediction.
    @Test func fillRefusesDataWithNoneOfTheModelsItems() throws {
        let folder = try Fixtures.scratchFolder()
        let training = try Fixtures.write("1,10,4\n1,20,3\n2,10,5\n2,20,2\n", named: "a.csv", in: folder)
        let other = try Fixtures.write("1,30,4\n2,40,3\n", named: "b.csv", in: folder)
        #expect(try CLI.run(["fit", training, "-k", "1", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let refused = try CLI.run(["fill", other, "--model", folder + "/m.json", "--out", folder + "/o.txt"])
        #expect(refused.status == 2 && refused.stderr == "mixfill: error: \(other): none of its 2 ratings is of an item the model \(folder)/m.json was fitted on, so nothing in it can inform a prediction; give data whose item ids are the training data's\n", "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/o.txt"))
    }

    @Test func aPairListMayStartWithAHeaderLine() throws {
        let (folder, model) = try Self.smallModel()
        let plain = try Fixtures.write("1 2\n3 4\n", named: "plain.txt", in: folder)
        let headed = try Fixtures.write("userId,movieId,rating\n1,2,5\n3,4,1\n", named: "headed.csv", in: folder)
        let withoutHeader = try CLI.run(["predict", "--model", model, "--pairs", plain])
        let withHeader = try CLI.run(["predict", "--model", model, "--pairs", headed])
        #expect(withoutHeader.status == 0 && withHeader.status == 0)
        #expect(Self.lines(withHeader.stdout).count == 2 && withHeader.stdout == withoutHeader.stdout)
        // A byte-order mark before the header (a spreadsheet's CSV export) changes nothing.
        let marked = try Fixtures.write("\u{FEFF}userId,movieId,rating\n1,2,5\n3,4,1\n", named: "marked.csv", in: folder)
        let withMark = try CLI.run(["predict", "--model", model, "--pairs", marked])
        #expect(withMark.status == 0 && withMark.stdout == withoutHeader.stdout, "\(withMark.stderr)")
        // An empty list predicts nothing, and says so.
        let empty = try Fixtures.write("", named: "empty.txt", in: folder)
        let none = try CLI.run(["predict", "--model", model, "--pairs", empty])
        #expect(none.status == 0 && none.stdout.isEmpty)
        #expect(none.stderr == "mixfill: warning: \(empty): holds no pairs (write one per line: USER ITEM); nothing to predict\n")
        let filled = try CLI.run(["fill", "data/test_incomplete.txt", "--model", model, "--pairs", empty, "--out", folder + "/p.tsv"])
        #expect(filled.status == 0 && filled.stdout.hasSuffix("wrote \(folder)/p.tsv: 0 predictions\n"))
        #expect(filled.stderr == "mixfill: warning: \(empty): holds no pairs (write one per line: USER ITEM); nothing to predict\n")
        // Only the first line may be a header; later, a name where an id belongs is an error.
        let late = try Fixtures.write("1 2\nuserId movieId\n", named: "late.txt", in: folder)
        #expect(try CLI.usageFailure(["predict", "--model", model, "--pairs", late])
                == "mixfill: error: \(late):2:1: 'userId' is not a user id; ids are whole numbers")
        // A first field with a digit in it is a mistyped id, not a header.
        let typo = try Fixtures.write("1a 2\n3 4\n", named: "typo.txt", in: folder)
        #expect(try CLI.usageFailure(["predict", "--model", model, "--pairs", typo])
                == "mixfill: error: \(typo):1:1: '1a' is not a user id; ids are whole numbers")
    }

    @Test func badPairsRatingsAndOptionsAreRefusedWithThePlace() throws {
        let (folder, model) = try Self.smallModel()
        let pairs = try Fixtures.write("1 2\n3 x4\n", named: "bad.txt", in: folder)
        #expect(try CLI.usageFailure(["predict", "--model", model, "--pairs", pairs])
                == "mixfill: error: \(pairs):2:3: 'x4' is not an item id; ids are whole numbers")
        let single = try Fixtures.write("# pairs\n1 2\n\n  7\n", named: "single.txt", in: folder)
        #expect(try CLI.usageFailure(["predict", "--model", model, "--pairs", single])
                == "mixfill: error: \(single):4:3: one field where a pair needs two; write one pair per line: USER ITEM")
        let ratings = try Fixtures.write("0 5\n1 five\n", named: "r.txt", in: folder)
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--ratings-file", ratings])
                == "mixfill: error: \(ratings):2:3: 'five' is not a finite number; write one rating per line: ITEM RATING")
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--ratings", "0:5,1=4"])
                .hasPrefix("mixfill: error: --ratings: '1=4' is not ITEM:RATING; write the ratings like 12:5,40:3.5"))
        // A control byte is shown escaped, with two hex digits: a newline before a 2 is not \xA2.
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--ratings", "1:5,\n2:3"])
                .hasPrefix("mixfill: error: --ratings: '\\x0A2:3' is not ITEM:RATING; write the ratings like 12:5,40:3.5"))
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--ratings", "0:5,0:4"])
                == "mixfill: error: --ratings: item 0 is rated twice; give each item one rating")
        #expect(try CLI.usageFailure(["recommend", "--model", model])
                .hasPrefix("mixfill: error: say whom to recommend for: --user ID, a new user's --ratings / --ratings-file, or --all-users"))
        #expect(try CLI.usageFailure(["predict", "--model", model, "--pairs", pairs, "--user", "1"])
                .hasPrefix("mixfill: error: --pairs, --user: give one of them"))
        #expect(try CLI.usageFailure(["predict", "--model", model])
                .hasPrefix("mixfill: error: give the pairs to predict: --pairs FILE, or --user ID"))
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--ratings", "0:5,1:nan"])
                .hasPrefix("mixfill: error: --ratings: '1:nan': 'nan' is not a finite rating; write the ratings like 12:5,40:3.5"))
        // A ratings file may start with a header; a third field is refused with a hint.
        let headed = try Fixtures.write("movieId,rating\n0,5\n1,4\n", named: "headed.csv", in: folder)
        let plain = try Fixtures.write("0,5\n1,4\n", named: "plain.csv", in: folder)
        #expect(try CLI.succeeded(["recommend", "--model", model, "--ratings-file", headed]).stdout
                == CLI.succeeded(["recommend", "--model", model, "--ratings-file", plain]).stdout.replacingOccurrences(of: plain, with: headed))
        let wide = try Fixtures.write("0 5 99\n", named: "wide.txt", in: folder)
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--ratings-file", wide])
                == "mixfill: error: \(wide):1:5: 3 fields where a rating needs two; write one rating per line: ITEM RATING (from a ratings file's USER ITEM RATING lines, leave out the user and what follows the rating)")
        #expect(try CLI.usageFailure(["predict", "--model", model, "--pairs", pairs, "--ratings", "1:4"])
                == "mixfill: error: --ratings: folds in the user named by --user; give --user ID (see 'mixfill help')")
        #expect(try CLI.usageFailure(["recommend", "--model", folder + "/none.json", "--user", "1"])
                == "mixfill: error: \(folder)/none.json: no such file; check the path")
    }

    @Test func everyNewCommandHasHelp() throws {
        for command in ["eval", "select", "predict", "recommend"] {
            let outcome = try CLI.run([command, "--help"])
            #expect(outcome.status == 0 && outcome.stdout.contains("USAGE: mixfill \(command)"), "\(command)")
            #expect(outcome.stdout.contains("--json"), "\(command) --help lists --json")
        }
        #expect(try CLI.run(["fit", "--help"]).stdout.contains("--init-model"))
    }
}
