#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the course model's statistics sit in one record (K components, d items): every
/// field a sum over the users of a shard, so records of shards add up.
///
///     [0]                      LL = Σ_u logsumexp_j f(u, j)
///     [1]                      n, the number of users
///     responsibilities + j     n̂_j = Σ_u p(j|u)
///     weightedSquaredNorms + j Σ_u p(j|u)·‖x_{C_u}‖²
///     weightedCounts + j       Σ_u p(j|u)·|C_u|
///     ratingSums + j·d + i     N_ji = Σ_u p(j|u)·δ(i∈C_u)·x_ui
///     observedWeights + j·d + i D_ji = Σ_u p(j|u)·δ(i∈C_u)
package struct CourseRecord: Sendable {
    package let componentCount: Int
    package let itemCount: Int

    package init(componentCount: Int, itemCount: Int) {
        self.componentCount = componentCount
        self.itemCount = itemCount
    }

    package init(_ mixture: Mixture) {
        self.init(componentCount: mixture.componentCount, itemCount: mixture.itemCount)
    }

    package static let logLikelihood = 0
    package static let userCount = 1
    package static let responsibilities = 2
    package var weightedSquaredNorms: Int { 2 + componentCount }
    package var weightedCounts: Int { 2 + 2 * componentCount }
    package var ratingSums: Int { 2 + 3 * componentCount }
    package var observedWeights: Int { 2 + 3 * componentCount + componentCount * itemCount }
    package var length: Int { 2 + 3 * componentCount + 2 * componentCount * itemCount }
}

/// The course model as an EM family: the spherical mixture, its statistics and its M-step.
///
/// The M-step, from summed statistics alone:
///
///     p_j  = n̂_j / n
///     μ_ji = N_ji / D_ji            where D_ji ≥ 1; elsewhere μ_ji keeps its previous value
///     σ²_j = max( (Σ_u p(j|u)‖x_{C_u}‖² − 2 Σ_i μ_ji N_ji + Σ_i μ²_ji D_ji) / Σ_u p(j|u)|C_u| , floor )
///
/// The variance numerator is Σ_u p(j|u)·‖x_{C_u} − μ_{j,C_u}‖² with the new means, expanded
/// so that no second pass over the data is needed. The soft-count rule (D_ji ≥ 1) keeps a
/// mean from being set by a fraction of one rating; the floor (the course's 0.25) keeps a
/// component from collapsing onto a few identical users, whose likelihood would grow
/// without bound. The objective is the log-likelihood.
package struct CourseFamily: EMFamily {
    package var varianceFloor: Double

    package init(varianceFloor: Double = Mixture.defaultVarianceFloor) {
        self.varianceFloor = varianceFloor
    }

    package func recordLength(_ model: Mixture) -> Int {
        CourseRecord(model).length
    }

    package func objective(_ model: Mixture, record: UnsafeBufferPointer<Double>, workers: Int = 1) -> Double {
        record[CourseRecord.logLikelihood]
    }

    /// The M-step maximises over variances at or above the floor, so from a mixture with a
    /// variance below it (the course keeps such initial variances) the next log-likelihood
    /// may be lower.
    package func guaranteesAscent(from model: Mixture) -> Bool {
        model.variances.allSatisfy { $0 >= varianceFloor }
    }

    package func maximise(_ previous: Mixture, record: UnsafeBufferPointer<Double>, workers: Int = 1) -> Mixture {
        let layout = CourseRecord(previous)
        let componentCount = previous.componentCount
        let itemCount = previous.itemCount
        precondition(record.count == layout.length, "a course record for the mixture's shape")
        let userCount = record[CourseRecord.userCount]
        precondition(userCount > 0, "statistics cover no users")
        var next = previous
        for j in 0..<componentCount {
            next.weights[j] = record[CourseRecord.responsibilities + j] / userCount
        }
        // Σ_i μ_ji N_ji and Σ_i μ²_ji D_ji, each summed in four interleaved partial sums so
        // the loop runs in vector registers (the per-item updates are independent).
        var crossTerms = [Double](repeating: 0, count: componentCount)
        var squareTerms = [Double](repeating: 0, count: componentCount)
        let ratingSums = UnsafeBufferPointer(rebasing: record[layout.ratingSums..<layout.observedWeights])
        let observedWeights = UnsafeBufferPointer(rebasing: record[layout.observedWeights..<layout.length])
        next.means.withUnsafeMutableBufferPointer { means in
            for j in 0..<componentCount {
                let base = j * itemCount
                for index in base..<(base + itemCount) where observedWeights[index] >= 1 {
                    means[index] = ratingSums[index] / observedWeights[index]
                }
                var cross = (0.0, 0.0, 0.0, 0.0)
                var square = (0.0, 0.0, 0.0, 0.0)
                var index = base
                let vectorEnd = base + itemCount - itemCount % 4
                while index < vectorEnd {
                    let m0 = means[index], m1 = means[index + 1], m2 = means[index + 2], m3 = means[index + 3]
                    cross.0 += m0 * ratingSums[index]
                    cross.1 += m1 * ratingSums[index + 1]
                    cross.2 += m2 * ratingSums[index + 2]
                    cross.3 += m3 * ratingSums[index + 3]
                    square.0 += m0 * m0 * observedWeights[index]
                    square.1 += m1 * m1 * observedWeights[index + 1]
                    square.2 += m2 * m2 * observedWeights[index + 2]
                    square.3 += m3 * m3 * observedWeights[index + 3]
                    index += 4
                }
                var crossTerm = (cross.0 + cross.1) + (cross.2 + cross.3)
                var squareTerm = (square.0 + square.1) + (square.2 + square.3)
                while index < base + itemCount {
                    crossTerm += means[index] * ratingSums[index]
                    squareTerm += means[index] * means[index] * observedWeights[index]
                    index += 1
                }
                crossTerms[j] = crossTerm
                squareTerms[j] = squareTerm
            }
        }
        for j in 0..<componentCount {
            let denominator = record[layout.weightedCounts + j]
            if denominator > 0 {
                let numerator = record[layout.weightedSquaredNorms + j] - 2 * crossTerms[j] + squareTerms[j]
                next.variances[j] = max(numerator / denominator, varianceFloor)
            }
            // A component that no longer explains any rating keeps its variance: there is
            // nothing to estimate it from, and its weight (≈ 0) already silences it.
        }
        return next
    }
}
