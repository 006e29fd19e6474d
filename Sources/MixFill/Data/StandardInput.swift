#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// `-` given where a file is read: the process's standard input, as `cat -` reads it.
/// What reading it involves is `StreamInput`'s, which also serves pipes given by path.
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
}

/// An input that can be read only once: standard input (`-`), or a path that names a pipe
/// rather than a file: a named pipe (`mkfifo`), or the shell's process substitution
/// (`mixfill fit <(zcat ratings.csv.gz)`, a `/dev/fd/N` path), or a character device.
///
/// Format detection must look at an input's first bytes before a reader parses all of
/// them, and a pipe cannot be opened again from its start. So the first 64 KB that
/// detection asks for are kept here (`prefix`), with the open descriptor, and handed to
/// the one reader that then claims the input (`claim`), which reads the rest itself: the
/// streaming record readers go on reading the pipe (constant memory, as from a file), the
/// dense reader and the small list readers read it whole (`readAll`), and the binary
/// reader, which seeks, reads a copy spooled to an unlinked temporary file
/// (`spooledCopy`). A second claim — one pipe given for two inputs — is refused, naming
/// the input: the first reader has taken the bytes, and a second one would see an empty
/// input.
///
/// Inputs that must be read twice or hashed before they are read (a batch job's data,
/// whose hash decides whether its result is current) refuse streams (see
/// `FileBytes.sha256`).
package enum StreamInput {
    /// Whether `path` is read as a stream: `-`, or a path whose file is a pipe, a socket or
    /// a character device (anything but a regular file or a folder, which readers open,
    /// seek and reopen freely).
    package static func isStream(_ path: String) -> Bool {
        if StandardInput.isStandardInput(path) { return true }
        var status = stat()
        guard stat(path, &status) == 0 else { return false }
        switch status.st_mode & S_IFMT {
        case S_IFIFO, S_IFSOCK, S_IFCHR: return true
        default: return false
        }
    }

    /// What "the same input twice" means in a message: `-` for standard input, a pipe
    /// otherwise.
    private static func kind(_ path: String) -> String {
        StandardInput.isStandardInput(path) ? "standard input" : "a pipe"
    }

    private struct State {
        /// The descriptor read from: standard input's, or the pipe opened at first use (it
        /// stays open until the process ends, as standard input does).
        var descriptor: Int32
        /// Bytes read ahead for detection, not yet handed to a reader.
        var buffered: [UInt8] = []
        /// Whether a read returned end of input.
        var reachedEnd = false
        /// Whether a reader has taken the input.
        var claimed = false
    }

    /// Which stream: the device and inode of the pipe (so `-`, `/dev/stdin` and
    /// `/dev/fd/0`, or a named pipe as `f` and `./f`, are one stream, read once), or the
    /// path as given when it cannot be examined.
    private enum Key: Hashable {
        case file(device: UInt64, inode: UInt64)
        case path(String)
    }

    private static func key(_ path: String) -> Key {
        var status = stat()
        let found = StandardInput.isStandardInput(path) ? fstat(STDIN_FILENO, &status) == 0 : stat(path, &status) == 0
        return found ? .file(device: UInt64(status.st_dev), inode: UInt64(status.st_ino)) : .path(path)
    }

    /// Each stream read so far.
    private static let states = Mutex([Key: State]())

    /// Runs `body` on the state of the stream at `path`, opening it on first use.
    private static func withState<T>(_ path: String, _ body: (inout State) throws(MixFillError) -> T) throws(MixFillError) -> T {
        let key = key(path)
        return try states.withLock { (states: inout [Key: State]) throws(MixFillError) -> T in
            var state: State
            if let known = states[key] {
                state = known
            } else if StandardInput.isStandardInput(path) {
                state = State(descriptor: STDIN_FILENO)
            } else {
                let descriptor = open(path, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw .badFile(file: path, message: FileBytes.openFailure(errno)) }
                state = State(descriptor: descriptor)
            }
            defer { states[key] = state }
            return try body(&state)
        }
    }

    /// Up to `count` of the first bytes, read ahead and kept for the reader that claims
    /// the input; `isWhole` when the input ended within them.
    static func prefix(_ path: String, _ count: Int) throws(MixFillError) -> (bytes: [UInt8], isWhole: Bool) {
        try withState(path) { (state: inout State) throws(MixFillError) -> (bytes: [UInt8], isWhole: Bool) in
            guard !state.claimed else { throw alreadyRead(path) }
            if state.buffered.isEmpty, !state.reachedEnd { try refuseTerminal(path, state.descriptor) }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while state.buffered.count < count, !state.reachedEnd {
                let got = try readChunk(path, state.descriptor, into: &chunk, limit: count - state.buffered.count)
                if got == 0 { state.reachedEnd = true } else { state.buffered.append(contentsOf: chunk[0..<got]) }
            }
            return (Array(state.buffered.prefix(count)), state.reachedEnd && state.buffered.count <= count)
        }
    }

    /// Takes the input for one reader: returns the descriptor and the bytes read ahead so
    /// far, after which the reader reads the rest from the descriptor itself. Refused the
    /// second time.
    static func claim(_ path: String) throws(MixFillError) -> (descriptor: Int32, buffered: [UInt8], reachedEnd: Bool) {
        try withState(path) { (state: inout State) throws(MixFillError) -> (descriptor: Int32, buffered: [UInt8], reachedEnd: Bool) in
            guard !state.claimed else { throw alreadyRead(path) }
            if state.buffered.isEmpty, !state.reachedEnd { try refuseTerminal(path, state.descriptor) }
            state.claimed = true
            let buffered = state.buffered
            state.buffered = []
            return (state.descriptor, buffered, state.reachedEnd)
        }
    }

    /// The whole input, for the readers that hold a file's bytes anyway.
    static func readAll(_ path: String) throws(MixFillError) -> [UInt8] {
        var (descriptor, bytes, reachedEnd) = try claim(path)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while !reachedEnd {
            let got = try readChunk(path, descriptor, into: &chunk, limit: chunk.count)
            if got == 0 { reachedEnd = true } else { bytes.append(contentsOf: chunk[0..<got]) }
        }
        return bytes
    }

    /// A descriptor of the whole input copied to a temporary file that is already
    /// unlinked (it disappears when closed), for a reader that seeks. The caller closes it.
    static func spooledCopy(_ path: String) throws(MixFillError) -> Int32 {
        var (source, buffered, reachedEnd) = try claim(path)
        let name = StandardInput.displayName(path)
        let folder = temporaryFolder()
        var template = Array("\(folder)/.mixfill-stdin-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard descriptor >= 0 else {
            throw .runtime(message: "\(name): cannot create a temporary file in \(folder) to hold \(kind(path)): \(FileBytes.describe(errno)); set TMPDIR to a writable folder, or give the data's path")
        }
        template.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress { _ = unlink(base) }
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        do throws(MixFillError) {
            try writeAll(buffered, to: descriptor, folder: folder, path: path)
            buffered = []
            while !reachedEnd {
                let got = try readChunk(path, source, into: &chunk, limit: chunk.count)
                if got == 0 { reachedEnd = true } else { try writeAll(chunk[0..<got], to: descriptor, folder: folder, path: path) }
            }
        } catch {
            close(descriptor)
            throw error
        }
        return descriptor
    }

    /// One read(2) of at most `limit` bytes into `chunk`, retrying one that a signal
    /// interrupted; 0 at the end of the input.
    private static func readChunk(_ path: String, _ descriptor: Int32, into chunk: inout [UInt8], limit: Int) throws(MixFillError) -> Int {
        while true {
            let got = chunk.withUnsafeMutableBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return read(descriptor, base, min(limit, bytes.count))
            }
            if got >= 0 { return got }
            if errno == EINTR { continue }
            throw .badFile(file: StandardInput.displayName(path), message: "cannot read: \(FileBytes.describe(errno))")
        }
    }

    private static func writeAll(_ bytes: some Collection<UInt8>, to descriptor: Int32, folder: String, path: String) throws(MixFillError) {
        if let code = Array(bytes).withUnsafeBytes({ FileBytes.writeAll($0, to: descriptor) }) {
            throw .runtime(message: "\(StandardInput.displayName(path)): cannot copy \(kind(path)) to a temporary file in \(folder): \(FileBytes.describe(code)); set TMPDIR to a folder with room, or give the data's path")
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

    /// A terminal as the input means nothing was piped in: reading would wait for typing,
    /// which no one means by `-`.
    private static func refuseTerminal(_ path: String, _ descriptor: Int32) throws(MixFillError) {
        guard isatty(descriptor) != 0 else { return }
        if StandardInput.isStandardInput(path) {
            throw .badFile(file: StandardInput.name, message: "is a terminal, not data; pipe or redirect the data into mixfill (for example 'mixfill fit - < ratings.dat'), or give the file's path instead of '-'")
        }
        throw .badFile(file: path, message: "is a terminal, not data; give the path of a data file")
    }

    private static func alreadyRead(_ path: String) -> MixFillError {
        if StandardInput.isStandardInput(path) {
            return .badFile(file: StandardInput.name, message: "was already read for another input given as '-'; only one input of a command can come from standard input, so give the others as files")
        }
        return .badFile(file: path, message: "is a pipe and was already read for another input; a pipe can be read only once, so give the others as files")
    }
}
