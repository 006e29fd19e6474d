import ArgumentParser
import Foundation
import MixFill
import MixFillTools

extension Fit {
    /// `fit --family mppca` (or a warm start from an mppca model): the hyperparameters not
    /// given chosen from DATA's ratings (an inner held-out split), then each K from every
    /// seed; the report says what was chosen and how.
    func runFactor(_ loaded: LoadedRatings, warmStart: WarmStart?, loadSeconds: Double, clock: ContinuousClock,
                   start: ContinuousClock.Instant) throws {
        try loaded.input.requireRatings(name: data)
        let componentCounts = try k.map { try IntegerList.componentCounts($0) }
        try factor.check(itemCount: loaded.itemCount, componentCounts: componentCounts, threads: engine.threadCount,
                         runs: warmStart == nil ? try IntegerList.seeds(seeds ?? "0").count : 1)
        if let warmStart, let componentCounts, componentCounts != [warmStart.model.componentCount] {
            throw MixFillError.badOption(option: "-k", message: "\(k ?? "") disagrees with the \(warmStart.model.componentCount) components of --init-model \(warmStart.path); leave -k out")
        }
        try IntegerList.requireAtMostUsers(componentCounts ?? [], users: loaded.userCount, data: data, given: k, defaultList: "")
        if warmStart == nil {
            try factor.requireEnoughToChoose(ratings: loaded.input.observedCount, componentCounts: componentCounts, data: data)
        }
        let goldMatrix = try self.goldMatrix(for: loaded)
        let seedList = try IntegerList.seeds(seeds ?? "0")
        let fitEngine = try engine.makeEngine(for: loaded.input, family: .mppca, kernel: input.kernel, precision: precision)
        let rule = StoppingRule(maxIterations: maxIterations)
        let fitter = FactorFitter(engine: fitEngine, rule: rule, settings: factor.settings(componentCount: nil))
        let fitStart = warmStart?.factorStart(users: 0..<loaded.userCount, matrix: loaded.input.table.matrix) ?? .seeds(seedList)
        let outcome = try fitter.run(on: loaded.input, componentCounts: componentCounts, start: fitStart, gold: goldMatrix,
                                     observer: checkpoints.observer(for: FactorMixture.self, input: loaded.input, engine: fitEngine, rule: rule))
        var written = [String]()
        if let modelOut {
            let files = outcome.modelFiles(for: loaded.input, path: loaded.recordedPath,
                                           previousIterations: warmStart?.previousIterations ?? 0)
            for file in files {
                let path = files.count == 1 ? modelOut : Self.modelPath(modelOut, componentCount: file.componentCount)
                try file.write(to: path)
                written.append(path)
            }
        }
        for warning in outcome.warnings {
            Terminal.warning(warning.text(maxIterationsOption: "--max-iterations"))
        }
        var report = FactorFitReport(
            data: FitReport.DataSummary(loaded),
            family: ModelFamily.mppca.rawValue, backend: fitEngine.kernel.backend.rawValue, kernel: fitEngine.kernel.layoutName,
            threads: fitEngine.threads,
            warm_start: warmStart?.summary,
            settings: FactorFitReport.Settings(outcome.tuning),
            fits: zip(outcome.fits, outcome.goldErrors).map { FactorFitReport.KReport($0, goldErrors: $1) },
            timing: FitReport.Timing(load_seconds: loadSeconds, fit_seconds: outcome.seconds,
                                     total_seconds: (clock.now - start).seconds))
        try report.print(json: json, written: written)
    }
}

/// What `mixfill fit --family mppca` reports (field names are the JSON's).
struct FactorFitReport: FitReporting {
    /// The hyperparameters, and how those not given were chosen.
    struct Settings: Encodable {
        struct PathPoint: Encodable {
            var prior_loadings: Double
            var inner_rmse: Double
            var iterations: Int
        }

        var factors: Int
        var prior_loadings: Double
        var prior_means: Double
        var critical_prior: Double?
        var path: [PathPoint]
        var inner_rmse_by_factors: [String: Double]
        var inner_rmse_by_k: [String: Double]
        var inner_held_out_ratings: Int

