import LinuxSys

/// One file to write: its name inside the target directory, its bytes and its permission bits.
struct FileContents {
    let name: String
    let bytes: [UInt8]
    let mode: UInt32
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
        do {
            return try FileSystem.readRegularFile(path, limit: maximumSize)
        } catch {
            switch error {
            case .system(let failure) where failure.errno == .noSuchFile:
                throw PKIError(.invalidInput, path: path, "\(path) does not exist")
            case .system(let failure):
                throw PKIError(.invalidInput, path: path, "cannot read \(path): \(failure)")
            case .notRegularFile:
                throw PKIError(.invalidInput, path: path, "\(path) is not a regular file: point to a PEM file")
            case .tooLarge:
                throw PKIError(.invalidInput, path: path, "\(path) is larger than 1 MiB, so it is not a PEM certificate or key: point to the right file")
            }
        }
    }

    /// Whether anything (file, directory, dangling link) exists at `path`.
    static func exists(_ path: String) -> Bool { FileSystem.exists(path) }

    /// Creates `path` and any missing parents (`mkdir -p`). Parents get mode 0755; the last
    /// directory gets `mode` if it is created here (an existing directory keeps its mode).
    static func makeDirectories(_ path: String, mode: UInt32) throws(PKIError) {
        do {
            try FileSystem.makeDirectories(path, mode: mode)
        } catch {
            let reason = error.errno == .exists ? "a file is in the way" : error.description
            throw PKIError(.writeFailure, path: path, "cannot create directory \(path): \(reason)")
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
            for entry in staged { FileSystem.removeFile(entry.temporary) }
            staged.removeAll()
        }
        for file in files {
            let temporary = "\(directory)/.\(file.name).\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp"
            do {
                try FileSystem.createNewFile(temporary, bytes: file.bytes, mode: file.mode)
            } catch {
                removeStaged()
                throw PKIError(.writeFailure, path: temporary, "\(error.call) of \(temporary) failed: \(error.errno); check that the directory is writable and has free space, then run again")
            }
            staged.append((file, temporary))
        }
        var replaced: [String] = []
        while !staged.isEmpty {
            let (file, temporary) = staged[0]
            let target = "\(directory)/\(file.name)"
            do {
                if keepingExisting.contains(file.name) {
                    try FileSystem.link(temporary, to: target)
                    FileSystem.removeFile(temporary)
                } else {
                    try FileSystem.rename(temporary, to: target)
                }
            } catch {
                removeStaged()
                if error.errno == .exists {
                    throw PKIError(.invalidRequest, path: target, "\(target) already exists and is not replaced: move it away or choose another directory")
                }
                let done = replaced.isEmpty ? "nothing was replaced" : "already replaced: \(replaced.joined(separator: ", "))"
                throw PKIError(.writeFailure, path: target, "cannot move \(temporary) to \(target): \(error.errno) (\(done)); fix the directory and run again")
            }
            staged.removeFirst()
            replaced.append(target)
        }
        do {
            try FileSystem.syncDirectory(directory)
        } catch {
            throw PKIError(.writeFailure, path: directory, "fsync of directory \(directory) failed: \(error.errno)")
        }
        return replaced
    }
}
