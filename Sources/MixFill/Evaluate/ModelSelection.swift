/// Choosing the number of components K.
///
/// - `bic`: the course's BIC of the best fit on all the data, LL − ½·(K·d + 2K − 1)·ln n;
///   the largest wins. It needs no held-out data, but with d parameters per component it
///   charges ½·d·ln n per extra component, which a large d makes steep or, when the data
///   are many users with many ratings, mild.
/// - `heldout`: the mean held-out RMSE over the split or folds; the smallest wins. It
///   measures what a recommender cares about, at the price of fitting once per fold.
///
/// Ties go to the smaller K.
package enum SelectionCriterion: String, Sendable, CaseIterable {
    case bic
    case heldout
}

/// What `select` knows about one K.
package struct ComponentCountCandidate: Sendable {
    package var componentCount: Int
    /// The best fit on all the data.
    package var bestSeed: UInt32
    package var logLikelihood: Double
    package var bayesianInformationCriterion: Double
    package var iterations: Int
    package var converged: Bool
    /// Held-out RMSE and MAE over the folds (one value for a single split); nil without a split.
    package var heldOutRootMeanSquareError: MeanAndSpread?
    package var heldOutMeanAbsoluteError: MeanAndSpread?

    package init(componentCount: Int, bestSeed: UInt32, logLikelihood: Double, bayesianInformationCriterion: Double,
                iterations: Int, converged: Bool, heldOutRootMeanSquareError: MeanAndSpread? = nil,
                heldOutMeanAbsoluteError: MeanAndSpread? = nil) {
        self.componentCount = componentCount
        self.bestSeed = bestSeed
        self.logLikelihood = logLikelihood
        self.bayesianInformationCriterion = bayesianInformationCriterion
        self.iterations = iterations
        self.converged = converged
        self.heldOutRootMeanSquareError = heldOutRootMeanSquareError
        self.heldOutMeanAbsoluteError = heldOutMeanAbsoluteError
    }
}

package enum ModelSelection {
    /// The index of the chosen candidate; nil when the criterion has no figures (held-out
    /// without a split) or there are no candidates.
    package static func choose(_ candidates: [ComponentCountCandidate], by criterion: SelectionCriterion) -> Int? {
        var chosen: Int?
        for (index, candidate) in candidates.enumerated() {
            switch criterion {
            case .bic:
                if chosen.map({ candidate.bayesianInformationCriterion > candidates[$0].bayesianInformationCriterion }) ?? true {
                    chosen = index
                }
            case .heldout:
                guard let error = candidate.heldOutRootMeanSquareError?.mean else { return nil }
                if chosen.map({ error < (candidates[$0].heldOutRootMeanSquareError?.mean ?? .infinity) }) ?? true {
                    chosen = index
                }
            }
        }
        return chosen
    }
}
