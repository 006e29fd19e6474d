/// A kernel workspace of Doubles starting on a 64-byte boundary (a cache line, and the
/// widest SIMD register), so that rows of 8 or 16 lanes at multiples of 8 Doubles never
/// straddle two cache lines and wide vector loads and stores stay whole. An Array's
/// storage only promises the alignment of its element.
final class AlignedDoubles {
    let count: Int
    private let base: UnsafeMutablePointer<Double>

    /// `count` zeros.
    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Double>.stride, alignment: 64)
        base = raw.initializeMemory(as: Double.self, repeating: 0, count: max(1, count))
    }

    deinit {
        base.deinitialize(count: max(1, count))
        base.deallocate()
    }

    func withUnsafeBufferPointer<Result>(_ body: (UnsafeBufferPointer<Double>) throws -> Result) rethrows -> Result {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    func withUnsafeMutableBufferPointer<Result>(_ body: (UnsafeMutableBufferPointer<Double>) throws -> Result) rethrows -> Result {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }
}
