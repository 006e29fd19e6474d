import ArgumentParser
import Foundation
import MixFill
import MixFillTools

extension Fill {
    /// `fill` on rating records (or with `--pairs`): the data's items are matched to the
    /// model's by id, then either the requested pairs are predicted, or — when it fits in
    /// memory and on disk — the dense completed matrix is streamed out row by row.
    /// `header` (the data line) is printed before the line saying what was written.
    func fillRecords(_ loaded: RatingInput, _ file: ModelFile, header: String) throws {
        let dataName = StandardInput.displayName(data)
        let modelItems: IdMap
        if loaded.isRecords {
            modelItems = file.items
        } else {
            guard loaded.itemCount == file.itemCount else {
                throw MixFillError.badFile(file: dataName, message: "has \(loaded.itemCount) items but the model \(model) was fitted on \(file.itemCount); give data with the model's items" + formatHint(loaded.format, file))
            }
            modelItems = .identity(file.itemCount)
        }
        if pairs == nil, let problem = PairPredictor.denseOutputProblem(userCount: loaded.userCount, itemCount: modelItems.count, outPath: out) {
            throw MixFillError.badOption(option: "--out", message: "\(problem); give --pairs FILE to predict the entries you need")
        }
        let table = loaded.table
        let aligned = PairPredictor.align(table, to: modelItems)
        if aligned.droppedRatings > 0, aligned.droppedRatings == table.matrix.observedCount {
            throw MixFillError.badFile(file: dataName, message: "none of its \(counted(aligned.droppedRatings, "rating")) is of an item the model \(model) was fitted on, so nothing in it can inform a prediction; give data whose item ids are the training data's" + formatHint(loaded.format, file))
        }
        if aligned.droppedRatings > 0 {
            let one = aligned.droppedRatings == 1
            Terminal.warning("\(dataName): \(aligned.droppedRatings) rating\(one ? "" : "s") of items the model was not fitted on \(one ? "was" : "were") ignored" + formatHint(loaded.format, file))
        }
        let alignedInput = RatingInput(storage: .records(RatingTable(matrix: aligned.matrix, users: table.users, items: modelItems)),
                                       format: loaded.format)
        let isTrainingData = file.training.map { $0.fingerprint == loaded.fingerprint } ?? false
        // A dense matrix's posteriors come from the kernel `--kernel auto` picks for the
        // matrix itself, as predict and fill's matrix output take them, so `--pairs` gives
        // the same digits; its records view (identity ids, nothing dropped) only indexes.
        let engineInput = loaded.isRecords ? alignedInput : loaded
        let source = try engine.makeEngine(for: engineInput, family: file.family, kernel: input.kernel)
            .predictionSource(of: file, on: engineInput, isTrainingData: isTrainingData)
        let fallback = Self.itemFallback(file)
        let predictor = PairPredictor(matrix: aligned.matrix, users: table.users, items: modelItems, source: source, itemFallback: fallback)
        if let pairs {
            let written = try predictor.writePredictions(pairsPath: pairs, to: out)
            if written.pairs == 0 {
                Terminal.warning(Predict.noPairs(pairs))
            }
            if written.unknownUsers > 0 {
                Terminal.warning("\(StandardInput.displayName(pairs)): \(written.unknownUsers) pair\(written.unknownUsers == 1 ? " has a user" : "s have users") not in \(dataName); predicted from the mixture weights alone")
            }
            if written.unknownItems > 0 {
                Terminal.warning("\(StandardInput.displayName(pairs)): \(written.unknownItems) pair\(written.unknownItems == 1 ? " has an item" : "s have items") the model was not fitted on or has no training rating for; written as the mean training rating, \(DenseMatrixWriter.format(fallback.value)), as predict gives it")
            }
            report(header)
            report("wrote \(outName): \(written.pairs) prediction\(written.pairs == 1 ? "" : "s")")
        } else {
            let unrated = fallback.ratingCounts.filter { $0 == 0 }.count
            if unrated > 0 { Terminal.warning(Self.unratedItemsWarning(unrated, fallback: fallback.value)) }
            try predictor.writeDenseMatrix(to: out)
            report(header)
            report("wrote \(outName): \(loaded.userCount) × \(modelItems.count), users and items in ascending id order")
        }
    }
}
