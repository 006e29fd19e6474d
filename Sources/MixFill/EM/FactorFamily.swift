#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the factor family's statistics sit in one record (K components, q factors, d items,
/// D = q + K), every field a sum over the users of a shard:
///
///     [0] Σ_u LL_u            [1] users with a rating       [2] Σ e²_ui over their ratings
///     [3] their ratings m     [4 + j] Σ_u p(j|u)
///     item i, from items + i·itemStride:
///         G_i = Σ_{u rated i} E_u[z̃z̃ᵀ]   (D × D, packed upper triangle)
///         h_i = Σ_{u rated i} e_ui·E_u[z̃]  (D)
///
/// with z̃ = [z; onehot(component)] and, for a user with posteriors p_j, factor means z̄_j
/// and posterior factor covariance A⁻¹,
///
///     E_u[z̃z̃ᵀ] = [[A⁻¹ + Σ_j p_j z̄_j z̄_jᵀ, (p_j z̄_j)_j], [(p_j z̄_jᵀ)_j, diag(p)]],
///     E_u[z̃] = [Σ_j p_j z̄_j; p].
package struct FactorRecord: Sendable {
    package let componentCount: Int
    package let factorCount: Int
    package let itemCount: Int

    package init(componentCount: Int, factorCount: Int, itemCount: Int) {
        self.componentCount = componentCount
        self.factorCount = factorCount
        self.itemCount = itemCount
    }

    package init(_ model: FactorMixture) {
        self.init(componentCount: model.componentCount, factorCount: model.factorCount, itemCount: model.itemCount)
    }

    package static let logLikelihood = 0
    package static let activeUsers = 1
    package static let squaredResiduals = 2
    package static let ratingCount = 3
    package static let responsibilities = 4
    package var dimension: Int { factorCount + componentCount }
    package var items: Int { 4 + componentCount }
    /// G_i's packed entries, then h_i.
    package var itemStride: Int { SmallMatrices.packedCount(dimension) + dimension }
    package var length: Int { items + itemCount * itemStride }
}

/// The factor family (`mppca`) as an EM family: the variational EM of `FactorMixture`.
///
/// M-step per item i, with Λ = diag(λ_W·1_q, λ_m·1_K) and σ²_old the model's noise:
///
///     H_i = G_i + σ²_old Λ,   θ̄_i = H_i⁻¹ h_i,   Σ_i = σ²_old H_i⁻¹
///     σ² = (Σ e² − 2 Σ_i θ̄_iᵀh_i + Σ_i θ̄_iᵀG_iθ̄_i + Σ_i tr(G_i Σ_i)) / m
///     π_j = Σ_u p(j|u) / (users with a rating)
///
/// The objective is the evidence lower bound Σ_u LL_u − Σ_i KL(N(θ̄_i, Σ_i) ‖ N(0, Λ⁻¹)),
/// with LL_u the user's log-likelihood under the expected item parameters (the kernels'
/// E-step); each step maximises it in one block of parameters given the others, so it
/// never falls.
package struct FactorFamily: EMFamily {
    package init() {}

    package func recordLength(_ model: FactorMixture) -> Int {
        FactorRecord(model).length
    }

    package func objective(_ model: FactorMixture, record: UnsafeBufferPointer<Double>, workers: Int = 1) -> Double {
        record[FactorRecord.logLikelihood] - Self.divergence(model, workers: workers)
    }

    package func guaranteesAscent(from model: FactorMixture) -> Bool { true }

    /// Σ_i KL(N(θ̄_i, Σ_i) ‖ N(0, Λ⁻¹)) = ½ Σ_i [tr(ΛΣ_i) + θ̄_iᵀΛθ̄_i − D − Σ_k log λ_k − log det Σ_i],
    /// log det Σ_i from its Cholesky factor. Contiguous ranges of items go to the workers,
    /// four items at a time in the lanes of `SmallMatrixLanes`, and the items' terms are
    /// added in item order afterwards, so the sum does not depend on the number of workers.
    package static func divergence(_ model: FactorMixture, workers: Int = 1) -> Double {
        let itemCount = model.itemCount
        var terms = [Double](repeating: 0, count: itemCount)
        terms.withUnsafeMutableBufferPointer { terms in
            guard let terms = terms.baseAddress else { return }
            let step = DivergenceStep(model: model, terms: terms)
            let ranges = SmallMatrixLanes.ranges(itemCount, workers: workers)
            forEachConcurrently(ranges.count, workers: ranges.count) { step.run(items: ranges[$0]) }
        }
        var total = 0.0
        for term in terms { total += term }
        return total
    }

    /// The smallest σ² EM may reach: 10⁻⁶ of the mean squared centred rating Σ e²/m, the σ²
    /// EM starts from (`FactorInitialization`). Ratings the model can reproduce exactly (every
    /// user giving one value to every item, which the means or one factor capture) would
    /// otherwise drive σ² towards 0 and the objective towards +∞ until it overflows; the
    /// floor is relative so it means the same on any rating scale. The M-step maximises over
    /// σ² ≥ floor, so the objective still never falls. 0 when every centred rating is 0:
    /// the ratings have no scale to be relative to, and σ² keeps the value it starts from.
    package static func noiseFloor(squaredResiduals: Double, ratings: Double) -> Double {
        ratings > 0 ? 1e-6 * squaredResiduals / ratings : 0
    }

    package func maximise(_ previous: FactorMixture, record: UnsafeBufferPointer<Double>, workers: Int = 1) -> FactorMixture {
        let layout = FactorRecord(previous)
        precondition(record.count == layout.length, "a factor record for the model's shape")
        let itemCount = previous.itemCount
        let componentCount = previous.componentCount
        var next = previous
        // Items are independent given σ²_old: contiguous ranges of them go to the workers,
        // and each item's share of the expected squares is added in item order afterwards,
        // so the result does not depend on the number of workers.
        var contributions = [Double](repeating: 0, count: itemCount)
        next.loadings.withUnsafeMutableBufferPointer { loadings in
            next.means.withUnsafeMutableBufferPointer { means in
                next.covariances.withUnsafeMutableBufferPointer { covariances in
                    contributions.withUnsafeMutableBufferPointer { contributions in
                        guard let record = record.baseAddress, let covariances = covariances.baseAddress,
                              let contributions = contributions.baseAddress else { return }
                        // q = 0 has no loadings and K ≥ 1 always has means; a stand-in is never written.
                        var spare = 0.0
                        withUnsafeMutablePointer(to: &spare) { spare in
                            let step = ItemStep(model: previous, layout: layout, record: record,
                                                loadings: loadings.baseAddress ?? spare, means: means.baseAddress ?? spare,
                                                covariances: covariances, contributions: contributions)
                            let ranges = SmallMatrixLanes.ranges(itemCount, workers: workers)
                            forEachConcurrently(ranges.count, workers: ranges.count) { step.run(items: ranges[$0]) }
                        }
                    }
                }
            }
        }
        var expectedSquares = record[FactorRecord.squaredResiduals]
        for contribution in contributions { expectedSquares += contribution }
        let ratings = record[FactorRecord.ratingCount]
        let noise = expectedSquares / ratings
        let floor = Self.noiseFloor(squaredResiduals: record[FactorRecord.squaredResiduals], ratings: ratings)
        // An expected sum of squares is positive; rounding can only make a near-perfect fit's
        // slightly negative, and then the floor is the better value.
        if floor > 0, noise.isFinite { next.noiseVariance = max(noise, floor) }
        let users = record[FactorRecord.activeUsers]
        if users > 0 {
            for j in 0..<componentCount { next.weights[j] = record[FactorRecord.responsibilities + j] / users }
        }
        return next
    }
}

