/// The shards' statistics records of a batched E-step, kept from one iteration to the
/// next, and the threads that fill them.
///
/// Every shard computes its own records; `total(_:)` then adds one mixture's records in
/// shard order, exactly as `ExpectationMaximization.eStep(_:)` adds its partials to zeroed
/// totals, so neither batching nor the number of worker threads changes a bit.
final class BatchWorkspace {
    /// One shard's kernel and its statistics records (one per mixture of the batch).
    final class Slot {
        let kernel: any StatisticsKernel
        var statistics: [SufficientStatistics] = []

        init(kernel: any StatisticsKernel) { self.kernel = kernel }

        /// Reshapes the records when the batch's mixtures changed (the kernel then writes
        /// over them: `computeEach`).
        func prepare(for mixtures: [Mixture]) {
            let shapesMatch = statistics.count == mixtures.count
                && zip(statistics, mixtures).allSatisfy { $0.componentCount == $1.componentCount && $0.itemCount == $1.itemCount }
            if !shapesMatch {
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
            slots[index].kernel.computeEach(mixtures, into: &slots[index].statistics)
        }
    }

    /// Mixture `position`'s statistics over all shards, added in shard order. Starting from
    /// the first shard's record gives the bits that adding it to zeros would: its values are
    /// 0 + x (`computeEach`), never −0, and 0 + y is y for every other y.
    func total(_ position: Int) -> SufficientStatistics {
        var total = slots[0].statistics[position]
        for slot in slots.dropFirst() { total.add(slot.statistics[position]) }
        return total
    }
}
