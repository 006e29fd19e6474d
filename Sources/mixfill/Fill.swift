import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Fill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill in a matrix's missing ratings with a fitted model, or predict requested (user, item) pairs.",
        discussion: """
            A missing entry becomes the model's prediction: Σ_j p(j|u)·μ_ji for a course \
            model; for an mppca model the offsets μ₀ + b_u + b_i plus the posterior mean of \
            the low-rank part, Σ_j p(j|u)·(m̄_ji + w̄_iᵀ z̄_j(u)). Observed entries are kept. With --pairs, \
            writes 'user<TAB>item<TAB>rating' for each requested pair instead of a matrix (a pair \
            DATA rates gets that rating, as the matrix keeps it). mppca's predictions are clipped \
            to the training ratings' range, as predict clips them; a course model's are written \
            unclipped, as the course computes them (its reference fills and RMSEs are unclipped), \
            where predict clips them. The output is written atomically. DATA or PAIRS '-' reads standard input (one of them).
            """
    )

    @Argument(help: ArgumentHelp(DataArgument.help, valueName: "DATA"))
    var data: String

    @OptionGroup(title: HelpHeading.model) var modelOption: ModelFileOption

    @OptionGroup var input: InputOptions

    @OptionGroup(title: HelpHeading.input) var pairsOption: FillPairsOption

    @OptionGroup(title: HelpHeading.engine) var engine: EngineOptions

    @OptionGroup(title: HelpHeading.output) var output: FillOutputOption

    var model: String { modelOption.model }
    var out: String { output.out }
    var pairs: String? { pairsOption.pairs }

    func validate() throws {
        try requireOneStandardInput([("DATA", data), ("--model", model), ("--pairs", pairs)])
    }

    /// `--out -`: the matrix or predictions go to standard output, so the report lines go
    /// to standard error.
    var writesStandardOutput: Bool { StandardInput.isStandardInput(out) }

    /// A report line: on standard output, or on standard error when that carries the data
    /// (a report that cannot be written there is let go: the data went out).
    func report(_ line: String) {
        if writesStandardOutput {
            _ = Array((line + "\n").utf8).withUnsafeBytes { FileBytes.writeAll($0, to: STDERR_FILENO) }
        } else {
            print(line)
        }
    }

    /// The output as the report names it.
    var outName: String { writesStandardOutput ? "standard output" : out }

    func run() throws {
        let file = try ModelFile.read(path: model)
        let loadedRatings = try LoadedRatings.load(data, input.data)
        let loaded = loadedRatings.input
        if pairs != nil || loaded.isRecords {
            try fillRecords(loaded, file, header: loadedRatings.headerLine)
            return
        }
        guard let matrix = loaded.denseMatrix, matrix.itemCount == file.itemCount else {
            throw MixFillError.badFile(file: loadedRatings.displayPath, message: "has \(loaded.itemCount) items but the model \(model) was fitted on \(file.itemCount); give data with the model's items" + formatHint(loaded.format, file))
        }
        guard let mixture = file.mixture else {
            // The factor family's fill goes through the records path, which handles any model.
            try fillRecords(loaded, file, header: loadedRatings.headerLine)
            return
        }
        let posteriors = try engine.makeEngine(for: loaded, kernel: input.kernel).posteriors(of: mixture, on: loaded)
        var filled = Completion.fill(matrix, mixture: mixture, posteriors: posteriors)
        let fallback = Self.itemFallback(file)
        let unrated = (0..<matrix.itemCount).filter { fallback.covers(column: $0) }
        if !unrated.isEmpty {
            // The model cannot speak for an item nobody rated in training (its means are
            // where the start put them): its missing entries get predict's fallback.
            var values = filled.values
            for user in 0..<matrix.userCount {
                for item in unrated where matrix.values[user * matrix.itemCount + item] == 0 {
                    values[user * matrix.itemCount + item] = fallback.value
                }
            }
            filled = DenseRatingMatrix(userCount: matrix.userCount, itemCount: matrix.itemCount, values: values)
            Terminal.warning(Self.unratedItemsWarning(unrated.count, fallback: fallback.value))
        }
        if writesStandardOutput {
            try writeStandardOutput(Data(DenseMatrixWriter.encode(filled)))
        } else {
            try DenseMatrixWriter.write(filled, to: out)
        }
        let filledCount = matrix.userCount * matrix.itemCount - matrix.observedCount
        report(loadedRatings.headerLine)
        report("wrote \(outName): \(matrix.userCount) × \(matrix.itemCount), \(filledCount) missing entries filled")
    }

    /// What a message about DATA disagreeing with the model adds when DATA's format was
    /// detected as dense or triplets and the model records the other for its training
    /// data: detection's one ambiguity (a matrix of 3 or 4 items without a 0 reads as
    /// triplets, triplets with a rating of 0 or less as a matrix), so the same file may
    /// have been read differently at fit time, under --format. Other formats are told
    /// apart by their bytes, and another one recorded says nothing about this file.
    func formatHint(_ format: RatingFormat, _ file: ModelFile) -> String {
        let confusable: Set<RatingFormat> = [.dense, .triplets]
        guard input.data.format == .auto, let recorded = file.training.flatMap({ RatingFormat(rawValue: $0.format) }),
              recorded != format, confusable.contains(recorded), confusable.contains(format) else { return "" }
        return "; it was read as \(format.rawValue) (detected) but \(model) was fitted on \(recorded.rawValue) data: if it holds \(recorded.rawValue) data, give --format \(recorded.rawValue)"
    }

    /// What an item the model cannot speak for is filled with: predict's answer for it,
    /// the mean training rating clipped to the scale, for items absent from the model or
    /// without a training rating.
    static func itemFallback(_ file: ModelFile) -> PairPredictor.ItemFallback {
        PairPredictor.ItemFallback(value: ModelServer(model: file).itemFallback, ratingCounts: file.training?.itemRatingCounts ?? [])
    }

    static func unratedItemsWarning(_ count: Int, fallback: Double) -> String {
        "\(count) item\(count == 1 ? " has" : "s have") no training rating in the model; \(count == 1 ? "its" : "their") missing entries are the mean training rating, \(DenseMatrixWriter.format(fallback)), as predict gives them"
    }
}

/// `--model FILE`, a model file, wherever a command reads one.
struct ModelFileOption: ParsableArguments {
    @Option(help: ArgumentHelp("A model written by 'mixfill fit --model-out'.", valueName: "FILE"))
    var model: String
}

/// `fill --pairs`.
struct FillPairsOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Predict these (user, item) pairs, one per line ('user item' or 'user,item'), instead of writing a dense matrix; '-' reads standard input.",
        valueName: "FILE"))
    var pairs: String?
}

/// `fill --out`.
struct FillOutputOption: ParsableArguments {
    @Option(help: ArgumentHelp("Where to write the completed matrix (or the predictions, with --pairs); '-' writes them to standard output and the report to standard error.", valueName: "FILE"))
    var out: String
}
