@testable import MixFill
@testable import MixFillTools
import Testing

/// The numpy-compatible initialiser: np.random.seed(s); np.random.choice(n, K, replace=False).
@Suite struct InitializationTests {
    @Test func mersenneTwisterMatchesTheReferenceSequence() {
        // The first outputs of genrand_int32 after init_genrand(5489), from Matsumoto and
        // Nishimura's mt19937ar reference output (also std::mt19937's default sequence).
        var generator = MersenneTwister(seed: 5489)
        let first = (0..<5).map { _ in generator.nextUInt32() }
        #expect(first == [3_499_211_612, 581_869_302, 3_890_346_734, 3_586_334_585, 545_404_204])
        // The 10,000th output of std::mt19937 with its default seed, a C++ standard requirement.
        var standard = MersenneTwister(seed: 5489)
        for _ in 0..<9_999 { _ = standard.nextUInt32() }
        #expect(standard.nextUInt32() == 4_123_659_995)
    }

    @Test func choiceReproducesTheDocumentedIndexVectors() {
        #expect(Initialization.initialUsers(userCount: 20, componentCount: 4, seed: 0) == [18, 1, 19, 8])
        #expect(Initialization.initialUsers(userCount: 1200, componentCount: 12, seed: 0)
            == [198, 328, 45, 263, 621, 520, 186, 987, 1107, 1052, 311, 1090])
        #expect(Initialization.initialUsers(userCount: 1200, componentCount: 12, seed: 1)
            == [636, 683, 1033, 190, 1083, 283, 817, 314, 537, 664, 239, 135])
    }

    @Test func choiceIsAPrefixOfAPermutation() {
        let users = Initialization.initialUsers(userCount: 50, componentCount: 50, seed: 7)
        #expect(users.sorted() == Array(0..<50))
        // A smaller K takes a prefix of the same permutation.
        #expect(Initialization.initialUsers(userCount: 50, componentCount: 5, seed: 7) == Array(users.prefix(5)))
    }

    @Test func initialVarianceIsTheMeanSquaredDeviationOverAllEntries() throws {
        let data = DenseRatingMatrix(rows: [[1, 0, 3], [0, 2, 0], [4, 4, 0]])
        let mixture = try Initialization.courseMixture(data: data, componentCount: 1, seed: 3)
        let user = Initialization.initialUsers(userCount: 3, componentCount: 1, seed: 3)[0]
        let mean = data.denseRow(user)
        var total = 0.0
        for row in 0..<3 { for item in 0..<3 { total += (data[row, item] - mean[item]) * (data[row, item] - mean[item]) } }
        #expect(mixture.means == mean)
        #expect(mixture.variances == [total / 9])
        #expect(mixture.weights == [1])
    }

    @Test func componentCountOutsideOneToUsersIsRejected() {
        let data = DenseRatingMatrix(rows: [[1, 2], [3, 4]])
        #expect(throws: MixFillError.badOption(option: "-k", message: "K = 3 is more than the 2 users in the data; choose K ≤ 2")) {
            try Initialization.courseMixture(data: data, componentCount: 3, seed: 0)
        }
        #expect(throws: MixFillError.badOption(option: "-k", message: "K = 0 is not allowed; K must be at least 1")) {
            try Initialization.courseMixture(data: data, componentCount: 0, seed: 0)
        }
    }
}
