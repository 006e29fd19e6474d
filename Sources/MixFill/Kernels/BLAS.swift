import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one place MixFill calls OpenBLAS. Callers pass pointers they obtained inside
/// `withUnsafe…` closures over Swift arrays they own; nothing here keeps a pointer.
enum BLAS {
    /// Sets OpenBLAS's worker threads (the CLI's `--threads`). Does nothing when the count
    /// is already that: OpenBLAS restarts its thread pool on every call (so a pool stopped
    /// by `stopIdleThreads` would come back, spinning).
    static func setThreadCount(_ count: Int) {
        let count = max(1, count)
        guard count != threadCount else { return }
        openblas_set_num_threads(Int32(clamping: count))
    }

    static var threadCount: Int {
        Int(openblas_get_num_threads())
    }

    /// Stops OpenBLAS's pool of worker threads, which it starts at load time and which
    /// spin (sched_yield) for a while after each multi-threaded call. When MixFill runs
    /// its own threads on single-threaded BLAS, those spinners only steal cycles from them.
    /// OpenBLAS restarts the pool by itself
    /// on the next multi-threaded call. Only safe while no other thread is inside BLAS,
    /// so only the CLI, which owns its process, calls it. Looked up at run time because
    /// only the pthreads build of OpenBLAS has it; elsewhere this does nothing.
    static func stopIdleThreads() {
        guard let symbol = dlsym(nil, "blas_thread_shutdown_") else { return }
        typealias Shutdown = @convention(c) () -> Int32
        _ = unsafeBitCast(symbol, to: Shutdown.self)()
    }

    /// C (m × n) = op(A) · op(B) + β·C, all row-major, with op = transpose where asked.
    @inline(__always)
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Double>, lda: Int,
                     b: UnsafePointer<Double>, ldb: Int, beta: Double = 0,
                     c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1.0, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The same product in single precision (`--precision single`): SGEMM.
    @inline(__always)
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                     c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1.0, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
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
package enum BLASThreads {
    package static func set(_ count: Int) { BLAS.setThreadCount(count) }
    /// OpenBLAS's build configuration and the kernel family it chose for this CPU, e.g.
    /// "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64" (for bench reports).
    package static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text).split(separator: " ").joined(separator: " ")
    }
    package static var current: Int { BLAS.threadCount }
    /// Stops OpenBLAS's idle worker threads (they spin for a while after each use) before
    /// a process runs its own threads on single-threaded BLAS. Call it only when no other
    /// thread of the process can be inside BLAS: a program's main, not a library.
    package static func stopIdleThreads() { BLAS.stopIdleThreads() }
}

/// The element types the BLAS kernel runs its GEMMs in: Double (DGEMM) and Float (SGEMM).
protocol GEMMScalar: BinaryFloatingPoint {
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Double: GEMMScalar {
    @inline(__always)
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                     beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}

extension Float: GEMMScalar {
    @inline(__always)
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
}
