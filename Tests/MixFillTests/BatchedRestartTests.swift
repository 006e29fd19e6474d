@testable import MixFill
@testable import MixFillTools
import Testing

/// The batched multi-restart path against the one-restart reference `run(from:)`: the
/// same log-likelihoods bit for bit, the same iteration counts and the same mixtures,
/// whatever the batch holds and however the shards are spread over threads.
@Suite(.serialized, .blasProcessState) struct BatchedRestartTests {
    static let seeds: [UInt32] = [0, 1, 2, 3, 4]

    /// `batched` must be `solo` exactly: every LL of the trace, the iteration count, the
    /// convergence flag and every parameter.
    func expectIdentical(_ batched: FitResult<Mixture>, _ solo: FitResult<Mixture>, _ what: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(batched.objective == solo.objective, "\(what): LL \(batched.objective) vs \(solo.objective)", sourceLocation: sourceLocation)
        #expect(batched.iterations == solo.iterations, "\(what): iterations \(batched.iterations) vs \(solo.iterations)", sourceLocation: sourceLocation)
        #expect(batched.converged == solo.converged, "\(what)", sourceLocation: sourceLocation)
        let sameTrace = batched.trace == solo.trace
        #expect(sameTrace, "\(what): traces differ", sourceLocation: sourceLocation)
        let sameMixture = batched.model == solo.model
        #expect(sameMixture, "\(what): mixtures differ by up to \(largestDifference(batched.model.means, solo.model.means)) in the means", sourceLocation: sourceLocation)
    }

    /// The batch's shards on `workers` threads and OpenBLAS on `blasThreads`: neither may
    /// change a bit of any run (the shards are summed in order; DGEMM in the kernel's
    /// orientation sums each output in an order of its own).
    @Test(arguments: [1, 2])
    func courseJobBatchedEqualsEachSeedAlone(shardCount: Int) throws {
        let data = try #require(Fixtures.netflix)
        let em = CourseEM(shards: BLASKernel.shards(of: data, count: shardCount))
        let initials = try Self.seeds.map { try Initialization.courseMixture(data: data, componentCount: 12, seed: $0) }
        BLASThreads.set(1)
        let solo = try initials.map { try em.run(from: $0) }
        // The course's iteration counts (seeds 0–4 at K = 12), so the batch really thins out.
        #expect(solo.map(\.iterations) == [23, 27, 15, 21, 16])
        for (workers, blasThreads) in [(1, 2), (1, 1), (2, 1)] {
            BLASThreads.set(blasThreads)
            let batched = try CourseEM(shards: em.loop.shards, workers: workers).runBatched(from: initials)
            #expect(batched.count == initials.count)
            for index in initials.indices {
                expectIdentical(batched[index], solo[index], "\(shardCount) shards, \(workers) workers, \(blasThreads) BLAS threads, seed \(index)")
            }
            #expect(batched.allSatisfy { $0.seconds > 0 })
        }
    }

    @Test func theOneRestartLoopMayRunItsShardsOnThreads() throws {
        // A single run with the shards on two threads: the same bits as with the shards in turn.
        let data = try #require(Fixtures.netflix)
        let shards = BLASKernel.shards(of: data, count: 2)
        let initial = try Initialization.courseMixture(data: data, componentCount: 12, seed: 3)
        let inTurn = try CourseEM(shards: shards).run(from: initial)
        expectIdentical(try CourseEM(shards: shards, workers: 2).run(from: initial), inTurn, "shards on 2 threads")
    }

    @Test func aBatchMayMixComponentCounts() throws {
        // K = 1, 3, 4, 12 and 7 side by side: the stacked GEMMs have 27 columns whose
        // blocks start at odd offsets, and each run still equals its solo run.
        let data = try #require(Fixtures.netflix)
        let em = CourseEM(shards: BLASKernel.shards(of: data, count: 2), workers: 2)
        let plan: [(k: Int, seed: UInt32)] = [(1, 0), (3, 5), (4, 1), (12, 2), (7, 3)]
        let initials = try plan.map { try Initialization.courseMixture(data: data, componentCount: $0.k, seed: $0.seed) }
        let batched = try em.runBatched(from: initials)
        #expect(batched.count == initials.count)
        for (index, initial) in initials.enumerated() {
            expectIdentical(batched[index], try em.run(from: initial), "K = \(plan[index].k)")
        }
    }

