/// Agreement of two partitions of the same items, corrected for chance (Hubert and Arabie's
/// adjusted Rand index): 1 when they are the same up to renaming the labels, about 0 for
/// independent labellings. With n_ab the number of items labelled a in the first and b in
/// the second, and row and column sums r_a, c_b:
///
///     ARI = (Σ C(n_ab, 2) − E) / (½(Σ C(r_a, 2) + Σ C(c_b, 2)) − E),
///     E = Σ C(r_a, 2)·Σ C(c_b, 2) / C(n, 2)
///
/// The tests use it to check that a fit recovers the components `mixfill synth` planted.
enum AdjustedRandIndex {
    static func between(_ first: [Int], _ second: [Int]) -> Double {
        precondition(first.count == second.count, "both labellings must cover the same items")
        var pairs = [Int: [Int: Int]]()
        var rows = [Int: Int]()
        var columns = [Int: Int]()
        for (a, b) in zip(first, second) {
            pairs[a, default: [:]][b, default: 0] += 1
            rows[a, default: 0] += 1
            columns[b, default: 0] += 1
        }
        func choose2(_ count: Int) -> Double { Double(count) * Double(count - 1) / 2 }
        let index = pairs.values.reduce(0.0) { total, row in row.values.reduce(total) { $0 + choose2($1) } }
        let rowPairs = rows.values.reduce(0.0) { $0 + choose2($1) }
        let columnPairs = columns.values.reduce(0.0) { $0 + choose2($1) }
        let total = choose2(first.count)
        guard total > 0 else { return 1 }
        let expected = rowPairs * columnPairs / total
        let maximum = (rowPairs + columnPairs) / 2
        guard maximum != expected else { return 1 }
        return (index - expected) / (maximum - expected)
    }
}
