#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads whole files as bytes through POSIX calls, so errors can say exactly what went
/// wrong (missing, a directory, no permission) with the path the user gave.
package enum FileBytes {
    /// What every reader says of a folder given where a file is read.
    package static let directoryMessage = "is a directory, not a file; give the path of a file"

    /// Whether `bytes` start with UTF-8's byte-order mark EF BB BF (3 bytes), which some
    /// editors and spreadsheet exports write in front of text; the text readers skip it.
    package static func startsWithByteOrderMark(_ bytes: some Sequence<UInt8>) -> Bool {
        bytes.starts(with: byteOrderMark)
    }

    /// UTF-8's byte-order mark.
    package static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// The file's bytes; `-` (standard input) or a pipe is read to its end (see `StreamInput`).
    package static func read(_ path: String) throws(MixFillError) -> [UInt8] {
        if StreamInput.isStream(path) { return try StreamInput.readAll(path) }
        let (descriptor, expected) = try openFile(path)
        defer { close(descriptor) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(max(expected, 0) + 1)
        try forEachChunk(of: descriptor, path: path) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Up to `count` bytes from the start of the open file `descriptor` (fewer when it is
    /// shorter), read again after an interruption; with the error number of a read that
    /// failed, the bytes read before it.
    package static func readPrefix(of descriptor: Int32, count: Int) -> (bytes: [UInt8], failure: Int32?) {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        var failure: Int32?
        while filled < count {
            let received = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.read(descriptor, base + filled, buffer.count - filled)
            }
            if received < 0, errno == EINTR { continue }
            if received < 0 { failure = errno }
            if received <= 0 { break }
            filled += received
        }
        bytes.removeLast(count - filled)
        return (bytes, failure)
    }

    /// The size in bytes of the regular file at `path`, refusing what `read` refuses.
    package static func size(of path: String) throws(MixFillError) -> Int {
        let (descriptor, size) = try openFile(path)
        close(descriptor)
        return size
    }

    /// The file at `path` opened for reading (the caller closes it) and its size, refusing
    /// a missing file and a folder with what to do.
    private static func openFile(_ path: String) throws(MixFillError) -> (descriptor: Int32, size: Int) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .badFile(file: path, message: openFailure(errno))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw .badFile(file: path, message: "cannot read: \(describe(code))")
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            close(descriptor)
            throw .badFile(file: path, message: FileBytes.directoryMessage)
        }
        return (descriptor, Int(status.st_size))
    }

    /// SHA-256 of the file's bytes, read 1 MB at a time (a file of any size in constant
    /// memory), as 64 hex digits. Refuses `-` and pipes: a hash is taken to decide whether
    /// to read the file (a batch job's data), and a stream, once hashed, is gone.
    package static func sha256(_ path: String) throws(MixFillError) -> String {
        if StreamInput.isStream(path) {
            let what = StandardInput.isStandardInput(path) ? "standard input" : "a pipe"
            throw .badFile(file: path, message: "\(what) cannot be used here: its hash is needed before it is read, and it can be read only once; save the data to a file and give its path")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .badFile(file: path, message: openFailure(errno))
        }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw .badFile(file: path, message: FileBytes.directoryMessage)
        }
        var hasher = ContentHasher()
        try forEachChunk(of: descriptor, path: path) { hasher.update($0) }
        return hasher.finalizeHex()
    }

    /// Reads the open file `descriptor` to its end, 1 MB at a time, retrying a read that a
    /// signal interrupted, and hands each chunk to `body`.
    private static func forEachChunk(of descriptor: Int32, path: String,
                                     _ body: (ArraySlice<UInt8>) -> Void) throws(MixFillError) {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .badFile(file: path, message: "cannot read: \(describe(errno))")
            }
            if count == 0 { return }
            body(chunk[0..<count])
        }
    }

    /// Writes all of `bytes` to `descriptor`, retrying interrupted and partial writes;
    /// returns the errno of a write that failed, nil when all were written.
    package static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32? {
        guard let base = bytes.baseAddress else { return nil }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, base + offset, bytes.count - offset)
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return written < 0 ? errno : EIO }
            offset += written
        }
        return nil
    }

    package static func openFailure(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file; check the path"
        case EACCES: return "permission denied; check the file's permissions"
        default: return "cannot open: \(describe(code))"
        }
    }

    package static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}
