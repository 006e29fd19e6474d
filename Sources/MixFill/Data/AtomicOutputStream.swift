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
public final class AtomicOutputStream {
    public let path: String
    private let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var finished = false
    /// Bytes accepted so far.
    public private(set) var byteCount = 0
    static let bufferSize = 1 << 20

    public init(path: String) throws(MixFillError) {
        self.path = path
        let folder = AtomicFile.parentFolder(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var template = Array("\(folder)/.\(name).tmp-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard created >= 0 else {
            throw .runtime(message: "\(path): cannot create a file in \(folder): \(FileBytes.describe(errno)); check that the folder exists and is writable")
        }
        descriptor = created
        temporaryPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        buffer.reserveCapacity(Self.bufferSize)
    }

    deinit {
        if !finished {
            close(descriptor)
            unlink(temporaryPath)
        }
    }

    /// Appends bytes (buffered).
    public func write(_ bytes: [UInt8]) throws(MixFillError) {
        if buffer.count + bytes.count > Self.bufferSize { try flush() }
        if bytes.count >= Self.bufferSize {
            try withBytes(of: bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Appends one byte (buffered).
    @inline(__always)
    public func write(byte: UInt8) throws(MixFillError) {
        if buffer.count == Self.bufferSize { try flush() }
        buffer.append(byte)
    }

    /// Appends the in-memory bytes of an array of trivial values, unbuffered (for the large
    /// sections of binary files).
    func write<Element>(elementsOf array: [Element]) throws(MixFillError) {
        try flush()
        try withBytes(of: array)
    }

    private func withBytes<Element>(of array: [Element]) throws(MixFillError) {
        var failure: MixFillError?
        array.withUnsafeBytes { raw in
            do throws(MixFillError) { try writeDirectly(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Appends `count` zero bytes.
    func writeZeros(_ count: Int) throws(MixFillError) {
        try write([UInt8](repeating: 0, count: count))
    }

    /// Writes out the buffer.
    public func flush() throws(MixFillError) {
        guard !buffer.isEmpty else { return }
        try withBytes(of: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeDirectly(_ bytes: UnsafeRawBufferPointer) throws(MixFillError) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, base + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write", errno)
            }
            offset += written
        }
        byteCount += bytes.count
    }

    /// Makes the file visible at `path`, complete. After this the stream takes no more bytes.
    public func commit() throws(MixFillError) {
        try flush()
        if fsync(descriptor) != 0 { throw failure("cannot flush to disk", errno) }
        fchmod(descriptor, 0o644)
        finished = true
        if close(descriptor) != 0 {
            unlink(temporaryPath)
            throw .runtime(message: "\(path): cannot close: \(FileBytes.describe(errno)); nothing was written")
        }
        if rename(temporaryPath, path) != 0 {
            let code = errno
            unlink(temporaryPath)
            throw .runtime(message: "\(path): cannot move into place: \(FileBytes.describe(code)); nothing was written")
        }
        let folderDescriptor = open(AtomicFile.parentFolder(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }

    private func failure(_ what: String, _ code: Int32) -> MixFillError {
        .runtime(message: "\(path): \(what): \(FileBytes.describe(code)); nothing was written")
    }
}
