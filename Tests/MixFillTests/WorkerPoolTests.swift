import Foundation
@testable import MixFill
@testable import MixFillTools
import Synchronization
import Testing

/// `forEachConcurrently` runs on a pool of threads that spin, then sleep, between loops.
/// These runs go through both paths (loops back to back; loops after a pause longer than
/// the spin; loops whose helper items take longer than the caller's spin) and through the
/// busy pool's fallback (two callers at once), and check that every item runs exactly
/// once, every time. A broken pool tends to hang rather than miscount: the time limits
/// turn that into a failure.
struct WorkerPoolTests {
    /// What `loops` loops of 1–9 items on `workers` threads did: how many loops ran some
    /// item other than once, and the names of the threads that ran items.
    static func run(workers: Int, loops: Int, pauseEvery: Int, seed: UInt64) -> (badLoops: Int, threads: Set<String>) {
        var state = seed
        var bad = 0
        let counts = Mutex([Int](repeating: 0, count: 9))
        let threads = Mutex(Set<String>())
        for loop in 0..<loops {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let count = Int(state >> 60) % 9 + 1
            counts.withLock { $0 = [Int](repeating: 0, count: 9) }
            if loop % pauseEvery == 0 { usleep(1000) }
            // Now and then the items after the first take 1 ms, so the caller, done with
            // item 0, outwaits its spin and sleeps.
            let slow = loop % pauseEvery == 1
            forEachConcurrently(count, workers: workers) { index in
                if slow && index > 0 { usleep(1000) }
                counts.withLock { $0[index] += 1 }
                if let name = Thread.current.name, !name.isEmpty { threads.withLock { _ = $0.insert(name) } }
            }
            if counts.withLock({ $0[0..<count].contains { $0 != 1 } }) { bad += 1 }
        }
        return (bad, threads.withLock { $0 })
    }

    @Test(.timeLimit(.minutes(1)), arguments: [2, 3, 4])
    func everyItemRunsOnceWhetherTheThreadsSpinOrSleep(workers: Int) {
        let outcome = Self.run(workers: workers, loops: 3000, pauseEvery: 50, seed: UInt64(workers))
        #expect(outcome.badLoops == 0)
        // The pool (not Dispatch) ran them, where it may: as many threads as cores or fewer.
        if workers <= ProcessInfo.processInfo.activeProcessorCount {
            #expect(outcome.threads.contains("mixfill pool 1"))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func twoCallersAtOnceBothFinish() async {
        async let first = Task.detached { Self.run(workers: 2, loops: 2000, pauseEvery: 100, seed: 1).badLoops }.value
        async let second = Task.detached { Self.run(workers: 2, loops: 2000, pauseEvery: 70, seed: 2).badLoops }.value
        let results = await [first, second]
        #expect(results == [0, 0])
    }
}
