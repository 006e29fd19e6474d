import MixFill
import Testing

/// The batched multi-restart path against the one-restart reference `run(from:)`: the
/// same log-likelihoods bit for bit, the same iteration counts and the same mixtures,
/// whatever the batch holds and however the shards are spread over threads.
@Suite(.serialized, .blasProcessState) struct BatchedRestartTests {
    static let seeds: [UInt32] = [0, 1, 2, 3, 4]

    /// `batched` must be `solo` exactly: every LL of the trace, the iteration count, the
    /// convergence flag and every parameter.
    func expectIdentical(_ batched: FitResult, _ solo: FitResult, _ what: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(batched.logLikelihood == solo.logLikelihood, "\(what): LL \(batched.logLikelihood) vs \(solo.logLikelihood)", sourceLocation: sourceLocation)
        #expect(batched.iterations == solo.iterations, "\(what): iterations \(batched.iterations) vs \(solo.iterations)", sourceLocation: sourceLocation)
        #expect(batched.converged == solo.converged, "\(what)", sourceLocation: sourceLocation)
        let sameTrace = batched.logLikelihoodTrace == solo.logLikelihoodTrace
        #expect(sameTrace, "\(what): traces differ", sourceLocation: sourceLocation)
        let sameMixture = batched.mixture == solo.mixture
        #expect(sameMixture, "\(what): mixtures differ by up to \(largestDifference(batched.mixture.means, solo.mixture.means)) in the means", sourceLocation: sourceLocation)
    }

    @Test(arguments: [1, 2])
    func courseJobBatchedEqualsEachSeedAlone(shardCount: Int) throws {
        let data = try #require(Fixtures.netflix)
        let em = ExpectationMaximization(shards: BLASKernel.shards(of: data, count: shardCount))
        let initials = try Self.seeds.map { try Initialization.courseMixture(data: data, componentCount: 12, seed: $0) }
        let solo = try initials.map { try em.run(from: $0) }
        // The course's iteration counts (seeds 0–4 at K = 12), so the batch really thins out.
        #expect(solo.map(\.iterations) == [23, 27, 15, 21, 16])
        for parallelism in [Parallelism.blasThreads(2), .blasThreads(1), .shardWorkers(2)] {
            let batched = try em.runBatched(from: initials, parallelism: parallelism)
            for index in initials.indices {
                expectIdentical(batched.results[index], solo[index], "\(shardCount) shards, \(parallelism), seed \(index)")
            }
            #expect(batched.seconds.allSatisfy { $0 > 0 })
        }
    }

    @Test func theOneRestartLoopMayRunItsShardsOnThreads() throws {
        // `run(from:)` with the shards on two threads (as `fit` runs with checkpoints or the
        // live display): the same bits as with the shards in turn.
        let data = try #require(Fixtures.netflix)
        var em = ExpectationMaximization(shards: BLASKernel.shards(of: data, count: 2))
        let initial = try Initialization.courseMixture(data: data, componentCount: 12, seed: 3)
        let inTurn = try em.run(from: initial)
        em.shardWorkers = 2
        expectIdentical(try em.run(from: initial), inTurn, "shards on 2 threads")
    }

    @Test func aBatchMayMixComponentCounts() throws {
        // K = 1, 3, 4, 12 and 7 side by side: the stacked GEMMs have 27 columns whose
        // blocks start at odd offsets, and each run still equals its solo run.
        let data = try #require(Fixtures.netflix)
        let em = ExpectationMaximization(shards: BLASKernel.shards(of: data, count: 2))
        let plan: [(k: Int, seed: UInt32)] = [(1, 0), (3, 5), (4, 1), (12, 2), (7, 3)]
        let initials = try plan.map { try Initialization.courseMixture(data: data, componentCount: $0.k, seed: $0.seed) }
        let batched = try em.runBatched(from: initials, parallelism: .shardWorkers(2))
        for (index, initial) in initials.enumerated() {
            expectIdentical(batched.results[index], try em.run(from: initial), "K = \(plan[index].k)")
        }
    }

    @Test func fitBatchedKeepsTheSameBestRunAsFit() throws {
        let data = try #require(Fixtures.netflix)
        let em = ExpectationMaximization(kernel: BLASKernel(data))
        let together = try em.fitBatched(data: data, componentCount: 5, seeds: [7, 8, 9], parallelism: .blasThreads(2))
        let apart = try em.fit(data: data, componentCount: 5, seeds: [7, 8, 9])
        #expect(together.runs.map(\.seed) == [7, 8, 9])
        #expect(together.best.seed == apart.best.seed)
        for (a, b) in zip(together.runs, apart.runs) {
            expectIdentical(a.result, b.result, "seed \(a.seed)")
        }
    }

