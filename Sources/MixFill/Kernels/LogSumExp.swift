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
