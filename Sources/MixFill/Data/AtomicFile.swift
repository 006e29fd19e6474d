#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that readers see either the old content or the complete new content,
/// never a part: write a temporary file in the target's folder, fsync it, rename it over
/// the target, fsync the folder. On any failure (a full disk included) the temporary file
/// is removed and the target is untouched. A process killed mid-write can leave only its
/// hidden temporary file, `.NAME.tmp-XXXXXX`, never a partial target;
/// `removeStaleTemporaries` clears those.
package enum AtomicFile {
    package static func write(_ bytes: [UInt8], to path: String) throws(MixFillError) {
        let temporary = try TemporaryFile(for: path)
        try temporary.write(contentsOf: bytes)
        try temporary.moveIntoPlace()
    }

    /// Removes the temporary files a killed writer left in `folder` (names `.NAME.tmp-`
    /// followed by mkstemp's six characters) and returns their names. Only safe while no
    /// other process writes into the folder (the batch runner holds a lock for that).
    @discardableResult
    package static func removeStaleTemporaries(inFolder folder: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        var stale = [String]()
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if isTemporaryName(name) { stale.append(name) }
        }
        closedir(directory)
        for name in stale { unlink(folder + "/" + name) }
        return stale.sorted()
    }

    /// `.NAME.tmp-XXXXXX` as `write` creates it.
    package static func isTemporaryName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        let marker = Array(".tmp-".utf8)
        guard bytes.count >= 1 + 1 + marker.count + 6, bytes[0] == UInt8(ascii: ".") else { return false }
        return Array(bytes[(bytes.count - 11)..<(bytes.count - 6)]) == marker
    }

    /// Fails now, with the message writing would give later, when `target` could not be
    /// written: its folder is missing, not a folder or not writable, or the target exists
    /// and is not a regular file (a folder). Commands call it before long work (a fit) whose
    /// result would otherwise be lost at the end.
    package static func checkCanCreate(_ target: String) throws(MixFillError) {
        try TemporaryFile.checkTarget(target)
        let folder = parentFolder(of: target)
        var status = stat()
        let problem: Int32
        if stat(folder, &status) != 0 {
            problem = errno
        } else if (status.st_mode & S_IFMT) != S_IFDIR {
            problem = ENOTDIR
        } else if access(folder, W_OK | X_OK) != 0 {
            problem = errno
        } else {
            return
        }
        throw .runtime(message: "\(target): cannot create a file in \(folder): \(FileBytes.describe(problem)); check that the folder exists and is writable")
    }

    package static func parentFolder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let folder = String(path[..<slash])
        return folder.isEmpty ? "/" : folder
    }
}

/// The temporary file behind `AtomicFile.write` and `AtomicOutputStream`: created beside
/// its target as `.NAME.tmp-XXXXXX` (mkstemp), written, then fsynced and renamed over the
/// target by `moveIntoPlace`. Until then the target is untouched; one that is dropped
/// without `moveIntoPlace` (an error on the way) closes and removes its file.
///
/// A target that exists and is not a regular file — a device (/dev/full), a folder, a pipe —
/// is refused when the file is created and again just before the rename: renaming over it
/// would replace it, and a pipe or device would never hold the result anyway.
final class TemporaryFile {
    let target: String
    let path: String
    private let descriptor: Int32
    private var open = true
    private var moved = false

    init(for target: String) throws(MixFillError) {
        try Self.checkTarget(target)
        let folder = AtomicFile.parentFolder(of: target)
        let name = target.split(separator: "/").last.map(String.init) ?? target
        var template = Array("\(folder)/.\(name).tmp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard descriptor >= 0 else {
            throw .runtime(message: "\(target): cannot create a file in \(folder): \(FileBytes.describe(errno)); check that the folder exists and is writable")
        }
        self.target = target
        self.descriptor = descriptor
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        if open { close(descriptor) }
        if !moved { unlink(path) }
    }

    /// Refuses a target that exists and is not a regular file.
    static func checkTarget(_ target: String) throws(MixFillError) {
        var existing = stat()
        if stat(target, &existing) == 0, (existing.st_mode & S_IFMT) != S_IFREG {
            throw .runtime(message: "\(target): exists and is not a regular file; give the path of a file to write")
        }
    }

    /// Appends the in-memory bytes of an array of trivial values.
    func write<Element>(contentsOf array: [Element]) throws(MixFillError) {
        var failure: MixFillError?
        array.withUnsafeBytes { raw in
            do throws(MixFillError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Appends all of `bytes` (retrying interrupted writes).
    func write(_ bytes: UnsafeRawBufferPointer) throws(MixFillError) {
        if let code = FileBytes.writeAll(bytes, to: descriptor) { throw failure("cannot write", code) }
    }

    /// fsync, rename over the target, fsync the folder. On failure the temporary file is
    /// removed (when this goes away) and the target is as it was.
    func moveIntoPlace() throws(MixFillError) {
        if fsync(descriptor) != 0 { throw failure("cannot flush to disk", errno) }
        fchmod(descriptor, 0o644)
        open = false
        if close(descriptor) != 0 { throw failure("cannot close", errno) }
        try Self.checkTarget(target)
        if rename(path, target) != 0 { throw failure("cannot move into place", errno) }
        moved = true
        let folderDescriptor = Glibc.open(AtomicFile.parentFolder(of: target), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }

    private func failure(_ what: String, _ code: Int32) -> MixFillError {
        .runtime(message: "\(target): \(what): \(FileBytes.describe(code)); nothing was written")
    }
}
