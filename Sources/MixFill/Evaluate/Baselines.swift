/// The simplest honest predictions, to show whether a mixture earns its parameters.

/// r̂ = μ, the mean training rating, for every pair.
public struct GlobalMeanBaseline: RatingPredictor {
    public let mean: Double

    public init(mean: Double) { self.mean = mean }

    public init(training: [IndexedRating]) {
        precondition(!training.isEmpty)
        mean = training.reduce(0) { $0 + $1.rating } / Double(training.count)
    }

    public func predict(user: Int, item: Int) -> Double { mean }

    public func newUserPrediction(item: Int) -> Double { mean }
}

/// User and item biases, r̂_ui = μ + b_u + b_i, minimising
///
///     Σ_(u,i) (r_ui − μ − b_u − b_i)² + λ_u Σ_u b_u² + λ_i Σ_i b_i²
///
/// with μ the mean training rating, by alternating least squares: each sweep solves one
/// family exactly given the other,
///
///     b_u = Σ_{i∈I_u} (r_ui − μ − b_i) / (λ_u + |I_u|),   then
///     b_i = Σ_{u∈U_i} (r_ui − μ − b_u) / (λ_i + |U_i|),
///
/// and then takes the exact minimiser along the one direction plain ALS crawls along:
/// adding c to every (rated) user's bias and subtracting it from every (rated) item's
/// leaves every prediction unchanged and moves only the penalty, which is least at
///
///     c* = (λ_i Σ_i b_i − λ_u Σ_u b_u) / (λ_u·n_rated + λ_i·d_rated).
///
/// The objective is a strictly convex quadratic, so the sweeps converge to its unique
/// minimiser; the shift step makes that 8 sweeps instead of about 550 on the netflix
/// matrix. They stop when no bias moves by more than `tolerance` (or after `maxSweeps`).
/// The defaults λ_u = 15 and λ_i = 10 are those of Surprise's `BaselineOnly` (Koren's
/// baseline estimates), the implementation most published figures come from; Surprise
/// stops after 10 plain sweeps instead of at the minimiser. A user or item without
/// training ratings has bias 0.
public struct BiasBaseline: RatingPredictor {
    public static let defaultUserRegularisation = 15.0
    public static let defaultItemRegularisation = 10.0

    public let mean: Double
    public let userBiases: [Double]
    public let itemBiases: [Double]
    /// Sweeps run (one sweep updates users, then items).
    public let sweeps: Int
    public let converged: Bool

    public func predict(user: Int, item: Int) -> Double {
        mean + userBiases[user] + itemBiases[item]
    }

    /// μ + b_i: a user without ratings has b_u = 0.
    public func newUserPrediction(item: Int) -> Double {
        mean + itemBiases[item]
    }

    public func scores(user: Int, into scores: inout [Double]) {
        let base = mean + userBiases[user]
        for item in scores.indices { scores[item] = base + itemBiases[item] }
    }

    public init(training: [IndexedRating], userCount: Int, itemCount: Int,
                userRegularisation: Double = defaultUserRegularisation,
                itemRegularisation: Double = defaultItemRegularisation,
                tolerance: Double = 1e-10, maxSweeps: Int = 1000) {
        self.init(userCount: userCount, itemCount: itemCount, userRegularisation: userRegularisation,
                  itemRegularisation: itemRegularisation, tolerance: tolerance, maxSweeps: maxSweeps) { body in
            for rating in training { body(rating.user, rating.item, rating.rating) }
        }
    }

    /// The baseline of a matrix's ratings (every stored rating counts, 0 included), read in
    /// place: no copy of the ratings, so it runs on data of any size that fits in memory.
    public init(matrix: SparseRatingMatrix,
                userRegularisation: Double = defaultUserRegularisation,
                itemRegularisation: Double = defaultItemRegularisation,
                tolerance: Double = 1e-10, maxSweeps: Int = 1000) {
        self.init(userCount: matrix.userCount, itemCount: matrix.itemCount, userRegularisation: userRegularisation,
                  itemRegularisation: itemRegularisation, tolerance: tolerance, maxSweeps: maxSweeps) { body in
            for user in 0..<matrix.userCount {
                for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                    body(user, matrix.items[position], matrix.ratings[position])
                }
            }
        }
    }

    /// The sweeps over whatever holds the ratings: `forEachRating` calls its argument with
    /// (user, item, rating) for every training rating, in the same order every time.
    private init(userCount: Int, itemCount: Int, userRegularisation: Double, itemRegularisation: Double,
                 tolerance: Double, maxSweeps: Int,
                 forEachRating: ((_ user: Int, _ item: Int, _ rating: Double) -> Void) -> Void) {
        precondition(userRegularisation >= 0 && itemRegularisation >= 0)
        var total = 0.0
        var count = 0.0
        var userCounts = [Double](repeating: 0, count: userCount)
        var itemCounts = [Double](repeating: 0, count: itemCount)
        forEachRating { user, item, rating in
            total += rating
            count += 1
            userCounts[user] += 1
            itemCounts[item] += 1
        }
        precondition(count > 0, "the baseline needs a training rating")
        let mean = total / count
        let ratedUsers = Double(userCounts.lazy.filter { $0 > 0 }.count)
        let ratedItems = Double(itemCounts.lazy.filter { $0 > 0 }.count)
        var userBiases = [Double](repeating: 0, count: userCount)
        var itemBiases = [Double](repeating: 0, count: itemCount)
        var sums = [Double]()
        var sweeps = 0
        var converged = false
        while sweeps < maxSweeps {
            sweeps += 1
            var largestChange = 0.0
            sums = [Double](repeating: 0, count: userCount)
            forEachRating { user, item, rating in sums[user] += rating - mean - itemBiases[item] }
            for user in 0..<userCount where userCounts[user] > 0 {
                let next = sums[user] / (userRegularisation + userCounts[user])
                largestChange = max(largestChange, abs(next - userBiases[user]))
                userBiases[user] = next
            }
            sums = [Double](repeating: 0, count: itemCount)
            forEachRating { user, item, rating in sums[item] += rating - mean - userBiases[user] }
            for item in 0..<itemCount where itemCounts[item] > 0 {
                let next = sums[item] / (itemRegularisation + itemCounts[item])
                largestChange = max(largestChange, abs(next - itemBiases[item]))
                itemBiases[item] = next
            }
            let shiftDenominator = userRegularisation * ratedUsers + itemRegularisation * ratedItems
            if shiftDenominator > 0 {
                let shift = (itemRegularisation * itemBiases.reduce(0, +) - userRegularisation * userBiases.reduce(0, +)) / shiftDenominator
                for user in 0..<userCount where userCounts[user] > 0 { userBiases[user] += shift }
                for item in 0..<itemCount where itemCounts[item] > 0 { itemBiases[item] -= shift }
                largestChange = max(largestChange, abs(shift))
            }
            if largestChange <= tolerance {
                converged = true
                break
            }
        }
        self.mean = mean
        self.userBiases = userBiases
        self.itemBiases = itemBiases
        self.sweeps = sweeps
        self.converged = converged
    }
}
