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

    @Test(arguments: [1, 2, 5, 13, 21], passes)
    func eachLaneGivesTheScalarRoutinesBits(m: Int, passes: VectorPasses) {
        typealias Lanes = SmallMatrixLanes.Lanes
        var matrices = (0..<4).map { Self.positiveDefinite(m, seed: UInt64(17 * m + $0)) }
        // Lane 2 is not positive definite: its last pivot is negative.
        matrices[2][(m - 1) * m + (m - 1)] = -1e3

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
        #expect(scalarFactored == [true, true, false, true])

        var lanes = (0..<(m * m)).map { index in Lanes((0..<4).map { matrices[$0][index] }) }
        let factored = lanes.withUnsafeMutableBufferPointer { SmallMatrixLanes.cholesky($0.baseAddress!, m, passes: passes) }
        #expect((0..<4).map { factored[$0] } == scalarFactored)
        var inverse = [Lanes](repeating: Lanes(repeating: 0), count: m * m)
        var triangle = inverse
        SmallMatrixLanes.inverseByTriangle(lanes, m, into: &inverse, triangle: &triangle, passes: passes)
        let logDeterminants = SmallMatrixLanes.logDeterminants(lanes, m)
        for lane in [0, 1, 3] {
            for r in 0..<m {
                for c in r..<m {
                    #expect(lanes[r * m + c][lane].bitPattern == scalarFactors[lane][r * m + c].bitPattern)
                }
            }
            #expect((0..<(m * m)).allSatisfy { inverse[$0][lane].bitPattern == scalarInverses[lane][$0].bitPattern })
            #expect(logDeterminants[lane].bitPattern == SmallMatrices.logDeterminant(scalarFactors[lane], m).bitPattern)
        }
        // The inverse is the inverse: A·A⁻¹ ≈ I for a lane that factorised.
        for r in 0..<m {
            for c in 0..<m {
                var sum = 0.0
                for k in 0..<m { sum += matrices[3][r * m + k] * inverse[k * m + c][3] }
                #expect(abs(sum - (r == c ? 1 : 0)) < 1e-12)
            }
        }
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
