/// The model families MixFill fits (`--family`).
public enum ModelFamily: String, CaseIterable, Sendable {
    /// The MIT 6.86x course's spherical mixture on raw ratings, reproduced exactly: for
    /// dense matrices and the course's numbers.
    case course
    /// A mixture of probabilistic PCA on ratings centred by user and item offsets, with
    /// priors (`FactorMixture`): the accurate model for real rating files.
    case mppca

    /// `fit`'s numbers of components when none are given: the course's two, K = 1 and
    /// K = 12, for the course family; none for mppca, whose K is chosen from the training
    /// ratings.
    public var defaultComponentCounts: [Int]? {
        self == .course ? [1, 12] : nil
    }
}
