/// The thread counts MixFill accepts: `--threads` on the command line and a job's
/// `"threads"`. The count sets OpenBLAS's threads, the sparse kernel's Swift threads and
/// the dense BLAS kernel's shard workers, so it must fit OpenBLAS's `Int32` and stay a
/// number of threads a machine can start: 1 to 1024 (more than any machine MixFill runs
/// on has cores; OpenBLAS itself caps its pool at its build's MAX_THREADS).
package enum ThreadCount {
    package static let allowed = 1...1024

    /// Why `count` cannot be used, as a message without the option's name; nil when it can.
    package static func problem(_ count: Int) -> String? {
        guard !allowed.contains(count) else { return nil }
        return "\(count) is not allowed; give \(allowed.lowerBound) to \(allowed.upperBound) threads"
    }
}
