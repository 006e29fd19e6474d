import Foundation
import MixFill
import Testing

/// `forEachConcurrently` runs on a pool of threads that spin, then sleep, between loops.
/// These runs go through both paths (loops back to back, and loops after a pause longer
/// than the spin) and through the busy pool's fallback (two callers at once), and check
/// that every item runs exactly once, every time.
struct WorkerPoolTests {
    /// Runs `loops` loops of 1–9 items on `workers` threads, pausing 1 ms before every
    /// `pauseEvery`-th loop; returns how many loops ran some item other than once.
    static func badLoops(workers: Int, loops: Int, pauseEvery: Int, seed: UInt64) -> Int {
        var state = seed
        var bad = 0
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: 9)
        defer { counts.deallocate() }
        for loop in 0..<loops {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let count = Int(state >> 60) % 9 + 1
            counts.initialize(repeating: 0)
            if loop % pauseEvery == 0 { usleep(1000) }
            forEachConcurrently(count, workers: workers) { index in counts[index] += 1 }
            if counts[0..<count].contains(where: { $0 != 1 }) { bad += 1 }
        }
        return bad
    }

    @Test(arguments: [2, 3, 4])
    func everyItemRunsOnceWhetherTheThreadsSpinOrSleep(workers: Int) {
        #expect(Self.badLoops(workers: workers, loops: 3000, pauseEvery: 50, seed: UInt64(workers)) == 0)
    }

    @Test func twoCallersAtOnceBothFinish() async {
        async let first = Task.detached { Self.badLoops(workers: 2, loops: 2000, pauseEvery: 100, seed: 1) }.value
        async let second = Task.detached { Self.badLoops(workers: 2, loops: 2000, pauseEvery: 70, seed: 2) }.value
        let results = await [first, second]
        #expect(results == [0, 0])
    }
}
