import Dispatch
import Foundation

/// Runs `body(0)`, …, `body(count − 1)` on n = min(`workers`, `count`) threads, worker w
/// taking w, w + n, w + 2·n, … (so with as many items as workers each gets one). Returns
/// when all are done. Safe when `body(i)` changes only what belongs to item i.
///
/// The threads are the process's `WorkerPool` of `workers` threads when there are no more
/// of them than cores (one pool per thread count, whatever the item count, so an E-step
/// over the shards and the M-steps of fewer runs share it); otherwise, or when that pool
/// is busy, Dispatch's.
func forEachConcurrently(_ count: Int, workers: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let active = min(workers, count)
    guard active > 1 else {
        for index in 0..<count { body(index) }
        return
    }
    let share: @Sendable (Int) -> Void = { worker in
        guard worker < active else { return }
        for index in stride(from: worker, to: count, by: active) { body(index) }
    }
    if workers <= ProcessInfo.processInfo.activeProcessorCount, WorkerPool.shared(workers: workers).run(share) {
        return
    }
    DispatchQueue.concurrentPerform(iterations: active) { worker in share(worker) }
}
