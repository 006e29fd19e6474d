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

/// The BLAS kernel's version of `normaliseLogDensities`: the same logsumexp,
/// max + log Σ_j exp(f_j − max), but one exp per component instead of two — the terms
/// exp(f_j − max) are kept and divided by their sum to give the posteriors, which equals
/// exp(f_j − logsumexp) up to the last bit. Terms below e^−746 are set to 0 without
/// calling exp: they round to 0 anyway, and glibc's exp takes a slow path to say so (a
/// K = 12 model's posteriors are mostly such zeros).
@inline(__always)
func normaliseLogDensitiesOnce(_ row: UnsafeMutableBufferPointer<Double>) -> Double {
    var largest = -Double.infinity
    for value in row where value > largest { largest = value }
    var total = 0.0
    for j in row.indices {
        let exponent = row[j] - largest
        let term = exponent < -746 ? 0 : exp(exponent)
        row[j] = term
        total += term
    }
    for j in row.indices { row[j] = row[j] / total }
    return log(total) + largest
}
