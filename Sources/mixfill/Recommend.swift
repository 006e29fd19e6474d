import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Recommend: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recommend the items a user is predicted to rate highest, excluding those they rated.",
        discussion: """
            Items are ranked by the model's unclipped prediction (course: Σ_j p(j|u)·μ_ji; \
            mppca: μ₀ + b_u + b_i + Σ_j p(j|u)·(m̄_ji + w̄_iᵀ z̄_j(u)), the offsets plus the \
            posterior mean of the low-rank part; ties: lower item index first) and shown with \
            that score and the prediction (the score clipped to the training ratings' range). \
            A training user (--user) is answered from their training ratings, which are also \
            the items left out; a new user is folded in from --ratings or --ratings-file (one \
            E-step with the saved mixture, no refit), their rated items left out. A user the \
            model does not know, without ratings, gets the population's ranking (the mixture's \
            weights), with a warning. Items with fewer than --min-ratings training ratings are \
            not recommended. --all-users ranks for every training user in one pass and writes \
            rows 'user rank item score [title]' with a header line, tab-separated (TSV), or \
            comma-separated (CSV, titles quoted as needed) when --out ends in .csv or with \
            --out-format csv; to --out atomically, or to stdout. --items adds each item's title.
            """
    )

    /// The layouts of `--all-users`' rows.
    enum RowFormat: String, CaseIterable, ExpressibleByArgument {
        case tsv, csv
    }

    @OptionGroup(title: HelpHeading.query) var query: RecommendQueryOptions

    @OptionGroup var serving: ServingOptions

    @OptionGroup(title: HelpHeading.output) var output: RecommendOutputOptions

    var user: String? { query.user }
    var allUsers: Bool { query.allUsers }
    var top: Int { query.top }
    var minRatings: Int { query.minRatings }
    /// `--out -` is standard output, as without `--out`.
    var out: String? { output.out.flatMap { StandardInput.isStandardInput($0) ? nil : $0 } }
    var outFormat: RowFormat? { output.outFormat }
    var items: String? { output.items }
    var json: Bool { output.json }

    func validate() throws {
        try requireOneStandardInput([("--model", serving.model), ("--data", serving.data),
                                     ("--ratings-file", serving.ratingsFile), ("--items", items)])
        if allUsers {
            if user != nil {
                throw ValidationError("--all-users, --user: --all-users recommends for every training user; give one or the other")
            }
            if serving.hasFoldIn {
                throw ValidationError("--all-users, --ratings, --ratings-file: --all-users recommends for the training users; fold in a new user with --user ID and their ratings instead")
            }
            if json {
                throw ValidationError("--json: describes one user; --all-users writes rows, as TSV or CSV (--out-format)")
            }
        } else {
            if out != nil {
                throw ValidationError("--out: writes the rows of --all-users; for one user, redirect the table or --json")
            }
            if outFormat != nil {
                throw ValidationError("--out-format: the layout of --all-users' rows; give --all-users")
            }
            if user == nil, !serving.hasFoldIn {
                throw ValidationError("say whom to recommend for: --user ID, a new user's --ratings / --ratings-file, or --all-users")
            }
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
        let titles = try items.map { path throws(MixFillError) in try readTitles(path) }
        if file.training == nil, minRatings > 0 {
            Terminal.warning("--min-ratings: \(serving.model) is a version 1 model without item rating counts; no item is left out for it")
        }
        if let counts = file.training?.itemRatingCounts, !counts.contains(where: { $0 >= minRatings }) {
            Terminal.warning("--min-ratings: no item of \(serving.model) has \(minRatings) training ratings (the most is \(counts.max() ?? 0)); nothing can be recommended")
        }
        if allUsers {
            try recommendForAllUsers(file, titles: titles)
            return
        }
        var server = ModelServer(model: file)
        var excluded = Set<Int>()
        var ratedCount = 0
        let posterior: [Double]
        let basis: ModelServer.Basis
        let user = try self.user.map { try Predict.canonicalUser($0, map: file.users) }
        if let (given, source) = try serving.foldInRatings(items: file.items) {
            let indexed = try ServingOptions.indexRatings(given, source: source, server: server)
            posterior = server.foldIn(user: user ?? "", ratings: indexed)
            basis = .foldIn
            excluded = Set(indexed.map(\.item))
            ratedCount = indexed.count
        } else if let user, let index = file.users.index(ofName: user) {
            let loaded = try serving.trainingData(for: file, why: "recommending for training user \(user)")
            server.attachTrainingPosteriors(try serving.trainingPosteriors(loaded, file))
            (posterior, basis) = server.posterior(forUser: user)
            let table = loaded.input.table
            for position in table.matrix.rowStarts[index]..<table.matrix.rowStarts[index + 1] {
                excluded.insert(table.matrix.items[position])
            }
            ratedCount = excluded.count
        } else {
            (posterior, basis) = server.posterior(forTrainingIndex: nil)
            Terminal.warning("user \(user ?? "?") is not in the model and has no ratings given; recommending by the mixture's weights (the population's ranking)")
        }
        let recommendations = server.recommend(posterior: posterior, excluding: excluded, top: top, minimumRatings: minRatings)
        let report = RecommendReport(
            model: serving.model, user: user.map { ReportId($0, map: file.users) }, basis: basis.rawValue, rated_items: ratedCount,
            posterior: server.componentPosterior(posterior), min_ratings: minRatings,
            recommendations: recommendations.enumerated().map { rank, recommendation in
                let id = file.items.name(recommendation.item)
                return RecommendReport.Entry(rank: rank + 1, item: ReportId(id, map: file.items), prediction: recommendation.rating,
                                             score: recommendation.score, title: titles.map { $0[id] ?? "" })
            })
        if let titles, let items {
            let untitled = Set(recommendations.map(\.item).filter { titles[file.items.name($0)] == nil })
            Self.warnUntitled(untitled.sorted().map(file.items.name), file: items)
        }
        if json {
            try printJSON(report)
        } else {
            try printText(report.table())
        }
    }

    /// `--all-users`: one E-step over the training data for every user's posterior, then
    /// each training user's top items (their rated items left out) as rows, in the
    /// model's user order (ascending ids). The output file is opened first, so a
    /// folder that does not exist fails before any work, and nothing appears at --out
    /// unless every row was written.
    func recommendForAllUsers(_ file: ModelFile, titles: ItemTitles?) throws {
        let layout = outFormat ?? (out.map { $0.lowercased().hasSuffix(".csv") } == true ? .csv : .tsv)
        let stream = try out.map { path throws(MixFillError) in try AtomicOutputStream(path: path) }
        let loaded = try serving.trainingData(for: file, why: "--all-users")
        var server = ModelServer(model: file)
        server.attachTrainingPosteriors(try serving.trainingPosteriors(loaded, file))
        let matrix = loaded.input.table.matrix
        let rows = RecommendationRows(layout: layout, titles: titles)
        var bytes = rows.header()
        var scores = [Double]()
        var excluded = [Int]()
        var rowCount = 0
        var untitled = Set<Int>()
        for index in 0..<file.userCount {
            let user = file.users.name(index)
            let (posterior, _) = server.posterior(forTrainingIndex: index)
            excluded.removeAll(keepingCapacity: true)
            for position in matrix.rowStarts[index]..<matrix.rowStarts[index + 1] { excluded.append(matrix.items[position]) }
            let best = server.recommend(posterior: posterior, excludingAscending: excluded, top: top,
                                        minimumRatings: minRatings, scores: &scores)
            for (rank, recommendation) in best.enumerated() {
                let item = file.items.name(recommendation.item)
                if let titles, titles[item] == nil { untitled.insert(recommendation.item) }
                rows.append(user: user, rank: rank + 1, item: item, score: recommendation.score, to: &bytes)
            }
            rowCount += best.count
            if bytes.count >= 1 << 20 {
                try Self.emit(&bytes, to: stream)
            }
        }
        try Self.emit(&bytes, to: stream)
        if let stream {
            try stream.commit()
        }
        if let items {
            Self.warnUntitled(untitled.sorted().map(file.items.name), file: items)
        }
        if let out {
            try printText("wrote \(out): \(rowCount) recommendations for \(counted(file.userCount, "user")) (top \(top), \(layout.rawValue))\n")
        }
    }

    /// The titles of `--items`, its errors naming the option: the file's own name may say
    /// nothing of where it came from (`1,2: no such file`). A missing "file" spelled as a
    /// list of ids was meant as items to ask about, as `predict --item-ids` takes them (and
    /// predict's old `--items`); recommend ranks every item, so the message points there.
    func readTitles(_ path: String) throws(MixFillError) -> ItemTitles {
        do {
            return try ItemTitles.read(path: path)
        } catch {
            var message = error.description
            if !StreamInput.isStream(path), !FileManager.default.fileExists(atPath: path), Self.looksLikeItemIds(path) {
                let who = user.map { "--user \($0)" } ?? "--user ID"
                let ids = path.split(whereSeparator: { $0 == "," || $0 == " " }).joined(separator: ",")
                message = "\(path): no such file; --items takes a file of titles (a MovieLens movies.csv) to show beside the recommendations, not item ids (recommend ranks every item); to predict given items: 'mixfill predict --model \(serving.model) \(who) --item-ids \(ids)'"
            }
            throw .badOption(option: "--items", message: message)
        }
    }

    /// Whether `text` reads as a list of whole numbers separated by commas or blanks (`1,2`,
    /// `50`).
    static func looksLikeItemIds(_ text: String) -> Bool {
        let pieces = text.split(whereSeparator: { $0 == "," || $0 == " " })
        return !pieces.isEmpty && pieces.allSatisfy { piece in
            let digits = piece.first == "-" ? piece.dropFirst() : piece[...]
            return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
        }
    }

    /// Writes `bytes` to the output file, or stdout without one, and empties them.
    private static func emit(_ bytes: inout [UInt8], to stream: AtomicOutputStream?) throws {
        if let stream {
            try stream.write(bytes)
        } else {
            try writeStandardOutput(Data(bytes))
        }
        bytes.removeAll(keepingCapacity: true)
    }

    /// Warns once about the recommended items (`missing`, ascending) that the titles
    /// file `file` does not have.
    static func warnUntitled(_ missing: [String], file: String) {
        guard !missing.isEmpty else { return }
        Terminal.warning("\(StandardInput.displayName(file)): no title for \(ServingOptions.list(missing, verb: false)) recommended; \(missing.count == 1 ? "its title is" : "their titles are") left empty")
    }
}

