import ArgumentParser
import Foundation
import MixFill
import MixFillTools

extension RatingFormat: ExpressibleByArgument {}
extension KernelChoice: ExpressibleByArgument {}

/// How every command that reads rating data reads it (`fit`, `fill`, `eval`, `select`,
/// `convert`, `measure`): its format, and the rating scale its ratings must lie in.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Data format: auto (detect from the content), dense, triplets, csv, netflix, movielens-dat or binary.",
        discussion: "movielens-dat is MovieLens 1M/10M's ratings.dat, user::item::rating::timestamp. DATA '-' reads standard input (detection works there too)."))
    var format: RatingFormat = .auto

    @Option(name: .customLong("rating-scale"), help: ArgumentHelp(
        "Refuse a rating outside MIN-MAX, e.g. 1-5 or 0.5-5 (both ends included), naming its file:line:column.",
        discussion: "Checks DATA, and the --test of eval and select (read like DATA); no other file. In a dense matrix 0 still means missing.", valueName: "MIN-MAX"))
    var ratingScale: String?

    func validate() throws {
        do {
            _ = try rules()
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// What the readers accept as a rating: the declared scale, if any, and the ±1e100 limit.
    func rules() throws(MixFillError) -> RatingRules {
        guard let ratingScale else { return .standard }
        return RatingRules(scale: try RatingScale.parse(ratingScale, option: "--rating-scale"))
    }
}

/// How `fit`, `fill` and `measure` read their data and which E-step kernel they run.
struct InputOptions: ParsableArguments {
    @OptionGroup var data: DataOptions

    @Option(help: "E-step kernel: auto (by density), dense (--backend blas or naive), blocked (GEMMs on user blocks) or sparse (observed ratings only).")
    var kernel: KernelChoice = .auto
}
