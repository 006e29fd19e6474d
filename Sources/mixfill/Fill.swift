import ArgumentParser
import Foundation
import MixFill

struct Fill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill in a matrix's missing ratings with a fitted model.",
        discussion: "A missing entry becomes Σ_j p(j|u)·μ_ji; observed entries are kept. The output is written atomically."
    )

    @Argument(help: "Dense rating matrix: one user per line, 0 = missing.")
    var data: String

    @Option(help: "A model written by 'mixfill fit --model-out'.")
    var model: String

    @Option(help: "Where to write the completed matrix.")
    var out: String

    @OptionGroup var engine: EngineOptions

    func run() throws {
        _ = engine.applyThreads()
        let file = try ModelFile.read(path: model)
        let matrix = try DenseMatrixReader.read(path: data)
        guard matrix.itemCount == file.mixture.itemCount else {
            throw MixFillError.badFile(file: data, message: "has \(matrix.itemCount) items but the model \(model) was fitted on \(file.mixture.itemCount); give data with the model's items")
        }
        let em = ExpectationMaximization(kernel: engine.backend.makeKernel(for: matrix))
        let posteriors = em.posteriors(file.mixture).posteriors
        let filled = Completion.fill(matrix, mixture: file.mixture, posteriors: posteriors)
        try DenseMatrixWriter.write(filled, to: out)
        let filledCount = matrix.userCount * matrix.itemCount - matrix.observedCount
        print("wrote \(out): \(matrix.userCount) × \(matrix.itemCount), \(filledCount) missing entries filled")
    }
}
