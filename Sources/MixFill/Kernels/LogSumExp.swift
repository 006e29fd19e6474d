#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns one user's row of log-densities f(u, ·) into posteriors in place and returns
/// logsumexp_j f(u, j), computed as max + log Σ exp(f − max) so no term overflows.
@inline(__always)
func normaliseLogDensities(_ row: UnsafeMutableBufferPointer<Double>) -> Double {
    var largest = -Double.infinity
    for value in row where value > largest { largest = value }
    var total = 0.0
    for value in row { total += exp(value - largest) }
    let logSum = log(total) + largest
    for j in row.indices { row[j] = exp(row[j] - logSum) }
    return logSum
}

/// `normaliseLogDensities` as the BLAS and sparse kernels run it: the same operations, so the same
/// bits, except that exp is not called for an exponent below −746, whose exp is 0 anyway
/// (glibc takes a slow path to say so, and a K = 12 model's posteriors are mostly such
/// zeros).
///
/// The posteriors are exp(f − logsumexp), not exp(f − max) / Σ: with a dominant component
/// the former is exactly 1 (log Σ vanishes against max), the latter 1 − 2⁻⁵², and the
/// course's M-step rule "update μ_ji where D_ji ≥ 1" turns that last bit into a different
/// mean for every item rated by a single user (on ml-latest-small, a different fit).
@inline(__always)
func normaliseLogDensitiesSkippingUnderflow(_ row: UnsafeMutableBufferPointer<Double>) -> Double {
    var largest = -Double.infinity
    for value in row where value > largest { largest = value }
    var total = 0.0
    for value in row {
        let exponent = value - largest
        total += exponent < -746 ? 0 : exp(exponent)
    }
    let logSum = log(total) + largest
    for j in row.indices {
        let exponent = row[j] - logSum
        row[j] = exponent < -746 ? 0 : exp(exponent)
    }
    return logSum
}
