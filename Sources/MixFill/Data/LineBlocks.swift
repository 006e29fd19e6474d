#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams a file as blocks of whole lines, so readers parse multi-gigabyte files in a
/// fixed few megabytes of memory: the whole file is never held as text.
enum LineBlocks {
    /// 8 MB: large enough that the per-read overhead vanishes, small enough to stay cheap.
    static let blockSize = 1 << 23
    /// Lines longer than this are refused (no rating file has them; it protects memory).
    static let longestLine = 1 << 26

    /// Calls `body` with successive blocks of the file at `path`. Every block but the last
    /// ends just after a newline; the last holds the rest (possibly without a newline).
    /// `-` (standard input) and pipes stream the same way, starting with the bytes format
    /// detection read ahead (see `StreamInput`); errors for `-` name `<stdin>`.
    static func forEachBlock(path: String, blockSize: Int = blockSize,
                             _ body: (UnsafeBufferPointer<UInt8>) throws(MixFillError) -> Void) throws(MixFillError) {
        if StreamInput.isStream(path) {
            let (descriptor, buffered, reachedEnd) = try StreamInput.claim(path)
            try forEachBlock(descriptor: descriptor, name: StandardInput.displayName(path), initial: buffered,
                             reachedEnd: reachedEnd, bufferSize: blockSize, limit: nil, body)
            return
        }
        try forEachBlock(path: path, bytes: nil, blockSize: blockSize, body)
    }

    /// The same for the bytes `range` of the file at `path` only (a regular file, not
    /// standard input), as if they were the whole file: an MPI rank reading its part of a
    /// text file whose parts start and end at line boundaries (`lineStart(atOrAfter:)`).
    static func forEachBlock(path: String, bytes range: Range<Int>?, blockSize: Int = blockSize,
                             _ body: (UnsafeBufferPointer<UInt8>) throws(MixFillError) -> Void) throws(MixFillError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .badFile(file: path, message: FileBytes.openFailure(errno))
        }
        defer { close(descriptor) }
        var status = stat()
        var bufferSize = blockSize
        if fstat(descriptor, &status) == 0 {
            if (status.st_mode & S_IFMT) == S_IFDIR {
                throw .badFile(file: path, message: FileBytes.directoryMessage)
            }
            // A small regular file needs no more than its size (+1 to see its end in one
            // read); the buffer still grows for a line longer than it if the file grows.
            if (status.st_mode & S_IFMT) == S_IFREG, status.st_size >= 0, status.st_size < blockSize {
                bufferSize = Int(status.st_size) + 1
            }
        }
        if let range {
            guard lseek(descriptor, off_t(range.lowerBound), SEEK_SET) >= 0 else {
                throw .badFile(file: path, message: "cannot read: \(FileBytes.describe(errno))")
            }
            bufferSize = min(bufferSize, range.count + 1)
        }
        #if canImport(Glibc)
        posix_fadvise(descriptor, off_t(range?.lowerBound ?? 0), off_t(range?.count ?? 0), POSIX_FADV_SEQUENTIAL)
        #endif
        try forEachBlock(descriptor: descriptor, name: path, initial: [], reachedEnd: range?.isEmpty ?? false,
                         bufferSize: bufferSize, limit: range?.count, body)
    }

    /// Where the line holding byte `offset − 1` of the file at `path` ends: the first byte
    /// after the first newline at or after `offset − 1` (0 for offset 0, the file's size
    /// when no newline follows). Cutting a file at `lineStart(atOrAfter: size·r/N)` for
    /// r = 0 … N gives N parts of whole lines that together are the file, each line in
    /// exactly one part: a part starting at a line's first byte keeps that line.
    static func lineStart(atOrAfter offset: Int, path: String) throws(MixFillError) -> Int {
        guard offset > 0 else { return 0 }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .badFile(file: path, message: FileBytes.openFailure(errno))
        }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var position = offset - 1
        while true {
            let count = buffer.withUnsafeMutableBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return pread(descriptor, base, bytes.count, off_t(position))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .badFile(file: path, message: "cannot read: \(FileBytes.describe(errno))")
            }
            if count == 0 { return position }
            if let newline = buffer[0..<count].firstIndex(of: UInt8(ascii: "\n")) { return position + newline + 1 }
            position += count
        }
    }

    /// The loop behind `forEachBlock(path:)`: `initial` holds bytes already read from
    /// `descriptor` (none for a file), `reachedEnd` whether the input ended within them.
    /// `limit`: read at most this many bytes from `descriptor`.
    private static func forEachBlock(descriptor: Int32, name path: String, initial: [UInt8], reachedEnd: Bool, bufferSize: Int,
                                     limit: Int?, _ body: (UnsafeBufferPointer<UInt8>) throws(MixFillError) -> Void) throws(MixFillError) {
        // One byte more than the bytes already held, so the first read asks for at least
        // one (a read of 0 bytes would look like the end of the input).
        var buffer = initial
        buffer.append(contentsOf: repeatElement(0, count: max(bufferSize, initial.count + 1) - initial.count))
        var filled = initial.count
        var remaining = limit ?? Int.max
        var failure: MixFillError?
        while failure == nil {
            let count = reachedEnd || remaining == 0 ? 0 : buffer.withUnsafeMutableBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return read(descriptor, base + filled, min(bytes.count - filled, remaining))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .badFile(file: path, message: "cannot read: \(FileBytes.describe(errno))")
            }
            if count == 0 {
                if filled > 0 {
                    buffer.withUnsafeBufferPointer { bytes in
                        do throws(MixFillError) { try body(UnsafeBufferPointer(rebasing: bytes[0..<filled])) } catch { failure = error }
                    }
                }
                break
            }
            filled += count
            remaining -= count
            var lastNewline = filled - 1
            while lastNewline >= 0, buffer[lastNewline] != UInt8(ascii: "\n") { lastNewline -= 1 }
            if lastNewline < 0 {
                // One line fills the whole buffer: grow it, up to the limit.
                guard filled == buffer.count else { continue }
                guard buffer.count < longestLine else {
                    throw .badFile(file: path, message: "has a line longer than \(longestLine >> 20) MB; rating files have one short record per line")
                }
                buffer.append(contentsOf: repeatElement(0, count: buffer.count))
                continue
            }
            let blockEnd = lastNewline + 1
            buffer.withUnsafeBufferPointer { bytes in
                do throws(MixFillError) { try body(UnsafeBufferPointer(rebasing: bytes[0..<blockEnd])) } catch { failure = error }
            }
            let rest = filled - blockEnd
            if rest > 0 {
                buffer.withUnsafeMutableBytes { bytes in
                    guard let base = bytes.baseAddress else { return }
                    memmove(base, base + blockEnd, rest)
                }
            }
            filled = rest
        }
        if let failure { throw failure }
    }
}