/// The rows of `recommend --all-users`: `user rank item score [title]` with a header line;
/// scores as `fill` and `predict` write numbers (`DenseMatrixWriter.format`: the shortest
/// form that reads back to the same Double, a whole number without `.0`), so one
/// prediction reads the same in every machine-readable output. TSV has no quoting,
/// so a tab or line break inside a title becomes a space there; CSV quotes a title that
/// holds a comma, a quote or a line break (RFC 4180, `""` for a quote).
struct RecommendationRows {
    var layout: Recommend.RowFormat
    var titles: ItemTitles?

    private var separator: UInt8 { layout == .csv ? UInt8(ascii: ",") : UInt8(ascii: "\t") }

    func header() -> [UInt8] {
        let names = ["user", "rank", "item", "score"] + (titles == nil ? [] : ["title"])
        return Array((names.joined(separator: layout == .csv ? "," : "\t") + "\n").utf8)
    }

    func append(user: String, rank: Int, item: String, score: Double, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: Self.field(user, layout: layout).utf8)
        bytes.append(separator)
        bytes.append(contentsOf: String(rank).utf8)
        bytes.append(separator)
        bytes.append(contentsOf: Self.field(item, layout: layout).utf8)
        bytes.append(separator)
        bytes.append(contentsOf: DenseMatrixWriter.format(score).utf8)
        if let titles {
            bytes.append(separator)
            bytes.append(contentsOf: Self.field(titles[item] ?? "", layout: layout).utf8)
        }
        bytes.append(UInt8(ascii: "\n"))
    }

    /// `text` as one field. Scalar by scalar, not by Character: a quote followed by a
    /// combining mark is one Character but still a quote to a CSV reader.
    static func field(_ text: String, layout: Recommend.RowFormat) -> String {
        let scalars = text.unicodeScalars
        switch layout {
        case .tsv:
            guard scalars.contains(where: { $0 == "\t" || $0.endsLine }) else { return text }
            var cleaned = String.UnicodeScalarView()
            for scalar in scalars { cleaned.append(scalar == "\t" || scalar.endsLine ? " " : scalar) }
            return String(cleaned)
        case .csv:
            guard scalars.contains(where: { $0 == "," || $0 == "\"" || $0.endsLine }) else { return text }
            var quoted = String.UnicodeScalarView()
            quoted.append("\"")
            for scalar in scalars {
                quoted.append(scalar)
                if scalar == "\"" { quoted.append(scalar) }
            }
            quoted.append("\"")
            return String(quoted)
        }
    }
}

