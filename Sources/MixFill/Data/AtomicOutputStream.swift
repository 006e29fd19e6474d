#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `AtomicFile` for outputs too large to build in memory first (generated rating files,
/// binary rating files, predictions): bytes are appended through a 1 MB buffer to a
/// temporary file in the target's folder; `commit()` fsyncs it, renames it over the target
/// and fsyncs the folder. Until then the target is untouched, and a stream that is not
/// committed (an error, a throw on the way) removes its temporary file when it goes away.
///
/// `open("-")` streams to standard output instead, through the same buffer: a pipe has no
/// rename, so what a failure leaves there is the reader's to discard (the command's exit
/// status says it failed).
package final class AtomicOutputStream {
    package let path: String
    /// Nil when the bytes go to standard output.
    private let file: TemporaryFile?
    private var buffer: [UInt8] = []
    /// Bytes accepted so far.
    package private(set) var byteCount = 0
    static let bufferSize = 1 << 20

    /// Refuses a target that exists and is not a regular file (as `AtomicFile` does), then
    /// creates the temporary file.
    package init(path: String) throws(MixFillError) {
        self.path = path
        file = try TemporaryFile(for: path)
        buffer.reserveCapacity(Self.bufferSize)
    }

    private init(standardOutput: Void) {
        path = StandardInput.argument
        file = nil
        buffer.reserveCapacity(Self.bufferSize)
    }

    /// A stream to the file at `path`, or to standard output for `-`.
    package static func open(_ path: String) throws(MixFillError) -> AtomicOutputStream {
        StandardInput.isStandardInput(path) ? AtomicOutputStream(standardOutput: ()) : try AtomicOutputStream(path: path)
    }

    /// Appends bytes (buffered).
    package func write(_ bytes: [UInt8]) throws(MixFillError) {
        if buffer.count + bytes.count > Self.bufferSize { try flush() }
        if bytes.count >= Self.bufferSize {
            try writeDirectly(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Appends one byte (buffered).
    @inline(__always)
    package func write(byte: UInt8) throws(MixFillError) {
        if buffer.count == Self.bufferSize { try flush() }
        buffer.append(byte)
    }

    /// Appends the in-memory bytes of an array of trivial values, unbuffered (for the large
    /// sections of binary files).
    func write<Element>(elementsOf array: [Element]) throws(MixFillError) {
        try flush()
        try writeDirectly(array)
    }

    private func writeDirectly<Element>(_ array: [Element]) throws(MixFillError) {
        if let file {
            try file.write(contentsOf: array)
        } else {
            try Self.writeStandardOutput(array)
        }
        byteCount += array.count * MemoryLayout<Element>.stride
    }

    /// Writes all of `array`'s bytes to standard output, retrying interrupted writes.
    private static func writeStandardOutput<Element>(_ array: [Element]) throws(MixFillError) {
        if let code = array.withUnsafeBytes({ FileBytes.writeAll($0, to: STDOUT_FILENO) }) {
            throw .runtime(message: "standard output: cannot write: \(FileBytes.describe(code)); the output is incomplete")
        }
    }

    /// Appends `count` zero bytes.
    func writeZeros(_ count: Int) throws(MixFillError) {
        try write([UInt8](repeating: 0, count: count))
    }

    /// Writes out the buffer.
    package func flush() throws(MixFillError) {
        guard !buffer.isEmpty else { return }
        try writeDirectly(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Makes the file visible at `path`, complete. After this the stream takes no more bytes.
    package func commit() throws(MixFillError) {
        try flush()
        try file?.moveIntoPlace()
    }
}
