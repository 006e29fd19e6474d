/// The processes of a data-parallel fit (MPI ranks) as the engine needs them: a few
/// collective operations on arrays of Doubles. The library never imports MPI; the
/// `MixFillMPI` module implements this over MPI, and `SingleProcess` is the group of one.
///
/// Every operation is collective in the MPI sense: all ranks call it, in the same order,
/// with the same lengths. Implementations end the whole job on a transport failure (MPI's
/// default error handler does), so a call that returns has succeeded.
package protocol ProcessGroup: AnyObject, Sendable {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// Number of ranks.
    var size: Int { get }

    /// Rank 0 receives every rank's `values` (the same length on every rank) one after
    /// another in rank order; the other ranks receive an empty array.
    func gather(_ values: [Double]) throws(MixFillError) -> [Double]

    /// Every rank's `values` becomes `root`'s (the same length on every rank).
    func broadcast(_ values: inout [Double], from root: Int) throws(MixFillError)

    /// Point to point, for sums that must run through the ranks in order.
    func send(_ values: [Double], to rank: Int) throws(MixFillError)
    func receive(count: Int, from rank: Int) throws(MixFillError) -> [Double]
}

extension ProcessGroup {
    /// Users `range(userCount).lowerBound ..< upperBound` belong to this rank: contiguous
    /// blocks in rank order, sizes differing by at most one.
    package func userRange(userCount: Int) -> Range<Int> {
        Self.userRange(userCount: userCount, rank: rank, size: size)
    }

    package static func userRange(userCount: Int, rank: Int, size: Int) -> Range<Int> {
        (userCount * rank / size)..<(userCount * (rank + 1) / size)
    }

