import Dispatch
import Foundation
import Synchronization

/// Threads that stay up between the parallel loops of an EM run, so that handing them the
/// next E-step costs a few atomic operations and an uncontended lock instead of waking
/// pooled threads: with `DispatchQueue.concurrentPerform`, each loop waited about 50 µs
/// for its second thread to start and 45 µs to learn that it had finished, twice per
/// iteration (the E-step, then the restarts' M-steps) — 4% of a lone K = 12 iteration on
/// the course matrix.
///
/// Between loops a thread spins for `spinNanoseconds`, then sleeps on `condition` until
/// the next change it waits for (a new loop, the last helper done); every such change is
/// announced by taking that lock and broadcasting, so a sleeper re-checks its condition
/// under the lock and no wake-up is lost. `forEachConcurrently` uses a pool only when it
/// has no more threads than the machine has cores, so a spinning thread never takes a core
/// from a working one. One caller at a time: `run` returns false when the pool is busy (another thread's loop, or
/// a loop nested in one of this pool's), and the caller then uses Dispatch.
///
/// Unchecked Sendable: `job` is written by the one caller holding `busy` before it
/// publishes the loop (the add to `generation`) and cleared after every helper has
/// reported (`pending` back to 0, acquire); helpers read it only in between, after an
/// acquire load of the new generation.
final class WorkerPool: @unchecked Sendable {
    /// Threads besides the caller's.
    let helperCount: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var job: (@Sendable (Int) -> Void)?

    /// How long a waiting thread spins before it sleeps: longer than the gap between an
    /// iteration's loops (the M-steps of a batch of restarts, ~0.2 ms on the course matrix).
    static let spinNanoseconds: UInt64 = 300_000

    private init(workers: Int) {
        helperCount = max(0, workers - 1)
        for helper in 0..<helperCount {
            let thread = Thread { [self] in
                // Named from the thread itself, where Foundation passes it on to the system
                // (`top -H`); Linux keeps at most 15 bytes.
                Thread.current.name = "mixfill pool \(helper + 1)"
                self.helperLoop(helper + 1)
            }
            thread.start()
        }
    }

    private static let pools = Mutex<[Int: WorkerPool]>([:])

    /// The process's pool of `workers` threads (the caller's and `workers` − 1 helpers),
    /// started on first use.
    static func shared(workers: Int) -> WorkerPool {
        pools.withLock { pools in
            if let pool = pools[workers] { return pool }
            let pool = WorkerPool(workers: workers)
            pools[workers] = pool
            return pool
        }
    }

    /// Runs `body(0)` on the calling thread and `body(1)`, …, `body(helperCount)` on the
    /// helpers; returns when all have returned. False, without running anything, when the
    /// pool is busy.
    func run(_ body: @escaping @Sendable (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        job = body
        pending.store(helperCount, ordering: .relaxed)
        announce { generation.add(1, ordering: .sequentiallyConsistent) }
        body(0)
        waitForHelpers()
        job = nil
        return true
    }

    /// Makes `change` under the lock and wakes every sleeper to look again.
    private func announce(_ change: () -> Void) {
        condition.lock()
        change()
        condition.broadcast()
        condition.unlock()
    }

    private func waitForHelpers() {
        let spinStart = DispatchTime.now().uptimeNanoseconds
        var spins = 0
        while pending.load(ordering: .acquiring) != 0 {
            spins += 1
            guard spins % 64 == 0, DispatchTime.now().uptimeNanoseconds - spinStart >= Self.spinNanoseconds else { continue }
            condition.lock()
            while pending.load(ordering: .acquiring) != 0 { condition.wait() }
            condition.unlock()
            return
        }
    }

    private func helperLoop(_ index: Int) {
        var seen = 0
        while true {
            seen = nextGeneration(after: seen)
            job?(index)
            if pending.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                announce {}
            }
        }
    }

    /// Waits (spinning, then sleeping) until a loop newer than `seen` is published.
    private func nextGeneration(after seen: Int) -> Int {
        let spinStart = DispatchTime.now().uptimeNanoseconds
        var spins = 0
        while true {
            let current = generation.load(ordering: .acquiring)
            if current != seen { return current }
            spins += 1
            guard spins % 64 == 0, DispatchTime.now().uptimeNanoseconds - spinStart >= Self.spinNanoseconds else { continue }
            condition.lock()
            while generation.load(ordering: .acquiring) == seen { condition.wait() }
            let published = generation.load(ordering: .acquiring)
            condition.unlock()
            return published
        }
    }
}