    @Test func aBatchOfSeedsKeepsTheBestRunOfTheSeedsAlone() throws {
        let data = try #require(Fixtures.netflix)
        let em = CourseEM(kernel: BLASKernel(data))
        BLASThreads.set(2)
        let together = try em.fit(data: data, componentCount: 5, seeds: [7, 8, 9])
        let apart = try [UInt32(7), 8, 9].map { try em.fit(data: data, componentCount: 5, seeds: [$0]).runs[0] }
        #expect(together.runs.map(\.seed) == [7, 8, 9])
        #expect(together.best.seed == MultiStartFit(componentCount: 5, runs: apart).best.seed)
        #expect(together.runs.count == apart.count)
        for (a, b) in zip(together.runs, apart) {
            expectIdentical(a.result, b.result, "seed \(a.seed)")
        }
    }

    @Test func theIterationCapStopsEachRestartAsItStopsAlone() throws {
        let data = try #require(Fixtures.netflix)
        let em = CourseEM(kernel: BLASKernel(data), stoppingRule: StoppingRule(maxIterations: 18))
        let initials = try Self.seeds.map { try Initialization.courseMixture(data: data, componentCount: 12, seed: $0) }
        let batched = try em.runBatched(from: initials)
        #expect(batched.count == initials.count)
        for (index, initial) in initials.enumerated() {
            let solo = try em.run(from: initial)
            expectIdentical(batched[index], solo, "seed \(index)")
        }
        // Seeds 2 and 4 converge in 15 and 16 iterations; the others hit the cap.
        #expect(batched.map(\.converged) == [false, false, true, false, true])
        #expect(batched.map(\.iterations) == [18, 18, 15, 18, 16])
    }

    @Test func aWarmStartContinuesInTheBatchAsItDoesAlone() throws {
        // Stop after 10 iterations, then continue with the last log-likelihood as the
        // previous one (`fit --init-model` on the same data): batched and solo agree, and
        // both end where the uninterrupted run ends.
        let data = try #require(Fixtures.netflix)
        let shards = BLASKernel.shards(of: data, count: 2)
        let initial = try Initialization.courseMixture(data: data, componentCount: 12, seed: 1)
        let first = try CourseEM(shards: shards, stoppingRule: StoppingRule(maxIterations: 10)).run(from: initial)
        let em = CourseEM(shards: shards)
        let solo = try em.run(from: first.model, previousLogLikelihood: first.objective)
        let other = try Initialization.courseMixture(data: data, componentCount: 12, seed: 4)
        let batched = try CourseEM(shards: shards, workers: 2).runBatched(from: [first.model, other],
                                                                          previousLogLikelihoods: [first.objective, nil])
        expectIdentical(batched[0], solo, "continued run")
        let whole = try em.run(from: initial)
        #expect(first.iterations + batched[0].iterations == whole.iterations)
        #expect(batched[0].objective == whole.objective)
    }

