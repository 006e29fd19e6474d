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

    @Option(help: "Number of users.")
    var users: Int

    @Option(help: "Number of items.")
    var items: Int

    @Option(help: "Total number of ratings (each user gets at least one).")
    var ratings: Int

    @Option(name: .short, help: "Number of planted components.")
    var k: Int

    @Option(help: "Seed of the generator.")
    var seed: UInt64 = 0

    @Option(help: "Standard deviation of a rating around its component's mean, in stars.")
    var noise: Double = 0.5

    @Option(help: "Where to write the ratings ('.csv' writes CSV with a header, anything else tab-separated triplets).")
    var out: String

    @Option(help: "Where to write 'user<TAB>component' lines (default: OUT.memberships).")
    var memberships: String?

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let generator = SyntheticRatings(userCount: users, itemCount: items, ratingCount: ratings,
                                         componentCount: k, seed: seed, noise: noise)
        let membershipPath = memberships ?? out + ".memberships"
        let layout: RecordLayout = out.lowercased().hasSuffix(".csv") ? .csv : .triplets
        let summary = try generator.write(to: out, layout: layout, membershipsPath: membershipPath)
        let seconds = (clock.now - start).seconds
        print("wrote \(out): \(summary.ratings) ratings by \(summary.users) users of \(summary.ratedItems) items (K = \(k), seed \(seed)) in \(fixed(seconds, 1)) s; memberships in \(membershipPath)")
    }
}
