import CBLAS

/// The one place MixFill calls OpenBLAS. Callers pass pointers they obtained inside
/// `withUnsafe…` closures over Swift arrays they own; nothing here keeps a pointer.
enum BLAS {
    /// Sets OpenBLAS's worker threads (the CLI's `--threads`).
    static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    static var threadCount: Int {
        Int(openblas_get_num_threads())
    }

    /// C (m × n) = op(A) · op(B), all row-major, with op = transpose where asked.
    @inline(__always)
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Double>, lda: Int,
                     b: UnsafePointer<Double>, ldb: Int,
                     c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1.0, a, Int32(lda), b, Int32(ldb), 0.0, c, Int32(ldc))
    }

    /// The same product in single precision (`--precision single`): SGEMM.
    @inline(__always)
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int,
                     c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1.0, a, Int32(lda), b, Int32(ldb), 0.0, c, Int32(ldc))
    }

    /// y = op(A) · x for a row-major m × n matrix A.
    @inline(__always)
    static func gemv(transpose: Bool, m: Int, n: Int, a: UnsafePointer<Double>, lda: Int,
                     x: UnsafePointer<Double>, y: UnsafeMutablePointer<Double>) {
        cblas_dgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), 1.0, a, Int32(lda), x, 1, 0.0, y, 1)
    }
}

/// The CLI's handle on BLAS threading, so that only Kernels/ imports the C module.
public enum BLASThreads {
    public static func set(_ count: Int) { BLAS.setThreadCount(count) }
    public static var current: Int { BLAS.threadCount }
}