        init(_ tuning: FactorTuning) {
            factors = tuning.factorCount
            prior_loadings = tuning.priors.loadings
            prior_means = tuning.priors.means
            critical_prior = tuning.criticalPrior
            path = tuning.path.map { PathPoint(prior_loadings: $0.loadingsPrior, inner_rmse: $0.rootMeanSquareError, iterations: $0.iterations) }
            inner_rmse_by_factors = Dictionary(uniqueKeysWithValues: tuning.factorCountErrors.map { (String($0.key), $0.value) })
            inner_rmse_by_k = Dictionary(uniqueKeysWithValues: tuning.componentCountErrors.map { (String($0.key), $0.value) })
            inner_held_out_ratings = tuning.heldOutRatings
        }
    }

    struct Run: Encodable {
        var seed: UInt32
        var objective: Double
        var iterations: Int
        var converged: Bool
        var seconds: Double
    }

    struct Best: Encodable {
        var seed: UInt32
        var objective: Double
        var noise_variance: Double
    }

    struct KReport: Encodable {
        var k: Int
        var runs: [Run]
        var best: Best
        var rmse: FitReport.RMSE?

        init(_ fit: MultiStartFit<FactorMixture>, goldErrors: GoldErrors?) {
            k = fit.componentCount
            runs = fit.runs.map {
                Run(seed: $0.seed, objective: $0.result.objective, iterations: $0.result.iterations,
                    converged: $0.result.converged, seconds: $0.result.seconds)
            }
            best = Best(seed: fit.best.seed, objective: fit.best.result.objective, noise_variance: fit.best.result.model.noiseVariance)
            rmse = goldErrors.map { FitReport.RMSE(all_entries: $0.allEntries, missing_entries: $0.missingEntries) }
        }
    }

    var data: FitReport.DataSummary
    var family: String
    /// As in `FitReport`: the arithmetic and the kernel that ran.
    var backend: String
    var kernel: String
    var threads: Int
    var warm_start: FitReport.WarmStartSummary?
    var settings: Settings
    var fits: [KReport]
    var timing: FitReport.Timing
    /// A distributed fit's ranks and reductions (absent for one process).
    var distributed: FitReport.DistributedSummary? = nil
    /// The model files written (`--model-out`), one per K.
    var model_files: [String]? = nil

    func table() -> String {
        var out = data.line + "\n"
        out += "family: mppca, backend: \(backend), kernel: \(kernel), threads: \(threads)\n"
        out += warm_start.map { FitReportText.warmStart($0, newRun: "its parameters") } ?? ""
        let priors = settings.prior_means == settings.prior_loadings
            ? "prior precision λ_W = λ_m = \(priorText(settings.prior_loadings))"
            : "prior precisions λ_W = \(priorText(settings.prior_loadings)), λ_m = \(priorText(settings.prior_means))"
        out += "settings: q = \(settings.factors) factors, \(priors)\n"
        if settings.inner_held_out_ratings > 0 {
            var how = "  chosen on \(settings.inner_held_out_ratings) training ratings held out"
            if let critical = settings.critical_prior {
                how += ": λ_W along λ_crit·2^-k from λ_crit = \(priorText(critical)) ("
                how += settings.path.map { "\(priorText($0.prior_loadings)): \(fixed($0.inner_rmse, 4))" }.joined(separator: ", ") + ")"
            }
            out += how + "\n"
            let factors = settings.inner_rmse_by_factors.sorted { Int($0.key) ?? 0 < Int($1.key) ?? 0 }
            if factors.count > 1 { out += "  inner RMSE by q: " + factors.map { "\($0.key): \(fixed($0.value, 4))" }.joined(separator: ", ") + "\n" }
            let components = settings.inner_rmse_by_k.sorted { Int($0.key) ?? 0 < Int($1.key) ?? 0 }
            if components.count > 1 { out += "  inner RMSE by K: " + components.map { "\($0.key): \(fixed($0.value, 4))" }.joined(separator: ", ") + "\n" }
        }
        for fit in fits {
            out += FitReportText.component(
                k: fit.k, objective: "objective (ELBO)",
                runs: fit.runs.map { FitReportText.Row(seed: $0.seed, objective: $0.objective, iterations: $0.iterations, converged: $0.converged, seconds: $0.seconds) },
                best: "seed \(fit.best.seed), objective \(fit.best.objective), σ² = \(fixed(fit.best.noise_variance, 4))", rmse: fit.rmse)
        }
        out += FitReportText.closing(timing: timing, distributed: distributed, modelFiles: model_files)
        return out
    }
}
