import Foundation
import MixFill

/// What `mixfill bench` reports, as Markdown tables or one JSON object (field names are the JSON's).
struct BenchReport: Encodable {
    struct DataSummary: Encodable {
        var source: String
        var users: Int
        var items: Int
        var observed: Int
    }

    /// The machine's square-GEMM rates, the yardstick.
    struct GEMM: Encodable {
        var size: Int
        var threads: Int
        var double_gflops: Double
        var single_gflops: Double
        var double_gflops_one_thread: Double
    }

    /// One backend, precision and batch width at one K.
    struct Case: Encodable {
        var k: Int
        var backend: String
        var precision: String
        /// Seeds run as one batch; seconds and rates are per restart.
        var restarts: Int
        var seconds_per_iteration: Double
        /// 8·n·d·K operations (the GEMM form's count, for every backend) per second.
        var gflops: Double
        var speedup_over_naive: Double
        /// gflops over the square GEMM rate of the same precision on the same threads.
        var fraction_of_gemm_peak: Double
    }

    /// Double precision, the same K and batch, under the two threading policies.
    struct PolicyCase: Encodable {
        var k: Int
        var restarts: Int
        /// One shard of all users; OpenBLAS runs each GEMM on all threads.
        var blas_threads_seconds: Double
        /// One shard per thread, each on single-threaded OpenBLAS.
        var shard_workers_seconds: Double
    }

    /// Whole batched fits (to convergence) under the three threading policies.
    struct FitPolicies: Encodable {
        var k: Int
        var restarts: Int
        /// Restart-iterations the fit takes (the same under every policy).
        var iterations: Int
        /// One shard of all users; OpenBLAS runs each GEMM on all threads.
        var blas_threads_seconds: Double
        /// One shard of users per thread, each on single-threaded OpenBLAS.
        var shard_workers_seconds: Double
        /// The restarts dealt out over the threads, each running its share over all users
        /// on single-threaded OpenBLAS.
        var restart_workers_seconds: Double
    }

    var data: DataSummary
    /// OpenBLAS's configuration string, with the kernel family it picked for this CPU.
    var blas: String
    var threads: Int
    var iterations: Int
    var rounds: Int
    var restarts: Int
    var policy: String
    var gemm: GEMM
    var cases: [Case]
    var policies: [PolicyCase]
    var fit_policies: FitPolicies?

    /// The label a case goes by in tables and the chart.
    static func label(backend: String, precision: String, restarts: Int) -> String {
        backend == "naive" ? "naive" : "\(backend) \(precision)" + (restarts > 1 ? " ×\(restarts) batched" : "")
    }

    func markdown() -> String {
        let share = data.users > 0 && data.items > 0 ? 100 * Double(data.observed) / (Double(data.users) * Double(data.items)) : 0
        var out = "data: \(data.source): \(counted(data.users, "user")) × \(counted(data.items, "item")), \(data.observed) observed (\(fixed(share, 1))%)\n"
        out += "OpenBLAS: \(blas)\n"
        out += "threads: \(threads) (blas: \(policy); naive: the textbook loops on one thread); \(rounds) round\(rounds == 1 ? "" : "s"), the cases taking turns, of \(iterations) timed iterations per case after one warm-up; medians over all rounds\n"
        out += "square GEMM \(gemm.size) × \(gemm.size) on \(gemm.threads) thread\(gemm.threads == 1 ? "" : "s"): "
            + "DGEMM \(fixed(gemm.double_gflops, 1)) GFLOP/s, SGEMM \(fixed(gemm.single_gflops, 1)) GFLOP/s "
            + "(DGEMM on 1 thread: \(fixed(gemm.double_gflops_one_thread, 1)))\n"
        out += "GFLOP/s counts 8·n·d·K operations per iteration (the four n × d × K products of the GEMM form, 2 operations per multiply-add) for every backend; "
            + "batched rows are per restart; % of peak is against the square GEMM of the same precision.\n\n"
        out += "| K | backend | ms / iteration | GFLOP/s | × naive | % of GEMM peak |\n"
        out += "|---:|---|---:|---:|---:|---:|\n"
        for item in cases {
            out += "| \(item.k) | \(Self.label(backend: item.backend, precision: item.precision, restarts: item.restarts)) | "
                + "\(fixed(item.seconds_per_iteration * 1000, 3)) | \(fixed(item.gflops, 1)) | "
                + "\(fixed(item.speedup_over_naive, 1)) | \(fixed(100 * item.fraction_of_gemm_peak, 1))% |\n"
        }
        if !policies.isEmpty {
            out += "\nThreading policies (blas double; ms per iteration per restart):\n\n"
            out += "| K | restarts | OpenBLAS on \(threads) threads, 1 shard | \(threads) shards × 1-thread OpenBLAS | shards faster by |\n"
            out += "|---:|---:|---:|---:|---:|\n"
            for item in policies {
                out += "| \(item.k) | \(item.restarts) | \(fixed(item.blas_threads_seconds * 1000, 3)) | "
                    + "\(fixed(item.shard_workers_seconds * 1000, 3)) | \(fixed(item.blas_threads_seconds / item.shard_workers_seconds, 2))× |\n"
            }
        }
        if let fit = fit_policies {
            out += "\nWhole fits: K = \(fit.k), seeds 0–\(fit.restarts - 1) as one batch to convergence (\(fit.iterations) restart-iterations), "
                + "double, initialisation excluded; median of \(rounds) rounds, the policies taking turns (seconds):\n\n"
            out += "| OpenBLAS on \(threads) threads, 1 shard | \(threads) shards × 1-thread OpenBLAS | restarts over \(threads) threads × 1-thread OpenBLAS |\n"
            out += "|---:|---:|---:|\n"
            out += "| \(fixed(fit.blas_threads_seconds, 3)) | \(fixed(fit.shard_workers_seconds, 3)) | \(fixed(fit.restart_workers_seconds, 3)) |\n"
        }
        return out
    }
}
