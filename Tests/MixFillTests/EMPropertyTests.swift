@testable import MixFill
@testable import MixFillTools
import Testing

/// Properties of EM worth pinning, in the manner of scikit-learn's mixture tests.
@Suite(.blasProcessState) struct EMPropertyTests {
    @Test(arguments: [Backend.naive, .blas])
    func logLikelihoodNeverDecreases(_ backend: Backend) throws {
        let data = try #require(Fixtures.netflix)
        let em = CourseEM(kernel: backend.makeKernel(for: data))
        for seed: UInt32 in [0, 3] {
            let initial = try Initialization.courseMixture(data: data, componentCount: 6, seed: seed)
            let trace = try em.run(from: initial).trace
            #expect(trace.count >= 5)
            for (earlier, later) in zip(trace, trace.dropFirst()) {
                // EM's monotonicity, up to rounding in a sum of 1200 terms of size ~1e3.
                #expect(later >= earlier - 1e-9 * abs(earlier), "LL fell from \(earlier) to \(later), seed \(seed)")
            }
        }
    }

    @Test func stoppingRuleIsTheCoursesRelativeRule() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let em = CourseEM(kernel: NaiveKernel(data))
        let result = try em.run(from: try Initialization.courseMixture(data: data, componentCount: 4, seed: 0))
        let trace = result.trace
        let last = trace[trace.count - 1]
        let beforeLast = trace[trace.count - 2]
        #expect(last - beforeLast <= 1e-6 * abs(last))
        for index in 1..<(trace.count - 1) {
            #expect(trace[index] - trace[index - 1] > 1e-6 * abs(trace[index]))
        }
        #expect(result.iterations == trace.count)
    }

    @Test func bicIsTheCourseFormula() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let em = CourseEM(kernel: BLASKernel(data))
        let result = try em.run(from: try Initialization.courseMixture(data: data, componentCount: 3, seed: 2))
        let bic = Completion.bayesianInformationCriterion(logLikelihood: result.objective, mixture: result.model, userCount: 20)
        // K·d + K + (K − 1) = 15 + 3 + 2 = 20 free parameters, n = 20 users.
        #expect(result.model.parameterCount == 20)
        #expect(abs(bic - (result.objective - 0.5 * 20 * log(20.0))) <= 1e-12 * abs(bic))
    }

    @Test(arguments: [Backend.naive, .blas])
    func fillKeepsObservedEntriesAndFillsEveryMissingOne(_ backend: Backend) throws {
        let data = try #require(Fixtures.netflix)
        let em = CourseEM(kernel: backend.makeKernel(for: data))
        let result = try em.run(from: try Initialization.courseMixture(data: data, componentCount: 4, seed: 1))
        let filled = Completion.fill(data, mixture: result.model, posteriors: try em.posteriors(result.model).posteriors)
        var missing = 0
        for index in data.values.indices {
            if data.values[index] != 0 {
                #expect(filled.values[index] == data.values[index])
            } else {
                missing += 1
                // A convex combination of means. Each mean is a weighted mean of ratings in
                // 1...5 or, where its soft count never reached 1, still the initial user's
                // entry, which may be 0: the course's model can predict below 1.
                // (5 + 1e-12: posteriors sum to 1 up to rounding.)
                #expect(filled.values[index] >= 0 && filled.values[index] <= 5 + 1e-12)
            }
        }
        #expect(missing == 1200 * 1200 - data.observedCount)
    }

    @Test func bestOfSeveralSeedsIsNeverBelowAnySingleSeed() throws {
        let data = try #require(Fixtures.netflix)
        let em = CourseEM(kernel: BLASKernel(data))
        let seeds: [UInt32] = [0, 1, 2, 3, 4]
        let fit = try em.fit(data: data, componentCount: 5, seeds: seeds)
        for seed in seeds {
            let single = try em.fit(data: data, componentCount: 5, seeds: [seed])
            #expect(fit.best.result.objective >= single.best.result.objective)
            // A seed's run is the same alone as among others.
            #expect(single.best.result.objective == fit.runs.first { $0.seed == seed }?.result.objective)
        }
        #expect(Set(fit.runs.map(\.result.objective)).count > 1, "the seeds should reach different optima")
    }

    @Test func shardedStatisticsEqualOneShard() throws {
        // Sufficient statistics are sums over users, so two shards reproduce one.
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let top = DenseRatingMatrix(userCount: 12, itemCount: 5, values: Array(data.values[0..<60]))
        let bottom = DenseRatingMatrix(userCount: 8, itemCount: 5, values: Array(data.values[60...]))
        let mixture = try Initialization.courseMixture(data: data, componentCount: 4, seed: 0)
        let whole = try CourseEM(kernel: NaiveKernel(data)).eStep(mixture)
        let sharded = try CourseEM(shards: [BLASKernel(top), NaiveKernel(bottom)]).eStep(mixture)
        #expect(sharded.userCount == 20)
        #expect(abs(sharded.logLikelihood - whole.logLikelihood) <= 1e-12 * abs(whole.logLikelihood))
        expectClose(sharded.ratingSums, whole.ratingSums, absolute: 1e-12, "N")
        expectClose(sharded.observedWeights, whole.observedWeights, absolute: 1e-12, "D")
        expectClose(sharded.responsibilities, whole.responsibilities, absolute: 1e-12, "n̂")
        expectClose(sharded.weightedSquaredNorms, whole.weightedSquaredNorms, absolute: 1e-10, "Σ p‖x‖²")
        expectClose(sharded.weightedObservedCounts, whole.weightedObservedCounts, absolute: 1e-12, "Σ p|C_u|")
    }

    @Test func statisticsAgreeWithADirectEstimate() throws {
        // N, D and the variance numerator computed straight from their definitions.
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let mixture = try Initialization.courseMixture(data: data, componentCount: 4, seed: 0)
        let em = CourseEM(kernel: BLASKernel(data))
        let statistics = try em.eStep(mixture)
        let posteriors = try em.posteriors(mixture).posteriors
        var ratingSums = [Double](repeating: 0, count: 4 * 5)
        var observedWeights = [Double](repeating: 0, count: 4 * 5)
        for user in 0..<20 { for j in 0..<4 { for item in 0..<5 where data[user, item] != 0 {
            ratingSums[j * 5 + item] += posteriors[user * 4 + j] * data[user, item]
            observedWeights[j * 5 + item] += posteriors[user * 4 + j]
        } } }
        expectClose(statistics.ratingSums, ratingSums, absolute: 1e-12, "N")
        expectClose(statistics.observedWeights, observedWeights, absolute: 1e-12, "D")

        let updated = MStep.update(mixture, with: statistics)
        for j in 0..<4 {
            var numerator = 0.0
            var denominator = 0.0
            for user in 0..<20 {
                for item in 0..<5 where data[user, item] != 0 {
                    let difference = data[user, item] - updated.means[j * 5 + item]
                    numerator += posteriors[user * 4 + j] * difference * difference
                    denominator += posteriors[user * 4 + j]
                }
            }
            #expect(abs(updated.variances[j] - max(numerator / denominator, 0.25)) <= 1e-12)
        }
    }

    /// A family whose model is the iteration count and whose E-step's objective follows a
    /// script, so that the loop can be shown a fall EM itself never makes.
    struct ScriptedFamily: EMFamily {
        let ascent: Bool
        func recordLength(_ model: Int) -> Int { 1 }
        func objective(_ model: Int, record: UnsafeBufferPointer<Double>, workers: Int) -> Double { record[0] }
        func maximise(_ model: Int, record: UnsafeBufferPointer<Double>, workers: Int) -> Int { model + 1 }
        func guaranteesAscent(from model: Int) -> Bool { ascent }
    }

    /// The one "user" of a scripted fit: writes the script's objective for model m.
    final class ScriptedKernel: StatisticsKernel {
        let objectives: [Double]
        let userCount = 1
        let name = "scripted"
        init(_ objectives: [Double]) { self.objectives = objectives }
        func computeStatistics(_ models: [Int], layout: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>) {
            for (index, model) in models.enumerated() { buffer[layout.record(index).lowerBound] = objectives[model] }
        }
        func userStates(_ model: Int) -> (states: [Double], logLikelihood: Double) { ([], objectives[model]) }
    }

    /// The loop records a fall of the objective as a warning for the run (which then stops:
    /// a fall meets the stopping rule), and records none where the family says the step
    /// from that model carries no guarantee (the course's first step from variances below
    /// the floor).
    @Test(arguments: [true, false])
    func aFallingObjectiveIsAWarningWhereEMGuaranteesAscent(_ ascent: Bool) throws {
        let script = [-100.0, -50, -20, -30, -10]
        let loop = EMLoop(family: ScriptedFamily(ascent: ascent), shards: [ScriptedKernel(script)])
        let fits = try loop.fit(componentCounts: [2], start: .seeds([7]), initial: { _, _ in 0 })
        try #require(fits.count == 1 && fits[0].runs.count == 1)
        let result = fits[0].runs[0].result
        #expect(result.trace == [-100, -50, -20, -30])
        #expect(result.converged && result.model == 4)
        #expect(result.falls == (ascent ? [4] : []))
        #expect(fits[0].warnings == (ascent ? [.objectiveFell(componentCount: 2, seed: 7, iterations: [4])] : []))
        if ascent {
            #expect(fits[0].warnings[0].text(maxIterationsOption: "--max-iterations")
                    .hasPrefix("K = 2, seed 7: the log-likelihood fell at iteration 4, which EM never does"))
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
