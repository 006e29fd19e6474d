/// What an E-step over any set of users produces, and all an M-step needs.
///
/// Every field is a sum over users, so statistics from shards of users (row blocks,
/// threads, MPI ranks) combine by addition, whatever kernel made them:
///
///     logLikelihood              Σ_u logsumexp_j f(u, j)
///     responsibilities[j]        n̂_j = Σ_u p(j|u)
///     weightedSquaredNorms[j]    Σ_u p(j|u)·‖x_{C_u}‖²
///     weightedObservedCounts[j]  Σ_u p(j|u)·|C_u|
///     ratingSums[j·d + i]        N_ji = Σ_u p(j|u)·δ(i∈C_u)·x_ui
///     observedWeights[j·d + i]   D_ji = Σ_u p(j|u)·δ(i∈C_u)
public struct SufficientStatistics: Sendable, Equatable {
    public let componentCount: Int
    public let itemCount: Int
    public var userCount: Int = 0
    public var logLikelihood: Double = 0
    public var responsibilities: [Double]
    public var weightedSquaredNorms: [Double]
    public var weightedObservedCounts: [Double]
    public var ratingSums: [Double]
    public var observedWeights: [Double]

    public init(componentCount: Int, itemCount: Int) {
        self.componentCount = componentCount
        self.itemCount = itemCount
        responsibilities = Array(repeating: 0, count: componentCount)
        weightedSquaredNorms = Array(repeating: 0, count: componentCount)
        weightedObservedCounts = Array(repeating: 0, count: componentCount)
        ratingSums = Array(repeating: 0, count: componentCount * itemCount)
        observedWeights = Array(repeating: 0, count: componentCount * itemCount)
    }

    /// Adds the statistics of a disjoint set of users.
    public mutating func add(_ other: SufficientStatistics) {
        precondition(other.componentCount == componentCount && other.itemCount == itemCount)
        userCount += other.userCount
        logLikelihood += other.logLikelihood
        for j in 0..<componentCount {
            responsibilities[j] += other.responsibilities[j]
            weightedSquaredNorms[j] += other.weightedSquaredNorms[j]
            weightedObservedCounts[j] += other.weightedObservedCounts[j]
        }
        for index in ratingSums.indices {
            ratingSums[index] += other.ratingSums[index]
            observedWeights[index] += other.observedWeights[index]
        }
    }

    /// Sets every sum back to zero, keeping the storage.
    public mutating func reset() {
        userCount = 0
        logLikelihood = 0
        for j in 0..<componentCount {
            responsibilities[j] = 0
            weightedSquaredNorms[j] = 0
            weightedObservedCounts[j] = 0
        }
        for index in ratingSums.indices {
            ratingSums[index] = 0
            observedWeights[index] = 0
        }
    }
}
