import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// The pieces behind the live progress line and the JSON logs.
@Suite struct ProgressTests {
    @Test func forecastFollowsAGeometricShrinkingOfTheChanges() {
        // Δ halves each step: from 64 to the target 1e-6·|−1e6| = 1 takes log2(64) = 6 steps.
        #expect(ConvergenceForecast.remainingIterations(previousChange: 128, change: 64, logLikelihood: -1e6,
                                                         tolerance: 1e-6, iterationsLeft: 100) == 6)
        // Never beyond the cap.
        #expect(ConvergenceForecast.remainingIterations(previousChange: 128, change: 64, logLikelihood: -1e6,
                                                         tolerance: 1e-6, iterationsLeft: 4) == 4)
        // Already within the rule.
        #expect(ConvergenceForecast.remainingIterations(previousChange: 2, change: 0.5, logLikelihood: -1e6,
                                                         tolerance: 1e-6, iterationsLeft: 100) == 0)
        // Changes that grow give no forecast.
        #expect(ConvergenceForecast.remainingIterations(previousChange: 10, change: 20, logLikelihood: -1e6,
                                                         tolerance: 1e-6, iterationsLeft: 100) == nil)
        // A change at or below the target (a fall included) meets the stopping rule: done.
        #expect(ConvergenceForecast.remainingIterations(previousChange: 10, change: -3, logLikelihood: -1e6,
                                                         tolerance: 1e-6, iterationsLeft: 100) == 0)
    }

    @Test func eventsAreOneLineOfJSONWithTheirTimeFirst() throws {
        let event = FitEvent(.iteration, job: "j", componentCount: 12, seed: 3, iteration: 7, maxIterations: 1000,
                             logLikelihood: -1390234.5, logLikelihoodChange: 12.25, tolerance: 1e-6, seconds: 1.5)
        let line = event.jsonLine(time: "2026-01-02T03:04:05Z")
        #expect(line == #"{"time":"2026-01-02T03:04:05Z","delta":12.25,"event":"iteration","iteration":7,"job":"j","k":12,"log_likelihood":-1390234.5,"max_iterations":1000,"seconds":1.5,"seed":3,"tolerance":1e-06}"#)
        #expect(FitEvent(.warning, message: "a \"quoted\"\nthing").jsonLine() == #"{"event":"warning","message":"a \"quoted\"\nthing"}"#)
    }
}
