/// A mixture of K spherical Gaussians over d items: weights p_j, means μ_j ∈ R^d and one
/// variance σ²_j per component.
public struct Mixture: Sendable, Equatable {
    /// The course's variance floor (see `CourseFamily`).
    public static let defaultVarianceFloor = 0.25

    public let componentCount: Int
    public let itemCount: Int
    /// Row-major K × d: `means[j * itemCount + i]` is μ_ji.
    public var means: [Double]
    /// σ²_j, one per component; set outside `init` only by the library's M-step, which
    /// floors them, so a caller cannot make one negative after `init` checked them.
    public internal(set) var variances: [Double]
    /// p_j, one per component; they sum to 1.
    public var weights: [Double]

    public init(componentCount: Int, itemCount: Int, means: [Double], variances: [Double], weights: [Double]) {
        precondition(means.count == componentCount * itemCount, "means must be K × d")
        precondition(variances.count == componentCount && weights.count == componentCount, "one variance and weight per component")
        // A variance is ≥ 0 (the course's initial variance of identical users is 0, and the
        // first M-step floors it); a negative or NaN one is a caller's bug, since model files
        // and checkpoints refuse theirs with a message before building a mixture.
        precondition(variances.allSatisfy { $0 >= 0 }, "variances are non-negative numbers")
        self.componentCount = componentCount
        self.itemCount = itemCount
        self.means = means
        self.variances = variances
        self.weights = weights
    }

    /// μ_j as a slice of `means`.
    public func mean(_ component: Int) -> ArraySlice<Double> {
        means[(component * itemCount)..<((component + 1) * itemCount)]
    }

    /// Number of free parameters in the course's BIC: K·d means, K variances, K − 1 weights.
    public var parameterCount: Int {
        componentCount * itemCount + componentCount + (componentCount - 1)
    }
}
