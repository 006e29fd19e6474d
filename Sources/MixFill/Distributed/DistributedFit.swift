/// Data-parallel EM: the one loop, run by every rank of a `ProcessGroup` on its own block
/// of users, with `GroupReducer` summing the ranks' statistics.
///
/// Every rank holds the same model bits after every M-step: the reduced statistics are
/// rank 0's rank-ordered sum, broadcast; the M-step is a function of them and the previous
/// model; the stopping rule reads only the objective computed from them. So the ranks take
/// the same decisions without talking about them.

/// One rank's block of users, cut from the data, and the whole data's shape.
package struct DataShard: Sendable {
    /// This rank's users only (global users `users`, in order).
    package let input: RatingInput
    /// The global indices of this rank's users.
    package let users: Range<Int>
    /// Users, items and ratings of the whole data.
    package let userCount: Int
    package let itemCount: Int
    package let observedCount: Int

    /// Rank `group.rank`'s block of `whole` (`ProcessGroup.userRange`). Refuses more ranks
    /// than users: every rank needs at least one.
    package init(whole: RatingInput, group: any ProcessGroup) throws(MixFillError) {
        let userCount = whole.userCount
        try Self.requireUsers(userCount, group: group)
        let users = group.userRange(userCount: userCount)
        self.users = users
        self.userCount = userCount
        itemCount = whole.itemCount
        observedCount = whole.observedCount
        switch whole.storage {
        case let .dense(matrix):
            let width = matrix.itemCount
            let values = Array(matrix.values[(users.lowerBound * width)..<(users.upperBound * width)])
            input = RatingInput(storage: .dense(DenseRatingMatrix(userCount: users.count, itemCount: width, values: values)),
                                format: whole.format)
        case let .records(table):
            let matrix = table.matrix.users(users)
            input = RatingInput(storage: .records(RatingTable(matrix: matrix, users: .identity(users.count), items: table.items)),
                                format: whole.format)
        }
    }

    /// Rank `group.rank`'s block of the binary rating file at `path`, read without the other
    /// ranks' ratings (`BinaryRatingFile.readUsers`), and the record a single process would
    /// keep of the whole file (`TrainingDataRecord(describing:path:)`: fingerprint, rating
    /// range, mean, ratings per item), folded through the ranks in rank order so that every
    /// sum takes its terms in the single process's order and the bits are the same.
    /// `recordedPath` is the path the record keeps.
    package static func readBinary(path: String, recordedPath: String?, rules: RatingRules,
                                   group: any ProcessGroup) throws(MixFillError) -> (shard: DataShard, training: TrainingDataRecord, duplicatePairs: Int) {
        let share = try BinaryRatingFile.readUsers(path: path) { userCount throws(MixFillError) in
            try requireUsers(userCount, group: group)
            return group.userRange(userCount: userCount)
        }
        if rules.scale != nil {
            try rules.check(RatingTable(matrix: share.matrix, users: .identity(share.users.count), items: share.itemIds), name: path)
        }
        return try assemble(share, format: .binary, recordedPath: recordedPath, group: group)
    }

    /// Refuses more ranks than users: every rank needs at least one.
    static func requireUsers(_ userCount: Int, group: any ProcessGroup) throws(MixFillError) {
        guard userCount >= group.size else {
            throw .badOption(option: "mpirun -np", message: "\(group.size) ranks for \(counted(userCount, "user")); every rank needs at least one user, so run at most \(userCount) ranks")
        }
    }

    /// The shard of `share` and the record a single process would keep of the whole data
    /// (see `readBinary`), folded through the ranks.
    static func assemble(_ share: BinaryRatingFile.UserShare, format: RatingFormat, recordedPath: String?,
                         group: any ProcessGroup) throws(MixFillError) -> (shard: DataShard, training: TrainingDataRecord, duplicatePairs: Int) {
        let table = RatingTable(matrix: share.matrix, users: .identity(share.users.count), items: share.itemIds)
        let userCount = share.userIds.count
        let itemCount = share.itemIds.count
        let shard = DataShard(input: RatingInput(storage: .records(table), format: format), users: share.users,
                              userCount: userCount, itemCount: itemCount, observedCount: share.observedCount)

        let training = try foldTrainingRecord(format: format, recordedPath: recordedPath, userIds: share.userIds,
                                              itemIds: share.itemIds, observedCount: share.observedCount, group: group) { visit in
            let matrix = share.matrix
            for local in 0..<matrix.userCount {
                for position in matrix.rowStarts[local]..<matrix.rowStarts[local + 1] {
                    visit(share.users.lowerBound + local, matrix.items[position], matrix.ratings[position])
                }
            }
        }
        return (shard, training, share.duplicatePairs)
    }

    /// The record a single process keeps of the whole data (`TrainingDataRecord(describing:path:)`:
    /// fingerprint, rating range, mean, ratings per item), folded through the ranks in rank
    /// order so that every sum takes its terms in the single process's order and the bits
    /// are the same. `ratings` hands this rank's ratings to its argument (global user, item,
    /// rating) in user-major order; `observedCount` is the whole data's.
    static func foldTrainingRecord(format: RatingFormat, recordedPath: String?, userIds: IdMap, itemIds: IdMap,
                                   observedCount: Int, group: any ProcessGroup,
                                   ratings: ((_ user: Int, _ item: Int, _ rating: Double) -> Void) -> Void) throws(MixFillError) -> TrainingDataRecord {
        let userCount = userIds.count
        let itemCount = itemIds.count
        // [fingerprint state, words, Σ x, min x, max x, ratings per item (d)].
        let start = RatingFingerprint.start(userCount: userCount, itemCount: itemCount, observedCount: observedCount).words64
        var initial = [Double(bitPattern: start.state), Double(bitPattern: start.count), 0, .infinity, -.infinity]
        initial += [Double](repeating: 0, count: itemCount)
        let folded = try group.foldInRankOrder(initial) { state in
            var fingerprint = RatingFingerprint(state: state[0].bitPattern, count: state[1].bitPattern)
            var total = state[2]
            var low = state[3]
            var high = state[4]
            ratings { user, item, rating in
                fingerprint.combine(user: user, item: item, rating: rating)
                state[5 + item] += 1
                total += rating
                low = min(low, rating)
                high = max(high, rating)
            }
            let next = fingerprint.words64
            state[0] = Double(bitPattern: next.state)
            state[1] = Double(bitPattern: next.count)
            state[2] = total
            state[3] = low
            state[4] = high
        }
        var fingerprint = RatingFingerprint(state: folded[0].bitPattern, count: folded[1].bitPattern)
        fingerprint.combine(userIds)
        fingerprint.combine(itemIds)
        return TrainingDataRecord(path: recordedPath, format: format.rawValue,
                                  fingerprint: fingerprint.value, users: userIds, items: itemIds,
                                  ratingScale: RatingScale(minimum: folded[3], maximum: folded[4]),
                                  ratingMean: folded[2] / Double(observedCount),
                                  itemRatingCounts: folded[5...].map { Int($0) })
    }

    init(input: RatingInput, users: Range<Int>, userCount: Int, itemCount: Int, observedCount: Int) {
        self.input = input
        self.users = users
        self.userCount = userCount
        self.itemCount = itemCount
        self.observedCount = observedCount
    }

    /// Σ_u x_ui per item and Σ x² over every rating of the whole data, added rating by
    /// rating in user-major order through the ranks (`foldInRankOrder`): the bits
    /// `DenseRatingMatrix` and `SparseRatingMatrix` keep for the whole data, so the
    /// initial variances equal the single-process ones exactly. Element d of the result
    /// is Σ x².
    package func columnTotals(group: any ProcessGroup) throws(MixFillError) -> [Double] {
        let width = itemCount
        return try group.foldInRankOrder([Double](repeating: 0, count: width + 1)) { state in
            state.withUnsafeMutableBufferPointer { totals in
                var squares = totals[width]
                switch input.storage {
                case let .dense(matrix):
                    matrix.values.withUnsafeBufferPointer { values in
                        for position in values.indices where values[position] != 0 {
                            let rating = values[position]
                            totals[position % width] += rating
                            squares += rating * rating
                        }
                    }
                case let .records(table):
                    let matrix = table.matrix
                    for position in 0..<matrix.observedCount {
                        let rating = matrix.ratings[position]
                        totals[matrix.items[position]] += rating
                        squares += rating * rating
                    }
                }
                totals[width] = squares
            }
        }
    }
}

