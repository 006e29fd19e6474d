import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `synth`, record input end to end, `fill --pairs`, and bounded memory on a shape whose
/// dense form could never exist.
@Suite(.serialized) struct ScaleCLITests {
    @Test func synthIsDeterministicAndExact() throws {
        let folder = try Fixtures.scratchFolder()
        let arguments = ["synth", "--users", "500", "--items", "300", "--ratings", "12345", "-k", "3", "--seed", "9"]
        let first = try CLI.run(arguments + ["--out", folder + "/a.tsv"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasPrefix("wrote \(folder)/a.tsv: 12345 ratings by 500 users of "))
        let second = try CLI.run(arguments + ["--out", folder + "/b.tsv", "--memberships", folder + "/b.members"])
        #expect(second.status == 0)
        let a = try Data(contentsOf: URL(fileURLWithPath: folder + "/a.tsv"))
        #expect(a == (try Data(contentsOf: URL(fileURLWithPath: folder + "/b.tsv"))))
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/a.tsv.memberships")) == (try Data(contentsOf: URL(fileURLWithPath: folder + "/b.members"))))
        let other = try CLI.run(["synth", "--users", "500", "--items", "300", "--ratings", "12345", "-k", "3", "--seed", "10", "--out", folder + "/c.tsv"])
        #expect(other.status == 0)
        #expect(a != (try Data(contentsOf: URL(fileURLWithPath: folder + "/c.tsv"))))

        let table = try RecordReader.read(path: folder + "/a.tsv", layout: .triplets)
        #expect(try RatingFormat.detect(path: folder + "/a.tsv") == .triplets)
        #expect(table.matrix.observedCount == 12345 && table.duplicatePairs == 0)
        #expect(table.matrix.userCount == 500 && table.users.ids == (1...500).map { Int64($0) })
        #expect(table.items.ids.allSatisfy { (1...300).contains($0) })
        let values = Set((0..<table.matrix.observedCount).map { table.matrix.ratings[$0] })
        #expect(values.isSubset(of: [1, 2, 3, 4, 5]))
        // Skewed activity: the busiest user rates several times the median user's count.
        let counts = (0..<500).map { table.matrix.ratingCount(ofUser: $0) }.sorted()
        #expect(counts[0] >= 1 && counts[499] > 3 * counts[250])
        let members = try String(contentsOfFile: folder + "/a.tsv.memberships", encoding: .utf8).split(separator: "\n")
        #expect(members.count == 500 && members[0].hasPrefix("1\t"))

        let csv = try CLI.run(arguments + ["--out", folder + "/a.csv"])
        #expect(csv.status == 0)
        #expect(try RecordReader.read(path: folder + "/a.csv", layout: .csv) == table)

        let tooFew = try CLI.usageFailure(["synth", "--users", "10", "--items", "5", "--ratings", "9", "-k", "2", "--out", folder + "/x.tsv"])
        #expect(tooFew == "mixfill: error: --ratings: 9 ratings cannot give each of the 10 users one; give at least 10")
        let tooMany = try CLI.usageFailure(["synth", "--users", "10", "--items", "5", "--ratings", "51", "-k", "2", "--out", folder + "/x.tsv"])
        #expect(tooMany == "mixfill: error: --ratings: 51 ratings do not fit in 10 users × 5 items; give at most 50")
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.tsv"))
    }

    /// Sizes whose products overflow or whose arrays could not be allocated are option
    /// errors (exit 2, one line), never a trap or an allocation abort; nothing is written.
    @Test func synthRefusesSizesItCannotHold() throws {
        let folder = try Fixtures.scratchFolder()
        let out = folder + "/x.tsv"
        let max = "9223372036854775807"
        let overflow = try CLI.usageFailure(["synth", "--users", "4", "--items", "3000000000", "--ratings", max, "-k", "2", "--out", out])
        #expect(overflow == "mixfill: error: --ratings: \(max) ratings do not fit in 4 users × 3000000000 items; give at most 12000000000")
        // users × items overflows Int: the ratings always fit, memory decides.
        let users = try CLI.usageFailure(["synth", "--users", max, "--items", "4000000000", "--ratings", max, "-k", "2", "--out", out])
        #expect(users.hasPrefix("mixfill: error: --users: generating \(max) users × 4000000000 items with K = 2 needs about "), "\(users)")
        #expect(users.hasSuffix("give fewer users, components or items"))
        let components = try CLI.usageFailure(["synth", "--users", "10", "--items", "1000000", "--ratings", "100", "-k", max, "--out", out])
        #expect(components.hasPrefix("mixfill: error: -k: generating 10 users × 1000000 items with K = \(max) needs about "), "\(components)")
        let manyUsers = try CLI.usageFailure(["synth", "--users", "3000000000000", "--items", "5", "--ratings", "3000000000000", "-k", "2", "--out", out])
        #expect(manyUsers.hasPrefix("mixfill: error: --users: generating 3000000000000 users × 5 items with K = 2 needs about 48000 GB of memory (16 bytes per user, 8 per component and item, 64 per item) but half of this machine's memory is "), "\(manyUsers)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    /// `measure` times the sparse kernels and says which vector passes ran: the AVX2 passes
    /// where the processor has them, the Swift ones under `MIXFILL_AVX2=0`, with the same
    /// log-likelihoods to the bit, for both families; other kernels report no passes.
    @Test func measureReportsTheVectorPassesAndTheyAgree() throws {
        struct Report: Decodable {
            let kernel: String
            let log_likelihoods: [Double]
            let iteration_seconds: [Double]
            let vector_passes: String?
        }
        func measure(_ arguments: [String], _ environment: [String: String]) throws -> Report {
            let outcome = try CLI.run(arguments, environment: environment)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            return try JSONDecoder().decode(Report.self, from: Data(outcome.stdout.utf8))
        }
        let folder = try Fixtures.scratchFolder()
        let synth = try CLI.run(["synth", "--users", "700", "--items", "200", "--ratings", "14000", "-k", "3",
                                 "--seed", "5", "--out", folder + "/r.tsv"])
        #expect(synth.status == 0, "\(synth.stderr)")
        for family in ["mppca", "course"] {
            let arguments = ["measure", folder + "/r.tsv", "--family", family, "-k", family == "mppca" ? "2" : "12",
                             "--iterations", "3", "--threads", "2", "--kernel", "sparse", "--json"]
                + (family == "mppca" ? ["--factors", "3"] : [])
            let chosen = try measure(arguments, ["MIXFILL_AVX2": "1"])
            let swift = try measure(arguments, ["MIXFILL_AVX2": "0"])
            #expect(chosen.kernel == "sparse" && swift.kernel == "sparse", "\(family)")
            #expect(chosen.vector_passes == (VectorPasses.isAvailable(.avx2) ? "avx2" : "swift"), "\(family)")
            #expect(swift.vector_passes == "swift", "\(family)")
            #expect(chosen.log_likelihoods.count == 3 && chosen.iteration_seconds.count == 3, "\(family)")
            #expect(chosen.log_likelihoods.map(\.bitPattern) == swift.log_likelihoods.map(\.bitPattern), "\(family)")
            #expect(chosen.log_likelihoods[2] > chosen.log_likelihoods[0], "\(family)")
            let text = try CLI.run(arguments.filter { $0 != "--json" }, environment: ["MIXFILL_AVX2": "0"])
            #expect(text.status == 0 && text.stdout.contains("kernel: sparse (swift passes), threads: 2"), "\(text.stdout)")
        }
        let blas = try measure(["measure", folder + "/r.tsv", "--family", "mppca", "-k", "2", "--factors", "3",
                                "--iterations", "1", "--kernel", "dense", "--json"], [:])
        #expect(blas.kernel == "dense" && blas.vector_passes == nil)
    }

    /// A clear case: 2,000 users, 100 items, 40% observed, K = 4. (On much sparser data the
    /// course's initialisation — user rows with zeros at unrated items — lets components
    /// collapse; docs/accuracy.md shows it.)
    @Test func fitRecoversThePlantedMemberships() throws {
        let folder = try Fixtures.scratchFolder()
        let synth = try CLI.run(["synth", "--users", "2000", "--items", "100", "--ratings", "80000", "-k", "4",
                                 "--seed", "11", "--out", folder + "/planted.csv"])
        #expect(synth.status == 0, "\(synth.stderr)")
        let table = try RecordReader.read(path: folder + "/planted.csv", layout: .csv)
        let planted = try String(contentsOfFile: folder + "/planted.csv.memberships", encoding: .utf8)
            .split(separator: "\n").map { line -> Int in Int(line.split(separator: "\t")[1]) ?? -1 }
        let em = CourseEM(shards: SparseKernel.shards(of: table.matrix, count: 2), workers: 2)
        let fit = try em.fit(data: table.matrix, componentCount: 4, seeds: [0, 1, 2, 3, 4])
        let posteriors: [Double] = try em.posteriors(fit.best.result.model).posteriors
        let found = (0..<table.matrix.userCount).map { user in
            (0..<4).max { posteriors[user * 4 + $0] < posteriors[user * 4 + $1] } ?? 0
        }
        let agreement = AdjustedRandIndex.between(found, planted)
        #expect(agreement >= 0.9, "adjusted Rand index \(agreement)")
        #expect(AdjustedRandIndex.between([0, 0, 1, 1, 2], [5, 5, 3, 3, 9]) == 1)
        // scikit-learn's adjusted_rand_score gives −4/11 for this pair.
        #expect(abs(AdjustedRandIndex.between([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]) - -4.0 / 11) < 1e-12)
    }

    /// The course model on sparse ratings keeps most component means at their initial 0 and
    /// says so; on the course's dense matrix it does not. The share is Σ_j p_j·(zero means of
    /// j)/d, here by hand.
    @Test func fitWarnsWhenTheCourseModelPredictsFromUnlearnedMeans() throws {
        // Item 0 has 0 in every component (nobody rated it): left out of the share.
        let mixture = Mixture(componentCount: 2, itemCount: 5, means: [0, 1, 2, 0, 0, 0, 0, 0, 3, 4],
                              variances: [1, 1], weights: [0.25, 0.75])
        #expect(mixture.unlearnedMeansShare == 0.25 * 0.5 + 0.75 * 0.5)
        // Two groups of 300 users that rate 20 shared items high and low (so K = 2 tells
        // them apart), and 200 items of each group's own, each rated by two of its users: a
        // component's means of the other group's 200 items never move, 400 of 420 items.
        let folder = try Fixtures.scratchFolder()
        var records = [(Int, Int, Int)]()
        for user in 0..<600 {
            let high = user < 300
            for item in 0..<20 { records.append((user, item, high ? ((user + item) % 3 == 0 ? 4 : 5) : ((user + item) % 3 == 0 ? 2 : 1))) }
        }
        for tail in 0..<200 {
            for group in 0..<2 {
                for rater in 0..<2 { records.append((group * 300 + (2 * tail + rater) % 300, 20 + group * 200 + tail, 3)) }
            }
        }
        let lines = records.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map { "\($0.0)\t\($0.1)\t\($0.2)" }
        let data = try Fixtures.write(lines.joined(separator: "\n") + "\n", named: "sparse.tsv", in: folder)
        let sparse = try CLI.succeeded(["fit", data, "-k", "2", "--seeds", "0"])
        let warning = #/^mixfill: warning: K = 2, seed 0: (\d+)% of a typical user's predictions come from component means still at their initial 0 \(too few of the component's users rated those items to move them\), far below any rating: the course model needs every item rated by enough of each component's users \(dense data\); for sparse ratings fit the mppca family\n$/#
        let match = try #require(sparse.stderr.wholeMatch(of: warning), "\(sparse.stderr)")
        #expect((Int(match.1) ?? 0) >= 40, "\(match.1)%")
        let dense = try CLI.succeeded(["fit", "data/netflix_incomplete.txt", "-k", "12", "--seeds", "0-4"])
        #expect(dense.stderr.isEmpty, "\(dense.stderr)")
        // eval (a fit per fold) and select (a fit per K) say it once, naming where it held.
        let eval = try CLI.succeeded(["eval", data, "--folds", "3", "--models", "course", "-k", "2", "--seeds", "0"])
        let evalWarning = #/^mixfill: warning: folds ((?:\d, )*\d) \(largest in fold (\d)\): K = 2, seed 0: (\d+)% of a typical user's predictions come from component means still at their initial 0 .*; for sparse ratings fit the mppca family\n$/#
        let evalMatch = try #require(eval.stderr.wholeMatch(of: evalWarning), "\(eval.stderr)")
        #expect(evalMatch.1 == "1, 2, 3" && ["1", "2", "3"].contains(evalMatch.2) && (Int(evalMatch.3) ?? 0) >= 40,
                "\(evalMatch.1), \(evalMatch.2): \(evalMatch.3)%")
        // K = 1 learns every rated item's mean: only K = 2 warns, as fit's line.
        let select = try CLI.succeeded(["select", data, "-k", "1-2", "--seeds", "0"])
        #expect(select.stderr == sparse.stderr, "select's fit of all the data is fit's")
        let denseEval = try CLI.succeeded(["eval", "data/netflix_incomplete.txt", "--holdout", "0.2", "--models", "course", "-k", "12", "--seeds", "0"])
        #expect(denseEval.stderr.isEmpty, "\(denseEval.stderr)")
    }

    @Test func fitAndFillOnRecordsSpeakTheFilesIds() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write("userId,movieId,rating\n10,100,5\n10,200,4.5\n20,100,1\n20,300,2\n30,200,4\n30,300,1.5\n40,100,4\n",
                                      named: "r.csv", in: folder)
        let fit = try CLI.run(["fit", data, "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json", "--kernel", "sparse", "--json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(fit.stdout.utf8)) as? [String: Any])
        #expect(report["backend"] as? String == "blas" && report["kernel"] as? String == "sparse")
        let summary = try #require(report["data"] as? [String: Any])
        #expect(summary["format"] as? String == "csv" && summary["format_detected"] as? Bool == true)
        let fitTable = try CLI.succeeded(["fit", data, "-k", "2", "--seeds", "0", "--kernel", "sparse"]).stdout
        #expect(fitTable.hasPrefix("data: \(data) (csv, detected): 4 users × 3 items, 7 observed (58.3%)\nbackend: blas, kernel: sparse, threads: "))
        let model = try ModelFile.read(path: folder + "/m.json")
        #expect(model.items.ids == [100, 200, 300])
        #expect(model.training?.format == "csv")

        let pairs = try Fixtures.write("user,item\n10,100\n10,300\n99,200\n", named: "pairs.csv", in: folder)
        let fill = try CLI.run(["fill", data, "--model", folder + "/m.json", "--pairs", pairs, "--out", folder + "/p.tsv"])
        #expect(fill.status == 0, "\(fill.stderr)")
        #expect(fill.stdout == "data: \(data) (csv, detected): 4 users × 3 items, 7 ratings\nwrote \(folder)/p.tsv: 3 predictions\n")
        #expect(fill.stderr == "mixfill: warning: \(pairs): 1 pair has a user not in \(data); predicted from the mixture weights alone\n")
        let lines = try String(contentsOfFile: folder + "/p.tsv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t") }
        #expect(lines.map { "\($0[0]) \($0[1])" } == ["10 100", "10 300", "99 200"])
        #expect(lines[0][2] == "5")  // observed ratings are kept
        // Unobserved: Σ_j p(j|u)·μ_ji; unknown user: Σ_j p_j·μ_ji.
        let table = try RecordReader.read(path: data, layout: .csv)
        let posteriors = try CourseEM(kernel: SparseKernel(table.matrix)).posteriors(model.course).posteriors
        let mixture: Mixture = model.course
        let expected = (0..<2).reduce(0.0) { $0 + posteriors[$1] * mixture.means[$1 * 3 + 2] }
        #expect(Double(lines[1][2]) == expected)
        let prior = (0..<2).reduce(0.0) { $0 + mixture.weights[$1] * mixture.means[$1 * 3 + 1] }
        #expect(Double(lines[2][2]) == prior)
        // The output is itself a ratings file.
        #expect(try RatingFormat.detect(path: folder + "/p.tsv") == .triplets)

        // An item the model was not fitted on gets what predict says for it (the mean
        // training rating), counted in a warning.
        let unknownItem = try Fixtures.write("10 100\n10 555\n", named: "other-pairs.txt", in: folder)
        let withOther = try CLI.succeeded(["fill", data, "--model", folder + "/m.json", "--pairs", unknownItem, "--out", folder + "/q.tsv"])
        let predicted = try CLI.succeeded(["predict", "--model", folder + "/m.json", "--user", "10", "--items", "555"]).stdout
        #expect(predicted.hasPrefix("10 555 "))
        let fallback = try #require(predicted.split(separator: " ").last.map { String($0.dropLast()) })
        #expect(withOther.stderr == "mixfill: warning: \(unknownItem): 1 pair has an item the model was not fitted on or has no training rating for; written as the mean training rating, \(fallback), as predict gives it\n")
        let other = try String(contentsOfFile: folder + "/q.tsv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t") }
        #expect(other.count == 2 && other[0][2] == "5" && Double(other[1][2]) == Double(fallback))

        // Other data with an item the model lacks: that rating is left out of the E-step.
        let extra = try Fixtures.write("userId,movieId,rating\n10,100,5\n10,200,4.5\n10,999,1\n", named: "extra.csv", in: folder)
        let aligned = try CLI.run(["fill", extra, "--model", folder + "/m.json", "--pairs", pairs, "--out", folder + "/e.tsv"])
        #expect(aligned.status == 0, "\(aligned.stderr)")
        #expect(aligned.stderr.hasPrefix("mixfill: warning: \(extra): 1 rating of items the model was not fitted on was ignored\n"))
        let alignedLines = try String(contentsOfFile: folder + "/e.tsv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t") }
        #expect(alignedLines[1][2] == lines[1][2])  // user 10's ratings of the model's items are the same