    @Test func theIterationCapStopsEachRestartAsItStopsAlone() throws {
        let data = try #require(Fixtures.netflix)
        let em = ExpectationMaximization(kernel: BLASKernel(data), stoppingRule: StoppingRule(maxIterations: 18))
        let initials = try Self.seeds.map { try Initialization.courseMixture(data: data, componentCount: 12, seed: $0) }
        let batched = try em.runBatched(from: initials)
        for (index, initial) in initials.enumerated() {
            let solo = try em.run(from: initial)
            expectIdentical(batched.results[index], solo, "seed \(index)")
        }
        // Seeds 2 and 4 converge in 15 and 16 iterations; the others hit the cap.
        #expect(batched.results.map(\.converged) == [false, false, true, false, true])
        #expect(batched.results.map(\.iterations) == [18, 18, 15, 18, 16])
    }

    @Test func aWarmStartContinuesInTheBatchAsItDoesAlone() throws {
        // Stop after 10 iterations, then continue with the last log-likelihood as the
        // previous one (`fit --init-model` on the same data): batched and solo agree, and
        // both end where the uninterrupted run ends.
        let data = try #require(Fixtures.netflix)
        let shards = BLASKernel.shards(of: data, count: 2)
        let initial = try Initialization.courseMixture(data: data, componentCount: 12, seed: 1)
        let first = try ExpectationMaximization(shards: shards, stoppingRule: StoppingRule(maxIterations: 10)).run(from: initial)
        let em = ExpectationMaximization(shards: shards)
        let solo = try em.run(from: first.mixture, previousLogLikelihood: first.logLikelihood)
        let batched = try em.runBatched(from: [first.mixture], previousLogLikelihoods: [first.logLikelihood],
                                        parallelism: .shardWorkers(2))
        expectIdentical(batched.results[0], solo, "continued run")
        let whole = try em.run(from: initial)
        #expect(first.iterations + batched.results[0].iterations == whole.iterations)
        #expect(batched.results[0].logLikelihood == whole.logLikelihood)
    }

    @Test func kernelsWithoutABatchedEStepRunTheMixturesInTurn() throws {
        // The naive kernel has no batched E-step; the batched loop must still give its
        // solo runs, and agree with the BLAS batch to the kernels' usual tolerance.
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let naive = ExpectationMaximization(kernel: NaiveKernel(data))
        let blas = ExpectationMaximization(shards: BLASKernel.shards(of: data, count: 3))
        let initials = try [0, 1, 2].map { try Initialization.courseMixture(data: data, componentCount: 3, seed: $0) }
        let naiveBatch = try naive.runBatched(from: initials)
        let blasBatch = try blas.runBatched(from: initials, parallelism: .shardWorkers(3))
        for (index, initial) in initials.enumerated() {
            expectIdentical(naiveBatch.results[index], try naive.run(from: initial), "naive, seed \(index)")
            #expect(relativeError(blasBatch.results[index].logLikelihood, naiveBatch.results[index].logLikelihood) <= 1e-10)
            #expect(blasBatch.results[index].iterations == naiveBatch.results[index].iterations)
        }
    }

    @Test func aDominantComponentGetsAPosteriorOfExactlyOne() throws {
        // The course's M-step updates μ_ji only where D_ji ≥ 1, and for an item with a single
        // rater D_ji is that user's posterior: a posterior of 1 − 2⁻⁵² instead of 1 changes
        // the fit. The BLAS kernel must therefore give exactly 1 wherever the naive kernel does.
        let data = try #require(Fixtures.netflix)
        let mixture = try Initialization.courseMixture(data: data, componentCount: 12, seed: 1)
        let naive = NaiveKernel(data).posteriors(mixture).posteriors
        // One kernel over all users, and two shards whose rows follow each other.
        let layouts = [[BLASKernel(data)], BLASKernel.shards(of: data, count: 2)]
        for kernels in layouts {
            var fast = [Double]()
            for kernel in kernels { fast += kernel.posteriors(mixture).posteriors }
            let ones = naive.indices.filter { naive[$0] == 1 }
            #expect(ones.count > 100, "the initial mixture gives many users a dominant component")
            #expect(ones.allSatisfy { fast[$0] == 1 }, "\(ones.filter { fast[$0] != 1 }.count) posteriors of 1 came out below 1")
            expectClose(fast, naive, absolute: 1e-12, "posteriors, \(kernels.count) shard(s)")
        }
    }

    @Test func shardsAddUpToTheWholeMatrix() throws {
        // Splitting users over shards only reorders sums: one E-step over 1, 2 and 3
        // shards, and the naive kernel, agree to rounding.
        let data = try #require(Fixtures.netflix)
        let mixture = try Initialization.courseMixture(data: data, componentCount: 12, seed: 1)
        let reference = ExpectationMaximization(kernel: NaiveKernel(data)).eStep(mixture)
        for count in [1, 2, 3] {
            let shards = BLASKernel.shards(of: data, count: count)
            #expect(shards.map(\.userCount).reduce(0, +) == 1200)
            let statistics = ExpectationMaximization(shards: shards).eStep(mixture)
            #expect(statistics.userCount == 1200)
            #expect(relativeError(statistics.logLikelihood, reference.logLikelihood) <= 1e-12, "\(count) shards")
            expectClose(statistics.ratingSums, reference.ratingSums, relative: 1e-11, absolute: 1e-9, "N, \(count) shards")
            expectClose(statistics.observedWeights, reference.observedWeights, relative: 1e-11, absolute: 1e-9, "D, \(count) shards")
            expectClose(statistics.responsibilities, reference.responsibilities, relative: 1e-11, absolute: 1e-9, "n̂, \(count) shards")
        }
    }
}