    /// The rank holding `user`.
    package func owner(ofUser user: Int, userCount: Int) -> Int {
        var low = 0
        var high = size - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if Self.userRange(userCount: userCount, rank: middle, size: size).lowerBound <= user {
                low = middle
            } else {
                high = middle - 1
            }
        }
        return low
    }

    /// A running left-to-right fold through the ranks: rank r receives rank r − 1's
    /// `state` (rank 0 starts from `initial`), applies `step` and passes the result on;
    /// the last rank's result is broadcast, so every rank returns the fold over all ranks
    /// in rank order — the bits one process would get adding the same terms in the same
    /// order.
    package func foldInRankOrder(_ initial: [Double], _ step: (inout [Double]) -> Void) throws(MixFillError) -> [Double] {
        var state = rank == 0 ? initial : try receive(count: initial.count, from: rank - 1)
        step(&state)
        if rank + 1 < size { try send(state, to: rank + 1) }
        if size > 1 { try broadcast(&state, from: size - 1) }
        return state
    }

    /// The running fold of `foldInRankOrder` as each rank sees it before its own step:
    /// rank r returns the fold of ranks 0 ..< r (rank 0 returns `initial`), the exclusive
    /// prefix of the ranks' terms in rank order. Nothing is broadcast.
    package func foldBeforeRank(_ initial: [Double], _ step: (inout [Double]) -> Void) throws(MixFillError) -> [Double] {
        let before = rank == 0 ? initial : try receive(count: initial.count, from: rank - 1)
        if rank + 1 < size {
            var after = before
            step(&after)
            try send(after, to: rank + 1)
        }
        return before
    }

    /// `values` to `rank`, its length first, for a receiver that does not know it
    /// (`receiveSized`).
    package func sendSized(_ values: [Double], to rank: Int) throws(MixFillError) {
        try send([Double(values.count)], to: rank)
        try send(values, to: rank)
    }

    package func receiveSized(from rank: Int) throws(MixFillError) -> [Double] {
        let count = try receive(count: 1, from: rank)[0]
        return try receive(count: Int(count), from: rank)
    }

    /// `root`'s `values` on every rank, whatever the length the others hold.
    package func broadcastSized(_ values: inout [Double], from root: Int) throws(MixFillError) {
        guard size > 1 else { return }
        var count = [Double(values.count)]
        try broadcast(&count, from: root)
        if rank != root { values = [Double](repeating: 0, count: Int(count[0])) }
        try broadcast(&values, from: root)
    }

    /// Calls `trade` once for every other rank, for an exchange in which each pair of
    /// ranks sends both ways with blocking sends. The pairs meet in rounds of a
    /// round-robin tournament (the circle method: with m = size rounded up to even, in
    /// round r rank m − 1 meets r and every other rank i meets (2r − i) mod (m − 1); a
    /// rank whose partner would be rank `size` sits the round out), so each rank trades
    /// with one partner per round and the pairs of a round run side by side. In a
    /// pair the lower rank sends first (`sendsFirst`). No two ranks wait on each other in
    /// a cycle: a rank waiting in the earliest round any rank is in waits for a partner
    /// that has not passed that round, so is at it too.
    package func tradeWithEveryRank(_ trade: (_ partner: Int, _ sendsFirst: Bool) throws(MixFillError) -> Void) throws(MixFillError) {
        let players = size + size % 2
        for round in 0..<max(0, players - 1) {
            let partner = ProcessGroupPairs.partner(of: rank, round: round, players: players)
            if partner < size { try trade(partner, rank < partner) }
        }
    }

    /// The union of every rank's strictly increasing `ids`, on every rank: merged through
    /// the ranks in rank order and broadcast from the last. Ids travel as the Doubles with
    /// their bits (`Double(bitPattern:)`), so all 64 bits arrive.
    package func unionOfSortedIds(_ ids: [Int64]) throws(MixFillError) -> [Int64] {
        var merged = ids
        if rank > 0 {
            let before = try receiveSized(from: rank - 1).map { Int64(bitPattern: $0.bitPattern) }
            merged = Self.merge(before, ids)
        }
        var words = merged.map { Double(bitPattern: UInt64(bitPattern: $0)) }
        if rank + 1 < size { try sendSized(words, to: rank + 1) }
        try broadcastSized(&words, from: size - 1)
        return words.map { Int64(bitPattern: $0.bitPattern) }
    }

    /// Two strictly increasing lists merged into one, each value once.
    static func merge(_ left: [Int64], _ right: [Int64]) -> [Int64] {
        var result = [Int64]()
        result.reserveCapacity(left.count + right.count)
        var i = 0
        var j = 0
        while i < left.count || j < right.count {
            if j == right.count || (i < left.count && left[i] < right[j]) {
                result.append(left[i])
                i += 1
            } else {
                if i < left.count && left[i] == right[j] { i += 1 }
                result.append(right[j])
                j += 1
            }
        }
        return result
    }

    /// After each rank read its part of a file, parts in file order, and some may have
    /// failed: the lowest failing rank rethrows its `failure`, the first error in the file
    /// and so the one a single process reading the whole file reports; the other ranks
    /// throw `ProcessGroupMessages.anotherRankStopped`. Returns when no rank failed.
    package func firstFailureInRankOrder(_ failure: MixFillError?) throws(MixFillError) {
        let none = Double(size)
        let lowest = try foldInRankOrder([none]) { state in
            if failure != nil, state[0] == none { state[0] = Double(rank) }
        }[0]
        guard lowest != none else { return }
        if let failure, lowest == Double(rank) { throw failure }
        throw .runtime(message: ProcessGroupMessages.anotherRankStopped)
    }

    /// Rank 0's status after something only rank 0 does (writing a checkpoint, reading
    /// one): `failure` on rank 0 (nil when it succeeded) is broadcast; every rank rethrows
    /// it — rank 0 its own error, the others one saying that rank 0 stopped the fit.
    package func agreeOnRankZero(_ failure: MixFillError?) throws(MixFillError) {
        var code = [failure.map { Double($0.exitCode) } ?? 0]
        if size > 1 { try broadcast(&code, from: 0) }
        if let failure, rank == 0 { throw failure }
        if code[0] != 0 {
            let exitCode = Int32(code[0])
            if exitCode > 128 {
                throw .interrupted(signal: exitCode - 128, message: ProcessGroupMessages.rankZeroStopped)
            }
            throw .runtime(message: ProcessGroupMessages.rankZeroStopped)
        }
    }
}

