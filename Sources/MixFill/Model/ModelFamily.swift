/// The model families MixFill fits (`--family`).
public enum ModelFamily: String, CaseIterable, Sendable {
    /// The MIT 6.86x course's spherical mixture on raw ratings, reproduced exactly: for
    /// dense matrices and the course's numbers.
    case course
    /// A mixture of probabilistic PCA on ratings centred by user and item offsets, with
    /// priors (`FactorMixture`): the accurate model for real rating files.
    case mppca
}
