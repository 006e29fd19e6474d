/// MT19937, bit-compatible with numpy's legacy `np.random.seed(s)` (Matsumoto and
/// Nishimura's `init_genrand`) and `next_uint32` (`genrand_int32`, tempered output).
package struct MersenneTwister: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    package init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 {
            let previous = state[i - 1]
            state[i] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(i)
        }
    }

    package mutating func nextUInt32() -> UInt32 {
        if index >= 624 { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func twist() {
        let upperMask: UInt32 = 0x8000_0000
        let lowerMask: UInt32 = 0x7FFF_FFFF
        for i in 0..<624 {
            let y = (state[i] & upperMask) | (state[(i + 1) % 624] & lowerMask)
            var next = state[(i + 397) % 624] ^ (y >> 1)
            if y & 1 != 0 { next ^= 0x9908_B0DF }
            state[i] = next
        }
        index = 0
    }

    /// A uniform integer in 0...maximum by numpy's legacy rejection rule: mask to the
    /// smallest all-ones bit pattern ≥ maximum and redraw until the value is ≤ maximum.
    package mutating func nextInterval(_ maximum: UInt32) -> UInt32 {
        if maximum == 0 { return 0 }
        var mask = maximum
        mask |= mask >> 1
        mask |= mask >> 2
        mask |= mask >> 4
        mask |= mask >> 8
        mask |= mask >> 16
        while true {
            let value = nextUInt32() & mask
            if value <= maximum { return value }
        }
    }

    /// numpy's legacy `permutation(n)[:count]`, i.e. `choice(n, count, replace=False)`:
    /// shuffle 0..<n by swapping a[i] with a[j], j uniform in [0, i], for i = n−1 down to 1.
    package mutating func choiceWithoutReplacement(populationSize: Int, count: Int) -> [Int] {
        precondition(count <= populationSize && populationSize <= Int(UInt32.max))
        var permutation = Array(0..<populationSize)
        var i = populationSize - 1
        while i >= 1 {
            let j = Int(nextInterval(UInt32(i)))
            permutation.swapAt(i, j)
            i -= 1
        }
        return Array(permutation.prefix(count))
    }
}
