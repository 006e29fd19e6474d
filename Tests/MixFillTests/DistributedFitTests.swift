import Foundation
@testable import MixFill
import Testing

/// The distributed fit's logic without MPI: ranks as threads of this process
/// (`LocalGroup`), each fitting its block of users with `DistributedCourseFit`. The MPI
/// transport itself is tested by Scripts/mpi-test, which CI runs under mpirun.
@Suite(.serialized) struct DistributedFitTests {
    /// The first 300 users of the netflix matrix as records.
    static func records() throws -> RatingInput {
        let data = try #require(Fixtures.netflix)
        let dense = DenseRatingMatrix(userCount: 300, itemCount: 1200, values: Array(data.values[0..<(300 * 1200)]))
        return RatingInput(storage: .records(RatingTable(dense: dense)), format: .csv)
    }

    /// Runs `job` on `size` thread ranks; every rank's outcome, in rank order.
    static func runRanks(_ size: Int, input: RatingInput, job: FitJob, engine: Engine) throws -> [FitOutcome] {
        try onRanks(size) { group throws(MixFillError) in
            let shard = try DataShard(whole: input, group: group)
            return try DistributedCourseFit(group: group, shard: shard).run(job, engine: engine, observer: nil)
        }
    }

    /// `body` run by `size` thread ranks of one `LocalWorld`; every rank's result, in rank order.
    static func onRanks<Value>(_ size: Int, _ body: @escaping @Sendable (LocalGroup) throws(MixFillError) -> Value) throws -> [Value] {
        let world = LocalWorld(size: size)
        let results = ResultSlots<Value>(count: size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                let group = LocalGroup(world: world, rank: rank)
                results.set(rank, Result { () throws(MixFillError) -> Value in try body(group) })
            }
            thread.start()
        }
        done.wait()
        #expect(results.values.count == size)
        return try results.values.map { try #require($0).get() }
    }

    static func bits(_ fit: ComponentCountFit) -> [UInt64] {
        fit.fit.runs.flatMap { run -> [UInt64] in
            let model = run.result.model
            return (run.result.trace + model.means + model.variances + model.weights).map(\.bitPattern) + [UInt64(run.result.iterations)]
        }
    }