/// What `mixfill recommend` reports (field names are the JSON's).
struct RecommendReport: Encodable {
    struct Entry: Encodable {
        var rank: Int
        var item: ReportId
        /// The score clipped to the training ratings' range.
        var prediction: Double
        /// Σ_j p(j|u)·μ_ji, the ranking key.
        var score: Double
        /// The item's title, with --items ("" when the file has none for it).
        var title: String?
    }

    var model: String
    var user: ReportId?
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
        out += "top \(recommendations.count), rated items left out"
        // At the default 1 the clause would only say that items nobody rated in training
        // are not recommended; at 0 no item is left out.
        if min_ratings > 1 { out += ", items with fewer than \(min_ratings) training ratings left out" }
        out += "\n\n"
        let hasTitles = recommendations.contains { $0.title != nil }
        var table = TextTable(header: ["rank", "item", "prediction", "score"] + (hasTitles ? ["title"] : []))
        if hasTitles { table.leftAligned = [4] }
        for entry in recommendations {
            let cells = [String(entry.rank), entry.item.description, fixed(entry.prediction, 4), fixed(entry.score, 6)]
            // A table row is one line: control characters in a title become spaces.
            let title = entry.title.map { String($0.map { $0.isNewline || $0 == "\t" || ($0.asciiValue ?? 0x20) < 0x20 ? " " : $0 }) }
            table.rows.append(cells + (title.map { [$0] } ?? []))
        }
        return out + table.rendered
    }
}

