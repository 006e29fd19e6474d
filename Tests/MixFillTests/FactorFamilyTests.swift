import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// The factor family (`mppca`) against the numpy reference implementation
/// (Scripts/reference/mppca.py, values in Tests/Fixtures/mppca by mppca_reference.py): the
/// 30 × 40 top-left block of the netflix matrix as records, q = 2, λ_W = 5, λ_m = 1, the
/// initial parameters given by formula.
@Suite(.blasProcessState) struct FactorFamilyTests {
    struct Initial: Decodable {
        var W0: [[Double]]
        var sigma2_0: Double
        var m0_K2: [[Double]]
        var pi0_K2: [Double]
    }

    struct Offsets: Decodable {
        var mu0: Double
        var b_u: [Double]
        var b_i: [Double]
        var residuals: [Double]
    }

    struct Reference: Decodable {
        var objective_trace: [Double]
        var iterations: Int
        var W: [[Double]]
        var m: [[Double]]
        var sigma2: Double
        var pi: [Double]
        var responsibilities: [[Double]]
        var LL_users: [Double]
        var predictions_row_major_30x40: [Double]
        var Sig_diag: [[Double]]
    }

    static func fixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = URL(fileURLWithPath: Fixtures.root + "/Tests/Fixtures/mppca/" + name)
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    /// The reference's data: the non-zero entries of the netflix matrix's top-left 30 × 40.
    static func block() throws -> SparseRatingMatrix {
        let netflix = try #require(Fixtures.netflix)
        var values = [Double]()
        for user in 0..<30 { values += (0..<40).map { netflix[user, $0] } }
        return SparseRatingMatrix(dense: DenseRatingMatrix(userCount: 30, itemCount: 40, values: values))
    }

    static func initialModel(componentCount: Int, offsets: RatingOffsets) throws -> FactorMixture {
        let initial = try fixture("init.json", as: Initial.self)
        let q = 2
        let dimension = q + componentCount
        var covariance = [Double](repeating: 0, count: SmallMatrices.packedCount(dimension))
        for index in 0..<dimension {
            covariance[SmallMatrices.packedIndex(index, index, dimension)] = 0.01 / (index < q ? 5.0 : 1.0)
        }
        return FactorMixture(
            componentCount: componentCount, factorCount: q, itemCount: 40, offsets: offsets,
            priors: FactorPriors(loadings: 5, means: 1), loadings: initial.W0.flatMap { $0 },
            means: componentCount == 1 ? [Double](repeating: 0, count: 40) : initial.m0_K2.flatMap { $0 },
            covariances: (0..<40).flatMap { _ in covariance }, noiseVariance: initial.sigma2_0,
            weights: componentCount == 1 ? [1] : initial.pi0_K2)
    }

