import Foundation

/// A factor model (`mppca`) on disk: version 3 of the model file, JSON.
///
///     {"format": "mixfill-model", "version": 3, "family": "mppca", "k": K, "q": q, "d": d,
///      "weights": [K], "noise_variance": σ², "priors": {"loadings": λ_W, "means": λ_m},
///      "offsets": {"mean": μ₀, "users": [n], "items": [d], "user_prior": λ_u},
///      "loadings": [[q] × d], "means": [[K] × d], "covariances": [[D(D+1)/2] × d],
///      "tuning": {…how q, K and the priors were chosen…},
///      "objective": ELBO, "seed": s, "iterations": t, "converged": true,
///      "data": {…as in version 2…}, "user_ids": [n], "item_ids": [d]}
///
/// `covariances` are the items' posterior covariances Σ_i, packed (upper triangle, row by
/// row, D = q + K); `offsets` the bias baseline the ratings were centred by (`user_prior`
/// is its λ_u, which folding in a new user's ratings needs). Every array is checked on
/// reading: shapes, finite values, a distribution of weights, positive σ² and priors, and
/// positive-definite Σ_i.
struct FactorModelDocument: Codable {
    struct Priors: Codable {
        var loadings: Double
        var means: Double
    }

    struct Offsets: Codable {
        var mean: Double
        var users: [Double]
        var items: [Double]
        var user_prior: Double
    }

    struct Tuning: Codable {
        struct Point: Codable {
            var prior_loadings: Double
            var inner_rmse: Double
            var iterations: Int
        }

        var critical_prior: Double?
        var path: [Point]
        var inner_rmse_by_factors: [String: Double]
        var inner_rmse_by_k: [String: Double]
        var inner_held_out_ratings: Int
    }

    var format: String
    var version: Int
    var family: String
    var k: Int
    var q: Int
    var d: Int
    var weights: [Double]
    var noise_variance: Double
    var priors: Priors
    var offsets: Offsets
    var loadings: [[Double]]
    var means: [[Double]]
    var covariances: [[Double]]
    var tuning: Tuning?
    var objective: Double
    var seed: UInt32
    var iterations: Int
    var converged: Bool
    var data: ModelFile.Shape
    var user_ids: IdList?
    var item_ids: IdList?

    static func encode(_ file: ModelFile, _ model: FactorMixture) throws(MixFillError) -> [UInt8] {
        let q = model.factorCount
        let k = model.componentCount
        let packed = SmallMatrices.packedCount(model.dimension)
        let training = file.training
        let document = FactorModelDocument(
            format: ModelFile.formatName, version: 3, family: ModelFamily.mppca.rawValue, k: k, q: q, d: model.itemCount,
            weights: model.weights, noise_variance: model.noiseVariance,
            priors: Priors(loadings: model.priors.loadings, means: model.priors.means),
            offsets: Offsets(mean: model.offsets.globalMean, users: model.offsets.userOffsets, items: model.offsets.itemOffsets,
                             user_prior: BiasBaseline.defaultUserRegularisation),
            loadings: (0..<model.itemCount).map { Array(model.loadings[($0 * q)..<(($0 + 1) * q)]) },
            means: (0..<model.itemCount).map { Array(model.means[($0 * k)..<(($0 + 1) * k)]) },
            covariances: (0..<model.itemCount).map { Array(model.covariances[($0 * packed)..<(($0 + 1) * packed)]) },
            tuning: file.tuning.map(Tuning.init),
            objective: file.logLikelihood, seed: file.seed, iterations: file.iterations, converged: file.converged,
            data: ModelFile.Shape(file),
            user_ids: training.flatMap { IdList($0.users) },
            item_ids: training.flatMap { IdList($0.items) })
        return try JSONEncoder.fileBytes(document, formatting: [.sortedKeys], what: "the model")
    }

