#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Dense linear algebra on the small symmetric positive-definite matrices of the factor
/// family (q × q per user, (q + K) × (q + K) per item; q ≤ 64 in practice), in place on
/// row-major storage. A call per user or item is far too small for LAPACK's per-call cost
/// to pay off, so these are plain loops (O(m³/3) for the factorisation).
///
/// Symmetric matrices travel packed as their upper triangle, row by row:
/// element (r, c), r ≤ c, of an m × m matrix is at `packedIndex(r, c, m)`.
enum SmallMatrices {
    /// Entries of an m × m symmetric matrix's upper triangle.
    @inline(__always)
    static func packedCount(_ m: Int) -> Int { m * (m + 1) / 2 }

    /// Where (r, c), r ≤ c, sits in the packed upper triangle of an m × m matrix.
    @inline(__always)
    static func packedIndex(_ r: Int, _ c: Int, _ m: Int) -> Int {
        r * m - r * (r - 1) / 2 + (c - r)
    }

    /// Fills the full m × m matrix `full` from `packed`.
    static func unpack(_ packed: UnsafePointer<Double>, _ m: Int, into full: UnsafeMutablePointer<Double>) {
        var index = 0
        for r in 0..<m {
            for c in r..<m {
                full[r * m + c] = packed[index]
                full[c * m + r] = packed[index]
                index += 1
            }
        }
    }

    /// Overwrites the upper triangle of `a` (m × m, symmetric positive definite) with U such
    /// that a = Uᵀ·U (the lower triangle is left alone). Returns false when a pivot is not
    /// positive and finite: the matrix is not positive definite to working precision.
    ///
    /// Right-looking: row j of U is finished, then its outer product leaves the rows below,
    /// so every inner loop runs along a row (contiguous, vectorisable). Each entry still
    /// receives its subtractions in increasing k, as the textbook's column sums give them.
    static func cholesky(_ a: UnsafeMutablePointer<Double>, _ m: Int) -> Bool {
        for j in 0..<m {
            let row = a + j * m
            let diagonal = row[j]
            guard diagonal > 0, diagonal.isFinite else { return false }
            let pivot = diagonal.squareRoot()
            row[j] = pivot
            for c in (j + 1)..<m { row[c] /= pivot }
            for r in (j + 1)..<m {
                let factor = row[r]
                let target = a + r * m
                for c in r..<m { target[c] -= factor * row[c] }
            }
        }
        return true
    }

    /// log det a = 2·Σ log U_jj, from the factor `cholesky` left in `u`.
    static func logDeterminant(_ u: UnsafePointer<Double>, _ m: Int) -> Double {
        var sum = 0.0
        for j in 0..<m { sum += log(u[j * m + j]) }
        return 2 * sum
    }

    /// Solves Uᵀ·U·x = b in place (`x` holds b on entry), U from `cholesky`.
    static func solve(_ u: UnsafePointer<Double>, _ m: Int, _ x: UnsafeMutablePointer<Double>) {
        for r in 0..<m {
            var value = x[r]
            for k in 0..<r { value -= u[k * m + r] * x[k] }
            x[r] = value / u[r * m + r]
        }
        for r in stride(from: m - 1, through: 0, by: -1) {
            var value = x[r]
            for k in (r + 1)..<max(r + 1, m) { value -= u[r * m + k] * x[k] }
            x[r] = value / u[r * m + r]
        }
    }

    /// V = U⁻¹ (upper triangular, row-major m × m; the lower triangle is left alone) for the
    /// factor U of `cholesky`: U·V = I read from the bottom row up, V_rr = 1/U_rr and
    /// V_rc = −(Σ_{r<k≤c} U_rk V_kc)/U_rr, row r of V gathered as a sum of the rows below it
    /// (contiguous inner loops; each entry's terms still added in increasing k). About m³/6
    /// multiplications.
    @inline(__always)
    static func invertTriangle(_ u: UnsafePointer<Double>, _ m: Int, into v: UnsafeMutablePointer<Double>) {
        for r in stride(from: m - 1, through: 0, by: -1) {
            let row = v + r * m
            let diagonal = u[r * m + r]
            row[r] = 1 / diagonal
            for c in (r + 1)..<m { row[c] = 0 }
            for k in (r + 1)..<m {
                let factor = u[r * m + k]
                let below = v + k * m
                for c in k..<m { row[c] += factor * below[c] }
            }
            for c in (r + 1)..<m { row[c] = -row[c] / diagonal }
        }
    }

    /// The inverse (Uᵀ·U)⁻¹ = V·Vᵀ with V = U⁻¹, into the full m × m `inverse` (exactly
    /// symmetric: each pair (r, c), (c, r) is one sum Σ_{k ≥ max(r, c)} V_rk V_ck, over rows of
    /// V, which are contiguous); `triangle` is scratch of m × m values. About m³/3
    /// multiplications in all, a third of m solves against the factor. The M-step runs it
    /// four matrices at a time (`SmallMatrixLanes`, the same operations); this is the
    /// reference those lanes are tested against.
    static func inverseByTriangle(_ u: UnsafePointer<Double>, _ m: Int, into inverse: UnsafeMutablePointer<Double>,
                                  triangle: UnsafeMutablePointer<Double>) {
        invertTriangle(u, m, into: triangle)
        // Vᵀ into the free lower triangle: row k holds column k of V up to the diagonal.
        for k in 0..<m {
            for c in 0..<k { triangle[k * m + c] = triangle[c * m + k] }
        }
        // Row r of V·Vᵀ (upper part) as Σ_k V_rk · (row k of Vᵀ), k increasing.
        for r in 0..<m {
            let out = inverse + r * m
            for c in r..<m { out[c] = 0 }
            for k in r..<m {
                let factor = triangle[r * m + k]
                let column = triangle + k * m
                for c in r...k { out[c] += factor * column[c] }
            }
            for c in (r + 1)..<m { inverse[c * m + r] = out[c] }
        }
    }

    /// The inverse (Uᵀ·U)⁻¹, symmetric, into the full m × m `inverse`, column by column;
    /// `column` is scratch of m values.
    static func inverse(_ u: UnsafePointer<Double>, _ m: Int, into inverse: UnsafeMutablePointer<Double>,
                        column: UnsafeMutablePointer<Double>) {
        for c in 0..<m {
            for r in 0..<m { column[r] = r == c ? 1 : 0 }
            solve(u, m, column)
            for r in 0..<m { inverse[r * m + c] = column[r] }
        }
        // Exactly symmetric: the two triangles computed apart differ in their last bits.
        for r in 0..<m {
            for c in (r + 1)..<max(r + 1, m) {
                let mean = 0.5 * (inverse[r * m + c] + inverse[c * m + r])
                inverse[r * m + c] = mean
                inverse[c * m + r] = mean
            }
        }
    }
}