/// The group of one process: a distributed fit run without MPI, which computes what the
/// single-process fit does.
package final class SingleProcess: ProcessGroup {
    package init() {}
    package var rank: Int { 0 }
    package var size: Int { 1 }
    package func gather(_ values: [Double]) throws(MixFillError) -> [Double] { values }
    package func broadcast(_ values: inout [Double], from root: Int) throws(MixFillError) {}
    package func send(_ values: [Double], to rank: Int) throws(MixFillError) {
        preconditionFailure("a group of one has no other rank")
    }
    package func receive(count: Int, from rank: Int) throws(MixFillError) -> [Double] {
        preconditionFailure("a group of one has no other rank")
    }
}

/// Sums statistics across the ranks: each rank first adds its thread shards in shard order
/// (`ThreadReducer`), rank 0 gathers those sums and adds them in rank order, and broadcasts
/// the total, so every rank's M-step reads the same bits. (An allreduce would be one call,
/// but MPI leaves its summation order to the implementation and may differ between ranks.)
package struct GroupReducer: StatisticsReducer {
    package let group: any ProcessGroup
    /// Wall time spent in the gather and the broadcast (waiting for the slowest rank
    /// included).
    package let clock: CommunicationClock

    package init(group: any ProcessGroup, clock: CommunicationClock = CommunicationClock()) {
        self.group = group
        self.clock = clock
    }

    package func reduce(_ shards: [ShardBuffer], into total: inout [Double]) throws(MixFillError) {
        try ThreadReducer().reduce(shards, into: &total)
        guard group.size > 1 else { return }
        let start = ContinuousClock.now
        let gathered = try group.gather(total)
        if group.rank == 0 {
            let count = total.count
            precondition(gathered.count == count * group.size, "one buffer per rank")
            gathered.withUnsafeBufferPointer { parts in
                total.withUnsafeMutableBufferPointer { sum in
                    for index in 0..<count { sum[index] = parts[index] }
                    for rank in 1..<group.size {
                        let base = rank * count
                        for index in 0..<count { sum[index] += parts[base + index] }
                    }
                }
            }
        }
        try group.broadcast(&total, from: 0)
        clock.add((ContinuousClock.now - start).seconds)
    }
}

/// Seconds and calls of a reducer's communication, for the benchmark's share spent there.
/// Only the thread running the EM loop touches it (the reducer runs on that thread).
package final class CommunicationClock: @unchecked Sendable {
    package private(set) var seconds = 0.0
    package private(set) var calls = 0
    package init() {}
    func add(_ elapsed: Double) {
        seconds += elapsed
        calls += 1
    }
}

/// What the other ranks throw when one rank stopped the fit: that rank reports the reason,
/// so the others stay silent.
package enum ProcessGroupMessages {
    package static let rankZeroStopped = "rank 0 stopped the fit (see its message)"
    package static let anotherRankStopped = "another rank stopped the fit (see its message)"

    /// Whether `message` is one of these, which a rank does not print.
    package static func isSilent(_ message: String) -> Bool {
        message == rankZeroStopped || message == anotherRankStopped
    }
}

/// The pairs of `ProcessGroup.tradeWithEveryRank`'s rounds.
enum ProcessGroupPairs {
    /// `rank`'s partner in `round` of the circle method's round-robin among `players`
    /// (even) players: the last player meets `round`, every other player i meets
    /// (2·round − i) mod (players − 1), a matching in which each pair meets once over
    /// players − 1 rounds (2 is invertible modulo the odd players − 1).
    static func partner(of rank: Int, round: Int, players: Int) -> Int {
        let last = players - 1
        if rank == last { return round }
        if rank == round { return last }
        return ((2 * round - rank) % last + last) % last
    }
}
