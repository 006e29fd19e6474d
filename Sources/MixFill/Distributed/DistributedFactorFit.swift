/// The factor family (`mppca`) run by every rank of a `ProcessGroup` on its block of users.
///
/// What the single-process fit (`FactorFitter.fit`) computes from the whole data, and how
/// the ranks compute the same bits:
///
/// - the centring offsets (`BiasBaseline`): μ₀, the ratings per item and Σ_u of each
///   sweep's item residuals, and Σ_u b_u, are sums over users, folded through the ranks in
///   rank order (`foldInRankOrder`), so every term is added in the single process's order;
///   b_u depends on its user's ratings and the item offsets only, and stays on its rank;
/// - the random start: which items have ratings and Σ e²_ui, folded the same way; the
///   loadings are drawn item by item from the seed, the same on every rank;
/// - for K > 1 the clustered start: the K = 1 fit (EM, below), then every user's factor
///   means gathered to rank 0 in user order, which clusters them as one process would
///   (`FactorInitialization.clustered`) and broadcasts the new means, covariances and weights;
/// - EM: each rank's statistics are reduced by `GroupReducer` (rank 0 adds them in rank
///   order and broadcasts the sum), so every rank's M-step reads the same bits.
///
/// Every rank's model holds its own users' offsets b_u (the kernels index them by the
/// rank's local users); every other parameter is the same bits on every rank. The
/// hyperparameters not given are chosen as one process chooses them (`tune`).
package struct DistributedFactorFit {
    package let group: any ProcessGroup
    package let shard: DataShard
    package let reducer: GroupReducer
    /// Resolved on the whole data, so every rank runs the same kernel.
    package let engine: Engine

    package init(group: any ProcessGroup, shard: DataShard, engine: Engine) {
        self.group = group
        self.shard = shard
        self.engine = engine
        reducer = GroupReducer(group: group)
    }

    /// What every rank returns: the same fits (each model with this rank's user offsets),
    /// and on rank 0 every user's offset b_u in user order, for the model files.
    package struct Outcome: Sendable {
        /// The hyperparameters: those given, the others chosen (`tune`).
        package var tuning: FactorTuning
        package var fits: [MultiStartFit<FactorMixture>]
        /// Rank 0: b_u of all users; other ranks: empty.
        package var userOffsets: [Double]
        package var warnings: [FitWarning]
        package var seconds: Double
    }

    /// `FactorFitter.run` from seeds: the hyperparameters not in `settings` chosen
    /// (`tune`; with `componentCounts` given, K is not), then every seed's fit for each K
    /// (nil: the chosen K) as `FactorFitter.fit` runs them (random loadings; for K > 1 the
    /// K = 1 fit to the path's rule, clustered).
    package func run(componentCounts: [Int]?, seeds: [UInt32], settings: FactorSettings,
                     rule: StoppingRule) throws(MixFillError) -> Outcome {
        try run(componentCounts: componentCounts, start: .seeds(seeds), settings: settings, rule: rule)
    }

    /// `FactorFitter.run` across the ranks. From seeds as above; from a model (a warm start:
    /// one run, its hyperparameters and K, this rank's users' offsets already in it) as one
    /// process continues it. `observer` is rank 0's (checkpoints, progress, signals; the
    /// other ranks pass nil); it sees every model with every user's offsets, as one
    /// process's observer does, and the runs it saved come back to every rank.
    package func run(componentCounts: [Int]?, start: FitStart<FactorMixture>, settings: FactorSettings,
                     rule: StoppingRule, observer: (any FitObserver<FactorMixture>)? = nil) throws(MixFillError) -> Outcome {
        let clock = ContinuousClock()
        let begin = clock.now
        /// The settings: a warm start's, or chosen (after the observer exists, so a stop
        /// requested during the choice reaches every rank).
        var tuning: FactorTuning?
        var toChoose = settings
        /// The K to run: a warm start's, those asked for, or (nil) the chosen one.
        let givenCounts: [Int]?
        let userOffsets: [Double]
        /// A seed's start, for the runs not resumed: `FactorFitter.fit`'s.
        let initial: (_ componentCount: Int, _ seed: UInt32, _ loop: EMLoop<FactorFamily>,
                      _ chosen: FactorTuning) throws(MixFillError) -> FactorMixture
        switch start {
        case let .model(model, _, _):
            precondition(model.offsets.userOffsets.count == shard.users.count, "a warm start holds this rank's users' offsets")
            tuning = FactorTuning(given: model.factorCount, componentCount: model.componentCount, priors: model.priors)
            givenCounts = [model.componentCount]
            userOffsets = model.offsets.userOffsets
            initial = { _, _, _, _ throws(MixFillError) in model }
        case .seeds:
            for count in componentCounts ?? [] where count < 1 || count > shard.userCount {
                throw .badOption(option: "-k", message: "K = \(count) is not allowed for \(counted(shard.userCount, "user")); choose 1 ≤ K ≤ \(shard.userCount)")
            }
            if let componentCounts, let first = componentCounts.first { toChoose.componentCount = first }
            givenCounts = componentCounts
            let baseline = try shard.biasOffsets(group: group)
            let offsets = baseline.offsets
            let rated = baseline.itemRatingCounts.map { $0 > 0 }
            let squares = try shard.squaredResiduals(offsets: offsets, group: group)
            userOffsets = offsets.userOffsets
            initial = { (componentCount, seed, loop, chosen) throws(MixFillError) in
                let single = FactorInitialization.random(rated: rated, squaredResiduals: squares, observedCount: shard.observedCount,
                                                         offsets: offsets, factorCount: chosen.factorCount, componentCount: 1,
                                                         priors: chosen.priors, seed: UInt64(seed))
                guard componentCount > 1 else { return single }
                let first = try loop.with(rule: FactorFitter.pathRule).run([EMState(initial: single)])[0].model
                return try clustered(first, states: loop.userStates(first).states, componentCount: componentCount, seed: UInt64(seed))
            }
        }
        // Every user's offsets on rank 0, for its observer's checkpoints and the model files.
        let allOffsets = try group.gatherUsers(userOffsets, width: 1, userCount: shard.userCount)
        let rankObserver = RankZeroObserver(group: group, inner: group.rank == 0 ? observer : nil,
                                            coding: .factor(localUserOffsets: userOffsets, allUserOffsets: allOffsets))
        var chosen: FactorTuning
        if let tuning { chosen = tuning } else { chosen = try tune(toChoose, observer: rankObserver) }
        let counts = givenCounts ?? [chosen.componentCount]
        try rankObserver.settingsChosen(chosen.runSettings)
        let loop = engine.factorLoop(for: shard.input, rule: rule, reducer: reducer)
        var fits = [MultiStartFit<FactorMixture>]()
        var warnings = [FitWarning]()
        for count in counts {
            chosen.componentCount = count
            // The engine's thread count, not this rank's shards: every rank decides alike.
            try FactorMemory.require(itemCount: shard.itemCount, factorCount: chosen.factorCount,
                                     componentCount: count, shards: engine.workers, runs: start.runCount)
            let fit = try loop.fit(componentCounts: [count], start: start, initial: { [chosen] (componentCount, seed) throws(MixFillError) in
                try initial(componentCount, seed, loop, chosen)
            }, observer: rankObserver)[0]
            fits.append(fit)
            warnings.append(contentsOf: fit.warnings)
        }
        try checkAgreement(fits)
        return Outcome(tuning: chosen, fits: fits, userOffsets: allOffsets, warnings: warnings, seconds: (clock.now - begin).seconds)
    }

    /// `FactorInitialization.clustered` of the whole data: this rank's users' states
    /// (p, z̄ per user) gathered to rank 0 in user order, clustered there, and the new item
    /// parameters (means, covariances) and weights broadcast. W̄ and σ² are `single`'s,
    /// already the same on every rank; the offsets stay this rank's.
    func clustered(_ single: FactorMixture, states: [Double], componentCount: Int, seed: UInt64) throws(MixFillError) -> FactorMixture {
        let width = 1 + single.factorCount
        let all = try group.gatherUsers(states, width: width, userCount: shard.userCount)
        let dimension = single.factorCount + componentCount
        let meanCount = single.itemCount * componentCount
        let covarianceCount = single.itemCount * SmallMatrices.packedCount(dimension)
        var parameters: [Double]
        if group.rank == 0 {
            let start = FactorInitialization.clustered(single, states: all, componentCount: componentCount, seed: seed)
            parameters = start.means + start.covariances + start.weights
        } else {
            parameters = [Double](repeating: 0, count: meanCount + covarianceCount + componentCount)
        }
        if group.size > 1 { try group.broadcast(&parameters, from: 0) }
        return FactorMixture(componentCount: componentCount, factorCount: single.factorCount, itemCount: single.itemCount,
                             offsets: single.offsets, priors: single.priors, loadings: single.loadings,
                             means: Array(parameters[0..<meanCount]),
                             covariances: Array(parameters[meanCount..<(meanCount + covarianceCount)]),
                             noiseVariance: single.noiseVariance,
                             weights: Array(parameters[(meanCount + covarianceCount)...]))
    }

    /// Refuses ranks that ended with different bits (`ProcessGroup.requireSameDigest`):
    /// every run's seed, iteration count, objective trace and item-side parameters (the
    /// user offsets are each rank's own).
    func checkAgreement(_ fits: [MultiStartFit<FactorMixture>]) throws(MixFillError) {
        try group.requireSameRuns(fits) { model in
            [model.loadings, model.means, model.covariances, model.weights, model.offsets.itemOffsets,
             [model.noiseVariance, model.offsets.globalMean]]
        }
    }
}

