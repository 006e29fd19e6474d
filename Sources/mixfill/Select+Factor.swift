import ArgumentParser
import Foundation
import MixFill
import MixFillTools

extension Select {
    /// `--factors` and `--prior-loadings` as candidate lists (nil prior: chosen per
    /// candidate). Without --factors, the q that fit and eval would try for data of
    /// `itemCount` items (`FactorSettings.factorCandidates(itemCount:)`, all below it);
    /// without a count (validation, before the data is read), only the given lists are read.
    static func factorCandidates(_ factors: String?, _ priors: String?, itemCount: Int?) throws -> (factors: [Int], priors: [Double?]) {
        let factorList = try factors.map { list throws -> [Int] in
            do throws(MixFillError) {
                return try IntegerRanges.parse(list, option: "--factors", what: "number of latent factors", example: "10,20 or 2-12")
            } catch {
                throw ValidationError(error.description)
            }
        } ?? itemCount.map { FactorSettings.factorCandidates(itemCount: $0) } ?? []
        let priorList: [Double?] = try priors.map { text in
            try text.split(separator: ",", omittingEmptySubsequences: false).map { item -> Double? in
                guard let value = Double(item.trimmingCharacters(in: .whitespaces)), value > 0, value.isFinite else {
                    throw ValidationError("--prior-loadings: '\(item)' is not a positive prior precision; give a list such as 50,100,200")
                }
                return value
            }
        } ?? [nil]
        // A value given twice is one candidate (as for -k and --factors), in the order given.
        return (Array(Set(factorList)).sorted(), IntegerRanges.distinct(priorList))
    }

    /// The mppca sweep: every K × q × λ_W candidate trained on each split's training part
    /// (what is not given chosen from it) and scored on its held-out part; the smallest mean
    /// held-out RMSE wins, ties to the smaller K, then q.
    func runFactor() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let componentCounts = try IntegerList.componentCounts(k ?? "1,2,4")
        let seedList = try IntegerList.seeds(seeds ?? "0")
        let loaded = try LoadedRatings.load(data, dataOptions)
        let (factorList, priorList) = try Self.factorCandidates(factors, priorLoadings, itemCount: loaded.itemCount)
        try loaded.input.requireRatings(name: data)
        try IntegerList.requireAtMostUsers(componentCounts, users: loaded.userCount, data: data, given: k, defaultList: "1,2,4")
        try FactorOptions.check(factors: factorList, itemCount: loaded.itemCount, componentCounts: componentCounts,
                                threads: engine.threadCount, runs: seedList.count)
        let (splits, _) = try heldOut.splits(of: loaded, options: dataOptions)
        let evaluator = Evaluator(seeds: seedList, factorSeeds: seedList, backend: engine.backend,
                                  stoppingRule: StoppingRule(maxIterations: maxIterations), threads: engine.threadCount,
                                  stopsIdleBLASPool: true)
        var models = [EvaluatedModel]()
        for count in componentCounts {
            for q in factorList {
                for prior in priorList {
                    models.append(.factor(FactorSettings(factorCount: q, componentCount: count, loadingsPrior: prior, meansPrior: priorMeans)))
                }
            }
        }
        try FactorOptions.requireEnoughToChoose(models, splits: splits, data: data)
        Display.shared.configureForStatus()
        let scoresBySplit = try splits.enumerated().map { index, split in
            try evaluator.evaluate(models, userCount: loaded.userCount, itemCount: loaded.itemCount,
                                   training: split.training, test: split.test,
                                   progress: Eval.status(split: index, of: splits.count, models: models.count))
        }
        Display.shared.finish()
        var candidates = [FactorSelectReport.Candidate]()
        for index in models.indices {
            guard case let .factor(settings) = models[index] else { continue }
            let scores = scoresBySplit.map { $0[index] }
            candidates.append(FactorSelectReport.Candidate(settings: settings, scores: scores))
        }
        var chosen = 0
        for (index, candidate) in candidates.enumerated() where candidate.heldout_rmse.mean < candidates[chosen].heldout_rmse.mean {
            chosen = index
        }
        let report = FactorSelectReport(
            data: EvalReport.DataSummary(loaded), held_out: heldOut.description, seeds: seedList,
            backend: engine.backend.rawValue, kernel: evaluator.factorEngine.kernel.layoutName, chosen: chosen, candidates: candidates, total_seconds: (clock.now - start).seconds)
        if let svg {
            try AtomicFile.write(Array(report.chart().utf8), to: svg)
        }
        if json {
            try printJSON(report)
        } else if csv {
            try printText(report.csv())
        } else {
            try printText(report.table(heldOutLine: heldOut.summary(splits, observed: loaded.observedCount)))
        }
    }
}

/// What `mixfill select --family mppca` reports (field names are the JSON's).
struct FactorSelectReport: Encodable {
    struct Candidate: Encodable {
        var k: Int
        var factors: Int
        /// As given, or nil when each split chose its own (`chosen_prior_loadings`).
        var prior_loadings: Double?
        var chosen_prior_loadings: [Double]
        /// λ_m: as given, else the candidate's λ_W; nil when that is chosen per split (then
        /// λ_m is each split's chosen λ_W).
        var prior_means: Double?
        var heldout_rmse: EvalReport.Spread
        var heldout_mae: EvalReport.Spread
        var seconds: Double

