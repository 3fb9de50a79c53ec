import Config
import Glibc
import LinuxSys
import Proxy

/// Why configuration could not be read from disk: which path, and what the kernel or the check said.
struct ConfigFileError: Error, CustomStringConvertible {
    let path: String
    let reason: String

    init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// A failed open, stat or read, with what usually fixes that errno.
    init(path: String, errno: Errno) {
        let remedy: String
        switch errno {
        case .noSuchFile: remedy = "check the path given to --config"
        case .accessDenied, .permissionDenied: remedy = "make it readable by this user (the proxy runs as uid 1337)"
        default: remedy = "check the path given to --config"
        }
        self.init(path: path, reason: "\(errno); \(remedy)")
    }

    var description: String { "cannot read configuration \(path): \(reason)" }
}

/// A larger file is not configuration but a mistake (a binary or a log passed by accident);
/// refusing it keeps the proxy from reading it all into memory.
private let maximumConfigFileSize = 4 << 20

/// Reads `--config PATH`: a file, or a directory whose `*.yaml` and `*.yml` entries are read in byte
/// order of their names, without descending into subdirectories. Names starting with '.' are skipped,
/// which also skips the `..data` links Kubernetes puts in a mounted ConfigMap. A directory with no
/// such file is an error rather than a silent "use the defaults".
func readConfigSources(path: String) throws(ConfigFileError) -> [ConfigSource] {
    var info = stat()
    guard stat(path, &info) == 0 else { throw ConfigFileError(path: path, errno: .current) }
    guard (info.st_mode & S_IFMT) == S_IFDIR else { return [try readConfigFile(path)] }
    let names = try yamlFileNames(in: path)
    guard !names.isEmpty else {
        throw ConfigFileError(path: path, reason: "the directory has no *.yaml or *.yml file; put the configuration in files named like sidecar.yaml there")
    }
    let directory = path.hasSuffix("/") ? path : path + "/"
    var sources: [ConfigSource] = []
    for name in names { sources.append(try readConfigFile(directory + name)) }
    return sources
}

/// Reads the configuration at `path` for `command` (`proxy`, `check`): the defaults when `path` is
/// nil; otherwise the loaded configuration, or every diagnostic on standard error (one
/// `file:line:column: message` per line, the form editors jump to) and exit status 2.
func loadConfiguration(path: String?, command: String) -> Configuration {
    guard let path else { return .defaults }
    let sources: [ConfigSource]
    do { sources = try readConfigSources(path: path) } catch {
        fail(command, .usage, error.description)
    }
    do {
        return try Configuration.load(sources)
    } catch {
        Descriptor.standardError.writeAll(error.description + "\n")
        let count = error.diagnostics.count
        let problems = count == 1 ? "1 problem (above)" : "\(count) problems (above)"
        fail(command, .usage, "\(path): \(problems) in the configuration; fix \(count == 1 ? "it" : "them") and run `weft check --config \(path)`")
    }
}

/// The names of the regular-file-or-symlink entries of `directory` ending in `.yaml` or `.yml`, sorted.
private func yamlFileNames(in directory: String) throws(ConfigFileError) -> [String] {
    guard let stream = opendir(directory) else { throw ConfigFileError(path: directory, errno: .current) }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
        // d_name is a fixed char array in struct dirent, NUL-terminated by the kernel.
        let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard !name.hasPrefix("."), name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
        names.append(name)
    }
    return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
}

/// Reads one file as UTF-8 text.
private func readConfigFile(_ path: String) throws(ConfigFileError) -> ConfigSource {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ConfigFileError(path: path, errno: .current) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw ConfigFileError(path: path, errno: .current) }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        let what = (info.st_mode & S_IFMT) == S_IFDIR
            ? "a directory, and configuration directories are not read recursively; move its files up or rename it"
            : "not a regular file; pass a YAML file or a directory of them"
        throw ConfigFileError(path: path, reason: "it is \(what)")
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count == -1, errno == EINTR { continue }
        guard count >= 0 else { throw ConfigFileError(path: path, errno: .current) }
        if count == 0 { break }
        bytes += chunk[0..<count]
        guard bytes.count <= maximumConfigFileSize else {
            throw ConfigFileError(path: path, reason: "it is larger than \(maximumConfigFileSize >> 20) MiB, which is not configuration; check the --config path")
        }
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw ConfigFileError(path: path, reason: "it is not UTF-8 text; save it as UTF-8")
    }
    return ConfigSource(name: path, text: text)
}

/// The directory whose changes mean `path` changed: `path` itself when it is a directory, else
/// the file's directory (editors and ConfigMap mounts replace files by renaming).
func watchedDirectory(for path: String) -> String {
    var info = stat()
    if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { return path }
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// Reads the whole configuration at `path` again (for a running proxy: never exits).
func reloadConfiguration(path: String) -> Result<Configuration, ConfigReloadError> {
    let sources: [ConfigSource]
    do { sources = try readConfigSources(path: path) } catch {
        return .failure(ConfigReloadError(error.description))
    }
    do {
        return .success(try Configuration.load(sources))
    } catch {
        return .failure(ConfigReloadError(error.description))
    }
}
