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
/// offset of 0). The model cannot speak for an item it was not fitted on, nor for one
/// without training ratings (its means never moved from the start): those get the
/// fallback `predict` gives them, the mean training rating (`ItemFallback`).
package struct PairPredictor: Sendable {
    /// What an item the model cannot speak for is predicted, and which of the model's
    /// items those are.
    package struct ItemFallback: Sendable {
        /// The value written (the mean training rating, clipped to the rating scale).
        package var value: Double
        /// Training ratings per model item; an item with none gets `value`. Empty when the
        /// model does not record them (version 1 files).
        package var ratingCounts: [Int]

        package init(value: Double, ratingCounts: [Int]) {
            self.value = value
            self.ratingCounts = ratingCounts
        }

        /// Whether the model item `column` gets `value` (it has no training rating).
        package func covers(column: Int) -> Bool {
            column < ratingCounts.count && ratingCounts[column] == 0
        }
    }

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
    package let itemFallback: ItemFallback

    package init(matrix: SparseRatingMatrix, users: IdMap, items: IdMap, source: Source, itemFallback: ItemFallback) {
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
        self.itemFallback = itemFallback
    }

    /// The table's ratings with each item renumbered to the model's column of the same id
    /// (rows sorted again when the two maps order ids differently, numbers against names);
    /// ratings of items the model does not
    /// have are dropped and counted. When the model's items are the data's (predicting for
    /// the training data) the matrix is used as it is, without a copy.
    package static func align(_ table: RatingTable, to modelItems: IdMap) -> (matrix: SparseRatingMatrix, droppedRatings: Int) {
        if table.items == modelItems { return (table.matrix, 0) }
        let column = table.items.indices(in: modelItems)
        let reorders = (table.items.names == nil) != (modelItems.names == nil)
        let source = table.matrix
        var rowStarts = [0]
        rowStarts.reserveCapacity(source.userCount + 1)
        var kept = [Int]()
        for user in 0..<source.userCount {
            let rowStart = kept.count
            for position in source.rowStarts[user]..<source.rowStarts[user + 1] where column[source.items[position]] != nil {
                kept.append(position)
            }
            if reorders { kept[rowStart...].sort { (column[source.items[$0]] ?? 0) < (column[source.items[$1]] ?? 0) } }
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
        /// The model's prediction for a user of the data.
        case predicted(Double)
        /// The model's prediction for a user the data does not have (its E-step without
        /// ratings).
        case newUser(Double)
        /// The item is not one of the model's columns, or has no training rating: the
        /// fallback.
        case itemFallback(Double)

        package var value: Double {
            switch self {
            case let .observed(value), let .predicted(value), let .newUser(value), let .itemFallback(value): return value
            }
        }
    }

    /// The prediction for the user with id `user` and the item with id `item` (as written:
    /// whole numbers, or names where the maps hold text ids).
    package func predict(user: String, item: String) -> Prediction {
        let row = users.index(ofName: user)
        guard let column = items.index(ofName: item) else { return .itemFallback(itemFallback.value) }
        if let row, let rating = observed(row: row, column: column) { return .observed(rating) }
        if itemFallback.covers(column: column) { return .itemFallback(itemFallback.value) }
        guard let row else { return .newUser(predicted(row: nil, column: column)) }
        return .predicted(predicted(row: row, column: column))
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
    /// rating file. Throws, writing nothing, at the first malformed line. Returns the number
    /// of pairs, and of those predicted for a user the data does not have and written as
    /// the item fallback (each pair counted once, by what its value is: a new user's pair
    /// with an item the model cannot speak for is an item fallback). `-` reads the pairs
    /// from standard input (named `<stdin>` in errors).
    package func writePredictions(pairsPath: String, to outPath: String) throws(MixFillError)
        -> (pairs: Int, unknownUsers: Int, unknownItems: Int) {
        let bytes = try FileBytes.read(pairsPath)
        let pairsName = StandardInput.displayName(pairsPath)
        let stream = try AtomicOutputStream.open(outPath)
        var pairCount = 0
        var unknownUsers = 0
        var unknownItems = 0
        var text = [UInt8]()
        try PairsReader.forEach(bytes, name: pairsName, users: users, items: items) { _, _, user, item throws(MixFillError) in
            let prediction = predict(user: user, item: item)
            switch prediction {
            case .newUser: unknownUsers += 1
            case .itemFallback: unknownItems += 1
            case .observed, .predicted: break
            }
            text += Array("\(user)\t\(item)\t\(DenseMatrixWriter.format(prediction.value))\n".utf8)
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
        let stream = try AtomicOutputStream.open(outPath)
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
            for column in 0..<itemCount where itemFallback.covers(column: column) { row[column] = itemFallback.value }
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
    /// filled values) would not fit in the free space of the target's file system (not
    /// asked of standard output, `-`, whose room is the reader's).
    package static func denseOutputProblem(userCount: Int, itemCount: Int, outPath: String) -> String? {
        let entries = Double(userCount) * Double(itemCount)
        let memory = KernelChoice.physicalMemoryBytes
        let textBytes = entries * 18
        let shape = "\(userCount) × \(itemCount) = \(userCount.multipliedReportingOverflow(by: itemCount).partialValue) entries"
        if 8 * entries > memory / 2 {
            return "a dense matrix of \(shape) would need \(RatingInput.gigabytes(8 * entries)) GB to read back, more than half of this machine's \(RatingInput.gigabytes(memory)) GB"
        }
        var info = statvfs()
        if !StandardInput.isStandardInput(outPath), statvfs(AtomicFile.parentFolder(of: outPath), &info) == 0 {
            let free = Double(info.f_bavail) * Double(info.f_frsize)
            if textBytes > free {
                return "a dense matrix of \(shape) would take about \(RatingInput.gigabytes(textBytes)) GB of text but only \(RatingInput.gigabytes(free)) GB are free there"
            }
        }
        return nil
    }
}
