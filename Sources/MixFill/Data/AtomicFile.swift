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
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(MixFillError) {
        let folder = parentFolder(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var existing = stat()
        if stat(path, &existing) == 0, (existing.st_mode & S_IFMT) != S_IFREG {
            // Renaming over a device (/dev/full), a folder or a pipe would replace it.
            throw .runtime(message: "\(path): exists and is not a regular file; give the path of a file to write")
        }
        var template = Array("\(folder)/.\(name).tmp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            return mkstemp(base)
        }
        guard descriptor >= 0 else {
            throw .runtime(message: "\(path): cannot create a file in \(folder): \(FileBytes.describe(errno)); check that the folder exists and is writable")
        }
        let temporaryPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var closed = false
        defer {
            if !closed { close(descriptor) }
        }
        func fail(_ what: String, _ code: Int32) -> MixFillError {
            unlink(temporaryPath)
            return .runtime(message: "\(path): \(what): \(FileBytes.describe(code)); nothing was written")
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.write(descriptor, base + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw fail("cannot write", errno)
            }
            offset += written
        }
        if fsync(descriptor) != 0 { throw fail("cannot flush to disk", errno) }
        fchmod(descriptor, 0o644)
        closed = true
        if close(descriptor) != 0 { throw fail("cannot close", errno) }
        if rename(temporaryPath, path) != 0 { throw fail("cannot move into place", errno) }
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }

    /// Removes the temporary files a killed writer left in `folder` (names `.NAME.tmp-`
    /// followed by mkstemp's six characters) and returns their names. Only safe while no
    /// other process writes into the folder (the batch runner holds a lock for that).
    @discardableResult
    public static func removeStaleTemporaries(inFolder folder: String) -> [String] {
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
    static func isTemporaryName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        let marker = Array(".tmp-".utf8)
        guard bytes.count >= 1 + 1 + marker.count + 6, bytes[0] == UInt8(ascii: ".") else { return false }
        return Array(bytes[(bytes.count - 11)..<(bytes.count - 6)]) == marker
    }

    static func parentFolder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let folder = String(path[..<slash])
        return folder.isEmpty ? "/" : folder
    }
}
