/// A group of components processed together in SIMD registers: one rating's K means (or
/// K accumulators) are contiguous in the item-major tables, so the sparse kernel loads
/// them as one vector and does the same arithmetic on every component at once.
///
/// Widths 4, 8, 12 and 16 cover K ≤ 16 in one group (K is padded to a multiple of 4);
/// larger K is split into groups of 16 and a remainder.
protocol ComponentLanes {
    static var width: Int { get }
    static var zero: Self { get }
    init(broadcast value: Double)
    /// Loads `width` Doubles from `pointer` (no alignment needed).
    init(loading pointer: UnsafePointer<Double>)
    /// Stores `width` Doubles at `pointer` (no alignment needed).
    func store(to pointer: UnsafeMutablePointer<Double>)
    static func + (left: Self, right: Self) -> Self
    static func - (left: Self, right: Self) -> Self
    static func * (left: Self, right: Self) -> Self
}

extension SIMD4: ComponentLanes where Scalar == Double {
    static var width: Int { 4 }
    @inline(__always) init(broadcast value: Double) { self.init(repeating: value) }
    @inline(__always) init(loading pointer: UnsafePointer<Double>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD4<Double>.self)
    }
    @inline(__always) func store(to pointer: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: SIMD4<Double>.self)
    }
}

extension SIMD8: ComponentLanes where Scalar == Double {
    static var width: Int { 8 }
    @inline(__always) init(broadcast value: Double) { self.init(repeating: value) }
    @inline(__always) init(loading pointer: UnsafePointer<Double>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Double>.self)
    }
    @inline(__always) func store(to pointer: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: SIMD8<Double>.self)
    }
}

extension SIMD16: ComponentLanes where Scalar == Double {
    static var width: Int { 16 }
    @inline(__always) init(broadcast value: Double) { self.init(repeating: value) }
    @inline(__always) init(loading pointer: UnsafePointer<Double>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<Double>.self)
    }
    @inline(__always) func store(to pointer: UnsafeMutablePointer<Double>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: SIMD16<Double>.self)
    }
}

/// Two vectors used as one wider one: `LanePair<SIMD8<Double>, SIMD4<Double>>` is the
/// 12 lanes of the course's K = 12 with no lane wasted.
struct LanePair<Low: ComponentLanes, High: ComponentLanes>: ComponentLanes {
    var low: Low
    var high: High

    static var width: Int { Low.width + High.width }
    static var zero: LanePair { LanePair(low: .zero, high: .zero) }

    @inline(__always) init(low: Low, high: High) {
        self.low = low
        self.high = high
    }
    @inline(__always) init(broadcast value: Double) {
        low = Low(broadcast: value)
        high = High(broadcast: value)
    }
    @inline(__always) init(loading pointer: UnsafePointer<Double>) {
        low = Low(loading: pointer)
        high = High(loading: pointer + Low.width)
    }
    @inline(__always) func store(to pointer: UnsafeMutablePointer<Double>) {
        low.store(to: pointer)
        high.store(to: pointer + Low.width)
    }
    @inline(__always) static func + (left: LanePair, right: LanePair) -> LanePair {
        LanePair(low: left.low + right.low, high: left.high + right.high)
    }
    @inline(__always) static func - (left: LanePair, right: LanePair) -> LanePair {
        LanePair(low: left.low - right.low, high: left.high - right.high)
    }
    @inline(__always) static func * (left: LanePair, right: LanePair) -> LanePair {
        LanePair(low: left.low * right.low, high: left.high * right.high)
    }
}

typealias Lanes12 = LanePair<SIMD8<Double>, SIMD4<Double>>

/// How K components (padded to a multiple of 4) are split into lane groups.
struct ComponentGroups: Equatable {
    /// (first component, width) per group.
    let groups: [(offset: Int, width: Int)]
    /// K rounded up to a multiple of 4: the row length of the item-major tables.
    let paddedCount: Int

    init(componentCount: Int) {
        paddedCount = (componentCount + 3) / 4 * 4
        var groups = [(offset: Int, width: Int)]()
        var offset = 0
        while paddedCount - offset > 16 {
            groups.append((offset, 16))
            offset += 16
        }
        groups.append((offset, paddedCount - offset))
        self.groups = groups
    }

    static func == (left: ComponentGroups, right: ComponentGroups) -> Bool {
        left.paddedCount == right.paddedCount
    }
}
