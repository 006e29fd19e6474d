/// A count and its noun, singular for one: "1 user", "3 users", "0 items". Every noun
/// MixFill counts in messages (user, item, rating, rank, fold, prediction) takes a plain "s".
package func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