extension SparseRatingMatrix {
    /// The rows of `range` as a matrix of their own (user `range.lowerBound` becomes 0).
    package func users(_ range: Range<Int>) -> SparseRatingMatrix {
        let start = rowStarts[range.lowerBound]
        let end = rowStarts[range.upperBound]
        let starts = rowStarts[range.lowerBound...range.upperBound].map { $0 - start }
        let shardItems: ItemIndices
        switch items {
        case let .narrow(values): shardItems = .narrow(Array(values[start..<end]))
        case let .wide(values): shardItems = .wide(Array(values[start..<end]))
        }
        let shardRatings: RatingValues
        switch ratings {
        case let .coded(palette, codes): shardRatings = .coded(palette: palette, codes: Array(codes[start..<end]))
        case let .exact(values): shardRatings = .exact(Array(values[start..<end]))
        }
        return SparseRatingMatrix(userCount: range.count, itemCount: itemCount, rowStarts: starts, items: shardItems,
                                  ratings: shardRatings)
    }
}

/// A course-model fit (`FitJob`) run by one rank of a group.
package struct DistributedCourseFit {
    package let group: any ProcessGroup
    package let shard: DataShard
    package let reducer: GroupReducer

    package init(group: any ProcessGroup, shard: DataShard) {
        self.group = group
        self.shard = shard
        reducer = GroupReducer(group: group)
    }

    /// Runs `job` (no gold matrix, no per-user states: those need every user on one
    /// process) on this rank's shard. `observer` is rank 0's (checkpoints, progress); the
    /// other ranks pass nil. Every rank returns the same fits.
    package func run(_ job: FitJob, engine: Engine, observer: (any FitObserver<Mixture>)?) throws(MixFillError) -> FitOutcome {
        precondition(job.gold == nil && !job.keepsUserStates, "a distributed fit keeps no per-user results")
        var totals: [Double]?
        let rankObserver = RankZeroObserver(group: group, inner: group.rank == 0 ? observer : nil, coding: .course)
        let outcome = try job.run(on: shard.input, engine: engine, reducer: reducer, userCount: shard.userCount,
                                  initial: { (componentCount, seed) throws(MixFillError) in
            if totals == nil { totals = try shard.columnTotals(group: group) }
            return try initialMixture(componentCount: componentCount, seed: seed, totals: totals ?? [])
        }, observer: rankObserver)
        try checkAgreement(outcome.fits.map(\.fit))
        return outcome
    }

    /// Checks that every rank ended with the same bits — every run's parameters, objective
    /// trace and iteration count — by gathering a 64-bit digest of them to rank 0. Equal
    /// by construction (see the file's comment); a difference means a rank computed
    /// something else (another binary, another OpenBLAS kernel) and is refused.
    func checkAgreement(_ fits: [MultiStartFit<Mixture>]) throws(MixFillError) {
        try group.requireSameRuns(fits) { [$0.means, $0.variances, $0.weights] }
    }

    /// The course initialisation of the whole data (`Initialization.courseMixture`): the
    /// same K users drawn from the same numpy-compatible permutation of all n users, each
    /// chosen row broadcast by the rank holding it, and the variances from the whole data's
    /// column totals (`columnTotals(group:)`, added in rank order).
    func initialMixture(componentCount: Int, seed: UInt32, totals: [Double]) throws(MixFillError) -> Mixture {
        let userCount = shard.userCount
        let width = shard.itemCount
        return try Initialization.courseMixture(userCount: userCount, itemCount: width, componentCount: componentCount,
                                                seed: seed, totals: totals) { (user: Int) throws(MixFillError) -> [Double] in
            let owner = group.owner(ofUser: user, userCount: userCount)
            var row = owner == group.rank
                ? shard.input.data.denseRow(user - shard.users.lowerBound)
                : [Double](repeating: 0, count: width)
            try group.broadcast(&row, from: owner)
            return row
        }
    }
}

