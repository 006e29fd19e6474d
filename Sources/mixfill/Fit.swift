import ArgumentParser
import Foundation
import MixFill

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit mixtures for each K from several seeds and keep the best.",
        discussion: """
            For each K, EM runs from the course's numpy-compatible initialisation for every \
            seed; the run with the highest log-likelihood is kept. With several K, \
            --model-out FILE.json writes FILE-k<K>.json per K.
            """
    )

    @Argument(help: "Dense rating matrix: one user per line, whitespace-separated, 0 = missing.")
    var data: String

    @Option(name: .short, help: "Numbers of components: a list or range, e.g. 1,12 or 1-16.")
    var k: String = "1,12"

    @Option(help: "Seeds: a list or range, e.g. 0-4 or 0,1,2.")
    var seeds: String = "0-4"

    @Option(help: "The complete matrix, to report RMSE over all entries and over the missing ones.")
    var gold: String?

    @Option(name: .customLong("model-out"), help: "Write the best model per K here (JSON).")
    var modelOut: String?

    @Option(name: .customLong("max-iterations"), help: "Stop a run after this many EM iterations.")
    var maxIterations: Int = 1000

    @Flag(help: "Print one JSON object on stdout instead of tables.")
    var json = false

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        _ = try IntegerList.componentCounts(k)
        _ = try IntegerList.seeds(seeds)
        if maxIterations < 1 {
            throw ValidationError("--max-iterations: \(maxIterations) is not allowed; give 1 or more")
        }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let componentCounts = try IntegerList.componentCounts(k)
        let seedList = try IntegerList.seeds(seeds)
        let threadCount = engine.applyThreads()

        let matrix = try DenseMatrixReader.read(path: data)
        let loadSeconds = (clock.now - start).seconds
        for count in componentCounts where count > matrix.userCount {
            throw MixFillError.badOption(option: "-k", message: "K = \(count) is more than the \(matrix.userCount) users in \(data); choose K ≤ \(matrix.userCount)")
        }
        var goldMatrix: DenseRatingMatrix?
        if let gold {
            let complete = try DenseMatrixReader.read(path: gold)
            guard complete.userCount == matrix.userCount, complete.itemCount == matrix.itemCount else {
                throw MixFillError.badFile(file: gold, message: "is \(complete.userCount) × \(complete.itemCount) but \(data) is \(matrix.userCount) × \(matrix.itemCount); give the complete version of the same matrix")
            }
            goldMatrix = complete
        }

        let kernel = engine.backend.makeKernel(for: matrix)
        let em = ExpectationMaximization(kernel: kernel, stoppingRule: StoppingRule(maxIterations: maxIterations))
        var fitSeconds = 0.0
        var reports = [FitReport.KReport]()
        for componentCount in componentCounts {
            let fitStart = clock.now
            let fit = try em.fit(data: matrix, componentCount: componentCount, seeds: seedList)
            fitSeconds += (clock.now - fitStart).seconds
            let best = fit.best
            var rmse: FitReport.RMSE?
            if let goldMatrix {
                let posteriors = em.posteriors(best.result.mixture).posteriors
                let filled = Completion.fill(matrix, mixture: best.result.mixture, posteriors: posteriors)
                let errors = Completion.rootMeanSquareErrors(predicted: filled, gold: goldMatrix, observed: matrix)
                rmse = FitReport.RMSE(all_entries: errors.allEntries, missing_entries: errors.missingEntries)
            }
            if let modelOut {
                let path = componentCounts.count == 1 ? modelOut : Self.modelPath(modelOut, componentCount: componentCount)
                let file = ModelFile(mixture: best.result.mixture, logLikelihood: best.result.logLikelihood,
                                     seed: best.seed, iterations: best.result.iterations,
                                     converged: best.result.converged, userCount: matrix.userCount,
                                     observedCount: matrix.observedCount)
                try file.write(to: path)
            }
            let bic = Completion.bayesianInformationCriterion(
                logLikelihood: best.result.logLikelihood, mixture: best.result.mixture, userCount: matrix.userCount)
            reports.append(FitReport.KReport(
                k: componentCount,
                runs: fit.runs.map {
                    FitReport.Run(seed: $0.seed, log_likelihood: $0.result.logLikelihood,
                                  iterations: $0.result.iterations, converged: $0.result.converged, seconds: $0.seconds)
                },
                best: FitReport.Best(seed: best.seed, log_likelihood: best.result.logLikelihood, bic: bic),
                rmse: rmse))
            for run in fit.runs where !run.result.converged {
                Terminal.warning("K = \(componentCount), seed \(run.seed) stopped at --max-iterations \(maxIterations) before converging")
            }
        }
        let report = FitReport(
            data: FitReport.DataSummary(path: data, users: matrix.userCount, items: matrix.itemCount,
                                        observed: matrix.observedCount),
            backend: engine.backend.rawValue, threads: threadCount, fits: reports,
            timing: FitReport.Timing(load_seconds: loadSeconds, fit_seconds: fitSeconds,
                                     total_seconds: (clock.now - start).seconds))
        if json {
            try report.printJSON()
        } else {
            report.printTable()
        }
    }

    /// `model.json` → `model-k12.json`; a name without extension gets `-k12` appended.
    static func modelPath(_ path: String, componentCount: Int) -> String {
        let slash = path.lastIndex(of: "/")
        if let dot = path.lastIndex(of: "."), slash.map({ dot > $0 }) ?? true, dot != path.startIndex {
            return String(path[..<dot]) + "-k\(componentCount)" + String(path[dot...])
        }
        return path + "-k\(componentCount)"
    }
}
