#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLanes

/// `SmallMatrices`' factorisation and inverses on four matrices at once, one per lane of a
/// `SIMD4<Double>`: entry (r, c) of the four m × m matrices is the vector at r·m + c. Each
/// lane does the scalar routine's operations in the scalar routine's order (no fused
/// multiply-add), so each lane ends with the bits `SmallMatrices` gives for its matrix.
///
/// Why: the factor family's M-step factorises and inverts one (q + K) × (q + K) matrix per
/// item, and one matrix's inner loops run along row fragments of 1 to m values, too short
/// to fill vector registers and dominated by their loop overhead. Four items' matrices
/// side by side give every operation four independent values whatever the fragment's length.
///
/// `cholesky` and `inverseByTriangle` also exist in C compiled for AVX2 (`Modules/CLanes`,
/// the same operations in the same order), taken when `VectorPasses` says the processor
/// runs them: four Doubles are then one 256-bit vector rather than two of baseline x86-64's
/// 128-bit ones.
enum SmallMatrixLanes {
    typealias Lanes = SIMD4<Double>
    typealias Mask = SIMDMask<SIMD4<Int64>>

    /// Matrices per call.
    static let width = 4

    /// `SmallMatrices.cholesky` in every lane: the upper triangles become U with a = Uᵀ·U.
    /// Returns the lanes whose every pivot was positive and finite; the other lanes' values
    /// are not the factor (the scalar routine would have stopped at the failing pivot).
    static func cholesky(_ a: UnsafeMutablePointer<Lanes>, _ m: Int, passes: VectorPasses = .selected) -> Mask {
        if passes == .avx2 {
            precondition(VectorPasses.isAvailable(passes), "AVX2 lanes on a processor without AVX2")
            let bits = a.withMemoryRebound(to: Double.self, capacity: width * m * m) { mixfill_cholesky4_avx2($0, m) }
            var factored = Mask(repeating: false)
            for lane in 0..<width { factored[lane] = (bits >> lane) & 1 == 1 }
            return factored
        }
        var factored = Mask(repeating: true)
        for j in 0..<m {
            let row = a + j * m
            let diagonal = row[j]
            // x − x is 0 exactly when x is finite (NaN or ±∞ otherwise).
            factored = factored .& (diagonal .> 0) .& (diagonal - diagonal .== 0)
            let pivot = diagonal.squareRoot()
            row[j] = pivot
            for c in (j + 1)..<m { row[c] /= pivot }
            for r in (j + 1)..<m {
                let factor = row[r]
                let target = a + r * m
                for c in r..<m { target[c] -= factor * row[c] }
            }
        }
        return factored
    }

    /// `SmallMatrices.invertTriangle` in every lane: V = U⁻¹ in the upper triangles of `v`.
    static func invertTriangle(_ u: UnsafePointer<Lanes>, _ m: Int, into v: UnsafeMutablePointer<Lanes>) {
        let one = Lanes(repeating: 1)
        for r in stride(from: m - 1, through: 0, by: -1) {
            let row = v + r * m
            let diagonal = u[r * m + r]
            row[r] = one / diagonal
            for c in (r + 1)..<m { row[c] = Lanes(repeating: 0) }
            for k in (r + 1)..<m {
                let factor = u[r * m + k]
                let below = v + k * m
                for c in k..<m { row[c] += factor * below[c] }
            }
            for c in (r + 1)..<m { row[c] = -row[c] / diagonal }
        }
    }

    /// `SmallMatrices.inverseByTriangle` in every lane: (Uᵀ·U)⁻¹, full and exactly
    /// symmetric, into `inverse`; `triangle` is scratch of m × m vectors.
    static func inverseByTriangle(_ u: UnsafePointer<Lanes>, _ m: Int, into inverse: UnsafeMutablePointer<Lanes>,
                                  triangle: UnsafeMutablePointer<Lanes>, passes: VectorPasses = .selected) {
        if passes == .avx2 {
            precondition(VectorPasses.isAvailable(passes), "AVX2 lanes on a processor without AVX2")
            let count = width * m * m
            u.withMemoryRebound(to: Double.self, capacity: count) { u in
                inverse.withMemoryRebound(to: Double.self, capacity: count) { inverse in
                    triangle.withMemoryRebound(to: Double.self, capacity: count) { triangle in
                        mixfill_inverse_by_triangle4_avx2(u, m, inverse, triangle)
                    }
                }
            }
            return
        }
        invertTriangle(u, m, into: triangle)
        for k in 0..<m {
            for c in 0..<k { triangle[k * m + c] = triangle[c * m + k] }
        }
        for r in 0..<m {
            let out = inverse + r * m
            for c in r..<m { out[c] = Lanes(repeating: 0) }
            for k in r..<m {
                let factor = triangle[r * m + k]
                let column = triangle + k * m
                for c in r...k { out[c] += factor * column[c] }
            }
            for c in (r + 1)..<m { inverse[c * m + r] = out[c] }
        }
    }

    /// Each lane's log det = 2·Σ log U_jj (`SmallMatrices.logDeterminant`), from `cholesky`'s factor.
    static func logDeterminants(_ u: UnsafePointer<Lanes>, _ m: Int) -> Lanes {
        var result = Lanes(repeating: 0)
        for lane in 0..<width {
            var sum = 0.0
            for j in 0..<m { sum += log(u[j * m + j][lane]) }
            result[lane] = 2 * sum
        }
        return result
    }

    /// Lanes of `length` values: lane l < `count` holds source + l·stride + 0 ..< length, the
    /// lanes from `count` on hold 0 (a range of items whose length is not a multiple of four).
    static func load(_ source: UnsafePointer<Double>, stride: Int, count: Int, length: Int,
                     into lanes: UnsafeMutablePointer<Lanes>) {
        lanes.withMemoryRebound(to: Double.self, capacity: width * length) { values in
            for index in 0..<length {
                for lane in 0..<width {
                    values[index * width + lane] = lane < count ? source[lane * stride + index] : 0
                }
            }
        }
    }

    /// Ranges of `count` items for `workers` threads: contiguous, in order, each but the
    /// last a whole number of groups of four, so no range but the last has a padded group.
    static func ranges(_ count: Int, workers: Int) -> [Range<Int>] {
        let groups = (count + width - 1) / width
        let parts = max(1, min(workers, groups))
        return (0..<parts).map { part in
            min(count, part * groups / parts * width)..<min(count, (part + 1) * groups / parts * width)
        }
    }

    /// Fills the upper triangles of `full` (m × m vectors) from a packed upper triangle in
    /// lanes (`SmallMatrices.packedIndex` order); the lower triangles are not read by the
    /// routines above and are left alone.
    static func unpackUpper(_ packed: UnsafePointer<Lanes>, _ m: Int, into full: UnsafeMutablePointer<Lanes>) {
        var index = 0
        for r in 0..<m {
            for c in r..<m {
                full[r * m + c] = packed[index]
                index += 1
            }
        }
    }
}
