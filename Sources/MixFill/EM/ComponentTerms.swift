#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-component constants of the E-step's log-density, computed once per E-step:
///
///     f(u, j) = log(p_j + 1e-16) − (|C_u| / 2)·log(2π σ²_j) − ‖x_{C_u} − μ_{j,C_u}‖² / (2 σ²_j)
///
/// The 1e-16 keeps log finite for a component whose weight fell to zero, exactly as in
/// the course. Operations are ordered as in the course's numpy code, so the rounding
/// matches it as closely as the summation order allows.
package struct ComponentTerms: Sendable {
    package let logWeights: [Double]
    package let logNormalisers: [Double]
    package let variances: [Double]

    package init(_ mixture: Mixture) {
        logWeights = mixture.weights.map { log($0 + 1e-16) }
        logNormalisers = mixture.variances.map { log(2 * Double.pi * $0) }
        variances = mixture.variances
    }

    /// f(u, j) for a user with `observedCount` ratings at squared distance `squaredDistance`.
    @inline(__always)
    package func logDensity(_ component: Int, observedCount: Double, squaredDistance: Double) -> Double {
        logWeights[component] - 0.5 * observedCount * logNormalisers[component]
            - 0.5 * squaredDistance / variances[component]
    }
}
