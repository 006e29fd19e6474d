@testable import MixFill
import Testing

/// `SmallMatrixLanes` does in each lane what `SmallMatrices` does to one matrix: the same
/// bits, and a failed factorisation reported for its lane alone.
struct SmallMatrixLanesTests {
    /// B·Bᵀ + m·I for a B of deterministic pseudo-random entries in [−1, 1): symmetric
    /// positive definite, full m × m row-major.
    static func positiveDefinite(_ m: Int, seed: UInt64) -> [Double] {
        var state = seed
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
        let b = (0..<(m * m)).map { _ in next() }
        var a = [Double](repeating: 0, count: m * m)
        for r in 0..<m {
            for c in 0..<m {
                var sum = r == c ? Double(m) : 0
                for k in 0..<m { sum += b[r * m + k] * b[c * m + k] }
                a[r * m + c] = sum
            }
        }
        return a
    }

    /// Both codes (the Swift lanes and, where the processor runs AVX2, the C ones).
    static let passes: [VectorPasses] = [.swift, .avx2].filter(VectorPasses.isAvailable)

    /// Four positive definite matrices, or lane 0 positive definite beside three that are
    /// not: a NaN first pivot (NaN then runs through the whole lane), a negative last pivot
    /// and an infinite pivot on the way.
    @Test(arguments: [1, 2, 5, 13, 21], [false, true])
    func eachLaneGivesTheScalarRoutinesBits(m: Int, failures: Bool) {
        for passes in Self.passes {
            Self.compare(m: m, failures: failures, passes: passes)
        }
    }

    static func compare(m: Int, failures: Bool, passes: VectorPasses) {
        typealias Lanes = SmallMatrixLanes.Lanes
        var matrices = (0..<4).map { Self.positiveDefinite(m, seed: UInt64(17 * m + $0)) }
        var expectedFactored = [true, true, true, true]
        if failures {
            matrices[1][0] = .nan
            matrices[2][(m - 1) * m + (m - 1)] = -1e3
            matrices[3][(m / 2) * m + (m / 2)] = .infinity
            expectedFactored = [true, false, false, false]
        }

        var scalarFactors = matrices
        var scalarFactored = [Bool]()
        var scalarInverses = [[Double]]()
        for lane in 0..<4 {
            scalarFactored.append(scalarFactors[lane].withUnsafeMutableBufferPointer { SmallMatrices.cholesky($0.baseAddress!, m) })
            var inverse = [Double](repeating: 0, count: m * m)
            var triangle = [Double](repeating: 0, count: m * m)
            SmallMatrices.inverseByTriangle(scalarFactors[lane], m, into: &inverse, triangle: &triangle)
            scalarInverses.append(inverse)
        }
        #expect(scalarFactored == expectedFactored)

        // The lanes get the upper triangles only, and scratch full of NaN: nothing may read
        // what it has not written.
        var lanes = (0..<(m * m)).map { index in
            index % m < index / m ? Lanes(repeating: .nan) : Lanes((0..<4).map { matrices[$0][index] })
        }
        let factored = lanes.withUnsafeMutableBufferPointer { SmallMatrixLanes.cholesky($0.baseAddress!, m, passes: passes) }
        #expect((0..<4).map { factored[$0] } == expectedFactored, "\(passes)")
        var inverse = [Lanes](repeating: Lanes(repeating: .nan), count: m * m)
        var triangle = inverse
        SmallMatrixLanes.inverseByTriangle(lanes, m, into: &inverse, triangle: &triangle, passes: passes)
        let logDeterminants = SmallMatrixLanes.logDeterminants(lanes, m)
        for lane in 0..<4 where expectedFactored[lane] {
            for r in 0..<m {
                for c in r..<m {
                    #expect(lanes[r * m + c][lane].bitPattern == scalarFactors[lane][r * m + c].bitPattern, "\(passes)")
                }
            }
            #expect((0..<(m * m)).allSatisfy { inverse[$0][lane].bitPattern == scalarInverses[lane][$0].bitPattern }, "\(passes)")
            #expect(logDeterminants[lane].bitPattern == SmallMatrices.logDeterminant(scalarFactors[lane], m).bitPattern)
        }
        // The inverse is the inverse: A·A⁻¹ ≈ I.
        for r in 0..<m {
            for c in 0..<m {
                var sum = 0.0
                for k in 0..<m { sum += matrices[0][r * m + k] * inverse[k * m + c][0] }
                #expect(abs(sum - (r == c ? 1 : 0)) < 1e-12)
            }
        }
    }

    /// Ranges for the workers: in order, covering every item once, each but the last a
    /// whole number of groups of four.
    @Test func rangesCoverTheItemsInGroupsOfFour() {
        for count in [1, 3, 4, 5, 9, 40, 41] {
            for workers in [1, 2, 3, 7, 64] {
                let ranges = SmallMatrixLanes.ranges(count, workers: workers)
                #expect(!ranges.isEmpty && ranges.count <= workers)
                #expect(ranges.flatMap { Array($0) } == Array(0..<count), "\(count) items, \(workers) workers")
                #expect(ranges.dropLast().allSatisfy { $0.count > 0 && $0.count % 4 == 0 })
            }
        }
        #expect(SmallMatrixLanes.ranges(9, workers: 2) == [0..<4, 4..<9])
    }

    /// `load` fills lanes from strided rows and pads the lanes past `count` with 0.
    @Test func loadTakesStridedRowsAndPads() {
        typealias Lanes = SmallMatrixLanes.Lanes
        let rows: [Double] = [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0]
        var lanes = [Lanes](repeating: Lanes(repeating: .nan), count: 3)
        SmallMatrixLanes.load(rows, stride: 4, count: 3, length: 3, into: &lanes)
        #expect(lanes == [Lanes(1, 4, 7, 0), Lanes(2, 5, 8, 0), Lanes(3, 6, 9, 0)])
    }

    /// The packed triangle lands in the upper triangle, row by row.
    @Test func unpackUpperFollowsThePackedOrder() {
        typealias Lanes = SmallMatrixLanes.Lanes
        let m = 3
        let packed = (0..<SmallMatrices.packedCount(m)).map { Lanes(repeating: Double($0)) }
        var full = [Lanes](repeating: Lanes(repeating: -1), count: m * m)
        SmallMatrixLanes.unpackUpper(packed, m, into: &full)
        #expect(full.map { $0[0] } == [0, 1, 2, -1, 3, 4, -1, -1, 5])
    }
}
