/// Data the course model accepts but handles in ways worth a warning.
package enum DataWarnings {
    /// - A user with no ratings has |C_u| = 0, so every component explains them equally:
    ///   p(j|u) = p_j and the filled row is Σ_j p_j·μ_j, the mixture's overall average.
    /// - An item nobody rated never reaches the M-step's soft count of 1, so its means keep
    ///   their initial values, the initial users' entries, which are 0 for an unrated item:
    ///   its predictions are 0, outside any rating scale.
    package static func check(_ matrix: DenseRatingMatrix, name: String) -> [String] {
        var ratedItems = [Bool](repeating: false, count: matrix.itemCount)
        var emptyUsers = [Int]()
        for user in 0..<matrix.userCount {
            var rated = false
            for item in 0..<matrix.itemCount where matrix[user, item] != 0 {
                rated = true
                ratedItems[item] = true
            }
            if !rated { emptyUsers.append(user) }
        }
        let emptyItems = ratedItems.indices.filter { !ratedItems[$0] }
        return warnings(name: name, emptyUsers: (emptyUsers.count, Array(emptyUsers.prefix(shown))),
                        emptyItems: (emptyItems.count, Array(emptyItems.prefix(shown))))
    }

    /// The warning for record data from `path` (`-`: standard input) that repeated
    /// `count` (user, item) pairs, of which the reader kept the last rating each.
    package static func duplicates(path: String, count: Int) -> String {
        "\(StandardInput.displayName(path)): \(count) record\(count == 1 ? "" : "s") repeated an earlier (user, item) pair; the last rating in the file was kept for each"
    }

    /// The warnings for record data from `path` whose id columns turned to text at a line
    /// after whole numbers (`RatingTable.textIdSwitches`).
    package static func textIds(path: String, switches: [TextIdSwitch]) -> [String] {
        switches.map { turn in
            "\(StandardInput.displayName(path)):\(turn.line):\(turn.column): \(turn.what) id '\(turn.id)' is text after whole-number \(turn.what) ids, so every \(turn.what) id is read as text (and sorted as text: 10 before 9); if it is a typo, correct that line"
        }
    }

    /// How many rows and columns a warning lists by number.
    static let shown = 5

    /// The warnings for `emptyUsers.count` users without a rating, the first of them (up
    /// to `shown`, 0-based) `emptyUsers.first`, and the same for items: what `check` says,
    /// from counts the ranks of a distributed read can add up.
    package static func warnings(name: String, emptyUsers: (count: Int, first: [Int]),
                                 emptyItems: (count: Int, first: [Int])) -> [String] {
        var warnings = [String]()
        if emptyUsers.count > 0 {
            warnings.append("\(name): \(count(emptyUsers.count, "user")) no ratings (\(list("user", emptyUsers)), counting rows from 0); the model fills \(emptyUsers.count == 1 ? "that row" : "those rows") with its overall average")
        }
        if emptyItems.count > 0 {
            warnings.append("\(name): \(count(emptyItems.count, "item")) no ratings (\(list("item", emptyItems)), counting columns from 0); the model learns nothing there, so fill and predict give them the mean training rating")
        }
        return warnings
    }

    private static func count(_ value: Int, _ noun: String) -> String {
        value == 1 ? "1 \(noun) has" : "\(value) \(noun)s have"
    }

    /// "users 2, 8 and 4 more": the 0-based ids a dense matrix's users and items go by
    /// everywhere else (`predict --user 2`, the model file, `convert`'s records), not
    /// 1-based row and column numbers, so the warning names what the user will type.
    private static func list(_ noun: String, _ indices: (count: Int, first: [Int])) -> String {
        let listed = indices.first.prefix(shown).map { String($0) }.joined(separator: ", ")
        let rest = indices.count > shown ? " and \(indices.count - shown) more" : ""
        return (indices.count == 1 ? noun : noun + "s") + " " + listed + rest
    }
}
