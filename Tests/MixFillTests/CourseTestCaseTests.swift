@testable import MixFill
@testable import MixFillTools
import Testing

/// The course's own small test case (test_incomplete.txt, K = 4, seed 0), against every
/// value in test_solutions.txt, on both backends. The solutions are printed with 8
/// decimals (or 8 significant digits), so 1e-8 is the tightest meaningful tolerance.
@Suite(.blasProcessState) struct CourseTestCaseTests {
    let data: DenseRatingMatrix
    let solutions: CourseSolutions

    init() throws {
        data = try Fixtures.load(Fixtures.smallIncomplete)
        solutions = try CourseSolutions(path: Fixtures.data("test_solutions.txt"))
    }

    @Test func initialMixtureMatchesTheCourse() throws {
        #expect(Initialization.initialUsers(userCount: 20, componentCount: 4, seed: 0) == [18, 1, 19, 8])
        let initial = try Initialization.courseMixture(data: data, componentCount: 4, seed: 0)
        expectClose(initial.means, solutions.initial.means, absolute: 0, "initial means")
        // The course prints the variances rounded to 2 decimals.
        expectClose(initial.variances, solutions.initial.variances, absolute: 0.005, "initial variances")
        #expect(initial.weights == [0.25, 0.25, 0.25, 0.25])
    }

    @Test(arguments: Backend.allCases)
    func firstEStepMatches(_ backend: Backend) throws {
        let initial = try Initialization.courseMixture(data: data, componentCount: 4, seed: 0)
        let em = CourseEM(kernel: backend.makeKernel(for: data))
        let (posteriors, logLikelihood) = try em.posteriors(initial)
        expectClose(posteriors, solutions.firstPosteriors, absolute: 1e-8, "first E-step posteriors (\(backend))")
        #expect(relativeError(logLikelihood, -152.16319226209848) < 1e-14)
        #expect(relativeError(try em.eStep(initial).logLikelihood, solutions.firstLogLikelihood) < 1e-14)
    }

    @Test(arguments: Backend.allCases)
    func firstMStepMatches(_ backend: Backend) throws {
        let initial = try Initialization.courseMixture(data: data, componentCount: 4, seed: 0)
        let em = CourseEM(kernel: backend.makeKernel(for: data))
        let updated = MStep.update(initial, with: try em.eStep(initial))
        expectClose(updated.means, solutions.afterFirstMStep.means, absolute: 1e-8, "means after the first M-step (\(backend))")
        expectClose(updated.variances, solutions.afterFirstMStep.variances, absolute: 1e-8, "variances after the first M-step")
        expectClose(updated.weights, solutions.afterFirstMStep.weights, absolute: 1e-8, "weights after the first M-step")
    }

    @Test(arguments: Backend.allCases)
    func convergedRunAndFillMatch(_ backend: Backend) throws {
        let initial = try Initialization.courseMixture(data: data, componentCount: 4, seed: 0)
        let em = CourseEM(kernel: backend.makeKernel(for: data))
        let result = try em.run(from: initial)
        #expect(result.converged)
        #expect(relativeError(result.objective, solutions.convergedLogLikelihood) < 1e-12)
        expectClose(result.model.means, solutions.converged.means, absolute: 1e-8, "converged means (\(backend))")
        expectClose(result.model.variances, solutions.converged.variances, absolute: 1e-8, "converged variances")
        expectClose(result.model.weights, solutions.converged.weights, absolute: 1e-8, "converged weights")

        // The course prints the posteriors of the run's last E-step, i.e. those of the
        // mixture before the final M-step: the mixture after iterations − 1 M-steps.
        let stopEarly = CourseEM(kernel: backend.makeKernel(for: data), stoppingRule: StoppingRule(maxIterations: result.iterations - 1))
        let beforeLastMStep = try stopEarly.run(from: initial)
        #expect(!beforeLastMStep.converged)
        let lastPosteriors = try em.posteriors(beforeLastMStep.model)
        #expect(lastPosteriors.logLikelihood == result.objective)
        // Printed in scientific notation with 8 decimals of the significand.
        expectClose(lastPosteriors.posteriors, solutions.convergedPosteriors, relative: 1e-8, absolute: 1e-15,
                    "posteriors of the last E-step (\(backend))")

        let posteriors = try em.posteriors(result.model).posteriors
        let filled = Completion.fill(data, mixture: result.model, posteriors: posteriors)
        expectClose(filled.values, solutions.filled, absolute: 1e-8, "filled matrix (\(backend))")

        let gold = try Fixtures.load(Fixtures.smallComplete)
        let rmse = Completion.rootMeanSquareErrors(of: result.model, posteriors: posteriors, data: data, gold: gold)
        #expect(abs(rmse.allEntries - 0.3152301205749675) < 1e-12)
    }
}
