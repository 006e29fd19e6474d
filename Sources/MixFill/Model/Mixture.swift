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

    /// Σ_j p_j · (share of the items i with μ_ji = 0), over the items whose mean moved in
    /// some component: for a user drawn from the mixture, the share of those items predicted
    /// from a mean that never left its initial value. The course's initial means are K
    /// users' rows with 0 for every item they did not rate, and the M-step moves μ_ji only
    /// where the item's soft count of ratings in component j reaches 1; a mean it moved is a
    /// weighted average of ratings, 0 only if those are. An item with 0 in every component
    /// is one nobody rated (or too few to move any mean): the data warnings name those, and
    /// predictions give them the mean training rating, so they are left out. On sparse data
    /// most means of the other items stay at 0 too, and the predictions built on them, far
    /// below any rating, are useless; on dense data few or none do.
    package var unlearnedMeansShare: Double {
        var zeros = [Int](repeating: 0, count: componentCount)
        var learned = 0
        for item in 0..<itemCount {
            var moved = false
            for component in 0..<componentCount where means[component * itemCount + item] != 0 { moved = true }
            guard moved else { continue }
            learned += 1
            for component in 0..<componentCount where means[component * itemCount + item] == 0 { zeros[component] += 1 }
        }
        guard learned > 0 else { return 0 }
        var share = 0.0
        for component in 0..<componentCount {
            share += weights[component] * Double(zeros[component]) / Double(learned)
        }
        return share
    }

    /// `fit` and `batch` warn above this share: one prediction in twenty from an unlearned
    /// mean is a model that fills much of the data with 0.
    package static let unlearnedMeansWarningShare = 0.05
}
