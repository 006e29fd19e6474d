import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Recommend: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recommend the items a user is predicted to rate highest, excluding those they rated.",
        discussion: """
            Items are ranked by Σ_j p(j|u)·μ_ji (ties: lower item index first) and shown with \
            that score and the prediction (the score clipped to the training ratings' range). \
            A training user (--user) is answered from their training ratings, which are also \
            the items left out; a new user is folded in from --ratings or --ratings-file (one \
            E-step with the saved mixture, no refit), their rated items left out. A user the \
            model does not know, without ratings, gets the population's ranking (the mixture's \
            weights), with a warning. Items with fewer than --min-ratings training ratings are \
            not recommended.
            """
    )

    @OptionGroup var serving: ServingOptions

    @Option(help: "The user to recommend for: a training user, or the id for the folded-in ratings.")
    var user: Int64?

    @Option(help: "How many items to recommend.")
    var top: Int = 10

    @Option(name: .customLong("min-ratings"), help: "Leave out items with fewer training ratings than this (their means rest on little or nothing).")
    var minRatings: Int = 1

    @Flag(help: "Print one JSON object on stdout instead of a table.")
    var json = false

    func validate() throws {
        if user == nil, !serving.hasFoldIn {
            throw ValidationError("say whom to recommend for: --user ID, or a new user's --ratings / --ratings-file")
        }
        if top < 1 {
            throw ValidationError("--top: \(top) is not allowed; give 1 or more")
        }
        if minRatings < 0 {
            throw ValidationError("--min-ratings: \(minRatings) is not allowed; give 0 or more")
        }
    }

    func run() throws {
        let file = try ModelFile.read(path: serving.model)
        var server = ModelServer(model: file)
        var excluded = Set<Int>()
        var ratedCount = 0
        let posterior: [Double]
        let basis: ModelServer.Basis
        if let (given, source) = try serving.foldInRatings() {
            let indexed = try ServingOptions.indexRatings(given, source: source, server: server)
            posterior = server.foldIn(user: user ?? -1, ratings: indexed)
            basis = .foldIn
            excluded = Set(indexed.map(\.item))
            ratedCount = indexed.count
        } else if let user, let index = file.users.index(of: user) {
            let loaded = try serving.trainingData(for: file, why: "recommending for training user \(user)")
            server.attachTrainingPosteriors(try serving.trainingPosteriors(loaded, file))
            (posterior, basis) = server.posterior(forUser: user)
            let table = loaded.input.table
            for position in table.matrix.rowStarts[index]..<table.matrix.rowStarts[index + 1] {
                excluded.insert(table.matrix.items[position])
            }
            ratedCount = excluded.count
        } else {
            (posterior, basis) = server.posterior(forUser: user ?? -1)
            Terminal.warning("user \(user.map(String.init) ?? "?") is not in the model and has no ratings given; recommending by the mixture's weights (the population's ranking)")
        }
        if file.training == nil, minRatings > 0 {
            Terminal.warning("--min-ratings: \(serving.model) is a version 1 model without item rating counts; no item is left out for it")
        }
        let recommendations = server.recommend(posterior: posterior, excluding: excluded, top: top, minimumRatings: minRatings)
        let report = RecommendReport(
            model: serving.model, user: user, basis: basis.rawValue, rated_items: ratedCount,
            posterior: posterior, min_ratings: minRatings,
            recommendations: recommendations.enumerated().map { rank, recommendation in
                RecommendReport.Entry(rank: rank + 1, item: file.items.id(recommendation.item),
                                      prediction: recommendation.rating, score: recommendation.score)
            })
        if json {
            try printJSON(report)
        } else {
            try printText(report.table())
        }
    }
}

/// What `mixfill recommend` reports (field names are the JSON's).
struct RecommendReport: Encodable {
    struct Entry: Encodable {
        var rank: Int
        var item: Int64
        /// The score clipped to the training ratings' range.
        var prediction: Double
        /// Σ_j p(j|u)·μ_ji, the ranking key.
        var score: Double
    }

    var model: String
    var user: Int64?
    /// training, fold-in or prior.
    var basis: String
    /// Items the user rated (left out of the ranking).
    var rated_items: Int
    /// p(j | user), the posterior behind the ranking.
    var posterior: [Double]
    var min_ratings: Int
    var recommendations: [Entry]

    func table() -> String {
        let who = user.map { "user \($0)" } ?? "new user"
        let source: String
        switch basis {
        case "training": source = "from \(rated_items) training ratings"
        case "fold-in": source = "folded in from \(rated_items) given ratings"
        default: source = "unknown: the population's ranking"
        }
        let largest = posterior.indices.max { posterior[$0] < posterior[$1] } ?? 0
        var out = "\(who): \(source); most likely component \(largest + 1) of \(posterior.count) (p = \(fixed(posterior[largest], 3)))\n"
        out += "top \(recommendations.count), rated items left out, items with fewer than \(min_ratings) training ratings left out\n\n"
        var table = TextTable(header: ["rank", "item", "prediction", "score"])
        for entry in recommendations {
            table.rows.append([String(entry.rank), String(entry.item), fixed(entry.prediction, 4), fixed(entry.score, 6)])
        }
        return out + table.rendered
    }
}
