import MixFill
import MixFillTools

extension Engine {
    /// One E-step of `file`'s model over the users of `input` (data with the model's items
    /// as its columns): what pair predictions and fills need. For the factor family the
    /// users' offsets are the saved ones on the training data (`isTrainingData`), and are
    /// fitted from each user's ratings otherwise.
    func predictionSource(of file: ModelFile, on input: RatingInput, isTrainingData: Bool) throws -> PairPredictor.Source {
        switch file.parameters {
        case let .course(mixture):
            return .course(mixture, posteriors: try posteriors(of: mixture, on: input))
        case let .factor(model):
            let fitted = isTrainingData ? model : model.refittingUserOffsets(to: input.table.matrix)
            let states = try factorLoop(for: input).userStates(fitted).states
            let scale = file.training?.ratingScale ?? RatingScale(minimum: -.infinity, maximum: .infinity)
            return .factor(fitted, states: states, scale: scale)
        }
    }
}