extension ProcessGroup {
    /// Refuses a fit whose ranks ended with different bits: each rank's 64-bit digest of
    /// what it computed is gathered to rank 0, which names the ranks that differ from it;
    /// every rank then throws (the fits are equal by construction, so a difference means a
    /// rank ran another binary or another OpenBLAS kernel).
    package func requireSameDigest(_ bits: UInt64) throws(MixFillError) {
        guard size > 1 else { return }
        // Two 32-bit halves, each exact as a Double.
        let gathered = try gather([Double(bits >> 32), Double(bits & 0xFFFF_FFFF)])
        var disagreeing = [Int]()
        if rank == 0 {
            for other in 1..<size where gathered[2 * other] != gathered[0] || gathered[2 * other + 1] != gathered[1] {
                disagreeing.append(other)
            }
        }
        // Rank 0's list, on every rank, so that each names the same ranks.
        let differing = try broadcastArray(disagreeing.map(Double.init), from: 0).map { Int($0) }
        if !differing.isEmpty {
            throw .runtime(message: "the ranks ended with different parameters (ranks \(differing.map(String.init).joined(separator: ", ")) differ from rank 0); every rank must run the same mixfill binary with the same OpenBLAS core type (OPENBLAS_CORETYPE)")
        }
    }

    /// `values` of `root` on every rank, whatever its length (the length goes first).
    package func broadcastArray(_ values: [Double], from root: Int) throws(MixFillError) -> [Double] {
        guard size > 1 else { return values }
        var length = [Double(values.count)]
        try broadcast(&length, from: root)
        var result = rank == root ? values : [Double](repeating: 0, count: Int(length[0]))
        if !result.isEmpty { try broadcast(&result, from: root) }
        return result
    }
}

