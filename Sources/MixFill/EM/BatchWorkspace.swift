/// The shards' statistics records of a batched E-step, kept from one iteration to the
/// next, and the threads that fill them.
///
/// Every shard accumulates into its own records; `total(_:)` then adds one mixture's
/// records in shard order into fresh totals, exactly as `ExpectationMaximization.eStep(_:)`
/// adds its partials, so neither batching nor the number of worker threads changes a bit.
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
    }

    let slots: [Slot]

    init(shards: [any StatisticsKernel]) {
        slots = shards.map { Slot(kernel: $0) }
    }

    /// Every shard's statistics for every mixture. Under `.shardWorkers(w)` the shards run
    /// on w threads (worker i takes shards i, i + w, …), each touching only its own slot;
    /// under `.blasThreads` they run in turn on the caller's thread.
    func accumulate(_ mixtures: [Mixture], parallelism: Parallelism) {
        for slot in slots { slot.prepare(for: mixtures) }
        let slots = self.slots
        forEachConcurrently(slots.count, workers: parallelism.workerCount) { index in
            slots[index].kernel.accumulateEach(mixtures, into: &slots[index].statistics)
        }
    }

    /// Mixture `position`'s statistics over all shards, added in shard order.
    func total(_ position: Int) -> SufficientStatistics {
        let first = slots[0].statistics[position]
        var total = SufficientStatistics(componentCount: first.componentCount, itemCount: first.itemCount)
        for slot in slots { total.add(slot.statistics[position]) }
        return total
    }
}
