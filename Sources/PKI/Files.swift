import Glibc
import LinuxSys

/// One file to write: its name inside the target directory, its bytes and its permission bits.
struct FileContents {
    let name: String
    let bytes: [UInt8]
    let mode: mode_t
}

/// The file operations of the PKI: whole-file reads, and writes that replace a directory's files
/// atomically. Each wrapper retries EINTR and reports errno with the path, like LinuxSys does for
/// sockets.
enum Files {
    /// Larger than any PEM certificate chain or key; a bigger file is not one (and a read of
    /// /dev/zero must end).
    static let maximumSize = 1 << 20

    /// Reads the regular file at `path`. Throws `.invalidInput` naming the path: missing,
    /// unreadable, not a regular file, or larger than 1 MiB.
    static func read(_ path: String) throws(PKIError) -> [UInt8] {
        let fd = retrying { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            let error = Errno.current
            if error == .noSuchFile { throw PKIError(.invalidInput, path: path, "\(path) does not exist") }
            throw PKIError(.invalidInput, path: path, "cannot open \(path): \(error)")
        }
        defer { Descriptor(rawValue: fd).close() }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw PKIError(.invalidInput, path: path, "\(path) is not a regular file: point to a PEM file")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in retrying { Glibc.read(fd, buffer.baseAddress, buffer.count) } }
            if count == 0 { return bytes }
            guard count > 0 else { throw PKIError(.invalidInput, path: path, "cannot read \(path): \(Errno.current)") }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= maximumSize else {
                throw PKIError(.invalidInput, path: path, "\(path) is larger than 1 MiB, so it is not a PEM certificate or key: point to the right file")
            }
        }
    }

    /// Whether anything (file, directory, dangling link) exists at `path`.
    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// Creates `path` and any missing parents (`mkdir -p`). Parents get mode 0755; the last
    /// directory gets `mode` if it is created here (an existing directory keeps its mode).
    static func makeDirectories(_ path: String, mode: mode_t) throws(PKIError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
            let isLast = index == components.count - 1
            if mkdir(prefix, isLast ? mode : 0o755) == 0 { continue }
            let error = Errno.current
            var status = stat()
            guard error == .exists, stat(prefix, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
                throw PKIError(.writeFailure, path: prefix, "cannot create directory \(prefix): \(error == .exists ? "a file is in the way" : error.description)")
            }
        }
    }

    /// Replaces `files` in `directory` so that each one changes from its old content to its new
    /// content in one step, and never exists half-written:
    /// 1. every file is written to a temporary name in the same directory (`.<name>.<random>.tmp`,
    ///    created with `mode` from the start, O_EXCL, so a key is never readable by others even
    ///    for an instant) and fsync'd;
    /// 2. then each is renamed over its final name, in the order given (rename(2) is atomic
    ///    within a filesystem: a reader opens either the old file or the new one);
    /// 3. then the directory is fsync'd, so the renames survive a crash.
    /// Names in `keepingExisting` are linked into place instead (link(2) fails with EEXIST rather
    /// than replacing), so an existing file of that name is never overwritten, even by a
    /// concurrent writer. On failure every temporary file is removed; the message says which
    /// files, if any, were already replaced. Returns the final paths in order.
    static func replace(in directory: String, _ files: [FileContents], keepingExisting: Set<String> = []) throws(PKIError) -> [String] {
        var staged: [(file: FileContents, temporary: String)] = []
        func removeStaged() {
            for entry in staged { unlink(entry.temporary) }
            staged.removeAll()
        }
        for file in files {
            let temporary = "\(directory)/.\(file.name).\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp"
            do {
                try writeNew(temporary, file.bytes, mode: file.mode)
            } catch {
                removeStaged()
                throw error
            }
            staged.append((file, temporary))
        }
        var replaced: [String] = []
        while !staged.isEmpty {
            let (file, temporary) = staged[0]
            let target = "\(directory)/\(file.name)"
            let failure: Errno?
            if keepingExisting.contains(file.name) {
                failure = link(temporary, target) == 0 ? nil : Errno.current
                if failure == nil { unlink(temporary) }
            } else {
                failure = rename(temporary, target) == 0 ? nil : Errno.current
            }
            if let failure {
                removeStaged()
                if failure == .exists {
                    throw PKIError(.invalidRequest, path: target, "\(target) already exists and is not replaced: move it away or choose another directory")
                }
                let done = replaced.isEmpty ? "nothing was replaced" : "already replaced: \(replaced.joined(separator: ", "))"
                throw PKIError(.writeFailure, path: target, "cannot move \(temporary) to \(target): \(failure) (\(done)); fix the directory and run again")
            }
            staged.removeFirst()
            replaced.append(target)
        }
        try syncDirectory(directory)
        return replaced
    }

    /// Writes `bytes` to a new file `path` (O_EXCL: it must not exist) with exactly `mode`
    /// (fchmod, so the umask cannot widen or narrow it), then fsyncs it.
    private static func writeNew(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(PKIError) {
        let fd = retrying { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode) }
        guard fd >= 0 else {
            throw PKIError(.writeFailure, path: path, "cannot create \(path): \(Errno.current); check that the directory is writable")
        }
        var failure: (call: String, errno: Errno)?
        if fchmod(fd, mode) != 0 { failure = ("fchmod", Errno.current) }
        var offset = 0
        while failure == nil, offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                retrying { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            }
            if written > 0 { offset += written } else { failure = ("write", Errno.current) }
        }
        if failure == nil, fsync(fd) != 0 { failure = ("fsync", Errno.current) }
        Descriptor(rawValue: fd).close()
        if let failure {
            unlink(path)
            throw PKIError(.writeFailure, path: path, "\(failure.call) of \(path) failed: \(failure.errno); check free space and permissions, then run again")
        }
    }

    /// fsyncs the directory `path`, making renames in it durable.
    private static func syncDirectory(_ path: String) throws(PKIError) {
        let fd = retrying { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw PKIError(.writeFailure, path: path, "cannot open directory \(path) to sync it: \(Errno.current)") }
        defer { Descriptor(rawValue: fd).close() }
        guard fsync(fd) == 0 else { throw PKIError(.writeFailure, path: path, "fsync of directory \(path) failed: \(Errno.current)") }
    }

    /// Repeats a call that fails with -1 and EINTR (a signal arrived) until it does something else.
    private static func retrying<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result == -1, errno == EINTR { continue }
            return result
        }
    }
}
