#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Predictions for rating records with a fitted model, speaking the file's ids:
/// the rating of (user, item) is the observed one if the data has it, else the model's:
/// the course's fill Σ_j p(j|u)·μ_ji, or the factor family's prediction clipped to its
/// training ratings' range (`FactorPredictor`). A user the data does not have gets the
/// E-step of a user with no ratings (p(j|u) = p_j, and for the factor family a user
/// offset of 0); an item the model was not fitted on cannot be predicted.
package struct PairPredictor: Sendable {
    /// The model and the data users' E-step results.
    package enum Source: Sendable {
        /// p(j|u), users × K.
        case course(Mixture, posteriors: [Double])
        /// The factor model with the data users' offsets, the kernels' states
        /// (users × K(1 + q)), and the range predictions are clipped to.
        case factor(FactorMixture, states: [Double], scale: RatingScale)
    }

    /// The data's ratings with items renumbered to the model's columns.
    package let matrix: SparseRatingMatrix
    package let users: IdMap
    package let items: IdMap
    package let source: Source

    package init(matrix: SparseRatingMatrix, users: IdMap, items: IdMap, source: Source) {
        switch source {
        case let .course(mixture, posteriors):
            precondition(matrix.itemCount == mixture.itemCount && items.count == mixture.itemCount)
            precondition(posteriors.count == matrix.userCount * mixture.componentCount)
        case let .factor(model, states, _):
            precondition(matrix.itemCount == model.itemCount && items.count == model.itemCount)
            precondition(states.count == matrix.userCount * model.componentCount * (1 + model.factorCount))
            precondition(model.offsets.userOffsets.count == matrix.userCount)
        }
        precondition(users.count == matrix.userCount)
        self.matrix = matrix
        self.users = users
        self.items = items
        self.source = source
    }

    package init(matrix: SparseRatingMatrix, users: IdMap, items: IdMap, mixture: Mixture, posteriors: [Double]) {
        self.init(matrix: matrix, users: users, items: items, source: .course(mixture, posteriors: posteriors))
    }

    /// The table's ratings with each item renumbered to the model's column of the same id
    /// (both id lists ascend, so rows stay sorted); ratings of items the model does not
    /// have are dropped and counted. When the model's items are the data's (predicting for
    /// the training data) the matrix is used as it is, without a copy.
    package static func align(_ table: RatingTable, to modelItems: IdMap) -> (matrix: SparseRatingMatrix, droppedRatings: Int) {
        if table.items == modelItems { return (table.matrix, 0) }
        let column = (0..<table.items.count).map { modelItems.index(of: table.items.id($0)) }
        let source = table.matrix
        var rowStarts = [0]
        rowStarts.reserveCapacity(source.userCount + 1)
        var kept = [Int]()
        for user in 0..<source.userCount {
            for position in source.rowStarts[user]..<source.rowStarts[user + 1] where column[source.items[position]] != nil {
                kept.append(position)
            }
            rowStarts.append(kept.count)
        }
        let indices = kept.map { column[source.items[$0]] ?? 0 }
        let ratings: RatingValues
        switch source.ratings {
        case let .coded(palette, codes): ratings = .coded(palette: palette, codes: kept.map { codes[$0] })
        case let .exact(values): ratings = .exact(kept.map { values[$0] })
        }
        let matrix = SparseRatingMatrix(
            userCount: source.userCount, itemCount: modelItems.count, rowStarts: rowStarts,
            items: SparseRatingMatrix.compactItems(indices, itemCount: modelItems.count), ratings: ratings)
        return (matrix, source.observedCount - kept.count)
    }

    package enum Prediction: Equatable, Sendable {
        /// The data has this rating; it is kept.
        case observed(Double)
        /// Σ_j p(j|u)·μ_ji.
        case predicted(Double)
        /// The item is not one of the model's columns.
        case unknownItem

        package var value: Double? {
            switch self {
            case let .observed(value), let .predicted(value): return value
            case .unknownItem: return nil
            }
        }
    }

    /// The prediction for the user with id `user` and the item with id `item`; also says
    /// whether the user was in the data.
    package func predict(user: Int64, item: Int64) -> (prediction: Prediction, knownUser: Bool) {
        guard let column = items.index(of: item) else { return (.unknownItem, users.index(of: user) != nil) }
        guard let row = users.index(of: user) else { return (.predicted(predicted(row: nil, column: column)), false) }
        if let rating = observed(row: row, column: column) { return (.observed(rating), true) }
        return (.predicted(predicted(row: row, column: column)), true)
    }

    /// The model's prediction for the data's user `row` (nil: a user with no ratings).
    func predicted(row: Int?, column: Int) -> Double {
        switch source {
        case let .course(mixture, posteriors):
            guard let row else { return mix(mixture, mixture.weights[...], column: column) }
            let componentCount = mixture.componentCount
            return mix(mixture, posteriors[(row * componentCount)..<((row + 1) * componentCount)], column: column)
        case let .factor(model, states, scale):
            let width = model.componentCount * (1 + model.factorCount)
            guard let row else {
                let prior = model.weights + [Double](repeating: 0, count: model.componentCount * model.factorCount)
                return scale.clip(FactorPredictor.prediction(model: model, state: prior[...], user: nil, item: column))
            }
            return scale.clip(FactorPredictor.prediction(model: model, state: states[(row * width)..<((row + 1) * width)],
                                                         user: row, item: column))
        }
    }

    /// The observed rating of (row, column), found by binary search in the sorted row.
    func observed(row: Int, column: Int) -> Double? {
        var low = matrix.rowStarts[row]
        var high = matrix.rowStarts[row + 1]
        while low < high {
            let middle = (low + high) / 2
            if matrix.items[middle] < column { low = middle + 1 } else { high = middle }
        }
        return low < matrix.rowStarts[row + 1] && matrix.items[low] == column ? matrix.ratings[low] : nil
    }

    private func mix(_ mixture: Mixture, _ weights: ArraySlice<Double>, column: Int) -> Double {
        var prediction = 0.0
        for (j, weight) in zip(0..., weights) {
            prediction += weight * mixture.means[j * mixture.itemCount + column]
        }
        return prediction
    }

    /// Reads `user item` pairs from `pairsPath` (one per line, separated by blanks or a
    /// comma, as `predict` reads them — further fields, blank lines and `#` comments are
    /// ignored — plus one header line: a first line whose first field holds no digit) and
    /// writes `user<TAB>item<TAB>rating` lines to `outPath` atomically: itself a triplets
    /// rating file. A pair whose item the model was not fitted on gets `itemFallback` (what
    /// `predict` says for it: the mean training rating). Throws, writing nothing, at the
    /// first malformed line. Returns the number of pairs, of pairs whose user was not in the
    /// data and of pairs whose item was not in the model. `-` reads the pairs from standard
    /// input (named `<stdin>` in errors).
    package func writePredictions(pairsPath: String, to outPath: String, itemFallback: Double) throws(MixFillError)
        -> (pairs: Int, unknownUsers: Int, unknownItems: Int) {
        let bytes = try FileBytes.read(pairsPath)
        let pairsName = StandardInput.displayName(pairsPath)
        let stream = try AtomicOutputStream(path: outPath)
        var pairCount = 0
        var unknownUsers = 0
        var unknownItems = 0
        var text = [UInt8]()
        try PairsReader.forEach(bytes, name: pairsName) { _, _, user, item throws(MixFillError) in
            let (prediction, knownUser) = predict(user: user, item: item)
            let value: Double
            if let known = prediction.value {
                value = known
            } else {
                value = itemFallback
                unknownItems += 1
            }
            if !knownUser { unknownUsers += 1 }
            text += Array("\(user)\t\(item)\t\(DenseMatrixWriter.format(value))\n".utf8)
            if text.count > 1 << 19 {
                try stream.write(text)
                text.removeAll(keepingCapacity: true)
            }
            pairCount += 1
        }
        try stream.write(text)
        try stream.commit()
        return (pairCount, unknownUsers, unknownItems)
    }

    /// Writes the completed matrix in the dense text format, streaming one row at a time
    /// (O(d) memory): rows are the data's users by ascending id, columns the model's items
    /// by ascending id. The caller checks first that the result fits (`denseOutputProblem`).
    package func writeDenseMatrix(to outPath: String) throws(MixFillError) {
        let stream = try AtomicOutputStream(path: outPath)
        let itemCount = items.count
        var row = [Double](repeating: 0, count: itemCount)
        for user in 0..<matrix.userCount {
            switch source {
            case let .course(mixture, posteriors):
                let componentCount = mixture.componentCount
                for column in 0..<itemCount { row[column] = 0 }
                for j in 0..<componentCount {
                    let posterior = posteriors[user * componentCount + j]
                    for column in 0..<itemCount { row[column] += posterior * mixture.means[j * itemCount + column] }
                }
            case .factor:
                for column in 0..<itemCount { row[column] = predicted(row: user, column: column) }
            }
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                row[matrix.items[position]] = matrix.ratings[position]
            }
            var text = [UInt8]()
            text.reserveCapacity(itemCount * 8)
            for column in 0..<itemCount {
                if column > 0 { text.append(UInt8(ascii: " ")) }
                text.append(contentsOf: DenseMatrixWriter.format(row[column]).utf8)
            }
            text.append(UInt8(ascii: "\n"))
            try stream.write(text)
        }
        try stream.commit()
    }

    /// Why a dense users × items text matrix should not be written to `outPath`, or nil if
    /// it may: it is refused when reading it back would take more than half of this
    /// machine's memory (8 bytes per entry), or when its text (about 18 bytes per entry for
    /// filled values) would not fit in the free space of the target's file system.
    package static func denseOutputProblem(userCount: Int, itemCount: Int, outPath: String) -> String? {
        let entries = Double(userCount) * Double(itemCount)
        let memory = KernelChoice.physicalMemoryBytes
        let textBytes = entries * 18
        let shape = "\(userCount) × \(itemCount) = \(userCount.multipliedReportingOverflow(by: itemCount).partialValue) entries"
        if 8 * entries > memory / 2 {
            return "a dense matrix of \(shape) would need \(RatingInput.gigabytes(8 * entries)) GB to read back, more than half of this machine's \(RatingInput.gigabytes(memory)) GB"
        }
        var info = statvfs()
        if statvfs(AtomicFile.parentFolder(of: outPath), &info) == 0 {
            let free = Double(info.f_bavail) * Double(info.f_frsize)
            if textBytes > free {
                return "a dense matrix of \(shape) would take about \(RatingInput.gigabytes(textBytes)) GB of text but only \(RatingInput.gigabytes(free)) GB are free there"
            }
        }
        return nil
    }
}