        // Small record data may still be written as a dense matrix (ids ascending).
        let dense = try CLI.run(["fill", data, "--model", folder + "/m.json", "--out", folder + "/dense.txt", "--format", "csv"])
        #expect(dense.status == 0, "\(dense.stderr)")
        #expect(dense.stdout == "data: \(data) (csv, --format): 4 users × 3 items, 7 ratings\nwrote \(folder)/dense.txt: 4 × 3, users and items in ascending id order\n")
        let filled = try DenseMatrixReader.read(path: folder + "/dense.txt")
        #expect(filled.userCount == 4 && filled.itemCount == 3)
        #expect(filled[0, 0] == 5 && filled[0, 1] == 4.5 && filled[0, 2] == expected)
    }

    /// 1,000,000 users × 200,000 items: the dense form would be 2·10¹¹ entries (1.6 TB). Fit
    /// and fill --pairs run in bounded memory; the dense kernel and dense output refuse.
    @Test func aShapeWhoseDenseFormCannotExist() throws {
        let folder = try Fixtures.scratchFolder()
        let synth = try CLI.run(["synth", "--users", "1000000", "--items", "200000", "--ratings", "3000000", "-k", "3",
                                 "--seed", "5", "--out", folder + "/huge.tsv"])
        #expect(synth.status == 0, "\(synth.stderr)")
        let convert = try CLI.run(["convert", folder + "/huge.tsv", folder + "/huge.mfr"])
        #expect(convert.status == 0, "\(convert.stderr)")
        let fit = try CLI.run(["fit", folder + "/huge.mfr", "-k", "3", "--seeds", "0", "--max-iterations", "3",
                               "--model-out", folder + "/m.json", "--json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(fit.stdout.utf8)) as? [String: Any])
        let summary = try #require(report["data"] as? [String: Any])
        #expect(summary["users"] as? Int == 1_000_000 && summary["observed"] as? Int == 3_000_000)
        #expect(report["backend"] as? String == "blas" && report["kernel"] as? String == "sparse")

        let items = try ModelFile.read(path: folder + "/m.json").items.ids
        let pairs = try Fixtures.write("1 \(items[0])\n500000 \(items[items.count - 1])\n", named: "pairs.txt", in: folder)
        let fill = try CLI.run(["fill", folder + "/huge.mfr", "--model", folder + "/m.json", "--pairs", pairs, "--out", folder + "/p.tsv"])
        #expect(fill.status == 0, "\(fill.stderr)")
        #expect(try String(contentsOfFile: folder + "/p.tsv", encoding: .utf8).split(separator: "\n").count == 2)

        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        let peakBytes = Int(usage.ru_maxrss) * 1024
        #expect(peakBytes < 1 << 30, "a child process peaked at \(peakBytes) bytes")

        let dense = try CLI.usageFailure(["fill", folder + "/huge.mfr", "--model", folder + "/m.json", "--out", folder + "/dense.txt"])
        #expect(dense.hasPrefix("mixfill: error: --out: a dense matrix of 1000000 × "))
        #expect(dense.hasSuffix("; give --pairs FILE to predict the entries you need"))
        let kernel = try CLI.usageFailure(["fit", folder + "/huge.mfr", "-k", "2", "--seeds", "0", "--kernel", "dense"])
        #expect(kernel.hasPrefix("mixfill: error: --kernel: the dense form needs "))
        #expect(kernel.hasSuffix("; use --kernel sparse or blocked"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/dense.txt"))
    }
}