/// `--precision single`: Float32 data and SGEMM, sums over users in Double.
@Suite(.serialized, .blasProcessState) struct SinglePrecisionTests {
    @Test func oneEStepAgreesWithDoubleToFloatRounding() throws {
        let data = try #require(Fixtures.netflix)
        let mixture = try Initialization.courseMixture(data: data, componentCount: 12, seed: 0)
        let double = ExpectationMaximization(kernel: BLASKernel(data)).eStep(mixture)
        let singleKernel = BLASKernel(data, precision: .single)
        // Ratings 1–5 with mean ≈ 3.6: stored as x − 4, so the Float products stay small.
        #expect(singleKernel.ratingOffset == 4)
        #expect(singleKernel.dataBytes == 1200 * 2400 * 4)
        let single = ExpectationMaximization(kernel: singleKernel).eStep(mixture)
        #expect(relativeError(single.logLikelihood, double.logLikelihood) <= 1e-6,
                "LL \(single.logLikelihood) vs \(double.logLikelihood)")
        expectClose(single.ratingSums, double.ratingSums, relative: 1e-5, absolute: 1e-4, "N")
        expectClose(single.observedWeights, double.observedWeights, relative: 1e-5, absolute: 1e-4, "D")
        expectClose(single.responsibilities, double.responsibilities, relative: 1e-5, absolute: 1e-4, "n̂")
    }

    @Test func courseJobFinalLogLikelihoodsWithin1e5OfDouble() throws {
        let data = try #require(Fixtures.netflix)
        let double = ExpectationMaximization(shards: BLASKernel.shards(of: data, count: 2))
        let single = ExpectationMaximization(shards: BLASKernel.shards(of: data, count: 2, precision: .single))
        let doubleFit = try double.fitBatched(data: data, componentCount: 12, seeds: [0, 1, 2, 3, 4], parallelism: .shardWorkers(2))
        let singleFit = try single.fitBatched(data: data, componentCount: 12, seeds: [0, 1, 2, 3, 4], parallelism: .shardWorkers(2))
        for (a, b) in zip(singleFit.runs, doubleFit.runs) {
            #expect(relativeError(a.result.logLikelihood, b.result.logLikelihood) <= 1e-5,
                    "seed \(a.seed): \(a.result.logLikelihood) vs \(b.result.logLikelihood)")
            #expect(a.result.converged)
        }
        #expect(singleFit.best.seed == 1)
        #expect(singleFit.runs.map(\.result.iterations) == doubleFit.runs.map(\.result.iterations))
    }

    @Test func aSinglePrecisionBatchAgreesWithSoloRunsToFloatRounding() throws {
        // Unlike DGEMM, OpenBLAS's SGEMM kernels sum a column in an order that depends on
        // where it falls in the batch, so single-precision batches match their solo runs
        // to Float rounding, not bit for bit (double is exact; see BatchedRestartTests).
        let data = try #require(Fixtures.netflix)
        let single = ExpectationMaximization(shards: BLASKernel.shards(of: data, count: 2, precision: .single))
        let initials = try [0, 1, 2, 3, 4].map { try Initialization.courseMixture(data: data, componentCount: 12, seed: UInt32($0)) }
        let batched = try single.runBatched(from: initials, parallelism: .shardWorkers(2))
        for (index, initial) in initials.enumerated() {
            let solo = try single.run(from: initial)
            #expect(relativeError(batched.results[index].logLikelihood, solo.logLikelihood) <= 1e-7, "seed \(index)")
            #expect(batched.results[index].iterations == solo.iterations, "seed \(index)")
        }
    }

    @Test func theCourseTestCaseConvergesToTheSameMixture() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let solutions = try CourseSolutions(path: Fixtures.data("test_solutions.txt"))
        let initial = try Initialization.courseMixture(data: data, componentCount: 4, seed: 0)
        let single = try ExpectationMaximization(kernel: BLASKernel(data, precision: .single)).run(from: initial)
        #expect(relativeError(single.logLikelihood, solutions.convergedLogLikelihood) <= 1e-5)
        // On 20 users the last step's gain (8.6e-5) is within Float's noise of the stopping
        // threshold (1e-6·|LL| = 8.5e-5): single may stop one iteration before double's 20.
        #expect(single.iterations == 19 || single.iterations == 20)
        // Step for step it follows double closely.
        let rule = StoppingRule(maxIterations: single.iterations)
        let double = try ExpectationMaximization(kernel: BLASKernel(data), stoppingRule: rule).run(from: initial)
        expectClose(single.logLikelihoodTrace, double.logLikelihoodTrace, relative: 1e-6, absolute: 0, "LL trace")
        expectClose(single.mixture.means, double.mixture.means, relative: 1e-5, absolute: 1e-5, "means")
        expectClose(single.mixture.variances, double.mixture.variances, relative: 1e-5, absolute: 0, "variances")
    }
}
