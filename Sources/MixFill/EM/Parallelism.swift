import Dispatch
import Foundation

/// How the batched EM loop spreads its work over the cores. The shards are the same
/// either way and their statistics are added in shard order, so the choice changes the
/// speed, never a bit of the result.
public enum Parallelism: Sendable, Equatable {
    /// One thread walks the shards in turn; OpenBLAS runs each GEMM on this many threads.
    case blasThreads(Int)
    /// This many threads each take every `workers`-th shard, with OpenBLAS on one thread
    /// (threads are never stacked on top of a multi-threaded BLAS). The per-restart work
    /// after the E-step (adding the shards' statistics, the M-step) is spread over the
    /// same threads.
    case shardWorkers(Int)

    /// Worker threads this policy starts.
    public var workerCount: Int {
        switch self {
        case .blasThreads: return 1
        case let .shardWorkers(workers): return max(1, workers)
        }
    }

    /// OpenBLAS threads inside each GEMM under this policy.
    public var blasThreadCount: Int {
        switch self {
        case let .blasThreads(threads): return max(1, threads)
        case .shardWorkers: return 1
        }
    }
}

/// Runs `body(0)`, …, `body(count − 1)` on n = min(`workers`, `count`) threads, worker w
/// taking w, w + n, w + 2·n, … (so with as many items as workers each gets one). Returns
/// when all are done. Safe when `body(i)` changes only what belongs to item i.
///
/// The threads are the process's `WorkerPool` of `workers` threads (one pool per thread
/// count, whatever the item count, so an E-step over the shards and the M-steps of fewer
/// restarts share it) when there are no more of them than cores; otherwise, or when that
/// pool is busy, Dispatch's.
public func forEachConcurrently(_ count: Int, workers: Int, _ body: (Int) -> Void) {
    let active = min(workers, count)
    guard active > 1 else {
        for index in 0..<count { body(index) }
        return
    }
    let share: (Int) -> Void = { worker in
        guard worker < active else { return }
        for index in stride(from: worker, to: count, by: active) { body(index) }
    }
    if workers <= ProcessInfo.processInfo.activeProcessorCount, WorkerPool.shared(workers: workers).run(share) {
        return
    }
    withoutActuallyEscaping(share) { share in
        let work = UncheckedSendable(share)
        DispatchQueue.concurrentPerform(iterations: active) { worker in work.value(worker) }
    }
}

/// A value handed to worker threads whose safety the caller argues for itself (see
/// `forEachConcurrently`).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
