#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that readers see either the old content or the complete new content,
/// never a part: write a temporary file in the target's folder, fsync it, rename it over
/// the target, fsync the folder. On any failure the temporary file is removed and the
/// target is untouched.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(MixFillError) {
        let folder = parentFolder(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
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

    static func parentFolder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let folder = String(path[..<slash])
        return folder.isEmpty ? "/" : folder
    }
}