    static func offsets(_ matrix: SparseRatingMatrix) -> RatingOffsets {
        var training = [IndexedRating]()
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                training.append(IndexedRating(user: user, item: matrix.items[position], rating: matrix.ratings[position]))
            }
        }
        return RatingOffsets(BiasBaseline(training: training, userCount: matrix.userCount, itemCount: matrix.itemCount))
    }

    @Test func theOffsetsAreTheBiasBaselinesAsNumpyFitsThem() throws {
        let reference = try Self.fixture("offsets.json", as: Offsets.self)
        let offsets = Self.offsets(try Self.block())
        #expect(abs(offsets.globalMean - reference.mu0) <= 1e-15)
        expectClose(offsets.userOffsets, reference.b_u, absolute: 1e-10, "b_u")
        expectClose(offsets.itemOffsets, reference.b_i, absolute: 1e-10, "b_i")
    }

    /// Whole runs of the naive kernel: the objective trace of every iteration (relative
    /// 1e-10), the iteration count, and the parameters, posteriors and predictions of the
    /// reference's final model.
    @Test(arguments: [1, 2])
    func naiveRunsMatchTheNumpyReference(componentCount: Int) throws {
        let matrix = try Self.block()
        let reference = try Self.fixture("vb_K\(componentCount).json", as: Reference.self)
        let offsets = Self.offsets(matrix)
        let initial = try Self.initialModel(componentCount: componentCount, offsets: offsets)
        let loop = EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)])
        let run = try loop.run([EMState(initial: initial)])[0]
        // numpy counts M-steps, the loop E-steps: one more, the one that meets the rule.
        #expect(run.iterations == reference.iterations + 1 && run.converged)
        #expect(run.trace.count == reference.objective_trace.count)
        expectClose(run.trace, reference.objective_trace, relative: 1e-10, absolute: 0, "objective trace")
        #expect(run.falls.isEmpty)
        for (earlier, later) in zip(run.trace, run.trace.dropFirst()) { #expect(later >= earlier) }

        // The reference's final model: after as many M-steps as it ran.
        let capped = EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)],
                            rule: StoppingRule(maxIterations: reference.iterations))
        let model = try capped.run([EMState(initial: initial)])[0].model
        expectClose(model.loadings, reference.W.flatMap { $0 }, relative: 1e-8, absolute: 1e-10, "W")
        expectClose(model.means, reference.m.flatMap { $0 }, relative: 1e-8, absolute: 1e-10, "m")
        #expect(relativeError(model.noiseVariance, reference.sigma2) <= 1e-10)
        expectClose(model.weights, reference.pi, relative: 1e-8, absolute: 1e-12, "π")
        let dimension = model.dimension
        let diagonal = (0..<40).flatMap { item in
            (0..<dimension).map { model.covariances[item * SmallMatrices.packedCount(dimension) + SmallMatrices.packedIndex($0, $0, dimension)] }
        }
        expectClose(diagonal, reference.Sig_diag.flatMap { $0 }, relative: 1e-8, absolute: 1e-12, "Σ diagonals")

        let states = try capped.userStates(model)
        expectClose(states.states.enumerated().filter { $0.offset % (componentCount * 3) < componentCount }.map(\.element),
                    reference.responsibilities.flatMap { $0 }, absolute: 1e-9, "posteriors")
        #expect(relativeError(states.logLikelihood, reference.LL_users.reduce(0, +)) <= 1e-10)
        let predictor = FactorPredictor(model: model, states: states.states, scale: RatingScale(minimum: 1, maximum: 5))
        let predictions = (0..<30).flatMap { user in (0..<40).map { predictor.scale.clip(predictor.predict(user: user, item: $0)) } }
        expectClose(predictions, reference.predictions_row_major_30x40, absolute: 1e-9, "predictions")
    }

    /// The M-step spreads items over workers and adds their shares of σ² in item order: any
    /// number of workers gives the same model, bit for bit, and the model moved.
    @Test(arguments: [1, 2])
    func theMStepDoesNotDependOnItsWorkers(componentCount: Int) throws {
        let matrix = try Self.block()
        let initial = try Self.initialModel(componentCount: componentCount, offsets: Self.offsets(matrix))
        let loop = EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)])
        let (layout, sum) = try loop.statistics([initial])
        let models = sum.withUnsafeBufferPointer { buffer in
            let record = UnsafeBufferPointer(rebasing: buffer[layout.record(0)])
            return [1, 2, 3, 7, 64].map { FactorFamily().maximise(initial, record: record, workers: $0) }
        }
        #expect(models.count == 5)
        #expect(models[0].loadings != initial.loadings && models[0].noiseVariance != initial.noiseVariance)
        for (index, model) in models.enumerated().dropFirst() {
            #expect(model == models[0], "model \(index)")
        }
    }

    /// The M-step and the divergence, four items to a group of SIMD lanes, give the scalar
    /// per-item update's bits (as written before the lanes: `SmallMatrices` on one item at a
    /// time), for item counts that leave a group part-filled and for any number of workers.
    @Test(arguments: [1, 2, 3, 5, 6, 7, 40])
    func theLaneMStepIsTheScalarUpdateBitForBit(itemCount: Int) throws {
        let netflix = try #require(Fixtures.netflix)
        var values = [Double]()
        for user in 0..<30 { values += (0..<itemCount).map { netflix[user, $0] } }
        let matrix = SparseRatingMatrix(dense: DenseRatingMatrix(userCount: 30, itemCount: itemCount, values: values))
        let initial = FactorInitialization.random(matrix: matrix, offsets: Self.offsets(matrix), factorCount: 3, componentCount: 2,
                                                  priors: FactorPriors(loadings: 5, means: 1), seed: 1)
        let loop = EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)])
        let (layout, sum) = try loop.statistics([initial])
        let record = Array(sum[layout.record(0)])
        let workerCounts = [1, 2, 3, 7, 64]
        let models = record.withUnsafeBufferPointer { record in
            workerCounts.map { FactorFamily().maximise(initial, record: record, workers: $0) }
        }
        let expected = Self.scalarMStep(initial, record: record)
        #expect(expected.loadings != initial.loadings && expected.covariances != initial.covariances)
        #expect(models.count == workerCounts.count)
        for (workers, model) in zip(workerCounts, models) {
            #expect(model.loadings.map(\.bitPattern) == expected.loadings.map(\.bitPattern), "workers \(workers)")
            #expect(model.means.map(\.bitPattern) == expected.means.map(\.bitPattern), "workers \(workers)")
            #expect(model.covariances.map(\.bitPattern) == expected.covariances.map(\.bitPattern), "workers \(workers)")
            #expect(model.noiseVariance.bitPattern == expected.noiseVariance.bitPattern, "workers \(workers)")
        }
        let divergence = Self.scalarDivergence(expected)
        #expect(divergence.isFinite && divergence > 0)
        for workers in workerCounts {
            #expect(FactorFamily.divergence(expected, workers: workers).bitPattern == divergence.bitPattern, "workers \(workers)")
        }
    }

    /// The M-step item by item with the scalar routines (the family's update before it took
    /// items in groups of four).
    static func scalarMStep(_ model: FactorMixture, record: [Double]) -> FactorMixture {
        let fields = FactorRecord(model)
        let dimension = model.dimension
        let packed = SmallMatrices.packedCount(dimension)
        let q = model.factorCount
        let oldNoise = model.noiseVariance
        var next = model
        var expectedSquares = record[FactorRecord.squaredResiduals]
        for item in 0..<model.itemCount {
            let gram = Array(record[(fields.items + item * fields.itemStride)...].prefix(packed))
            let right = Array(record[(fields.items + item * fields.itemStride + packed)...].prefix(dimension))
            var full = [Double](repeating: 0, count: dimension * dimension)
            SmallMatrices.unpack(gram, dimension, into: &full)
            for index in 0..<dimension { full[index * dimension + index] += oldNoise * model.priorPrecision(index) }
            guard full.withUnsafeMutableBufferPointer({ SmallMatrices.cholesky($0.baseAddress!, dimension) }) else { continue }
            var inverse = [Double](repeating: 0, count: dimension * dimension)
            var triangle = inverse
            SmallMatrices.inverseByTriangle(full, dimension, into: &inverse, triangle: &triangle)
            let theta = (0..<dimension).map { r in
                var value = 0.0
                for c in 0..<dimension { value += inverse[r * dimension + c] * right[c] }
                return value
            }
            var cross = 0.0, quadratic = 0.0, trace = 0.0
            for r in 0..<dimension {
                cross += theta[r] * right[r]
                for c in r..<dimension {
                    let g = gram[SmallMatrices.packedIndex(r, c, dimension)]
                    let weight = r == c ? 1.0 : 2.0
                    quadratic += weight * g * theta[r] * theta[c]
                    trace += weight * g * oldNoise * inverse[r * dimension + c]
                }
            }
            expectedSquares += -2 * cross + quadratic + trace
            for r in 0..<dimension {
                for c in r..<dimension {
                    next.covariances[item * packed + SmallMatrices.packedIndex(r, c, dimension)] = oldNoise * inverse[r * dimension + c]
                }
            }
            for r in 0..<q { next.loadings[item * q + r] = theta[r] }
            for j in 0..<model.componentCount { next.means[item * model.componentCount + j] = theta[q + j] }
        }
        let ratings = record[FactorRecord.ratingCount]
        next.noiseVariance = max(expectedSquares / ratings,
                                 FactorFamily.noiseFloor(squaredResiduals: record[FactorRecord.squaredResiduals], ratings: ratings))
        return next
    }

    /// Σ_i KL(N(θ̄_i, Σ_i) ‖ N(0, Λ⁻¹)) item by item with the scalar routines.
    static func scalarDivergence(_ model: FactorMixture) -> Double {
        let dimension = model.dimension
        let packed = SmallMatrices.packedCount(dimension)
        let q = model.factorCount
        var logPrecisions = 0.0
        for index in 0..<dimension { logPrecisions += log(model.priorPrecision(index)) }
        var total = 0.0
        for item in 0..<model.itemCount {
            let sigma = Array(model.covariances[(item * packed)..<((item + 1) * packed)])
            var trace = 0.0, quadratic = 0.0
            for index in 0..<dimension {
                let precision = model.priorPrecision(index)
                trace += precision * sigma[SmallMatrices.packedIndex(index, index, dimension)]
                let mean = index < q ? model.loadings[item * q + index] : model.means[item * model.componentCount + index - q]
                quadratic += precision * mean * mean
            }
            var full = [Double](repeating: 0, count: dimension * dimension)
            SmallMatrices.unpack(sigma, dimension, into: &full)
            let factored = full.withUnsafeMutableBufferPointer { SmallMatrices.cholesky($0.baseAddress!, dimension) }
            let logDeterminant = factored ? SmallMatrices.logDeterminant(full, dimension) : -.infinity
            total += 0.5 * (trace + quadratic - Double(dimension) - logPrecisions - logDeterminant)
        }
        return total
    }

    /// Ratings the model can reproduce exactly: 40 users × 15 items, every user giving one
    /// value (1–5) to every item. One factor captures the ratings (w_i constant, z_u the user's value),
    /// so the unconstrained σ² falls towards 0 and the objective towards +∞; σ² stops at
    /// its floor, 10⁻⁶ of the mean squared centred rating, and the objective stays finite and
    /// never falls.
    @Test(arguments: [1, 2])
    func theNoiseVarianceStopsAtItsFloorOnRatingsTheModelReproduces(factorCount: Int) throws {
        let values = (0..<40).flatMap { user in [Double](repeating: Double(1 + (user * 7) % 5), count: 15) }
        let matrix = SparseRatingMatrix(dense: DenseRatingMatrix(userCount: 40, itemCount: 15, values: values))
        let offsets = Self.offsets(matrix)
        var squares = 0.0
        for user in 0..<40 {
            for item in 0..<15 {
                let e = values[user * 15 + item] - offsets.baseline(user: user, item: item)
                squares += e * e
            }
        }
        let floor = FactorFamily.noiseFloor(squaredResiduals: squares, ratings: 600)
        #expect(floor > 0 && abs(floor - 1e-6 * squares / 600) <= 1e-20)
        let initial = FactorInitialization.random(matrix: matrix, offsets: offsets, factorCount: factorCount, componentCount: 1,
                                                  priors: FactorPriors(loadings: 1, means: 1), seed: 0)
        let loop = EMLoop(family: FactorFamily(), shards: [FactorNaiveKernel(matrix)], rule: StoppingRule(maxIterations: 2000))
        let run = try loop.run([EMState(initial: initial)])[0]
        #expect(run.model.noiseVariance == floor)
        #expect(run.trace.allSatisfy(\.isFinite) && run.trace.count >= 2)
        #expect(run.falls.isEmpty)
        // The fit explains the ratings: every user's predictions lie within 0.01 of the value given.
        let states = try loop.userStates(run.model)
        let predictor = FactorPredictor(model: run.model, states: states.states, scale: RatingScale(minimum: 1, maximum: 5))
        for user in 0..<40 {
            #expect(abs(predictor.scale.clip(predictor.predict(user: user, item: 3)) - values[user * 15]) <= 0.01, "user \(user)")
        }
    }
}