extension DataShard {
    /// The bias baseline of the whole data (`BiasBaseline(matrix:)` with its defaults) as
    /// this rank's share of it: μ₀, every item's b_i and this rank's users' b_u, each the
    /// bits one process computes, and the whole data's ratings per item.
    package func biasOffsets(group: any ProcessGroup,
                             userRegularisation: Double = BiasBaseline.defaultUserRegularisation,
                             itemRegularisation: Double = BiasBaseline.defaultItemRegularisation,
                             tolerance: Double = 1e-10, maxSweeps: Int = 1000)
        throws(MixFillError) -> (offsets: RatingOffsets, itemRatingCounts: [Double]) {
        try Self.biasOffsets(input.table.matrix, group: group, userRegularisation: userRegularisation,
                             itemRegularisation: itemRegularisation, tolerance: tolerance, maxSweeps: maxSweeps)
    }

    /// `biasOffsets(group:…)` of `matrix`, this rank's users of some whole data: the
    /// baseline's sweeps (`BiasBaseline.sweeps`) with the sums over users folded through
    /// the ranks.
    package static func biasOffsets(_ matrix: SparseRatingMatrix, group: any ProcessGroup,
                                    userRegularisation: Double = BiasBaseline.defaultUserRegularisation,
                                    itemRegularisation: Double = BiasBaseline.defaultItemRegularisation,
                                    tolerance: Double = 1e-10, maxSweeps: Int = 1000)
        throws(MixFillError) -> (offsets: RatingOffsets, itemRatingCounts: [Double]) {
        let fit = try BiasBaseline.sweeps(userCount: matrix.userCount, itemCount: matrix.itemCount,
                                          userRegularisation: userRegularisation, itemRegularisation: itemRegularisation,
                                          tolerance: tolerance, maxSweeps: maxSweeps,
                                          forEachRating: BiasBaseline.ratings(of: matrix)) { (initial, step) throws(MixFillError) in
            try group.foldInRankOrder(initial, step)
        }
        guard let fit else { throw .runtime(message: "the bias baseline needs a training rating") }
        return (RatingOffsets(globalMean: fit.mean, userOffsets: fit.userBiases, itemOffsets: fit.itemBiases), fit.itemRatingCounts)
    }