    /// `large`: the file's large arrays parsed apart (`LargeNumberArrays`), nil to decode
    /// all of `bytes` with JSONDecoder.
    static func decode(_ bytes: [UInt8], large: LargeNumberArrays? = nil, name: String) throws(MixFillError) -> ModelFile {
        var document: FactorModelDocument
        do {
            document = try JSONDecoder().decode(FactorModelDocument.self, from: Data(large?.reducedBytes ?? bytes))
            if let large {
                if let loadings = large.arrays["loadings"] { document.loadings = loadings }
                if let means = large.arrays["means"] { document.means = means }
                if let covariances = large.arrays["covariances"] { document.covariances = covariances }
            }
        } catch {
            throw .badFile(file: name, message: "model file is incomplete or has a field of the wrong type (\(ModelFile.describe(error))); refit and write it again")
        }
        func refuse(_ what: String) -> MixFillError {
            .badFile(file: name, message: "\(what); refit and write the model again")
        }
        let (k, q, d) = (document.k, document.q, document.d)
        guard k >= 1, q >= 0, d >= 1, q < 100_000, k < 100_000 else { throw refuse("model shapes are out of range: k = \(k), q = \(q), d = \(d)") }
        let dimension = q + k
        let packed = SmallMatrices.packedCount(dimension)
        let users = document.data.users
        guard document.weights.count == k, document.loadings.count == d, document.loadings.allSatisfy({ $0.count == q }),
              document.means.count == d, document.means.allSatisfy({ $0.count == k }),
              document.covariances.count == d, document.covariances.allSatisfy({ $0.count == packed }),
              document.offsets.items.count == d, users >= 0, document.offsets.users.count == users,
              document.data.items == d, document.data.observed >= 0 else {
            throw refuse("model shapes disagree: k = \(k), q = \(q), d = \(d) but the arrays have other sizes")
        }
        let loadings = document.loadings.flatMap { $0 }
        let means = document.means.flatMap { $0 }
        let covariances = document.covariances.flatMap { $0 }
        guard loadings.allSatisfy(\.isFinite), means.allSatisfy(\.isFinite), covariances.allSatisfy(\.isFinite),
              document.offsets.mean.isFinite, document.offsets.users.allSatisfy(\.isFinite),
              document.offsets.items.allSatisfy(\.isFinite), document.objective.isFinite || document.iterations == 0 else {
            throw refuse("model has a non-finite parameter")
        }
        guard document.weights.allSatisfy({ $0.isFinite && $0 >= 0 }), abs(document.weights.reduce(0, +) - 1) <= 1e-6 else {
            throw refuse("model's weights are not a distribution (non-negative, summing to 1)")
        }
        guard document.noise_variance > 0, document.noise_variance.isFinite,
              document.priors.loadings > 0, document.priors.loadings.isFinite,
              document.priors.means > 0, document.priors.means.isFinite,
              document.offsets.user_prior >= 0, document.offsets.user_prior.isFinite else {
            throw refuse("model's noise variance and prior precisions must be positive and finite")
        }
        // Finite but unusable: squares that overflow, a σ² with no finite reciprocal.
        let locations = [loadings, means, document.offsets.users, document.offsets.items, [document.offsets.mean]]
        guard locations.allSatisfy({ $0.allSatisfy(ModelFile.isUsableLocation) }),
              ModelFile.isUsableVariance(document.noise_variance) else {
            throw refuse("model has a loading, mean or offset beyond ±1e150, or a noise variance outside 2.2e-308 … 1e300; no fit on ratings MixFill reads gives one")
        }
        var scratch = [Double](repeating: 0, count: dimension * dimension)
        let definite = scratch.withUnsafeMutableBufferPointer { full in
            covariances.withUnsafeBufferPointer { covariances in
                guard let full = full.baseAddress, let covariances = covariances.baseAddress else { return true }
                for item in 0..<d {
                    SmallMatrices.unpack(covariances + item * packed, dimension, into: full)
                    if !SmallMatrices.cholesky(full, dimension) { return false }
                }
                return true
            }
        }
        guard definite else { throw refuse("model has an item covariance that is not positive definite") }
        let training = try ModelFile.trainingRecord(document.data, userIds: document.user_ids, itemIds: document.item_ids,
                                                    itemCount: d, name: name)
        let model = FactorMixture(
            componentCount: k, factorCount: q, itemCount: d,
            offsets: RatingOffsets(globalMean: document.offsets.mean, userOffsets: document.offsets.users,
                                   itemOffsets: document.offsets.items),
            priors: FactorPriors(loadings: document.priors.loadings, means: document.priors.means),
            loadings: loadings, means: means, covariances: covariances,
            noiseVariance: document.noise_variance, weights: document.weights)
        return ModelFile(parameters: .factor(model), logLikelihood: document.objective, seed: document.seed,
                         iterations: document.iterations, converged: document.converged, userCount: users,
                         observedCount: document.data.observed, training: training,
                         tuning: document.tuning.map { FactorTuning($0, model: model) })
    }
}

extension FactorModelDocument.Tuning {
    init(_ tuning: FactorTuning) {
        critical_prior = tuning.criticalPrior
        path = tuning.path.map { Point(prior_loadings: $0.loadingsPrior, inner_rmse: $0.rootMeanSquareError, iterations: $0.iterations) }
        inner_rmse_by_factors = Dictionary(uniqueKeysWithValues: tuning.factorCountErrors.map { (String($0.key), $0.value) })
        inner_rmse_by_k = Dictionary(uniqueKeysWithValues: tuning.componentCountErrors.map { (String($0.key), $0.value) })
        inner_held_out_ratings = tuning.heldOutRatings
    }
}

extension FactorTuning {
    /// The tuning a file records, for `model`'s settings.
    init(_ recorded: FactorModelDocument.Tuning, model: FactorMixture) {
        self.init(given: model.factorCount, componentCount: model.componentCount, priors: model.priors)
        criticalPrior = recorded.critical_prior
        path = recorded.path.map { Point(loadingsPrior: $0.prior_loadings, rootMeanSquareError: $0.inner_rmse, iterations: $0.iterations) }
        factorCountErrors = Dictionary(recorded.inner_rmse_by_factors.compactMap { key, value in Int(key).map { ($0, value) } },
                                       uniquingKeysWith: { first, _ in first })
        componentCountErrors = Dictionary(recorded.inner_rmse_by_k.compactMap { key, value in Int(key).map { ($0, value) } },
                                          uniquingKeysWith: { first, _ in first })
        heldOutRatings = recorded.inner_held_out_ratings
    }
}
