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
        discussion: "movielens-dat is MovieLens 1M/10M's ratings.dat, user::item::rating::timestamp. DATA '-' reads standard input (detection works there too).",
        valueName: "FORMAT"))
    var format: RatingFormat = .auto

    @Option(name: .customLong("rating-scale"), parsing: .unconditional, help: ArgumentHelp(
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

/// How `fit`, `fill` and `measure` read their data (under the help's "Input" heading) and
/// which E-step kernel they run (under "Engine", beside `EngineOptions`).
struct InputOptions: ParsableArguments {
    @OptionGroup(title: HelpHeading.input) var data: DataOptions

    @OptionGroup(title: HelpHeading.engine) var kernelOptions: KernelOptions

    var kernel: KernelChoice { kernelOptions.kernel }
}

/// `--kernel`: the E-step's data layout and algorithm (the arithmetic is `--backend`).
struct KernelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Data layout of the E-step: auto (sparse for rating records and for matrices under \(Int(KernelChoice.sparseBelowDensity * 100))% observed, else dense), dense (the whole users × items matrix: GEMMs, or plain loops with --backend naive), blocked (GEMMs on blocks of users densified from records, in bounded memory) or sparse (observed ratings only).",
        valueName: "KERNEL"))
    var kernel: KernelChoice = .auto
}

/// The headings options are grouped under in `--help`.
enum HelpHeading {
    static let input = "Input"
    static let heldOut = "Held-out ratings"
    static let model = "Model"
    static let engine = "Engine"
    static let checkpoints = "Checkpoints"
    static let output = "Output"
    static let query = "Query"
    static let newUser = "New user"
}

/// The DATA argument's help, the same in every command that reads rating data.
enum DataArgument {
    static let help = "Rating data: a dense matrix (0 = missing), rating records (triplets, CSV, MovieLens ratings.dat, the Netflix layout) or a binary rating file; '-' reads standard input."
}
