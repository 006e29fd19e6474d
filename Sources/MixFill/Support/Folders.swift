#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creating output folders with errors that say which folder and why.
package enum Folders {
    /// Creates `path` and any missing parents (like `mkdir -p`). `purpose` names the folder
    /// in messages ("output folder", "checkpoint folder").
    package static func create(_ path: String, purpose: String) throws(MixFillError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                var status = stat()
                if code == EEXIST, stat(prefix, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
                    prefix += "/"
                    continue
                }
                let reason = code == EEXIST ? "\(prefix) exists and is not a folder" : "\(prefix): \(FileBytes.describe(code))"
                throw .runtime(message: "\(path): cannot create the \(purpose) (\(reason)); choose a writable place")
            }
            prefix += "/"
        }
    }
}
