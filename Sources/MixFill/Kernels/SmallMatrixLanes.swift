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
/// runs them: a vector of four Doubles is then one register instead of two.
enum SmallMatrixLanes {
    typealias Lanes = SIMD4<Double>
    typealias Mask = SIMDMask<SIMD4<Int64>>

    /// Matrices per call.
    static let width = 4

    /// `SmallMatrices.cholesky` in every lane: the upper triangles become U with a = Uᵀ·U.
    /// Returns the lanes whose every pivot was positive and finite; the other lanes' values
    /// are meaningless (NaN or infinite), as the scalar routine would have stopped there.
    static func cholesky(_ a: UnsafeMutablePointer<Lanes>, _ m: Int, passes: VectorPasses = .selected) -> Mask {
        if passes == .avx2 {
            let bits = mixfill_cholesky4_avx2(UnsafeMutableRawPointer(a).assumingMemoryBound(to: Double.self), m)
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
            mixfill_inverse_by_triangle4_avx2(UnsafeRawPointer(u).assumingMemoryBound(to: Double.self), m,
                                              UnsafeMutableRawPointer(inverse).assumingMemoryBound(to: Double.self),
                                              UnsafeMutableRawPointer(triangle).assumingMemoryBound(to: Double.self))
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
