import Dispatch
import Foundation
import Synchronization

/// Runs `body(0)`, …, `body(count − 1)` on n = min(`workers`, `count`) threads, worker w
/// taking w, w + n, w + 2·n, … (so with as many items as workers each gets one). Returns
/// when all are done. Safe when `body(i)` changes only what belongs to item i.
///
/// The threads are a `WorkerPool`'s when n is at most the machine's cores and the pool is
/// free, else Dispatch's (`concurrentPerform`). Which threads run an item never changes
/// what it computes: the items are the same and each writes only its own part.
func forEachConcurrently(_ count: Int, workers: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let active = min(workers, count)
    guard active > 1 else {
        for index in 0..<count { body(index) }
        return
    }
    let share: @Sendable (Int) -> Void = { worker in
        for index in stride(from: worker, to: count, by: active) { body(index) }
    }
    if WorkerPool.isEnabled, active <= WorkerPool.coreCount, WorkerPool.shared(threads: active).run(share) {
        return
    }
    DispatchQueue.concurrentPerform(iterations: active, execute: share)
}

/// Threads that stay up between the EM loop's parallel sections, so that starting the next
/// section costs an atomic add and a broadcast, not waking a sleeping thread.
///
/// Why: the loop runs two parallel sections per iteration (the shards' E-step, then the
/// restarts' M-steps), each short on small data, and Dispatch's pooled threads sleep between
/// them: every section then waits for the operating system to wake a helper and, at its end,
/// for the caller to be woken. On small data that wait is a visible share of an iteration
/// (bench/worker-pool.md times both in one binary, `MIXFILL_WORKER_POOL=0` choosing Dispatch).
///
/// Protocol. A section is published by storing its closure in `job`, setting `pending` to
/// the number of helpers and adding 1 to `generation`, the last under `condition`'s lock
/// followed by a broadcast. A helper waits for `generation` to move (spinning for
/// `spinNanoseconds`, then sleeping on `condition`), runs its share, and the last one to
/// bring `pending` to 0 takes the lock and broadcasts. Every change a sleeper waits for is
/// made or announced under the lock, and sleepers test their condition under it, so no
/// wake-up is lost. Spinning is bounded, so a pool idle between fits costs no CPU, and the
/// pool is used only with no more threads than cores, so a spinning helper never takes a
/// core from a working thread of the same section.
///
/// One section at a time: `run` returns false when the pool is busy (a section of another
/// thread, or one nested in this pool's own), and the caller then uses Dispatch.
final class WorkerPool: Sendable {
    /// Threads besides the caller's.
    let helperCount: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let job = Mutex<(@Sendable (Int) -> Void)?>(nil)
    private let condition = NSCondition()

    /// How long a waiting thread spins before it sleeps: longer than the gap between one
    /// parallel section of an iteration and the next on small data (an M-step), much shorter
    /// than anything a person would notice as a busy core.
    static let spinNanoseconds: UInt64 = 300_000

    /// The machine's cores as the process may use them.
    static let coreCount = ProcessInfo.processInfo.activeProcessorCount

    /// False when the environment sets `MIXFILL_WORKER_POOL=0`: every section then runs on
    /// Dispatch, so that one binary can time both
    /// (`Scripts/bench-worker-pool`).
    static let isEnabled = ProcessInfo.processInfo.environment["MIXFILL_WORKER_POOL"] != "0"

    private static let pools = Mutex<[Int: WorkerPool]>([:])

    /// The process's pool for sections of `threads` threads (the caller's and `threads` − 1
    /// helpers), started on first use and kept for the process's life.
    static func shared(threads: Int) -> WorkerPool {
        pools.withLock { pools in
            if let pool = pools[threads] { return pool }
            let pool = WorkerPool(threads: threads)
            pools[threads] = pool
            return pool
        }
    }

    private init(threads: Int) {
        helperCount = max(0, threads - 1)
        for helper in stride(from: 1, through: helperCount, by: 1) {
            let thread = Thread { [self] in
                // Linux keeps at most 15 bytes of a thread's name (`top -H`).
                Thread.current.name = "mixfill pool \(helper)"
                self.serve(helper)
            }
            thread.start()
        }
    }

    /// Runs `share(0)` on the calling thread and `share(1)`, …, `share(helperCount)` on the
    /// helpers; returns when all have returned. False, running nothing, when the pool is busy.
    func run(_ share: @escaping @Sendable (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        job.withLock { $0 = share }
        pending.store(helperCount, ordering: .releasing)
        announce { generation.add(1, ordering: .sequentiallyConsistent) }
        share(0)
        waitUntil { pending.load(ordering: .acquiring) == 0 }
        job.withLock { $0 = nil }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// A helper's life: wait for a section, run its share, report.
    private func serve(_ helper: Int) {
        var seen = 0
        while true {
            waitUntil { generation.load(ordering: .acquiring) != seen }
            seen = generation.load(ordering: .acquiring)
            if let share = job.withLock({ $0 }) { share(helper) }
            if pending.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                announce {}
            }
        }
    }

    /// Makes `change` under the lock and wakes every sleeper to test its condition again.
    private func announce(_ change: () -> Void) {
        condition.lock()
        change()
        condition.broadcast()
        condition.unlock()
    }

    /// Returns once `done()` holds: spins for `spinNanoseconds`, then sleeps on `condition`,
    /// testing `done()` under the lock before each wait.
    private func waitUntil(_ done: () -> Bool) {
        let spinStart = DispatchTime.now().uptimeNanoseconds
        var spins = 0
        while !done() {
            spins += 1
            guard spins % 64 == 0, DispatchTime.now().uptimeNanoseconds - spinStart >= Self.spinNanoseconds else { continue }
            condition.lock()
            while !done() { condition.wait() }
            condition.unlock()
            return
        }
    }
}
