import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// `mixfill bench` and `fit --precision`, end to end. These pin what is reported and its
/// shape; the speed itself is measured by Scripts/bench, never asserted here.
@Suite(.serialized) struct BenchCLITests {
    @Test func benchOnAGeneratedMatrixReportsEveryCaseAndDrawsTheChart() throws {
        let folder = try Fixtures.scratchFolder()
        let outcome = try CLI.run(["bench", "--users", "60", "--items", "40", "--density", "0.3", "-k", "1,3",
                                   "--iterations", "1", "--restarts", "2", "--gemm-size", "64", "--threads", "2",
                                   "--json", "--svg", folder + "/chart.svg"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        let data = try #require(object["data"] as? [String: Any])
        #expect(data["users"] as? Int == 60 && data["items"] as? Int == 40)
        // The generator is seeded (MT19937, seed 0): the same matrix every run, with about
        // density · n · d = 720 ratings (binomial standard deviation ≈ 22).
        let observed = try #require(data["observed"] as? Int)
        #expect(observed == 711)
        #expect(abs(observed - 720) < 66)
        #expect(object["threads"] as? Int == 2 && object["restarts"] as? Int == 2)
        let gemm = try #require(object["gemm"] as? [String: Any])
        #expect((gemm["double_gflops"] as? Double ?? 0) > 0 && (gemm["single_gflops"] as? Double ?? 0) > 0)

        let cases = try #require(object["cases"] as? [[String: Any]])
        let labels = cases.map { "\($0["k"] as? Int ?? 0) \($0["backend"] as? String ?? "") \($0["precision"] as? String ?? "") \($0["restarts"] as? Int ?? 0)" }
        #expect(labels == ["1 naive double 1", "1 blas double 1", "1 blas single 1", "1 blas double 2", "1 blas single 2",
                           "3 naive double 1", "3 blas double 1", "3 blas single 1", "3 blas double 2", "3 blas single 2"])
        for item in cases {
            let seconds = try #require(item["seconds_per_iteration"] as? Double)
            let gflops = try #require(item["gflops"] as? Double)
            #expect(seconds > 0)
            // The rate is the GEMM form's 8·n·d·K operations over the measured time.
            let expected = 8 * 60 * 40 * Double(item["k"] as? Int ?? 0) / seconds / 1e9
            #expect(abs(gflops - expected) <= 1e-9 * expected)
            if item["backend"] as? String == "naive" { #expect(item["speedup_over_naive"] as? Double == 1) }
        }
        let policies = try #require(object["policies"] as? [[String: Any]])
        #expect(policies.count == 4)

        let chart = try String(contentsOfFile: folder + "/chart.svg", encoding: .utf8)
        #expect(chart.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(chart.components(separatedBy: "<polyline").count - 1 == 4, "one line per non-naive backend")
        #expect(chart.contains("blas double ×2 batched") && chart.hasSuffix("</svg>\n"))
    }

    @Test func benchPrintsMarkdownTables() throws {
        let outcome = try CLI.run(["bench", "data/test_incomplete.txt", "-k", "2", "--iterations", "1",
                                   "--restarts", "3", "--gemm-size", "64", "--threads", "1"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("data: data/test_incomplete.txt: 20 users × 5 items, 81 observed (81.0%)"))
        #expect(outcome.stdout.contains("| K | backend | ms / iteration | GFLOP/s | × naive | % of GEMM peak |"))
        #expect(outcome.stdout.contains("| 2 | blas single ×3 batched | "))
        // One thread: there is no threading policy to compare.
        #expect(!outcome.stdout.contains("Threading policies"))
    }

    @Test func fitInSinglePrecisionSaysSoAndStaysClose() throws {
        let outcome = try CLI.run(["fit", "data/test_incomplete.txt", "-k", "4", "--seeds", "0", "--precision", "single", "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        #expect(object["precision"] as? String == "single")
        let fits = try #require(object["fits"] as? [[String: Any]])
        let best = try #require(fits.first?["best"] as? [String: Any])
        #expect(relativeError(try #require(best["log_likelihood"] as? Double), -84.98451993042474) <= 1e-5)
    }

    @Test func badBenchAndPrecisionOptionsAreUsageErrors() throws {
        let naiveSingle = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--backend", "naive", "--precision", "single"])
        #expect(naiveSingle == "mixfill: error: --precision: 'single' needs the blas backend; the naive backend computes in double only; drop --backend naive or leave --precision out (see 'mixfill help')")
        // The engine's other data-free rules, refused before the data is read.
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--precision", "single", "--kernel", "sparse"])
                == "mixfill: error: --precision: 'single' runs on the dense BLAS kernel only, and this fit runs the sparse kernel; add --kernel dense or leave --precision out (see 'mixfill help')")
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--backend", "naive", "--kernel", "blocked"])
                == "mixfill: error: --backend: 'naive' is the dense textbook kernel and cannot run with --kernel blocked; drop --backend naive or use --kernel dense (see 'mixfill help')")
        let unknown = try CLI.usageFailure(["fit", "data/test_incomplete.txt", "--precision", "half"])
        #expect(unknown.contains("--precision"))
        let folder = try Fixtures.scratchFolder()
        let records = try Fixtures.write("userId,movieId,rating\n1,1,4\n2,1,5\n", named: "r.csv", in: folder)
        #expect(try CLI.usageFailure(["bench", records])
                == "mixfill: error: \(records): holds rating records (csv), and bench times the dense kernels on a dense matrix; give one, or time this file's fit with 'mixfill measure'")
        let both = try CLI.usageFailure(["bench", "data/test_incomplete.txt", "--users", "10"])
        #expect(both.hasPrefix("mixfill: error: give either DATA or --users/--items/--density, not both"))
        let neither = try CLI.usageFailure(["bench", "--users", "10", "--items", "5"])
        #expect(neither.hasPrefix("mixfill: error: give DATA, or all of --users, --items and --density"))
        let density = try CLI.usageFailure(["bench", "--users", "10", "--items", "5", "--density", "0"])
        #expect(density.hasPrefix("mixfill: error: --density: 0.0 is not allowed; give a share in (0, 1]"))
        let restarts = try CLI.usageFailure(["bench", "data/test_incomplete.txt", "--restarts", "1"])
        #expect(restarts.hasPrefix("mixfill: error: --restarts: 1 is not allowed; a batch needs 2 or more"))
    }

    /// Generated shapes and GEMM sizes whose products overflow or could not be allocated
    /// are option errors (exit 2, one line) before anything is allocated.
    @Test func benchRefusesShapesAndGEMMSizesItCannotHold() throws {
        let max = "9223372036854775807"
        let overflow = try CLI.usageFailure(["bench", "--users", max, "--items", "2", "--density", "0.5"])
        #expect(overflow.hasPrefix("mixfill: error: --users, --items: a generated \(max) × 2 matrix (more than \(max) entries, 32 bytes each in bench) needs "), "\(overflow)")
        #expect(overflow.hasSuffix("give fewer users or items (see 'mixfill help')"))
        let huge = try CLI.usageFailure(["bench", "--users", "1000000", "--items", "1000000", "--density", "0.5"])
        #expect(huge.hasPrefix("mixfill: error: --users, --items: a generated 1000000 × 1000000 matrix (1000000000000 entries, 32 bytes each in bench) needs 32000 GB but half of this machine's memory is "), "\(huge)")
        for size in [max, "3037000500", "1000000"] {
            let gemm = try CLI.usageFailure(["bench", "data/test_incomplete.txt", "-k", "1", "--gemm-size", size])
            #expect(gemm.hasPrefix("mixfill: error: --gemm-size: \(size) needs three \(size) × \(size) matrices ("), "\(gemm)")
            #expect(gemm.hasSuffix("give a smaller size, e.g. 2000 (see 'mixfill help')"))
        }
    }
}