/// How a family's models cross between ranks: the parameters every rank holds alike as
/// Doubles and back (each rank adding what is its own: its users' offsets), and on rank 0
/// the model as one process holds it (every user's offsets), which its checkpoints record.
package struct RankModelCoding<Model: Sendable & Equatable> {
    /// The shared parameters, counts first (every count is far below 2^53, so exact).
    package var encode: (Model) -> [Double]
    /// The model from `encode`'s values, with this rank's own parameters.
    package var decode: (ArraySlice<Double>) -> Model
    /// Rank 0: the model with every rank's own parameters, as one process holds it.
    package var whole: (Model) -> Model

    /// The course model: everything is shared. K, d, means, variances, weights.
    package static var course: RankModelCoding<Mixture> {
        RankModelCoding<Mixture>(
            encode: { model in [Double(model.componentCount), Double(model.itemCount)] + model.means + model.variances + model.weights },
            decode: { values in
                let start = values.startIndex
                let componentCount = Int(values[start])
                let itemCount = Int(values[start + 1])
                let means = start + 2
                let variances = means + componentCount * itemCount
                let weights = variances + componentCount
                return Mixture(componentCount: componentCount, itemCount: itemCount, means: Array(values[means..<variances]),
                               variances: Array(values[variances..<weights]),
                               weights: Array(values[weights..<(weights + componentCount)]))
            },
            whole: { $0 })
    }

    /// The factor family: everything but the user offsets b_u is shared; each rank holds
    /// `localUserOffsets` (its users'), rank 0 also `allUserOffsets` (every user's, in user
    /// order; empty on the other ranks). K, q, d, σ², λ_W, λ_m, μ₀, then the item offsets,
    /// loadings, means, covariances and weights.
    package static func factor(localUserOffsets: [Double], allUserOffsets: [Double]) -> RankModelCoding<FactorMixture> {
        RankModelCoding<FactorMixture>(
            encode: { model in
                [Double(model.componentCount), Double(model.factorCount), Double(model.itemCount), model.noiseVariance,
                 model.priors.loadings, model.priors.means, model.offsets.globalMean]
                    + model.offsets.itemOffsets + model.loadings + model.means + model.covariances + model.weights
            },
            decode: { values in
                var cursor = values.startIndex
                func take(_ count: Int) -> [Double] {
                    defer { cursor += count }
                    return Array(values[cursor..<(cursor + count)])
                }
                let head = take(7)
                let (componentCount, factorCount, itemCount) = (Int(head[0]), Int(head[1]), Int(head[2]))
                let itemOffsets = take(itemCount)
                let loadings = take(itemCount * factorCount)
                let means = take(itemCount * componentCount)
                let covariances = take(itemCount * SmallMatrices.packedCount(factorCount + componentCount))
                let weights = take(componentCount)
                return FactorMixture(componentCount: componentCount, factorCount: factorCount, itemCount: itemCount,
                                     offsets: RatingOffsets(globalMean: head[6], userOffsets: localUserOffsets, itemOffsets: itemOffsets),
                                     priors: FactorPriors(loadings: head[4], means: head[5]), loadings: loadings, means: means,
                                     covariances: covariances, noiseVariance: head[3], weights: weights)
            },
            whole: { model in
                var whole = model
                whole.offsets.userOffsets = allUserOffsets
                return whole
            })
    }
}