/// One M-step's per-item updates over a range of items, writing each item's loadings, means,
/// covariance and share of the expected squares at its own places (`@unchecked Sendable`:
/// the workers' item ranges are disjoint, and the pointers outlive the call).
private struct ItemStep: @unchecked Sendable {
    let model: FactorMixture
    let layout: FactorRecord
    let record: UnsafePointer<Double>
    let loadings: UnsafeMutablePointer<Double>
    let means: UnsafeMutablePointer<Double>
    let covariances: UnsafeMutablePointer<Double>
    let contributions: UnsafeMutablePointer<Double>

    /// Items four at a time, one per lane of `SmallMatrixLanes` (a lane's arithmetic is the
    /// scalar update's, so the result is the same for any grouping of the items).
    func run(items: Range<Int>) {
        typealias Lanes = SmallMatrixLanes.Lanes
        let width = SmallMatrixLanes.width
        let dimension = layout.dimension
        let packed = SmallMatrices.packedCount(dimension)
        let q = model.factorCount
        let componentCount = model.componentCount
        let oldNoise = model.noiseVariance
        let noise = Lanes(repeating: oldNoise)
        // G_i's packed triangle, then h_i, for the four items.
        let gram = UnsafeMutablePointer<Lanes>.allocate(capacity: packed + dimension)
        let full = UnsafeMutablePointer<Lanes>.allocate(capacity: dimension * dimension)
        let inverse = UnsafeMutablePointer<Lanes>.allocate(capacity: dimension * dimension)
        let triangle = UnsafeMutablePointer<Lanes>.allocate(capacity: dimension * dimension)
        let theta = UnsafeMutablePointer<Lanes>.allocate(capacity: dimension)
        defer {
            gram.deallocate()
            full.deallocate()
            inverse.deallocate()
            triangle.deallocate()
            theta.deallocate()
        }
        let right = gram + packed
        for first in stride(from: items.lowerBound, to: items.upperBound, by: width) {
            let count = min(width, items.upperBound - first)
            // Lanes past the range's last item hold G = 0, h = 0: H = σ²Λ, which factorises.
            SmallMatrixLanes.load(record + layout.items + first * layout.itemStride, stride: layout.itemStride,
                                  count: count, length: packed + dimension, into: gram)
            SmallMatrixLanes.unpackUpper(gram, dimension, into: full)
            for index in 0..<dimension {
                full[index * dimension + index] += Lanes(repeating: oldNoise * model.priorPrecision(index))
            }
            // G_i is positive semi-definite and σ²Λ positive: H_i is positive definite, so
            // the factorisation can fail only on non-finite input (the item keeps its values).
            let factored = SmallMatrixLanes.cholesky(full, dimension)
            SmallMatrixLanes.inverseByTriangle(full, dimension, into: inverse, triangle: triangle)
            for r in 0..<dimension {
                var value = Lanes(repeating: 0)
                for c in 0..<dimension { value += inverse[r * dimension + c] * right[c] }
                theta[r] = value
            }
            // −2 θ̄ᵀh + θ̄ᵀGθ̄ + tr(G Σ), G read from its packed triangle.
            var cross = Lanes(repeating: 0)
            var quadratic = Lanes(repeating: 0)
            var trace = Lanes(repeating: 0)
            var index = 0
            for r in 0..<dimension {
                cross += theta[r] * right[r]
                for c in r..<dimension {
                    let weighted = Lanes(repeating: r == c ? 1.0 : 2.0) * gram[index]
                    quadratic += weighted * theta[r] * theta[c]
                    trace += weighted * noise * inverse[r * dimension + c]
                    index += 1
                }
            }
            let contribution = Lanes(repeating: -2) * cross + quadratic + trace
            for lane in 0..<count {
                let item = first + lane
                guard factored[lane] else {
                    contributions[item] = 0
                    continue
                }
                contributions[item] = contribution[lane]
                let sigma = covariances + item * packed
                var index = 0
                for r in 0..<dimension {
                    for c in r..<dimension {
                        sigma[index] = oldNoise * inverse[r * dimension + c][lane]
                        index += 1
                    }
                }
                for r in 0..<q { loadings[item * q + r] = theta[r][lane] }
                for j in 0..<componentCount { means[item * componentCount + j] = theta[q + j][lane] }
            }
        }
    }
}

