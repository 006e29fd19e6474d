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

    /// eval, select and mppca's choice of settings print nothing else while they work: on a
    /// terminal (script(1) gives one) a status line says what runs; with stderr redirected,
    /// nothing (the pipes of the other CLI tests, whose stderr stays empty).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) to run mixfill on a terminal"))
    func aTerminalSeesWhatEvalAndTheChoiceOfSettingsAreDoing() throws {
        let folder = try Fixtures.scratchFolder()
        let data = folder + "/r.tsv"
        #expect(try CLI.run(["synth", "--users", "300", "--items", "60", "--ratings", "6000", "-k", "2", "--seed", "1", "--out", data]).status == 0)
        let eval = try CLI.run(["-qec", "'\(CLI.binary)' eval '\(data)' --folds 2 --models bias,mppca", "/dev/null"], executable: "/usr/bin/script")
        #expect(eval.status == 0)
        #expect(eval.stdout.contains("fold 1 of 2: training and scoring bias (1 of 2)"), "\(eval.stdout)")
        let fit = try CLI.run(["-qec", "'\(CLI.binary)' fit '\(data)' --family mppca", "/dev/null"], executable: "/usr/bin/script")
        #expect(fit.status == 0)
        #expect(fit.stdout.contains("choosing mppca's settings on a held-out tenth of the ratings: 1 EM iteration"), "\(fit.stdout)")
        let piped = try CLI.succeeded(["eval", data, "--folds", "2", "--models", "bias"])
        #expect(piped.stderr.isEmpty)
    }
}
