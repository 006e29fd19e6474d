import CLanes
import Foundation

/// Which code runs the sparse kernels' vector passes (`FactorSparseKernel`'s spread and
/// collect, `SparseKernel`'s distances and accumulate) and the mppca M-step's four-lane
/// factorisations (`SmallMatrixLanes`): the Swift code, compiled for whatever processor
/// the build targets (baseline x86-64 in a portable build: 128-bit registers), or the same
/// operations in C compiled for AVX2 (`Modules/CLanes`), which the processor is asked for
/// at run time. Both work on vectors of 4 to 16 Doubles; 256-bit registers halve the
/// instructions. Both do the same divisions, square roots, subtractions, multiplies and
/// adds in the same order with no fused multiply-add, so they give the same bits.
enum VectorPasses: String, Sendable {
    case swift
    case avx2

    /// `.avx2` when the processor and the operating system run AVX2 code, except in a
    /// build for this processor (`Scripts/install` defines MIXFILL_NATIVE_BUILD), whose
    /// Swift loops already use all of its registers' width. The environment overrides:
    /// `MIXFILL_AVX2=0` takes the Swift loops, `MIXFILL_AVX2=1` the AVX2 ones where the
    /// processor has them (so that one binary can time both).
    static let selected: VectorPasses = {
        switch ProcessInfo.processInfo.environment["MIXFILL_AVX2"] {
        case "0": return .swift
        case "1": return processorHasAVX2 ? .avx2 : .swift
        default:
            #if MIXFILL_NATIVE_BUILD
            return .swift
            #else
            return processorHasAVX2 ? .avx2 : .swift
            #endif
        }
    }()

    /// Whether this machine can run `passes`.
    static func isAvailable(_ passes: VectorPasses) -> Bool {
        passes == .swift || processorHasAVX2
    }

    /// CPUID and XGETBV's answer, asked once.
    private static let processorHasAVX2 = mixfill_lanes_avx2_available() != 0
}
