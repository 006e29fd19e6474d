#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `FactorFitter.tune` across the ranks: the same choices from the same numbers.
///
/// - The inner split holds out the same ratings: every rank draws the permutation of all m
///   ratings (numpy's, seed 0) and marks those of its positions, which start after the
///   earlier ranks' ratings in the whole data's user-major order.
/// - The inner offsets, the random starts and λ_crit are sums over users, folded through
///   the ranks in user order (`foldInRankOrder`), so each adds its terms in the single
///   process's order; the path's fits are EM across the ranks.
/// - A held-out RMSE is √(Σ e² / m_held) with Σ e² over the held-out ratings in user-major
///   order, each predicted on the rank holding its user, folded the same way.
///
/// The search itself is `FactorFitter.search`, as for one process; `DistributedFitTests`
/// compares the two.
extension DistributedFactorFit {
    /// `observer` (every rank's, speaking for rank 0) hears `choosingSettings()` after every
    /// iteration of the choice's fits, so a stop requested on rank 0 ends every rank there.
    package func tune(_ settings: FactorSettings, observer: (any FitObserver<FactorMixture>)? = nil) throws(MixFillError) -> FactorTuning {
        if let q = settings.factorCount, let k = settings.componentCount, let loadings = settings.loadingsPrior {
            return FactorTuning(given: q, componentCount: k, priors: settings.priors(loadings: loadings))
        }
        let matrix = shard.input.table.matrix
        let observedCount = shard.observedCount
        guard FactorFitter.canTune(observedCount: observedCount) else { throw FactorFitter.tooFewToTune(observedCount) }
        let heldOutCount = HeldOutSplits.holdoutCount(observedCount, fraction: FactorFitter.innerHoldout)
        // This rank's ratings are positions first ..< first + (its ratings) of the whole data.
        var first = 0
        _ = try group.foldInRankOrder([0]) { state in
            first = Int(state[0])
            state[0] += Double(matrix.observedCount)
        }
        let local = first..<(first + matrix.observedCount)
        var heldOut = [Bool](repeating: false, count: matrix.observedCount)
        for position in HeldOutSplits.permutation(count: observedCount, seed: 0).prefix(heldOutCount) where local.contains(position) {
            heldOut[position - first] = true
        }
        let (inner, validation) = matrix.splitting(heldOut: heldOut)
        let baseline = try DataShard.biasOffsets(inner, group: group)
        let offsets = baseline.offsets
        let rated = baseline.itemRatingCounts.map { $0 > 0 }
        let innerObserved = observedCount - heldOutCount
        let squares = try DataShard.squaredResiduals(inner, offsets: offsets, group: group)
        let range = try group.foldInRankOrder([.infinity, -.infinity]) { state in
            for position in 0..<inner.observedCount {
                let rating = inner.ratings[position]
                state[0] = min(state[0], rating)
                state[1] = max(state[1], rating)
            }
        }
        let scale = range[0] <= range[1] ? RatingScale(minimum: range[0], maximum: range[1])
            : RatingScale(minimum: -.infinity, maximum: .infinity)
        let loop = engine.factorLoop(for: RatingInput(inner), rule: FactorFitter.pathRule, reducer: reducer)
        func score(_ model: FactorMixture) throws(MixFillError) -> Double {
            let states = try loop.userStates(model).states
            let predictor = FactorPredictor(model: model, states: states, scale: scale)
            // `AccuracyMetrics.score`'s Σ e² over the held-out ratings, in user-major order.
            let squared = try group.foldInRankOrder([0]) { state in
                var total = state[0]
                for rating in validation {
                    let error = scale.clip(predictor.predict(user: rating.user, item: rating.item)) - rating.rating
                    total += error * error
                }
                state[0] = total
            }[0]
            return (squared / Double(heldOutCount)).squareRoot()
        }
        func randomStart(_ factorCount: Int, _ priors: FactorPriors) -> FactorMixture {
            FactorInitialization.random(rated: rated, squaredResiduals: squares, observedCount: innerObserved, offsets: offsets,
                                        factorCount: factorCount, componentCount: 1, priors: priors, seed: 0)
        }
        func run(_ model: FactorMixture) throws(MixFillError) -> FitResult<FactorMixture> {
            try loop.run([EMState(initial: model)]) { (_) throws(MixFillError) in try observer?.choosingSettings() }[0]
        }
        return try FactorFitter.search(
            settings, itemCount: shard.itemCount, heldOutRatings: heldOutCount, shards: engine.workers,
            criticalPrior: { () throws(MixFillError) in
                try criticalPrior(inner, offsets: offsets, meansPrior: settings.meansPrior, observedCount: innerObserved)
            },
            randomStart: randomStart, run: run, score: score,
            clusteredStart: { (model, componentCount) throws(MixFillError) in
                try clustered(model, states: try loop.userStates(model).states, componentCount: componentCount, seed: 0)
            })
    }

    /// `FactorFitter.criticalPrior` of the whole inner matrix, of which `matrix` is this
    /// rank's users (`observedCount` ratings in all), its sums over users folded through
    /// the ranks in user order.
    func criticalPrior(_ matrix: SparseRatingMatrix, offsets: RatingOffsets, meansPrior: Double?,
                       observedCount: Int) throws(MixFillError) -> Double {
        let group = self.group
        return try FactorFitter.criticalPrior(matrix, offsets: offsets, meansPrior: meansPrior,
                                              observedCount: observedCount) { (initial, step) throws(MixFillError) in
            try group.foldInRankOrder(initial, step)
        }
    }
}