    /// Σ e²_ui, e_ui = r_ui − μ₀ − b_u − b_i, over every rating of the whole data, added in
    /// user-major order through the ranks (`FactorInitialization.random`'s sum). `offsets`
    /// holds this rank's users' b_u.
    package func squaredResiduals(offsets: RatingOffsets, group: any ProcessGroup) throws(MixFillError) -> Double {
        try Self.squaredResiduals(input.table.matrix, offsets: offsets, group: group)
    }

    /// `squaredResiduals(offsets:group:)` of `matrix`, this rank's users of some whole data.
    package static func squaredResiduals(_ matrix: SparseRatingMatrix, offsets: RatingOffsets,
                                         group: any ProcessGroup) throws(MixFillError) -> Double {
        try group.foldInRankOrder([0]) { state in
            var squares = state[0]
            for user in 0..<matrix.userCount {
                for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                    let e = matrix.ratings[position] - offsets.baseline(user: user, item: matrix.items[position])
                    squares += e * e
                }
            }
            state[0] = squares
        }[0]
    }
}

extension ProcessGroup {
    /// Per-user rows (`width` Doubles per user, this rank's users in order) of every rank,
    /// on rank 0 in user order; the other ranks get an empty array. Each rank pads its
    /// block to the largest block's size, since a gather takes one length from every rank.
    package func gatherUsers(_ rows: [Double], width: Int, userCount: Int) throws(MixFillError) -> [Double] {
        guard size > 1 else { return rows }
        let blocks = (0..<size).map { Self.userRange(userCount: userCount, rank: $0, size: size) }
        let longest = (blocks.map(\.count).max() ?? 0) * width
        precondition(rows.count == blocks[rank].count * width, "one row per user of this rank")
        let gathered = try gather(rows + [Double](repeating: 0, count: longest - rows.count))
        guard rank == 0 else { return [] }
        var all = [Double]()
        all.reserveCapacity(userCount * width)
        for (index, block) in blocks.enumerated() {
            all.append(contentsOf: gathered[(index * longest)..<(index * longest + block.count * width)])
        }
        return all
    }
}
