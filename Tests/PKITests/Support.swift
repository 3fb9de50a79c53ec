import Glibc
import Identity
import PKI

/// A fresh directory under /tmp, removed with everything in it when the value is released.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/weft-pki-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: \(errno)")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { Self.remove(path) }

    /// `path/name`.
    func callAsFunction(_ name: String) -> String { "\(path)/\(name)" }

    private static func remove(_ path: String) {
        for name in entries(of: path) {
            let child = "\(path)/\(name)"
            var status = stat()
            if lstat(child, &status) == 0, status.st_mode & S_IFMT == S_IFDIR { remove(child) } else { unlink(child) }
        }
        rmdir(path)
    }
}

/// The names in directory `path` (without `.` and `..`), sorted.
func entries(of path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

/// The permission bits of `path`, or nil if it does not exist.
func mode(of path: String) -> mode_t? {
    var status = stat()
    return stat(path, &status) == 0 ? status.st_mode & 0o7777 : nil
}

/// The inode number of `path` (changes when a rename replaces the file).
func inode(of path: String) -> UInt64? {
    var status = stat()
    return stat(path, &status) == 0 ? UInt64(status.st_ino) : nil
}

func readFile(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else { return [] }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { return bytes }
        bytes += buffer[0..<count]
    }
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    guard let file = fopen(path, "wb") else { return }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}

func copyFile(_ source: String, _ target: String) { writeFile(target, readFile(source)) }

/// A fixed "now" (2026-11-28T00:00:00Z), so validity dates are exact in assertions.
let fixedNow: Int64 = 1_795_824_000

let clusterLocal = try! TrustDomain(parsing: "cluster.local")
let webID = try! SPIFFEID(parsing: "spiffe://cluster.local/ns/default/sa/web")

func hours(_ count: Int64) -> Duration { .seconds(count * 3600) }
