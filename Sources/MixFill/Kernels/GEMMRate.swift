/// This machine's own GEMM rate: the yardstick `mixfill bench` measures the EM kernels
/// against. A square product C = A·B of size s does 2s³ floating-point operations (one
/// multiply and one add per term); large s makes it compute-bound, so its rate is about
/// the most OpenBLAS gets from these cores.
package enum GEMMRate {
    /// Why a square GEMM of `size` cannot be measured here, or nil when it can: its three
    /// size × size double matrices (24·size² bytes) must fit in half of this machine's
    /// memory, and size must fit OpenBLAS's Int32 dimensions.
    package static func sizeProblem(_ size: Int) -> String? {
        let (entries, overflow) = size.multipliedReportingOverflow(by: size)
        let bytes = 24 * Double(size) * Double(size)
        let available = KernelChoice.physicalMemoryBytes / 2
        if overflow || size > Int(Int32.max) || bytes > available {
            let shown = overflow ? "\(size)²" : "\(entries)"
            return "\(size) needs three \(size) × \(size) matrices (\(shown) entries each, \(RatingInput.gigabytes(bytes)) GB) but half of this machine's memory is \(RatingInput.gigabytes(available)) GB; give a smaller size, e.g. 2000"
        }
        return nil
    }


    /// Median floating-point operations per second of `repeats` square `size` × `size`
    /// GEMMs in `precision` on `threads` OpenBLAS threads (after one untimed warm-up).
    /// Leaves OpenBLAS's thread count as it found it.
    package static func measure(size: Int, precision: Precision, threads: Int, repeats: Int = 5) -> Double {
        precondition(size > 0 && repeats > 0 && sizeProblem(size) == nil, "check GEMMRate.sizeProblem first")
        let previous = BLAS.threadCount
        BLAS.setThreadCount(threads)
        defer { BLAS.setThreadCount(previous) }
        let count = size * size
        // Values in [0, 1) from a fixed linear congruential sequence: no denormals, no
        // special cases, the same every run.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        // A then B, from the same sequence in either precision.
        func values<Scalar: GEMMScalar>(_: Scalar.Type) -> [Scalar] { (0..<count).map { _ in Scalar(next()) } }
        var seconds = switch precision {
        case .double: timedProducts(values(Double.self), values(Double.self), size: size, repeats: repeats)
        case .single: timedProducts(values(Float.self), values(Float.self), size: size, repeats: repeats)
        }
        seconds.sort()
        let middle = seconds.count / 2
        let median = seconds.count % 2 == 1 ? seconds[middle] : (seconds[middle - 1] + seconds[middle]) / 2
        return 2 * Double(size) * Double(size) * Double(size) / median
    }

    /// Seconds of each of `repeats` products C = A·B of size × size matrices, after one
    /// untimed warm-up.
    private static func timedProducts<Scalar: GEMMScalar>(_ a: [Scalar], _ b: [Scalar], size: Int, repeats: Int) -> [Double] {
        let clock = ContinuousClock()
        var c = [Scalar](repeating: 0, count: a.count)
        var seconds = [Double]()
        for round in 0...repeats {
            let start = clock.now
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
                        Scalar.gemm(transposeA: false, transposeB: false, m: size, n: size, k: size,
                                    a: a, lda: size, b: b, ldb: size, beta: 0, c: c, ldc: size)
                    }
                }
            }
            if round > 0 { seconds.append((clock.now - start).seconds) }
        }
        return seconds
    }
}
