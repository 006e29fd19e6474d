import MixFill

/// A saved model answering questions in its data's own ids: predictions for (user, item)
/// pairs and top-N recommendations, for training users, for users folded in from their
/// ratings, and for users it has never seen.
///
/// Where each answer comes from (`Basis`):
/// - a training user: p(j | u) from one E-step over their training ratings (the caller
///   attaches the training posteriors, computed from the training data);
/// - a folded-in user: p(j | ratings) from one E-step over the given ratings
///   (`UserPosterior`), the mixture unchanged;
/// - any other user: the weights p_j, i.e. the posterior of a user with no ratings, so
///   the prediction is the population's Σ_j p_j·μ_ji;
/// - an item the model does not know, or one with no training rating: the mean training
///   rating (see `MixturePredictor`).
///
/// Predictions are clipped to the training ratings' range. Version 1 model files record
/// neither that range nor per-item counts: their predictions are not clipped and their
/// item fallback is the weighted mean of all means, Σ_j p_j·(1/d)Σ_i μ_ji.
///
/// A user's "posterior" here is the state predictions need, per family: the course model's
/// p(j|u) (K values); the factor family's [b_u, p(j|u), z̄_j(u)] (1 + K + K·q values: the
/// user offset, the components' posteriors, their factor means), so a folded-in user's
/// offset, fitted from their ratings given the items' offsets, travels with the rest.
/// `componentPosterior` gives the p(j|u) part either way.
package struct ModelServer: Sendable {
    package enum Basis: String, Sendable, CaseIterable {
        case training
        case foldIn = "fold-in"
        case prior
        case itemFallback = "item-fallback"
    }

    package struct Prediction: Sendable, Equatable {
        /// Clipped to the rating scale (when the model records one).
        package var rating: Double
        package var basis: Basis
    }

    package struct Recommendation: Sendable, Equatable {
        package var item: Int
        /// Σ_j p(j | u)·μ_ji before clipping: the ranking key.
        package var score: Double
        /// The score clipped to the rating scale: what `predict` says for the pair.
        package var rating: Double
    }

    package let model: ModelFile
    package let scale: RatingScale?
    package let fallback: Double
    /// Training ratings per item; nil for version 1 files.
    package let itemRatingCounts: [Int]?
    private let terms: ComponentTerms?
    private var trainingPosteriors: [Double]?
    /// Folded-in users' states by id as given (`IdMap.canonical`).
    private var foldedIn: [String: [Double]] = [:]

    package init(model: ModelFile) {
        self.model = model
        terms = model.mixture.map(ComponentTerms.init)
        if let training = model.training {
            scale = training.ratingScale
            fallback = training.ratingMean
            itemRatingCounts = training.itemRatingCounts
        } else {
            scale = nil
            var total = 0.0
            if let mixture = model.mixture {
                for j in 0..<mixture.componentCount {
                    total += mixture.weights[j] * mixture.mean(j).reduce(0, +) / Double(mixture.itemCount)
                }
            }
            fallback = total
            itemRatingCounts = nil
        }
    }

    /// Values per user in a state (see the type's documentation).
    package var stateWidth: Int {
        switch model.parameters {
        case let .course(mixture): return mixture.componentCount
        case let .factor(factor): return 1 + factor.componentCount * (1 + factor.factorCount)
        }
    }

    /// The p(j|u) part of a state.
    package func componentPosterior(_ state: [Double]) -> [Double] {
        switch model.parameters {
        case .course: return state
        case let .factor(factor): return Array(state[1..<(1 + factor.componentCount)])
        }
    }

    /// The training users' E-step results in training index order: the course model's
    /// posteriors (users × K) or the factor kernels' states (users × K(1 + q)), which get
    /// each user's offset put in front.
    package mutating func attachTrainingPosteriors(_ posteriors: [Double]) {
        switch model.parameters {
        case let .course(mixture):
            precondition(posteriors.count == model.userCount * mixture.componentCount)
            trainingPosteriors = posteriors
        case let .factor(factor):
            let width = factor.componentCount * (1 + factor.factorCount)
            precondition(posteriors.count == model.userCount * width)
            var states = [Double]()
            states.reserveCapacity(model.userCount * (1 + width))
            for user in 0..<model.userCount {
                states.append(factor.offsets.userOffsets[user])
                states.append(contentsOf: posteriors[(user * width)..<((user + 1) * width)])
            }
            trainingPosteriors = states
        }
    }

    /// Folds in `user` from `ratings` (item indices): one E-step with the saved mixture.
    /// From then on the user's predictions use this posterior, whether or not the id is
    /// also a training user's. Returns the posterior.
    @discardableResult
    package mutating func foldIn(user: String, ratings: [(item: Int, rating: Double)]) -> [Double] {
        let state: [Double]
        switch model.parameters {
        case let .course(mixture):
            state = UserPosterior.compute(mixture, terms: terms ?? ComponentTerms(mixture), ratings: ratings).posterior
        case let .factor(factor):
            state = Self.foldIn(factor, ratings: ratings)
        }
        foldedIn[user] = state
        return state
    }

    /// A new user's state under a factor model: their offset b_u = Σ (r − μ₀ − b_i) / (λ_u + n),
    /// the bias baseline's user step with the items' offsets fixed, then one E-step over
    /// the ratings centred by it (the mixture unchanged). No ratings: b_u = 0, p = π, z̄ = 0.
    static func foldIn(_ factor: FactorMixture, ratings: [(item: Int, rating: Double)]) -> [Double] {
        var prior = [0] + factor.weights + [Double](repeating: 0, count: factor.componentCount * factor.factorCount)
        guard !ratings.isEmpty else { return prior }
        var sum = 0.0
        for (item, rating) in ratings { sum += rating - factor.offsets.globalMean - factor.offsets.itemOffsets[item] }
        let offset = sum / (BiasBaseline.defaultUserRegularisation + Double(ratings.count))
        let items = ratings.map(\.item)
        let residuals = ratings.map { $0.rating - factor.offsets.globalMean - offset - factor.offsets.itemOffsets[$0.item] }
        let user = FactorUserState(factor, items: items, residuals: residuals)
        guard user.logLikelihood.isFinite, user.posteriors.allSatisfy(\.isFinite), user.factorMeans.allSatisfy(\.isFinite) else {
            prior[0] = offset
            return prior
        }
        return [offset] + user.posteriors + user.factorMeans
    }

    /// Whether `user` was folded in.
    package func isFoldedIn(_ user: String) -> Bool {
        foldedIn[user] != nil
    }

    /// Whether `user` is a training user the model knows by id.
    package func isTrainingUser(_ user: String) -> Bool {
        model.users.index(ofName: user) != nil
    }

    /// The posterior behind `user`'s predictions and where it comes from. A training
    /// user without attached training posteriors is answered from the prior.
    package func posterior(forUser user: String) -> (posterior: [Double], basis: Basis) {
        if let folded = foldedIn[user] { return (folded, .foldIn) }
        return posterior(forTrainingIndex: model.users.index(ofName: user))
    }

    /// The posterior of the training user with index `index` (nil: a user the model does
    /// not know), from the attached training posteriors, else the prior.
    package func posterior(forTrainingIndex index: Int?) -> (posterior: [Double], basis: Basis) {
        let width = stateWidth
        if let index, let trainingPosteriors {
            return (Array(trainingPosteriors[(index * width)..<((index + 1) * width)]), .training)
        }
        switch model.parameters {
        case let .course(mixture): return (mixture.weights, .prior)
        case let .factor(factor): return (Self.foldIn(factor, ratings: []), .prior)
        }
    }

    /// The prediction for item index `item` under `posterior` (unclipped), or nil when the
    /// item has no training rating.
    @inline(__always)
    package func score(posterior: [Double], item: Int) -> Double? {
        if let itemRatingCounts, itemRatingCounts[item] == 0 { return nil }
        switch model.parameters {
        case let .course(mixture):
            var prediction = 0.0
            for j in 0..<mixture.componentCount {
                prediction += posterior[j] * mixture.means[j * mixture.itemCount + item]
            }
            return prediction
        case let .factor(factor):
            return FactorPredictor.prediction(model: factor, state: posterior[1...], user: nil, userOffset: posterior[0], item: item)
        }
    }

    /// What an item the model does not know (or one without training ratings) is
    /// predicted: the fallback, clipped to the rating scale.
    package var itemFallback: Double { clip(fallback) }

    package func clip(_ value: Double) -> Double {
        scale?.clip(value) ?? value
    }

    /// The prediction for a user with `posterior` (from `posterior(forUser:)`) and an item id.
    package func predict(posterior: [Double], basis: Basis, item: String) -> Prediction {
        guard let index = model.items.index(ofName: item), let value = score(posterior: posterior, item: index) else {
            return Prediction(rating: itemFallback, basis: .itemFallback)
        }
        return Prediction(rating: clip(value), basis: basis)
    }

    package func predict(user: String, item: String) -> Prediction {
        let (posterior, basis) = posterior(forUser: user)
        return predict(posterior: posterior, basis: basis, item: item)
    }

    /// The `top` items with the highest score under `posterior`, excluding `excluded` item
    /// indices and items with fewer than `minimumRatings` training ratings. Ties go to the
    /// lower item index.
    package func recommend(posterior: [Double], excluding excluded: Set<Int>, top: Int, minimumRatings: Int) -> [Recommendation] {
        var candidates = [Recommendation]()
        for item in 0..<model.itemCount where !excluded.contains(item) {
            if let itemRatingCounts, itemRatingCounts[item] < minimumRatings { continue }
            guard let value = score(posterior: posterior, item: item) else { continue }
            candidates.append(Recommendation(item: item, score: value, rating: clip(value)))
        }
        candidates.sort { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
        return Array(candidates.prefix(top))
    }

    /// Every item's `FactorPredictor.prediction` for a user whose state is `state` (offset,
    /// p(j|u), z̄_uj), bit for bit: for each item, Σ_j p(j|u)·(m_ij + Σ_r w_ir·z̄_ujr) summed
    /// in the same order, then μ₀ + b_u + b_i + that sum. Four items are computed side by
    /// side, so the four chains of additions (each in its own item's order) overlap instead
    /// of each waiting on its previous addition.
    static func factorScores(_ factor: FactorMixture, state: [Double], into scores: inout [Double]) {
        let q = factor.factorCount
        let k = factor.componentCount
        let itemCount = factor.itemCount
        let constant = factor.offsets.globalMean + state[0]
        scores.withUnsafeMutableBufferPointer { scores in
            factor.means.withUnsafeBufferPointer { means in
                factor.loadings.withUnsafeBufferPointer { loadings in
                    factor.offsets.itemOffsets.withUnsafeBufferPointer { itemOffsets in
                        state.withUnsafeBufferPointer { state in
                            var item = 0
                            while item + 4 <= itemCount {
                                var (r0, r1, r2, r3) = (0.0, 0.0, 0.0, 0.0)
                                for j in 0..<k {
                                    var v0 = means[item * k + j]
                                    var v1 = means[(item + 1) * k + j]
                                    var v2 = means[(item + 2) * k + j]
                                    var v3 = means[(item + 3) * k + j]
                                    let z = 1 + k + j * q
                                    for r in 0..<q {
                                        let factor = state[z + r]
                                        v0 += loadings[item * q + r] * factor
                                        v1 += loadings[(item + 1) * q + r] * factor
                                        v2 += loadings[(item + 2) * q + r] * factor
                                        v3 += loadings[(item + 3) * q + r] * factor
                                    }
                                    let weight = state[1 + j]
                                    r0 += weight * v0
                                    r1 += weight * v1
                                    r2 += weight * v2
                                    r3 += weight * v3
                                }
                                scores[item] = constant + itemOffsets[item] + r0
                                scores[item + 1] = constant + itemOffsets[item + 1] + r1
                                scores[item + 2] = constant + itemOffsets[item + 2] + r2
                                scores[item + 3] = constant + itemOffsets[item + 3] + r3
                                item += 4
                            }
                            while item < itemCount {
                                var residual = 0.0
                                for j in 0..<k {
                                    var value = means[item * k + j]
                                    for r in 0..<q { value += loadings[item * q + r] * state[1 + k + j * q + r] }
                                    residual += state[1 + j] * value
                                }
                                scores[item] = constant + itemOffsets[item] + residual
                                item += 1
                            }
                        }
                    }
                }
            }
        }
    }

    /// `recommend(posterior:excluding:top:minimumRatings:)` for one user after another
    /// (`recommend --all-users`), with the same ranking and the same scores, bit for bit:
    /// every item's score is summed into `scores` (kept by the caller across users) as K
    /// passes of scores_i += p(j|u)·μ_ji over the contiguous rows of the means — the
    /// terms of `score(posterior:item:)`, added in the same order, j = 0 first — and the
    /// best `top` are kept by inserting into a list of at most `top` (a later item enters
    /// only with a strictly higher score, so ties still go to the lower item index)
    /// instead of sorting every item. `excluded` lists item indices in ascending order
    /// (a user's row of the training data).
    package func recommend(posterior: [Double], excludingAscending excluded: [Int], top: Int, minimumRatings: Int,
                           scores: inout [Double]) -> [Recommendation] {
        let itemCount = model.itemCount
        if scores.count != itemCount { scores = [Double](repeating: 0, count: itemCount) }
        switch model.parameters {
        case let .course(mixture):
            scores.withUnsafeMutableBufferPointer { scores in
                mixture.means.withUnsafeBufferPointer { means in
                    for item in 0..<itemCount { scores[item] = 0 }
                    for j in 0..<mixture.componentCount {
                        let weight = posterior[j]
                        let row = j * itemCount
                        for item in 0..<itemCount { scores[item] += weight * means[row + item] }
                    }
                }
            }
        case let .factor(factor):
            Self.factorScores(factor, state: posterior, into: &scores)
        }
        var best = [Recommendation]()
        best.reserveCapacity(min(top, itemCount) + 1)
        var nextExcluded = 0
        for item in 0..<itemCount {
            while nextExcluded < excluded.count, excluded[nextExcluded] < item { nextExcluded += 1 }
            if nextExcluded < excluded.count, excluded[nextExcluded] == item { continue }
            if let itemRatingCounts, itemRatingCounts[item] == 0 || itemRatingCounts[item] < minimumRatings { continue }
            let value = scores[item]
            if best.count == top, let last = best.last, !(value > last.score) { continue }
            var slot = best.count
            while slot > 0, value > best[slot - 1].score { slot -= 1 }
            best.insert(Recommendation(item: item, score: value, rating: clip(value)), at: slot)
            if best.count > top { best.removeLast() }
        }
        return best
    }
}