    @Test func kernelsWithoutABatchedEStepRunTheMixturesInTurn() throws {
        // The naive kernel has no batched E-step; the batched loop must still give its
        // solo runs, and agree with the BLAS batch to the kernels' usual tolerance.
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let naive = CourseEM(kernel: NaiveKernel(data))
        let blas = CourseEM(shards: BLASKernel.shards(of: data, count: 3))
        let initials = try [0, 1, 2].map { try Initialization.courseMixture(data: data, componentCount: 3, seed: $0) }
        let naiveBatch = try naive.runBatched(from: initials)
        let blasBatch = try CourseEM(shards: blas.loop.shards, workers: 3).runBatched(from: initials)
        #expect(naiveBatch.count == initials.count && blasBatch.count == initials.count)
        for (index, initial) in initials.enumerated() {
            expectIdentical(naiveBatch[index], try naive.run(from: initial), "naive, seed \(index)")
            #expect(relativeError(blasBatch[index].objective, naiveBatch[index].objective) <= 1e-10)
            #expect(blasBatch[index].iterations == naiveBatch[index].iterations)
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
        let reference = try CourseEM(kernel: NaiveKernel(data)).eStep(mixture)
        for count in [1, 2, 3] {
            let shards = BLASKernel.shards(of: data, count: count)
            #expect(shards.map(\.userCount).reduce(0, +) == 1200)
            let statistics = try CourseEM(shards: shards).eStep(mixture)
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
        let double = try CourseEM(kernel: BLASKernel(data)).eStep(mixture)
        let singleKernel = BLASKernel(data, precision: .single)
        // Ratings 1–5 with mean ≈ 3.6: stored as x − 4, so the Float products stay small;
        // double precision is shifted alike.
        #expect(singleKernel.ratingOffset == 4)
        #expect(BLASKernel(data).ratingOffset == 4)
        #expect(singleKernel.dataBytes == 1200 * 2400 * 4)
        let single = try CourseEM(kernel: singleKernel).eStep(mixture)
        #expect(relativeError(single.logLikelihood, double.logLikelihood) <= 1e-6,
                "LL \(single.logLikelihood) vs \(double.logLikelihood)")
        expectClose(single.ratingSums, double.ratingSums, relative: 1e-5, absolute: 1e-4, "N")
        expectClose(single.observedWeights, double.observedWeights, relative: 1e-5, absolute: 1e-4, "D")
        expectClose(single.responsibilities, double.responsibilities, relative: 1e-5, absolute: 1e-4, "n̂")
    }

    @Test func courseJobFinalLogLikelihoodsWithin1e5OfDouble() throws {
        let data = try #require(Fixtures.netflix)
        let double = CourseEM(shards: BLASKernel.shards(of: data, count: 2), workers: 2)
        let single = CourseEM(shards: BLASKernel.shards(of: data, count: 2, precision: .single), workers: 2)
        let doubleFit = try double.fit(data: data, componentCount: 12, seeds: [0, 1, 2, 3, 4])
        let singleFit = try single.fit(data: data, componentCount: 12, seeds: [0, 1, 2, 3, 4])
        #expect(singleFit.runs.count == 5 && doubleFit.runs.count == 5)
        for (a, b) in zip(singleFit.runs, doubleFit.runs) {
            #expect(relativeError(a.result.objective, b.result.objective) <= 1e-5,
                    "seed \(a.seed): \(a.result.objective) vs \(b.result.objective)")
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
        let single = CourseEM(shards: BLASKernel.shards(of: data, count: 2, precision: .single), workers: 2)
        let initials = try [0, 1, 2, 3, 4].map { try Initialization.courseMixture(data: data, componentCount: 12, seed: UInt32($0)) }
        let batched = try single.runBatched(from: initials)
        #expect(batched.count == initials.count)
        for (index, initial) in initials.enumerated() {
            let solo = try single.run(from: initial)
            #expect(relativeError(batched[index].objective, solo.objective) <= 1e-7, "seed \(index)")
            #expect(batched[index].iterations == solo.iterations, "seed \(index)")
        }
    }

    @Test func theCourseTestCaseConvergesToTheSameMixture() throws {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let solutions = try CourseSolutions(path: Fixtures.data("test_solutions.txt"))
        let initial = try Initialization.courseMixture(data: data, componentCount: 4, seed: 0)
        let single = try CourseEM(kernel: BLASKernel(data, precision: .single)).run(from: initial)
        #expect(relativeError(single.objective, solutions.convergedLogLikelihood) <= 1e-5)
        // On 20 users the last step's gain (8.6e-5) is within Float's noise of the stopping
        // threshold (1e-6·|LL| = 8.5e-5): single may stop one iteration before double's 20.
        #expect(single.iterations == 19 || single.iterations == 20)
        // Step for step it follows double closely.
        let rule = StoppingRule(maxIterations: single.iterations)
        let double = try CourseEM(kernel: BLASKernel(data), stoppingRule: rule).run(from: initial)
        expectClose(single.trace, double.trace, relative: 1e-6, absolute: 0, "LL trace")
        expectClose(single.model.means, double.model.means, relative: 1e-5, absolute: 1e-5, "means")
        expectClose(single.model.variances, double.model.variances, relative: 1e-5, absolute: 0, "variances")
    }
}
