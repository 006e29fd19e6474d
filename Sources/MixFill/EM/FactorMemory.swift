/// The memory a factor fit's item-side arrays take, checked before a fit allocates them:
/// they grow as d·(q + K)², so a large `--factors` on data of many items can ask for more
/// memory than the machine has, which would end the process at the allocation rather than
/// with a message.
///
/// One item row holds D + D(D + 1)/2 = D(D + 3)/2 numbers, D = q + K (an item's [h_i | G_i]
/// statistics; its table row in the sparse kernel and its packed covariance in the model
/// are about as long). A fit holds at once, per shard, the item table, the accumulators
/// and one statistics record per run; the reduced sum, one record per run; and per run its
/// model before and after an M-step. The estimate counts those rows only, so it is a
/// lower bound (user-side arrays, the data and padding come on top).
package enum FactorMemory {
    /// Bytes of one row of 8-byte numbers for every item.
    static func rowBytes(itemCount: Int, factorCount: Int, componentCount: Int) -> Double {
        let dimension = Double(factorCount) + Double(componentCount)
        return 8 * Double(itemCount) * dimension * (dimension + 3) / 2
    }

    /// At least this many bytes for `runs` fits of q factors and K components side by side
    /// on `shards` shards.
    package static func bytesNeeded(itemCount: Int, factorCount: Int, componentCount: Int, shards: Int, runs: Int) -> Double {
        let rows = Double(max(1, shards)) * Double(2 + max(1, runs)) + 3 * Double(max(1, runs))
        return rows * rowBytes(itemCount: itemCount, factorCount: factorCount, componentCount: componentCount)
    }

    /// Half of this machine's memory: what one fit may plan to use, as for the dense form
    /// (`RatingInput.densified`).
    package static var availableBytes: Double { KernelChoice.physicalMemoryBytes / 2 }

    /// Why such a fit cannot run on this machine, or nil when it fits. Worded without any
    /// command's spelling; callers add what to change.
    package static func problem(itemCount: Int, factorCount: Int, componentCount: Int, shards: Int, runs: Int) -> String? {
        let needed = bytesNeeded(itemCount: itemCount, factorCount: factorCount, componentCount: componentCount,
                                 shards: shards, runs: runs)
        let available = availableBytes
        guard needed > available else { return nil }
        return "q = \(factorCount) factors and K = \(componentCount) for \(counted(itemCount, "item")) need at least \(RatingInput.gigabytes(needed)) GB with \(counted(max(1, shards), "thread")) (arrays of (q + K)(q + K + 3)/2 numbers per item, several per thread) but half of this machine's memory is \(RatingInput.gigabytes(available)) GB"
    }

    /// Throws `problem` as the library says it (what to give less of, in no command's
    /// words) when such a fit cannot run on this machine.
    package static func require(itemCount: Int, factorCount: Int, componentCount: Int, shards: Int, runs: Int) throws(MixFillError) {
        if let problem = problem(itemCount: itemCount, factorCount: factorCount, componentCount: componentCount,
                                 shards: shards, runs: runs) {
            throw .runtime(message: problem + "; give fewer factors or threads")
        }
    }
}
