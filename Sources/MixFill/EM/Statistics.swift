/// Sufficient statistics, the seam every kernel, shard and machine meets at.
///
/// An E-step over any set of users produces statistics that are sums over those users, so
/// the statistics of disjoint shards of users (row blocks, threads, MPI ranks) combine by
/// addition, whatever kernel made them, and the M-step reads nothing but their sum. Each
/// family lays out one model's statistics as a flat record of Doubles (`CourseRecord`,
/// `FactorRecord`); a batch of models (restarts) puts its records one after another in one
/// buffer, so a shard's whole contribution to an iteration is one `[Double]` and summing
/// shards is adding buffers element by element.

/// Where each model's record sits in a batch's flat statistics buffer.
package struct BatchLayout: Sendable, Equatable {
    /// `offsets[r] ..< offsets[r + 1]` is model r's record; `offsets.last` is the length.
    package let offsets: [Int]

    package init(lengths: [Int]) {
        var offsets = [0]
        offsets.reserveCapacity(lengths.count + 1)
        for length in lengths { offsets.append(offsets[offsets.count - 1] + length) }
        self.offsets = offsets
    }

    package var modelCount: Int { offsets.count - 1 }
    /// Doubles in the whole buffer.
    package var length: Int { offsets[offsets.count - 1] }
    package func record(_ model: Int) -> Range<Int> { offsets[model]..<offsets[model + 1] }
}

/// One shard's E-step: its users' statistics for a batch of models.
///
/// Kernels own their copy of the data in whatever layout suits them and reuse their
/// workspaces from one iteration to the next, so one shard is used by one thread at a
/// time. They are interchangeable: every kernel of a family must give its naive kernel's
/// statistics up to floating-point summation order.
package protocol StatisticsKernel<Model>: AnyObject {
    associatedtype Model: Sendable
    /// Users in this shard.
    var userCount: Int { get }
    /// The kernel's name as reports spell it (`naive`, `blas`, `blocked`, `sparse`).
    var name: String { get }

    /// Writes this shard's statistics for `models[r]` over `buffer[layout.record(r)]`,
    /// replacing what was there. Every value is written as 0 + x — what adding x to a zeroed
    /// record gives (+0 for −0, x otherwise) — so that a reduction starting from the first
    /// shard's record has the bits of one starting from zeros.
    func computeStatistics(_ models: [Model], layout: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>)

    /// One E-step's per-user results for `model`, users × `stateWidth` row-major in this
    /// shard's user order (the course family: p(j|u); the factor family also each
    /// component's factor means), and the shard's log-likelihood.
    func userStates(_ model: Model) -> (states: [Double], logLikelihood: Double)
}

/// Sums the shards' statistics buffers into the buffer the M-step reads.
///
/// Summation order decides the last bits, so a reducer fixes it: the result may depend on
/// the number of shards, never on timing. Under MPI a reducer also adds the other ranks'
/// sums, leaving every rank with the same bits.
package protocol StatisticsReducer: Sendable {
    /// `total` = Σ_s `shards[s]`, added in shard order. `total` and every shard buffer have
    /// the same length.
    func reduce(_ shards: [ShardBuffer], into total: inout [Double]) throws(MixFillError)
}

/// A shard's statistics buffer, filled by exactly one worker thread per iteration and read
/// by the reducer after every worker has finished (`@unchecked Sendable` for that hand-off).
package final class ShardBuffer: @unchecked Sendable {
    package var values: [Double] = []

    package init() {}

    /// Makes the buffer `length` long; the kernel then writes every value.
    package func prepare(length: Int) {
        if values.count != length { values = [Double](repeating: 0, count: length) }
    }
}

/// The reducer of one process: adds the shard buffers in shard order. Starting from shard
/// 0's buffer gives the bits that adding it to zeros would, since its values are 0 + x.
package struct ThreadReducer: StatisticsReducer {
    package init() {}

    package func reduce(_ shards: [ShardBuffer], into total: inout [Double]) throws(MixFillError) {
        precondition(!shards.isEmpty, "at least one shard")
        total = shards[0].values
        guard shards.count > 1 else { return }
        total.withUnsafeMutableBufferPointer { sum in
            for shard in shards.dropFirst() {
                shard.values.withUnsafeBufferPointer { part in
                    precondition(part.count == sum.count, "shard buffers of one iteration have one length")
                    for index in sum.indices { sum[index] += part[index] }
                }
            }
        }
    }
}
