import Dispatch

/// Runs `body(0)`, …, `body(count − 1)` on n = min(`workers`, `count`) threads, worker w
/// taking w, w + n, w + 2·n, … (so with as many items as workers each gets one). Returns
/// when all are done. Safe when `body(i)` changes only what belongs to item i.
///
/// The threads are Dispatch's (`concurrentPerform`). A pool of persistent spinning threads
/// was measured against it and did not pay for its threads (bench/worker-pool.md).
func forEachConcurrently(_ count: Int, workers: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let active = min(workers, count)
    guard active > 1 else {
        for index in 0..<count { body(index) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: active) { worker in
        for index in stride(from: worker, to: count, by: active) { body(index) }
    }
}