/// Lets rank 0's observer (checkpoints, progress, signals) speak for the group: only rank 0
/// calls it, and after each call every rank learns whether it threw, so that a checkpoint
/// that cannot be written or a signal stops every rank at the same iteration. Rank 0's
/// observer sees each model as one process holds it (`RankModelCoding.whole`), so its
/// checkpoints are those of the whole data; saved runs read by rank 0 (`--resume`) are
/// broadcast, each rank adding its own users' part, so only rank 0 needs the checkpoint
/// folder.
final class RankZeroObserver<Model: Sendable & Equatable>: FitObserver {
    let group: any ProcessGroup
    let inner: (any FitObserver<Model>)?
    let coding: RankModelCoding<Model>

    init(group: any ProcessGroup, inner: (any FitObserver<Model>)?, coding: RankModelCoding<Model>) {
        self.group = group
        self.inner = inner
        self.coding = coding
    }

    func settingsChosen(_ settings: [String: String]) throws(MixFillError) {
        try onRankZero { observer throws(MixFillError) in try observer.settingsChosen(settings) }
    }

    func choosingSettings() throws(MixFillError) {
        try onRankZero { observer throws(MixFillError) in try observer.choosingSettings() }
    }

    func savedRuns(componentCount: Int, seeds: [UInt32]) throws(MixFillError) -> [SavedRun<Model>?] {
        var saved: [SavedRun<Model>?] = seeds.map { _ in nil }
        var failure: MixFillError?
        if group.rank == 0, let inner {
            do { saved = try inner.savedRuns(componentCount: componentCount, seeds: seeds) } catch { failure = error }
        }
        try group.agreeOnRankZero(failure)
        let encoded = try group.broadcastArray(group.rank == 0 ? Self.encode(saved, coding: coding) : [], from: 0)
        return Self.decode(encoded, count: seeds.count, coding: coding)
    }

    func runsStarting(componentCount: Int, seeds: [UInt32], states: [EMState<Model>]) throws(MixFillError) {
        try onRankZero { observer throws(MixFillError) in
            try observer.runsStarting(componentCount: componentCount, seeds: seeds, states: states.map(whole))
        }
    }

