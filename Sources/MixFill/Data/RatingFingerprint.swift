/// A 64-bit fingerprint of rating data as the engine sees it: its shape, every observed
/// (user index, item index, rating) in user-major order, and the id maps. A model file
/// records the fingerprint of its training data so that commands given "the training
/// data" later (`predict`, `recommend`, `fit --init-model`) can tell whether it is the
/// same data, whatever file format it came in.
///
/// The hash is not cryptographic: it detects a different or changed data set, not a
/// forged one. Each 64-bit word w is absorbed as h ← rotl(h ⊕ mix(w), 27)·φ + c, where
/// mix is SplitMix64's finaliser and φ the 64-bit golden ratio; the order of words
/// matters, and one changed bit changes the result everywhere. Written as `mix64:` and
/// 16 hexadecimal digits so that another algorithm can be told apart later.
package struct RatingFingerprint: Sendable {
    private var state: UInt64 = 0x6A09_E667_F3BC_C908
    private var words: UInt64 = 0

    package init() {}

    /// The running state as two words, to hand a fingerprint in progress to another
    /// process (an MPI rank continuing it over its users), and back.
    package var words64: (state: UInt64, count: UInt64) { (state, words) }

    package init(state: UInt64, count: UInt64) {
        self.state = state
        words = count
    }

    @inline(__always)
    static func mix(_ word: UInt64) -> UInt64 {
        var z = word &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    package mutating func combine(_ word: UInt64) {
        let mixed = state ^ Self.mix(word)
        state = ((mixed << 27) | (mixed >> 37)) &* 0x9E37_79B9_7F4A_7C15 &+ 0x632B_E59B_D9B4_E019
        words &+= 1
    }

    /// A rating at (user, item): two words, the indices packed, then the rating's bits.
    @inline(__always)
    package mutating func combine(user: Int, item: Int, rating: Double) {
        combine(UInt64(truncatingIfNeeded: user) << 32 | UInt64(truncatingIfNeeded: item) & 0xFFFF_FFFF)
        combine(rating.bitPattern)
    }

    /// An id map: a tag saying which kind, then the count and, for a list, every id; for
    /// names, each name's byte count and its bytes, eight to a word.
    package mutating func combine(_ map: IdMap) {
        if let names = map.names {
            combine(3)
            combine(UInt64(names.count))
            for name in names {
                combine(UInt64(name.utf8.count))
                var word: UInt64 = 0
                var filled = 0
                for byte in name.utf8 {
                    word |= UInt64(byte) << (8 * filled)
                    filled += 1
                    if filled == 8 {
                        combine(word)
                        word = 0
                        filled = 0
                    }
                }
                if filled > 0 { combine(word) }
            }
            return
        }
        combine(map.isIdentity ? 1 : 2)
        combine(UInt64(map.count))
        if !map.isIdentity {
            for index in 0..<map.count { combine(UInt64(bitPattern: map.id(index))) }
        }
    }

    /// The fingerprint as a number (what `value` writes in hexadecimal).
    package var bits: UInt64 { Self.mix(state ^ words) }

    package var value: String {
        let final = bits
        let digits = String(final, radix: 16)
        return "mix64:" + String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Starts a fingerprint with the data's shape (users, items, observed ratings).
    package static func start(userCount: Int, itemCount: Int, observedCount: Int) -> RatingFingerprint {
        var fingerprint = RatingFingerprint()
        fingerprint.combine(UInt64(userCount))
        fingerprint.combine(UInt64(itemCount))
        fingerprint.combine(UInt64(observedCount))
        return fingerprint
    }
}

extension DenseRatingMatrix {
    /// The fingerprint of this matrix with index ids (see `RatingFingerprint`).
    package var fingerprint: String {
        var fingerprint = RatingFingerprint.start(userCount: userCount, itemCount: itemCount, observedCount: observedCount)
        for user in 0..<userCount {
            let base = user * itemCount
            for item in 0..<itemCount where values[base + item] != 0 {
                fingerprint.combine(user: user, item: item, rating: values[base + item])
            }
        }
        fingerprint.combine(IdMap.identity(userCount))
        fingerprint.combine(IdMap.identity(itemCount))
        return fingerprint.value
    }
}