        init(settings: FactorSettings, scores: [ModelScore]) {
            k = settings.componentCount ?? 1
            // select gives every candidate its q; the tuning's is the same number.
            factors = settings.factorCount ?? scores.compactMap { $0.factorFit?.tuning.factorCount }.first ?? 0
            prior_loadings = settings.loadingsPrior
            chosen_prior_loadings = scores.compactMap { $0.factorFit?.tuning.priors.loadings }
            prior_means = settings.meansPrior ?? settings.loadingsPrior
            heldout_rmse = EvalReport.Spread(scores.map(\.metrics.rootMeanSquareError))
            heldout_mae = EvalReport.Spread(scores.map(\.metrics.meanAbsoluteError))
            seconds = scores.reduce(0) { $0 + $1.seconds }
        }
    }

    var data: EvalReport.DataSummary
    var held_out: HeldOutOptions.Method?
    var seeds: [UInt32]
    /// The arithmetic (`--backend`) and the kernel the fits ran (`--kernel`'s names).
    var backend: String
    var kernel: String
    var chosen: Int
    var candidates: [Candidate]
    var total_seconds: Double

    enum CodingKeys: String, CodingKey {
        case data, held_out, seeds, chosen_k, chosen_factors, chosen_prior_loadings, candidates, total_seconds, family, backend, kernel
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encodeIfPresent(held_out, forKey: .held_out)
        try container.encode(seeds, forKey: .seeds)
        try container.encode(ModelFamily.mppca.rawValue, forKey: .family)
        try container.encode(backend, forKey: .backend)
        try container.encode(kernel, forKey: .kernel)
        try container.encode(candidates[chosen].k, forKey: .chosen_k)
        try container.encode(candidates[chosen].factors, forKey: .chosen_factors)
        try container.encodeIfPresent(candidates[chosen].prior_loadings, forKey: .chosen_prior_loadings)
        try container.encode(candidates, forKey: .candidates)
        try container.encode(total_seconds, forKey: .total_seconds)
    }

    /// Held-out RMSE against K, one line per q and λ_W candidate; the chosen K is marked.
    func chart() -> String {
        var series = [SVGLineChart.Series]()
        for candidate in candidates {
            let name = "q = \(candidate.factors), λ_W " + (candidate.prior_loadings.map { "= " + $0.formatted() } ?? "chosen")
            let point = SVGLineChart.Point(x: Double(candidate.k), y: candidate.heldout_rmse.mean)
            if let index = series.firstIndex(where: { $0.name == name }) {
                series[index].points.append(point)
            } else {
                series.append(SVGLineChart.Series(name: name, points: [point]))
            }
        }
        let best = candidates[chosen]
        let name = data.path.split(separator: "/").last.map(String.init) ?? data.path
        return SVGLineChart(
            title: "mixfill select --family mppca \(name): \(data.users) × \(data.items), seeds \(seeds.map(String.init).joined(separator: ","))",
            xLabel: "K (components)",
            panels: [SVGLineChart.Panel(title: SelectReport.heldOutTitle(held_out), yLabel: "RMSE", series: series)],
            markedX: Double(best.k), markLabel: "chosen K = \(best.k), q = \(best.factors)").rendered
    }

    func prior(_ candidate: Candidate) -> String {
        if let given = candidate.prior_loadings { return given.formatted() }
        let chosen = candidate.chosen_prior_loadings.map(priorText)
        return Set(chosen).count == 1 ? "chosen: \(chosen[0])" : "chosen: " + chosen.joined(separator: ", ")
    }

    func table(heldOutLine: String) -> String {
        var out = data.line + "\n"
        out += heldOutLine + "\n"
        out += "family mppca: held-out RMSE of every K × q × λ_W; seeds \(seeds.map(String.init).joined(separator: ","))\n\n"
        // A candidate's seconds are its fits and scoring over all the splits.
        let splits = held_out?.folds ?? 1
        // One split has no spread to show (as select's course table).
        var table = TextTable(header: ["", "K", "q", "λ_W", splits > 1 ? "held-out RMSE (mean ± sd)" : "held-out RMSE", "held-out MAE",
                                       splits > 1 ? "seconds, \(splits) folds" : "seconds"], leftAligned: [0])
        for (index, candidate) in candidates.enumerated() {
            let rmse = splits > 1 ? fixed(candidate.heldout_rmse.mean, 6) + " ± " + fixed(candidate.heldout_rmse.std, 6)
                : fixed(candidate.heldout_rmse.mean, 6)
            table.rows.append([index == chosen ? "*" : "", String(candidate.k), String(candidate.factors), prior(candidate),
                               rmse, fixed(candidate.heldout_mae.mean, 6), fixed(candidate.seconds, 3)])
        }
        out += table.rendered
        let best = candidates[chosen]
        let chosenPrior = best.prior_loadings == nil ? "λ_W \(prior(best))" : "λ_W = \(prior(best))"
        out += "\nchosen: K = \(best.k), q = \(best.factors), \(chosenPrior) (the smallest held-out RMSE)\n"
        out += "total: \(fixed(total_seconds, 3)) s\n"
        return out
    }

    func csv() -> String {
        var out = "k,factors,prior_loadings,prior_means,heldout_rmse,heldout_rmse_std,heldout_mae,heldout_mae_std,chosen\n"
        for (index, candidate) in candidates.enumerated() {
            let prior = candidate.prior_loadings.map { String($0) } ?? candidate.chosen_prior_loadings.map { String($0) }.joined(separator: ";")
            out += [String(candidate.k), String(candidate.factors), prior, candidate.prior_means.map { String($0) } ?? prior,
                    String(candidate.heldout_rmse.mean), String(candidate.heldout_rmse.std),
                    String(candidate.heldout_mae.mean), String(candidate.heldout_mae.std), String(index == chosen)].joined(separator: ",") + "\n"
        }
        return out
    }
}
