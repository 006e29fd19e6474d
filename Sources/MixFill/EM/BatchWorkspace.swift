import Dispatch

/// The shards' statistics of a batched E-step, kept from one iteration to the next, and
/// the threads that fill them.
///
/// Every shard accumulates into its own records; the records are then added in shard
/// order into fresh totals, exactly as `ExpectationMaximization.eStep(_:)` adds its
/// partials, so neither batching nor the number of worker threads changes a bit.
final class BatchWorkspace {
    /// One shard's kernel and its statistics records (one per mixture of the batch).
    final class Slot {
        let kernel: any StatisticsKernel
        var statistics: [SufficientStatistics] = []

        init(kernel: any StatisticsKernel) { self.kernel = kernel }

        /// Zeroes the records, reshaping them when the batch's mixtures changed.
        func prepare(for mixtures: [Mixture]) {
            let shapesMatch = statistics.count == mixtures.count
                && zip(statistics, mixtures).allSatisfy { $0.componentCount == $1.componentCount && $0.itemCount == $1.itemCount }
            if shapesMatch {
                for index in statistics.indices { statistics[index].reset() }
            } else {
                statistics = mixtures.map { SufficientStatistics(componentCount: $0.componentCount, itemCount: $0.itemCount) }
            }
        }

        func run(_ mixtures: [Mixture]) {
            kernel.accumulateEach(mixtures, into: &statistics)
        }
    }

    /// What the worker threads share. Safe to send because worker w touches only the
    /// slots w, w + workers, w + 2·workers, …, and the mixtures are only read.
    private struct Job: @unchecked Sendable {
        let slots: [Slot]
        let mixtures: [Mixture]
        let workers: Int

        func run(worker: Int) {
            for index in stride(from: worker, to: slots.count, by: workers) {
                slots[index].run(mixtures)
            }
        }
    }

    let slots: [Slot]

    init(shards: [any StatisticsKernel]) {
        slots = shards.map { Slot(kernel: $0) }
    }

    /// Each mixture's statistics summed over all shards. Under `.shardWorkers(w)` the
    /// shards run on w threads with OpenBLAS on one thread; under `.blasThreads` they run
    /// in turn on the caller's thread with whatever BLAS threading is set.
    func eStep(_ mixtures: [Mixture], parallelism: Parallelism) -> [SufficientStatistics] {
        for slot in slots { slot.prepare(for: mixtures) }
        let workers = min(parallelism.workerCount, slots.count)
        if workers > 1 {
            let blasThreads = BLASThreads.current
            if blasThreads != 1 { BLASThreads.set(1) }
            defer { if blasThreads != 1 { BLASThreads.set(blasThreads) } }
            let job = Job(slots: slots, mixtures: mixtures, workers: workers)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                job.run(worker: worker)
            }
        } else {
            for slot in slots { slot.run(mixtures) }
        }
        var totals = mixtures.map { SufficientStatistics(componentCount: $0.componentCount, itemCount: $0.itemCount) }
        for slot in slots {
            for index in totals.indices { totals[index].add(slot.statistics[index]) }
        }
        return totals
    }
}
