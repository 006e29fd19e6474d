/// A factor mixture's predictions for training users:
///
///     r̂_ui = μ₀ + b_u + b_i + Σ_j p(j|u)·(m̄_ji + w̄_iᵀ z̄_j(u))
///
/// with p(j|u) and z̄_j(u) from one E-step over the user's training ratings (the kernels'
/// `userStates`: K posteriors, then K·q factor means, per user). A user without training
/// ratings has b_u = 0 and no residual (the population's prediction μ₀ + b_i); an item
/// without training ratings has b_i = 0 and θ̄_i = 0, so only μ₀ + b_u remains.
public struct FactorPredictor: RatingPredictor {
    public let model: FactorMixture
    /// Users × K(1 + q), row-major.
    public let states: [Double]
    /// The training ratings' range, which predictions are clipped to (`scale.clip`).
    public let scale: RatingScale

    /// The state of a user without ratings: posteriors π, factor means 0 (the prior).
    private let priorState: [Double]

    public init(model: FactorMixture, states: [Double], scale: RatingScale) {
        precondition(states.count == model.offsets.userOffsets.count * model.componentCount * (1 + model.factorCount),
                     "one state per training user")
        self.model = model
        self.states = states
        self.scale = scale
        priorState = model.weights + [Double](repeating: 0, count: model.componentCount * model.factorCount)
    }

    public func predict(user: Int, item: Int) -> Double {
        let width = model.componentCount * (1 + model.factorCount)
        return Self.prediction(model: model, state: states[(user * width)..<((user + 1) * width)], user: user, item: item)
    }

    /// μ₀ + b_i + Σ_j π_j·m̄_ji: a user without ratings has b_u = 0, posteriors π and
    /// factor means 0 (the state `mixfill predict` gives a user it has never seen).
    public func newUserPrediction(item: Int) -> Double {
        Self.prediction(model: model, state: priorState[...], user: nil, userOffset: 0, item: item)
    }

    public func scores(user: Int, into scores: inout [Double]) {
        precondition(scores.count == model.itemCount, "one score per item")
        let width = model.componentCount * (1 + model.factorCount)
        let state = states[(user * width)..<((user + 1) * width)]
        for item in scores.indices { scores[item] = Self.prediction(model: model, state: state, user: user, item: item) }
    }

    /// The prediction for `item` of a user whose E-step state (K posteriors, then K·q factor
    /// means) is `state` and whose offset is that of training user `user` (nil: a user the
    /// model was not fitted on, offset `userOffset`).
    @inline(__always)
    package static func prediction(model: FactorMixture, state: ArraySlice<Double>, user: Int?, userOffset: Double = 0,
                           item: Int) -> Double {
        let q = model.factorCount
        let componentCount = model.componentCount
        let base = state.startIndex
        var residual = 0.0
        for j in 0..<componentCount {
            var value = model.means[item * componentCount + j]
            for r in 0..<q { value += model.loadings[item * q + r] * state[base + componentCount + j * q + r] }
            residual += state[base + j] * value
        }
        let offset = user.map { model.offsets.userOffsets[$0] } ?? userOffset
        return model.offsets.globalMean + offset + model.offsets.itemOffsets[item] + residual
    }
}