    func iterationEnded(componentCount: Int, seeds: [UInt32], progress: [RestartProgress<Model>]) throws(MixFillError) {
        try onRankZero { observer throws(MixFillError) in
            let progress = progress.map { RestartProgress(index: $0.index, state: whole($0.state), seconds: $0.seconds) }
            try observer.iterationEnded(componentCount: componentCount, seeds: seeds, progress: progress)
        }
    }

    func runsEnded(componentCount: Int, seeds: [UInt32], results: [FitResult<Model>]) throws(MixFillError) {
        try onRankZero { observer throws(MixFillError) in
            let results = results.map { result in
                var whole = result
                whole.model = coding.whole(result.model)
                return whole
            }
            try observer.runsEnded(componentCount: componentCount, seeds: seeds, results: results)
        }
    }

    private func whole(_ state: EMState<Model>) -> EMState<Model> {
        var whole = state
        whole.model = coding.whole(state.model)
        return whole
    }

    private func onRankZero(_ body: (any FitObserver<Model>) throws(MixFillError) -> Void) throws(MixFillError) {
        var failure: MixFillError?
        if group.rank == 0, let inner {
            do { try body(inner) } catch { failure = error }
        }
        try group.agreeOnRankZero(failure)
    }

    /// Saved runs as Doubles: per run a flag, then the model's length and `coding`'s values,
    /// the trace's length and values, converged, whether there is a previous objective and
    /// its value, seconds.
    static func encode(_ runs: [SavedRun<Model>?], coding: RankModelCoding<Model>) -> [Double] {
        var values = [Double]()
        for run in runs {
            guard let run else {
                values.append(0)
                continue
            }
            let state = run.state
            let model = coding.encode(state.model)
            values.append(1)
            values.append(Double(model.count))
            values.append(contentsOf: model)
            values.append(Double(state.trace.count))
            values.append(contentsOf: state.trace)
            values.append(state.converged ? 1 : 0)
            values.append(state.previousObjective == nil ? 0 : 1)
            values.append(state.previousObjective ?? 0)
            values.append(run.seconds)
        }
        return values
    }

    static func decode(_ values: [Double], count: Int, coding: RankModelCoding<Model>) -> [SavedRun<Model>?] {
        var position = 0
        func take(_ length: Int) -> ArraySlice<Double> {
            defer { position += length }
            return values[position..<(position + length)]
        }
        func next() -> Double { take(1).first ?? 0 }
        var runs = [SavedRun<Model>?]()
        for _ in 0..<count {
            guard next() == 1 else {
                runs.append(nil)
                continue
            }
            let model = coding.decode(take(Int(next())))
            let trace = Array(take(Int(next())))
            let converged = next() == 1
            let hasPrevious = next() == 1
            let previous = next()
            let seconds = next()
            runs.append(SavedRun(state: EMState(model: model, trace: trace, converged: converged,
                                                previousObjective: hasPrevious ? previous : nil),
                                 seconds: seconds))
        }
        return runs
    }
}

extension ProcessGroup {
    /// Refuses ranks whose runs ended with different bits (`requireSameDigest`): every
    /// run's seed, iteration count, convergence, objective trace and `parameters` (the
    /// arrays every rank holds alike), as one 64-bit digest gathered to rank 0.
    func requireSameRuns<Model>(_ fits: [MultiStartFit<Model>], parameters: (Model) -> [[Double]]) throws(MixFillError) {
        guard size > 1 else { return }
        var digest = RatingFingerprint()
        for fit in fits {
            for run in fit.runs {
                let result = run.result
                digest.combine(UInt64(run.seed))
                digest.combine(UInt64(result.iterations))
                digest.combine(result.converged ? 1 : 0)
                for value in result.trace { digest.combine(value.bitPattern) }
                for array in parameters(result.model) {
                    for value in array { digest.combine(value.bitPattern) }
                }
            }
        }
        try requireSameDigest(digest.bits)
    }
}
