#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// `-` given where a file is read: the process's standard input, as `cat -` reads it.
///
/// Standard input can be read only once, and format detection must look at its first
/// bytes before a reader parses all of them. So the first 64 KB that detection asks for
/// are kept here (`prefix`) and handed to the one reader that then claims the input
/// (`claim`), which reads the rest itself: the streaming record readers go on reading
/// the pipe (constant memory, as from a file), the dense reader and the small list
/// readers read it whole (`readAll`), and the binary reader, which seeks, reads a copy
/// spooled to an unlinked temporary file (`spooledCopy`). A second claim — two options
/// given as `-` in one command — is refused, naming `<stdin>`: the first reader has
/// taken the bytes, and a second one would see an empty input.
///
/// Inputs that must be read twice or hashed before they are read (a batch job's data,
/// whose hash decides whether its result is current) refuse `-` (see `FileBytes.sha256`).
package enum StandardInput {
    /// The argument that means standard input.
    package static let argument = "-"
    /// How messages name standard input (`<stdin>:3:7: …`).
    package static let name = "<stdin>"

    package static func isStandardInput(_ path: String) -> Bool {
        path == argument
    }

    /// `path` as messages show it: `<stdin>` for `-`, the path itself otherwise.
    package static func displayName(_ path: String) -> String {
        isStandardInput(path) ? name : path
    }

    private struct State {
        /// Bytes read ahead for detection, not yet handed to a reader.
        var buffered: [UInt8] = []
        /// Whether a read returned end of input.
        var reachedEnd = false
        /// Whether a reader has taken the input.
        var claimed = false
    }

    private static let state = Mutex(State())

    /// Up to `count` of the first bytes, read ahead and kept for the reader that claims
    /// the input; `isWhole` when the input ended within them.
    static func prefix(_ count: Int) throws(MixFillError) -> (bytes: [UInt8], isWhole: Bool) {
        try state.withLock { (state: inout State) throws(MixFillError) -> (bytes: [UInt8], isWhole: Bool) in
            guard !state.claimed else { throw alreadyRead }
            if state.buffered.isEmpty, !state.reachedEnd { try refuseTerminal() }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while state.buffered.count < count, !state.reachedEnd {
                let got = try readChunk(into: &chunk, limit: count - state.buffered.count)
                if got == 0 { state.reachedEnd = true } else { state.buffered.append(contentsOf: chunk[0..<got]) }
            }
            return (Array(state.buffered.prefix(count)), state.reachedEnd && state.buffered.count <= count)
        }
    }

    /// Takes the input for one reader: returns the bytes read ahead so far, after which
    /// the reader reads the rest from `STDIN_FILENO` itself (`readChunk`). Refused the
    /// second time.
    static func claim() throws(MixFillError) -> (buffered: [UInt8], reachedEnd: Bool) {
        try state.withLock { (state: inout State) throws(MixFillError) -> (buffered: [UInt8], reachedEnd: Bool) in
            guard !state.claimed else { throw alreadyRead }
            if state.buffered.isEmpty, !state.reachedEnd { try refuseTerminal() }
            state.claimed = true
            let buffered = state.buffered
            state.buffered = []
            return (buffered, state.reachedEnd)
        }
    }

    /// The whole input, for the readers that hold a file's bytes anyway.
    static func readAll() throws(MixFillError) -> [UInt8] {
        var (bytes, reachedEnd) = try claim()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while !reachedEnd {
            let got = try readChunk(into: &chunk, limit: chunk.count)
            if got == 0 { reachedEnd = true } else { bytes.append(contentsOf: chunk[0..<got]) }
        }
        return bytes
    }

    /// A descriptor of the whole input copied to a temporary file that is already
    /// unlinked (it disappears when closed), for a reader that seeks. The caller closes it.
    static func spooledCopy() throws(MixFillError) -> Int32 {
        var (buffered, reachedEnd) = try claim()
        let folder = temporaryFolder()
        var template = Array("\(folder)/.mixfill-stdin-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard descriptor >= 0 else {
            throw .runtime(message: "\(name): cannot create a temporary file in \(folder) to hold standard input: \(FileBytes.describe(errno)); set TMPDIR to a writable folder, or give the data's path")
        }
        template.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress { _ = unlink(base) }
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        do throws(MixFillError) {
            try writeAll(buffered, to: descriptor, folder: folder)
            buffered = []
            while !reachedEnd {
                let got = try readChunk(into: &chunk, limit: chunk.count)
                if got == 0 { reachedEnd = true } else { try writeAll(chunk[0..<got], to: descriptor, folder: folder) }
            }
        } catch {
            close(descriptor)
            throw error
        }
        return descriptor
    }

    /// One read(2) of standard input of at most `limit` bytes into `chunk`, retrying one
    /// that a signal interrupted; 0 at the end of the input.
    static func readChunk(into chunk: inout [UInt8], limit: Int) throws(MixFillError) -> Int {
        while true {
            let got = chunk.withUnsafeMutableBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return read(STDIN_FILENO, base, min(limit, bytes.count))
            }
            if got >= 0 { return got }
            if errno == EINTR { continue }
            throw .badFile(file: name, message: "cannot read: \(FileBytes.describe(errno))")
        }
    }

    private static func writeAll(_ bytes: some Collection<UInt8>, to descriptor: Int32, folder: String) throws(MixFillError) {
        let array = Array(bytes)
        var offset = 0
        while offset < array.count {
            let written = array.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return write(descriptor, base + offset, raw.count - offset)
            }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                throw .runtime(message: "\(name): cannot copy standard input to a temporary file in \(folder): \(FileBytes.describe(errno)); set TMPDIR to a folder with room, or give the data's path")
            }
            offset += written
        }
    }

    /// `$TMPDIR`, or /tmp.
    private static func temporaryFolder() -> String {
        if let value = getenv("TMPDIR") {
            let folder = String(cString: value)
            if !folder.isEmpty { return folder.hasSuffix("/") && folder.count > 1 ? String(folder.dropLast()) : folder }
        }
        return "/tmp"
    }

    /// A terminal as standard input means nothing was piped in: reading would wait for
    /// typing, which no one means by `-`.
    private static func refuseTerminal() throws(MixFillError) {
        if isatty(STDIN_FILENO) != 0 {
            throw .badFile(file: name, message: "is a terminal, not data; pipe or redirect the data into mixfill (for example 'mixfill fit - < ratings.dat'), or give the file's path instead of '-'")
        }
    }

    private static var alreadyRead: MixFillError {
        .badFile(file: name, message: "was already read for another input given as '-'; only one input of a command can come from standard input, so give the others as files")
    }
}
