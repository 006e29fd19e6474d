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
    static func cholesky(_ a: UnsafeMutablePointer<Double>, _ m: Int) -> Bool {
        for j in 0..<m {
            var diagonal = a[j * m + j]
            for k in 0..<j { diagonal -= a[k * m + j] * a[k * m + j] }
            guard diagonal > 0, diagonal.isFinite else { return false }
            let pivot = diagonal.squareRoot()
            a[j * m + j] = pivot
            for c in (j + 1)..<max(j + 1, m) {
                var value = a[j * m + c]
                for k in 0..<j { value -= a[k * m + j] * a[k * m + c] }
                a[j * m + c] = value / pivot
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
    /// factor U of `cholesky`, column by column: U·V = I read from the bottom,
    /// V_cc = 1/U_cc and V_rc = −(Σ_{r<k≤c} U_rk V_kc)/U_rr. About m³/6 multiplications.
    @inline(__always)
    static func invertTriangle(_ u: UnsafePointer<Double>, _ m: Int, into v: UnsafeMutablePointer<Double>) {
        for c in 0..<m {
            v[c * m + c] = 1 / u[c * m + c]
            var r = c - 1
            while r >= 0 {
                var value = 0.0
                for k in (r + 1)...c { value += u[r * m + k] * v[k * m + c] }
                v[r * m + c] = -value / u[r * m + r]
                r -= 1
            }
        }
    }

    /// The inverse (Uᵀ·U)⁻¹ = V·Vᵀ with V = U⁻¹, into the full m × m `inverse` (exactly
    /// symmetric: each pair (r, c), (c, r) is one sum Σ_{k ≥ max(r, c)} V_rk V_ck, over rows of
    /// V, which are contiguous); `triangle` is scratch of m × m values. About m³/3
    /// multiplications in all, a third of m solves against the factor.
    static func inverseByTriangle(_ u: UnsafePointer<Double>, _ m: Int, into inverse: UnsafeMutablePointer<Double>,
                                  triangle: UnsafeMutablePointer<Double>) {
        invertTriangle(u, m, into: triangle)
        for r in 0..<m {
            for c in r..<m {
                var value = 0.0
                for k in c..<m { value += triangle[r * m + k] * triangle[c * m + k] }
                inverse[r * m + c] = value
                inverse[c * m + r] = value
            }
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