    @Test func userRangesCoverTheUsersInRankOrder() {
        #expect((0..<3).map { SingleProcessRanges.range(10, $0, 3) } == [0..<3, 3..<6, 6..<10])
        let group = SingleProcess()
        #expect(group.userRange(userCount: 7) == 0..<7 && group.owner(ofUser: 6, userCount: 7) == 0)
        let world = LocalWorld(size: 3)
        let third = LocalGroup(world: world, rank: 2)
        #expect((0..<10).map { third.owner(ofUser: $0, userCount: 10) } == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    }

    /// One rank is the single-process fit bit for bit: the same shard, the same column
    /// totals in the same order, the same initialisation.
    @Test(arguments: [Engine.Kernel.dense(.double), .sparse])
    func oneRankIsTheSingleProcessFit(kernel: Engine.Kernel) throws {
        let input = kernel == .sparse ? try Self.records() : RatingInput(try #require(Fixtures.netflix))
        let engine = Engine(kernel: kernel, threads: 1)
        let job = FitJob(componentCounts: [1, 4], start: .seeds([0, 1]))
        let single = try job.run(on: input, engine: engine)
        let group = SingleProcess()
        let distributed = try DistributedCourseFit(group: group, shard: DataShard(whole: input, group: group))
            .run(job, engine: engine, observer: nil)
        #expect(distributed.fits.map(Self.bits) == single.fits.map(Self.bits))
        #expect(distributed.fits.map(\.bayesianInformationCriterion) == single.fits.map(\.bayesianInformationCriterion))
    }

    /// Two and three ranks: every rank holds the same bits, and they equal the
    /// single-process fit to relative 1e-12 with the same iteration counts (the shards'
    /// sums are added in another order, so the last bits may differ).
    @Test(arguments: [2, 3])
    func ranksAgreeBitForBitAndWithOneProcess(size: Int) throws {
        let input = try Self.records()
        let engine = Engine(kernel: .sparse, threads: 1)
        let job = FitJob(componentCounts: [1, 4, 12], start: .seeds([0, 1, 2]))
        let single = try job.run(on: input, engine: engine)
        let ranks = try Self.runRanks(size, input: input, job: job, engine: engine)
        for outcome in ranks.dropFirst() {
            #expect(outcome.fits.map(Self.bits) == ranks[0].fits.map(Self.bits), "rank results differ")
        }
        for (fit, reference) in zip(ranks[0].fits, single.fits) {
            for (run, expected) in zip(fit.fit.runs, reference.fit.runs) {
                #expect(run.result.iterations == expected.result.iterations, "K = \(fit.fit.componentCount), seed \(run.seed)")
                let model = run.result.model
                let want = expected.result.model
                expectClose([run.result.objective], [expected.result.objective], relative: 1e-12, absolute: 0, "log-likelihood")
                expectClose(model.means, want.means, relative: 1e-12, absolute: 1e-300, "means")
                expectClose(model.variances, want.variances, relative: 1e-12, absolute: 0, "variances")
                expectClose(model.weights, want.weights, relative: 1e-12, absolute: 1e-300, "weights")
            }
        }
        // The initial mixtures are the single process's bit for bit (column totals summed
        // through the ranks in user order, the chosen rows broadcast by their owners).
        let initial = try Initialization.courseMixture(data: input.data, componentCount: 12, seed: 3)
        let mixtures = try Self.onRanks(size) { group throws(MixFillError) in
            let shard = try DataShard(whole: input, group: group)
            let totals = try shard.columnTotals(group: group)
            return try DistributedCourseFit(group: group, shard: shard).initialMixture(componentCount: 12, seed: 3, totals: totals)
        }
        for mixture in mixtures {
            #expect(mixture == initial)
        }
    }

    /// A binary rating file read rank by rank (`DataShard.readBinary`): each rank gets
    /// exactly its block of the whole file's users, and every rank the record (fingerprint,
    /// rating range, mean, ratings per item) a single process keeps of the whole file.
    @Test(arguments: [1, 2, 3])
    func ranksReadTheirBlockOfABinaryFile(size: Int) throws {
        let data = try #require(Fixtures.netflix)
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var lines = ""
        for user in 0..<300 {
            for item in 0..<1200 where data.values[user * 1200 + item] != 0 {
                lines += "\(user * 7 + 3)\t\(item * 5 + 1)\t\(data.values[user * 1200 + item])\n"
            }
        }
        let text = try Fixtures.write(lines, named: "ratings.tsv", in: folder)
        let whole = try RatingInput.load(path: text, format: .triplets)
        let binary = folder + "/ratings.mfr"
        try BinaryRatingFile.write(whole.table, to: binary)
        let expected = try #require(TrainingDataRecord(describing: try RatingInput.load(path: binary), path: binary))
        #expect(!whole.table.users.isIdentity && !whole.table.items.isIdentity)

        let reads = try Self.onRanks(size) { group throws(MixFillError) in
            let read = try DataShard.readBinary(path: binary, recordedPath: binary, rules: .standard, group: group)
            return (read.shard, read.training)
        }
        for rank in 0..<size {
            let (shard, training) = reads[rank]
            let users = SingleProcessRanges.range(300, rank, size)
            #expect(shard.users == users)
            #expect(shard.userCount == 300 && shard.itemCount == 1200 && shard.observedCount == whole.observedCount)
            #expect(shard.input.table.matrix == whole.table.matrix.users(users))
            #expect(training == expected)
        }
    }

    @Test func moreRanksThanUsersAreRefused() throws {
        let input = RatingInput(DenseRatingMatrix(rows: [[1, 2], [3, 0]]))
        let world = LocalWorld(size: 3)
        #expect(throws: MixFillError.self) { try DataShard(whole: input, group: LocalGroup(world: world, rank: 0)) }
    }

    /// Saved runs travel from rank 0 to the others as Doubles and come back equal.
    @Test func savedRunsSurviveTheirEncoding() throws {
        let mixture = Mixture(componentCount: 2, itemCount: 3, means: [1, 2, 3, 4, 5, 6.5], variances: [0.25, 1e-3],
                              weights: [0.3, 0.7])
        let runs: [SavedRun<Mixture>?] = [
            nil,
            SavedRun(state: EMState(model: mixture, trace: [-10.5, -9.25], converged: false, previousObjective: nil), seconds: 1.5),
            SavedRun(state: EMState(model: mixture, trace: [], converged: true, previousObjective: -3), seconds: 0),
        ]
        let decoded = RankZeroObserver.decode(RankZeroObserver.encode(runs), count: 3)
        #expect(decoded.map { $0?.state } == runs.map { $0?.state })
        #expect(decoded.map { $0?.seconds } == runs.map { $0?.seconds })
    }
}

/// `ProcessGroup.userRange` spelled out for the test's table.
enum SingleProcessRanges {
    static func range(_ users: Int, _ rank: Int, _ size: Int) -> Range<Int> {
        SingleProcess.userRange(userCount: users, rank: rank, size: size)
    }
}

/// The shared state of thread ranks: one slot per rank for collectives (each collective is
/// deposit, barrier, read, barrier) and a mailbox per ordered pair of ranks.
final class LocalWorld: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var slots: [[Double]]
    private var arrived = 0
    private var generation = 0
    private var mailboxes: [[[Double]]]

    init(size: Int) {
        self.size = size
        slots = Array(repeating: [], count: size)
        mailboxes = Array(repeating: [], count: size * size)
    }

    private func barrier() {
        condition.lock()
        let current = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == current { condition.wait() }
        }
        condition.unlock()
    }

    /// Every rank's contribution, once all have given theirs.
    func exchange(rank: Int, _ values: [Double]) -> [[Double]] {
        condition.lock()
        slots[rank] = values
        condition.unlock()
        barrier()
        condition.lock()
        let all = slots
        condition.unlock()
        barrier()
        return all
    }

    func send(_ values: [Double], from: Int, to: Int) {
        condition.lock()
        mailboxes[from * size + to].append(values)
        condition.broadcast()
        condition.unlock()
    }

    func receive(from: Int, to: Int) -> [Double] {
        condition.lock()
        while mailboxes[from * size + to].isEmpty { condition.wait() }
        let values = mailboxes[from * size + to].removeFirst()
        condition.unlock()
        return values
    }
}

final class LocalGroup: ProcessGroup {
    let world: LocalWorld
    let rank: Int
    var size: Int { world.size }

    init(world: LocalWorld, rank: Int) {
        self.world = world
        self.rank = rank
    }

    func gather(_ values: [Double]) throws(MixFillError) -> [Double] {
        let all = world.exchange(rank: rank, values)
        return rank == 0 ? all.flatMap { $0 } : []
    }

    func broadcast(_ values: inout [Double], from root: Int) throws(MixFillError) {
        values = world.exchange(rank: rank, values)[root]
    }

    func send(_ values: [Double], to rank: Int) throws(MixFillError) {
        world.send(values, from: self.rank, to: rank)
    }

    func receive(count: Int, from rank: Int) throws(MixFillError) -> [Double] {
        world.receive(from: rank, to: self.rank)
    }
}

final class ResultSlots<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<Value, MixFillError>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<Value, MixFillError>) { lock.withLock { values[index] = value } }
}