/// Each item's term of `FactorFamily.divergence` over a range of items, written at the
/// item's own place (`@unchecked Sendable`: the workers' ranges are disjoint, and the
/// pointer outlives the call).
private struct DivergenceStep: @unchecked Sendable {
    let model: FactorMixture
    let terms: UnsafeMutablePointer<Double>

    func run(items: Range<Int>) {
        typealias Lanes = SmallMatrixLanes.Lanes
        let width = SmallMatrixLanes.width
        let dimension = model.dimension
        let packed = SmallMatrices.packedCount(dimension)
        let q = model.factorCount
        let componentCount = model.componentCount
        var logPrecisions = 0.0
        for index in 0..<dimension { logPrecisions += log(model.priorPrecision(index)) }
        let sigmaLanes = UnsafeMutablePointer<Lanes>.allocate(capacity: packed)
        let full = UnsafeMutablePointer<Lanes>.allocate(capacity: dimension * dimension)
        defer {
            sigmaLanes.deallocate()
            full.deallocate()
        }
        model.covariances.withUnsafeBufferPointer { covariances in
            guard let covariances = covariances.baseAddress else { return }
            for first in stride(from: items.lowerBound, to: items.upperBound, by: width) {
                let count = min(width, items.upperBound - first)
                SmallMatrixLanes.load(covariances + first * packed, stride: packed, count: count, length: packed,
                                      into: sigmaLanes)
                // Lanes past the range's last item hold the identity: a factorisation that cannot fail.
                for lane in count..<width {
                    for index in 0..<dimension { sigmaLanes[SmallMatrices.packedIndex(index, index, dimension)][lane] = 1 }
                }
                var trace = Lanes(repeating: 0)
                var quadratic = Lanes(repeating: 0)
                for index in 0..<dimension {
                    let precision = Lanes(repeating: model.priorPrecision(index))
                    trace += precision * sigmaLanes[SmallMatrices.packedIndex(index, index, dimension)]
                    var mean = Lanes(repeating: 0)
                    for lane in 0..<count {
                        let item = first + lane
                        mean[lane] = index < q ? model.loadings[item * q + index] : model.means[item * componentCount + index - q]
                    }
                    quadratic += precision * mean * mean
                }
                SmallMatrixLanes.unpackUpper(sigmaLanes, dimension, into: full)
                let factored = SmallMatrixLanes.cholesky(full, dimension)
                let logDeterminants = SmallMatrixLanes.logDeterminants(full, dimension)
                for lane in 0..<count {
                    let logDeterminant = factored[lane] ? logDeterminants[lane] : -.infinity
                    terms[first + lane] = 0.5 * (trace[lane] + quadratic[lane] - Double(dimension) - logPrecisions - logDeterminant)
                }
            }
        }
    }
}