private extension Unicode.Scalar {
    /// Whether the scalar ends a line, as `Character.isNewline` counts them: LF, VT, FF,
    /// CR, NEL, and the line and paragraph separators.
    var endsLine: Bool {
        switch value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }
}

/// Whom `recommend` recommends for, and how many items.
struct RecommendQueryOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("The user to recommend for: a training user, or the id for the folded-in ratings.", valueName: "ID"))
    var user: String?

    @Flag(name: .customLong("all-users"), help: "Recommend for every training user in one pass, as rows 'user rank item score [title]' (to --out, or stdout).")
    var allUsers = false

    @Option(parsing: .unconditional, help: ArgumentHelp("How many items to recommend (per user).", valueName: "N"))
    var top: Int = 10

    @Option(name: .customLong("min-ratings"), parsing: .unconditional, help: ArgumentHelp(
        "Leave out items with fewer training ratings than this (their means rest on little or nothing); items without any are never recommended, whatever N.", valueName: "N"))
    var minRatings: Int = 1
}

/// How `recommend` writes.
struct RecommendOutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("With --all-users: write the rows to FILE (atomically) instead of stdout ('-': stdout); CSV when FILE ends in .csv, else TSV.", valueName: "FILE"))
    var out: String?

    @Option(name: .customLong("out-format"), help: ArgumentHelp(
        "With --all-users: the rows' layout, tsv or csv (default: csv for an --out ending in .csv, else tsv).", valueName: "FORMAT"))
    var outFormat: Recommend.RowFormat?

    @Option(help: ArgumentHelp("Show titles beside item ids, from a MovieLens movies.csv (movieId,title,genres) or movies.dat (movieId::title::genres), or the same separated by semicolons (Book-Crossing's BX-Books.csv); '-' reads standard input.", valueName: "FILE"))
    var items: String?

    @Flag(help: "Print one JSON object on stdout instead of a table (keys: docs/json.md).")
    var json = false
}
