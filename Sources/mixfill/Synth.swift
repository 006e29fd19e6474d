import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate rating records from a planted mixture, of any size.",
        discussion: """
            Users draw one of K components; items have skewed popularity and users skewed \
            activity, like real rating data; ratings are whole stars 1-5 around the \
            component's mean. Deterministic for a seed. Writes OUT (user ids 1..n, item ids \
            1..d, sorted by user then item) and the planted component of every user to \
            --memberships (default OUT.memberships).
            """
    )

    @Option(parsing: .unconditional, help: ArgumentHelp("Number of users.", valueName: "N"))
    var users: Int

    @Option(parsing: .unconditional, help: ArgumentHelp("Number of items.", valueName: "N"))
    var items: Int

    @Option(parsing: .unconditional, help: ArgumentHelp("Total number of ratings (each user gets at least one).", valueName: "N"))
    var ratings: Int

    @Option(name: .short, parsing: .unconditional, help: ArgumentHelp("Number of planted components.", valueName: "K"))
    var k: Int

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the generator.", valueName: "SEED"))
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: ArgumentHelp("Standard deviation of a rating around its component's mean, in stars.", valueName: "SD"))
    var noise: Double = 0.5

    @Option(help: ArgumentHelp("Where to write the ratings ('.csv' writes CSV with a header, anything else tab-separated triplets).", valueName: "FILE"))
    var out: String

    @Option(help: ArgumentHelp("Where to write 'user<TAB>component' lines (default: OUT.memberships).", valueName: "FILE"))
    var memberships: String?

    func validate() throws {
        try refuseStandardOutput([("--out", out), ("--memberships", memberships)])
        if let memberships, absolutePath(memberships) == absolutePath(out) {
            throw ValidationError("--memberships: \(memberships) is the --out file; the memberships would overwrite the ratings. Give another path or leave --memberships out (OUT.memberships)")
        }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let generator = SyntheticRatings(userCount: users, itemCount: items, ratingCount: ratings,
                                         componentCount: k, seed: seed, noise: noise)
        let membershipPath = memberships ?? out + ".memberships"
        let layout: RecordLayout = out.lowercased().hasSuffix(".csv") ? .csv : .triplets
        let summary = try generator.write(to: out, layout: layout, membershipsPath: membershipPath)
        let seconds = (clock.now - start).seconds
        print("wrote \(out): \(counted(summary.ratings, "rating")) by \(counted(summary.users, "user")) of \(counted(summary.ratedItems, "item")) (K = \(k), seed \(seed)) in \(fixed(seconds, 1)) s; memberships in \(membershipPath)")
    }
}
