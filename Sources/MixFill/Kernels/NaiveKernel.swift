/// The textbook algorithm: for every user, every component and every observed item, plain
/// loops over Swift arrays. It is the correctness oracle for the other kernels and the
/// baseline the BLAS engine is benchmarked against, so it is deliberately not tuned.
final class NaiveKernel: StatisticsKernel {
    let data: DenseRatingMatrix
    var userCount: Int { data.userCount }
    var itemCount: Int { data.itemCount }
    let name = "naive"

    init(_ data: DenseRatingMatrix) {
        self.data = data
    }

    func computeStatistics(_ models: [Mixture], layout: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>) {
        for (index, mixture) in models.enumerated() {
            let record = UnsafeMutableBufferPointer(rebasing: buffer[layout.record(index)])
            for position in record.indices { record[position] = 0 }
            accumulate(mixture, into: record)
        }
    }

    /// Adds this matrix's statistics for `mixture` to `record` (a `CourseRecord`).
    private func accumulate(_ mixture: Mixture, into record: UnsafeMutableBufferPointer<Double>) {
        let componentCount = mixture.componentCount
        let layout = CourseRecord(mixture)
        let terms = ComponentTerms(mixture)
        var userPosteriors = [Double](repeating: 0, count: componentCount)
        // The per-item sums in arrays of their own, which the compiler knows alias neither
        // each other nor the data (a pointer into the record might), then added to the
        // record once: the same additions in the same order.
        let width = componentCount * data.itemCount
        var ratingSums = [Double](repeating: 0, count: width)
        var observedWeights = [Double](repeating: 0, count: width)
        for user in 0..<data.userCount {
            let observed = posteriorRow(user, mixture, terms, &userPosteriors)
            record[CourseRecord.logLikelihood] += observed.logLikelihood
            for j in 0..<componentCount {
                let posterior = userPosteriors[j]
                record[CourseRecord.responsibilities + j] += posterior
                record[layout.weightedSquaredNorms + j] += posterior * observed.squaredNorm
                record[layout.weightedCounts + j] += posterior * observed.count
                for item in 0..<data.itemCount {
                    let rating = data[user, item]
                    if rating != 0 {
                        ratingSums[j * data.itemCount + item] += posterior * rating
                        observedWeights[j * data.itemCount + item] += posterior
                    }
                }
            }
        }
        for index in 0..<width {
            record[layout.ratingSums + index] += ratingSums[index]
            record[layout.observedWeights + index] += observedWeights[index]
        }
        record[CourseRecord.userCount] += Double(data.userCount)
    }

    func userStates(_ mixture: Mixture) -> (states: [Double], logLikelihood: Double) {
        let componentCount = mixture.componentCount
        let terms = ComponentTerms(mixture)
        var row = [Double](repeating: 0, count: componentCount)
        var all = [Double]()
        all.reserveCapacity(data.userCount * componentCount)
        var logLikelihood = 0.0
        for user in 0..<data.userCount {
            logLikelihood += posteriorRow(user, mixture, terms, &row).logLikelihood
            all.append(contentsOf: row)
        }
        return (all, logLikelihood)
    }

    /// Fills `row` with p(·|u) and returns the user's log-likelihood, |C_u| and ‖x_{C_u}‖².
    private func posteriorRow(_ user: Int, _ mixture: Mixture, _ terms: ComponentTerms,
                              _ row: inout [Double]) -> (logLikelihood: Double, count: Double, squaredNorm: Double) {
        var count = 0.0
        var squaredNorm = 0.0
        for item in 0..<data.itemCount {
            let rating = data[user, item]
            if rating != 0 {
                count += 1
                squaredNorm += rating * rating
            }
        }
        for j in 0..<mixture.componentCount {
            var squaredDistance = 0.0
            for item in 0..<data.itemCount {
                let rating = data[user, item]
                if rating != 0 {
                    let difference = rating - mixture.means[j * data.itemCount + item]
                    squaredDistance += difference * difference
                }
            }
            row[j] = terms.logDensity(j, observedCount: count, squaredDistance: squaredDistance)
        }
        let logLikelihood = row.withUnsafeMutableBufferPointer { normaliseLogDensities($0) }
        return (logLikelihood, count, squaredNorm)
    }
}
