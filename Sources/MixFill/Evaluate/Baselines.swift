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
                  itemRegularisation: itemRegularisation, tolerance: tolerance, maxSweeps: maxSweeps,
                  forEachRating: Self.ratings(of: matrix))
    }

    /// The sweeps over whatever holds the ratings: `forEachRating` calls its argument with
    /// (user, item, rating) for every training rating, in the same order every time.
    private init(userCount: Int, itemCount: Int, userRegularisation: Double, itemRegularisation: Double,
                 tolerance: Double, maxSweeps: Int,
                 forEachRating: @escaping ((_ user: Int, _ item: Int, _ rating: Double) -> Void) -> Void) {
        // One holder of every user: folding a sum over the users is taking it.
        let fit = Self.sweeps(userCount: userCount, itemCount: itemCount, userRegularisation: userRegularisation,
                              itemRegularisation: itemRegularisation, tolerance: tolerance, maxSweeps: maxSweeps,
                              forEachRating: forEachRating) { initial, add in
            var state = initial
            add(&state)
            return state
        }
        guard let fit else { preconditionFailure("the baseline needs a training rating") }
        mean = fit.mean
        userBiases = fit.userBiases
        itemBiases = fit.itemBiases
        sweeps = fit.sweeps
        converged = fit.converged
    }

    /// Every stored rating of `matrix`, user by user, as `forEachRating` gives them.
    package static func ratings(of matrix: SparseRatingMatrix) -> ((_ user: Int, _ item: Int, _ rating: Double) -> Void) -> Void {
        { body in
            for user in 0..<matrix.userCount {
                for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                    body(user, matrix.items[position], matrix.ratings[position])
                }
            }
        }
    }

    /// What the sweeps find: μ, the holder's users' b_u, every b_i, and the ratings per item.
    package struct Sweeps {
        package var mean: Double
        package var userBiases: [Double]
        package var itemBiases: [Double]
        package var itemRatingCounts: [Double]
        package var sweeps: Int
        package var converged: Bool
    }

    /// The baseline's sweeps for a holder of some users in order (one process: all of them;
    /// a rank of a distributed fit: its block), `forEachRating` giving its users' ratings
    /// (users numbered from 0), the sums over all users taken by `fold`: given a start and
    /// a step that adds this holder's terms, it returns the total over every holder, added
    /// in user order (one process: the step applied to the start; ranks:
    /// `ProcessGroup.foldInRankOrder`). Of the sweeps (the type's documentation) b_u needs
    /// only its user's ratings; μ, the counts, b_i's sums and the shift's Σ_u b_u are sums
    /// over users, folded, and the largest change a maximum. Every holder adds its terms in
    /// the single process's order, so every holder gets the one process's bits. Nil
    /// without a rating.
    package static func sweeps<Failure: Error>(
        userCount: Int, itemCount: Int, userRegularisation: Double, itemRegularisation: Double,
        tolerance: Double, maxSweeps: Int,
        forEachRating: @escaping ((_ user: Int, _ item: Int, _ rating: Double) -> Void) -> Void,
        fold: ([Double], (inout [Double]) -> Void) throws(Failure) -> [Double]
    ) throws(Failure) -> Sweeps? {
        precondition(userRegularisation >= 0 && itemRegularisation >= 0)
        var userCounts = [Double](repeating: 0, count: userCount)
        forEachRating { user, _, _ in userCounts[user] += 1 }
        let ratedHere = Double(userCounts.lazy.filter { $0 > 0 }.count)
        // [Σ r, ratings, rated users, ratings per item (d)].
        let counted = try fold([Double](repeating: 0, count: 3 + itemCount)) { state in
            var total = state[0]
            var count = state[1]
            forEachRating { _, item, rating in
                total += rating
                count += 1
                state[3 + item] += 1
            }
            state[0] = total
            state[1] = count
            state[2] += ratedHere
        }
        guard counted[1] > 0 else { return nil }
        let mean = counted[0] / counted[1]
        let ratedUsers = counted[2]
        let itemCounts = Array(counted[3...])
        let ratedItems = Double(itemCounts.lazy.filter { $0 > 0 }.count)
        var userBiases = [Double](repeating: 0, count: userCount)
        var itemBiases = [Double](repeating: 0, count: itemCount)
        var sweeps = 0
        var converged = false
        while sweeps < maxSweeps {
            sweeps += 1
            var sums = [Double](repeating: 0, count: userCount)
            forEachRating { user, item, rating in sums[user] += rating - mean - itemBiases[item] }
            var userChange = 0.0
            for user in 0..<userCount where userCounts[user] > 0 {
                let next = sums[user] / (userRegularisation + userCounts[user])
                userChange = max(userChange, abs(next - userBiases[user]))
                userBiases[user] = next
            }
            // [Σ_u (r_ui − μ − b_u) per item (d), Σ_u b_u, the largest change of a b_u].
            let folded = try fold([Double](repeating: 0, count: itemCount + 2)) { state in
                forEachRating { user, item, rating in state[item] += rating - mean - userBiases[user] }
                var userTotal = state[itemCount]
                for bias in userBiases { userTotal += bias }
                state[itemCount] = userTotal
                state[itemCount + 1] = max(state[itemCount + 1], userChange)
            }
            var largestChange = folded[itemCount + 1]
            for item in 0..<itemCount where itemCounts[item] > 0 {
                let next = folded[item] / (itemRegularisation + itemCounts[item])
                largestChange = max(largestChange, abs(next - itemBiases[item]))
                itemBiases[item] = next
            }
            let shiftDenominator = userRegularisation * ratedUsers + itemRegularisation * ratedItems
            if shiftDenominator > 0 {
                let shift = (itemRegularisation * itemBiases.reduce(0, +) - userRegularisation * folded[itemCount]) / shiftDenominator
                for user in 0..<userCount where userCounts[user] > 0 { userBiases[user] += shift }
                for item in 0..<itemCount where itemCounts[item] > 0 { itemBiases[item] -= shift }
                largestChange = max(largestChange, abs(shift))
            }
            if largestChange <= tolerance {
                converged = true
                break
            }
        }
        return Sweeps(mean: mean, userBiases: userBiases, itemBiases: itemBiases, itemRatingCounts: itemCounts,
                      sweeps: sweeps, converged: converged)
    }
}
