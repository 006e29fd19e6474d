#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rating data drawn from a planted mixture (`mixfill synth`), shaped like real rating data
/// and of any size, streamed to disk. Memory is O(users + K · items), never O(ratings):
/// 16 bytes per user, 8 per component and item (the means) and about 64 per item;
/// `problem()` refuses sizes needing more than half of this machine's memory.
///
/// The model, all draws from one seeded stream (so a seed always gives the same file):
/// - K components with equal weights; component means μ_ji = clamp(3 + 1.25·z, 1, 5),
///   z ~ N(0, 1), independently per component and item;
/// - item popularity: item at popularity rank r (ranks a random permutation of the items)
///   has weight 1/(r + r₀), r₀ = d/178 (≈ 100 for the Netflix Prize's 17,770 movies, which
///   gives its most rated movie about 0.2% of all ratings, as in the real data);
/// - user activity: weight exp(z), z ~ N(0, 1) (log-normal, median ≈ 0.6 × mean, a long
///   tail of heavy raters), scaled so the counts (at least 1, at most d per user) add up to
///   exactly the requested number of ratings;
/// - each user draws a component, then that many distinct items by popularity, and rates
///   item i as clamp(round(μ_{z(u),i} + noise·z), 1, 5): whole stars.
///
/// Output: records sorted by user, then item; user ids 1…n and item ids 1…d (items nobody
/// happened to rate are absent). The planted component of every user goes to a side file,
/// `user<TAB>component` (components from 0).
package struct SyntheticRatings: Sendable {
    package var userCount: Int
    package var itemCount: Int
    package var ratingCount: Int
    package var componentCount: Int
    package var seed: UInt64
    /// Standard deviation of a rating around its component's mean, in stars.
    package var noise: Double

    package init(userCount: Int, itemCount: Int, ratingCount: Int, componentCount: Int, seed: UInt64, noise: Double = 0.5) {
        self.userCount = userCount
        self.itemCount = itemCount
        self.ratingCount = ratingCount
        self.componentCount = componentCount
        self.seed = seed
        self.noise = noise
    }

    /// Why these sizes cannot be generated, naming the option; nil when they can.
    package func problem() -> MixFillError? {
        if userCount < 1 { return .badOption(option: "--users", message: "\(userCount) is not allowed; give 1 or more") }
        if itemCount < 1 { return .badOption(option: "--items", message: "\(itemCount) is not allowed; give 1 or more") }
        if itemCount > Int(UInt32.max) { return .badOption(option: "--items", message: "at most \(UInt32.max) items") }
        if componentCount < 1 { return .badOption(option: "-k", message: "K = \(componentCount) is not allowed; K must be at least 1") }
        if ratingCount < userCount {
            return .badOption(option: "--ratings", message: "\(ratingCount) ratings cannot give each of the \(userCount) users one; give at least \(userCount)")
        }
        let (cells, overflow) = userCount.multipliedReportingOverflow(by: itemCount)
        if !overflow, ratingCount > cells {
            return .badOption(option: "--ratings", message: "\(ratingCount) ratings do not fit in \(userCount) users × \(itemCount) items; give at most \(cells)")
        }
        if !(noise >= 0 && noise.isFinite) { return .badOption(option: "--noise", message: "\(noise) is not allowed; give a finite value ≥ 0") }
        // Memory: what `write` holds while streaming (the ratings themselves are never held).
        let parts = [(option: "--users", bytes: Self.bytesPerUser * Double(userCount)),
                     (option: "-k", bytes: 8 * Double(componentCount) * Double(itemCount)),
                     (option: "--items", bytes: Self.bytesPerItem * Double(itemCount))]
        let needed = parts.reduce(0) { $0 + $1.bytes }
        let available = KernelChoice.physicalMemoryBytes / 2
        if needed > available, let largest = parts.max(by: { $0.bytes < $1.bytes }) {
            return .badOption(option: largest.option, message: "generating \(userCount) users × \(itemCount) items with K = \(componentCount) needs about \(RatingInput.gigabytes(needed)) GB of memory (\(Int(Self.bytesPerUser)) bytes per user, 8 per component and item, \(Int(Self.bytesPerItem)) per item) but half of this machine's memory is \(RatingInput.gigabytes(available)) GB; give fewer users, components or items")
        }
        return nil
    }

    /// Memory `write` holds per user: its activity weight and rating count.
    static let bytesPerUser = 16.0
    /// Memory `write` holds per item: popularity rank and weight, the alias table and its
    /// work lists, the per-user marks, whether it was rated, the list of free items.
    static let bytesPerItem = 64.0

    package struct Summary: Sendable, Equatable {
        package var users: Int
        /// Items with at least one rating.
        package var ratedItems: Int
        package var ratings: Int
    }

    /// Writes the records to `path` (`layout` `.triplets`: tab-separated; `.csv`: with a
    /// header) and the planted memberships to `membershipsPath`, both atomically.
    package func write(to path: String, layout: RecordLayout, membershipsPath: String) throws(MixFillError) -> Summary {
        if let problem = problem() { throw problem }
        var random = SplitMix64(seed: seed)
        let means = (0..<(componentCount * itemCount)).map { _ in min(5, max(1, 3 + 1.25 * random.nextGaussian())) }
        var popularityRank = Array(0..<itemCount)
        for index in stride(from: itemCount - 1, to: 0, by: -1) {
            popularityRank.swapAt(index, random.nextInt(below: index + 1))
        }
        let offset = max(1.0, Double(itemCount) / 178)
        let sampler = AliasTable(weights: popularityRank.map { 1 / (Double($0) + offset) })
        let counts = activityCounts(&random)

        let output = try AtomicOutputStream(path: path)
        let members = try AtomicOutputStream(path: membershipsPath)
        var text = [UInt8]()
        text.reserveCapacity(1 << 20)
        var memberText = [UInt8]()
        memberText.reserveCapacity(1 << 16)
        let separator = layout == .csv ? UInt8(ascii: ",") : UInt8(ascii: "\t")
        if layout == .csv { text += Array("userId,itemId,rating\n".utf8) }
        var stamp = [Int32](repeating: -1, count: itemCount)
        var itemRated = [Bool](repeating: false, count: itemCount)
        var chosen = [Int]()
        for user in 0..<userCount {
            let component = random.nextInt(below: componentCount)
            Self.appendDecimal(user + 1, to: &memberText)
            memberText.append(UInt8(ascii: "\t"))
            Self.appendDecimal(component, to: &memberText)
            memberText.append(UInt8(ascii: "\n"))
            if memberText.count > (1 << 16) - 64 {
                try members.write(memberText)
                memberText.removeAll(keepingCapacity: true)
            }
            chooseItems(counts[user], user: user, sampler: sampler, stamp: &stamp, chosen: &chosen, random: &random)
            chosen.sort()
            for item in chosen {
                itemRated[item] = true
                let value = means[component * itemCount + item] + noise * random.nextGaussian()
                let stars = Int(min(5, max(1, value.rounded())))
                Self.appendDecimal(user + 1, to: &text)
                text.append(separator)
                Self.appendDecimal(item + 1, to: &text)
                text.append(separator)
                text.append(UInt8(ascii: "0") + UInt8(stars))
                text.append(UInt8(ascii: "\n"))
            }
            if text.count > (1 << 20) - (1 << 16) {
                try output.write(text)
                text.removeAll(keepingCapacity: true)
            }
        }
        try output.write(text)
        try members.write(memberText)
        try output.commit()
        try members.commit()
        return Summary(users: userCount, ratedItems: itemRated.reduce(0) { $0 + ($1 ? 1 : 0) }, ratings: ratingCount)
    }

    /// Ratings per user: log-normal weights scaled to the total, each in 1...d, summing
    /// exactly to `ratingCount` (the remainder is spread one by one over the users in order).
    func activityCounts(_ random: inout SplitMix64) -> [Int] {
        let weights = (0..<userCount).map { _ in exp(random.nextGaussian()) }
        let total = weights.reduce(0, +)
        var counts = weights.map { min(itemCount, max(1, Int(Double(ratingCount) * $0 / total))) }
        var missing = ratingCount - counts.reduce(0, +)
        var user = 0
        while missing != 0 {
            if missing > 0, counts[user] < itemCount {
                counts[user] += 1
                missing -= 1
            } else if missing < 0, counts[user] > 1 {
                counts[user] -= 1
                missing += 1
            }
            user = (user + 1) % userCount
        }
        return counts
    }

    /// `count` distinct items by popularity: draws from the alias table, skipping items
    /// already drawn; when draws keep hitting taken items (a heavy user has most of the
    /// popular ones), the rest are drawn uniformly from the items not yet taken.
    private func chooseItems(_ count: Int, user: Int, sampler: AliasTable, stamp: inout [Int32],
                             chosen: inout [Int], random: inout SplitMix64) {
        chosen.removeAll(keepingCapacity: true)
        let mark = Int32(truncatingIfNeeded: user)
        var attempts = 0
        let budget = 8 * count + 64
        if count <= itemCount / 2 {
            while chosen.count < count, attempts < budget {
                attempts += 1
                let item = sampler.sample(&random)
                if stamp[item] != mark {
                    stamp[item] = mark
                    chosen.append(item)
                }
            }
        }
        if chosen.count < count {
            var free = (0..<itemCount).filter { stamp[$0] != mark }
            var needed = count - chosen.count
            var index = 0
            while needed > 0 {
                free.swapAt(index, index + random.nextInt(below: free.count - index))
                stamp[free[index]] = mark
                chosen.append(free[index])
                index += 1
                needed -= 1
            }
        }
    }

    /// Appends the decimal digits of a non-negative integer.
    static func appendDecimal(_ value: Int, to text: inout [UInt8]) {
        let start = text.count
        var remaining = value
        repeat {
            text.append(UInt8(ascii: "0") + UInt8(remaining % 10))
            remaining /= 10
        } while remaining > 0
        var low = start
        var high = text.count - 1
        while low < high {
            text.swapAt(low, high)
            low += 1
            high -= 1
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood): a tiny, fast, well-mixed 64-bit stream for
/// generating data. Not numpy-compatible — the course's seeds use `MersenneTwister`.
struct SplitMix64 {
    private var state: UInt64
    private var spareGaussian: Double?

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Uniform in 0 ..< bound (multiply-shift; the bias is below 2⁻³² for bounds < 2³²).
    mutating func nextInt(below bound: Int) -> Int {
        Int((UInt64(bound).multipliedFullWidth(by: next())).high)
    }

    /// N(0, 1) by the Box–Muller transform (two per pair of uniforms).
    mutating func nextGaussian() -> Double {
        if let spare = spareGaussian {
            spareGaussian = nil
            return spare
        }
        let radius = (-2 * log(1 - nextUniform())).squareRoot()
        let angle = 2 * Double.pi * nextUniform()
        spareGaussian = radius * sin(angle)
        return radius * cos(angle)
    }
}

/// Walker's alias method (Vose's construction): O(1) draws from a discrete distribution.
struct AliasTable {
    private let probability: [Double]
    private let alias: [Int]

    init(weights: [Double]) {
        let count = weights.count
        let total = weights.reduce(0, +)
        var scaled = weights.map { $0 * Double(count) / total }
        var probability = [Double](repeating: 1, count: count)
        var alias = Array(0..<count)
        var small = [Int]()
        var large = [Int]()
        for (index, value) in scaled.enumerated() {
            if value < 1 { small.append(index) } else { large.append(index) }
        }
        while let less = small.popLast(), let more = large.last {
            probability[less] = scaled[less]
            alias[less] = more
            scaled[more] -= 1 - scaled[less]
            if scaled[more] < 1 {
                large.removeLast()
                small.append(more)
            }
        }
        self.probability = probability
        self.alias = alias
    }

    func sample(_ random: inout SplitMix64) -> Int {
        let column = random.nextInt(below: probability.count)
        return random.nextUniform() < probability[column] ? column : alias[column]
    }
}
