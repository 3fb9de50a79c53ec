import Config
import LinuxSys
import Synchronization

/// Structured log lines in logfmt (`ts=… level=info msg=connection key=value …`), one write(2)
/// per line and no lock: concurrent workers' lines never interleave because each is a single
/// write of at most a few hundred bytes (atomic for pipes up to PIPE_BUF, pipe(7)).
public final class LogSink: Sendable {
    private let threshold: Atomic<UInt8>
    private let output: Descriptor

    /// `output` is not owned (standard error by default).
    public init(level: LogLevel, output: Descriptor = .standardError) {
        threshold = Atomic(level.severity)
        self.output = output
    }

    /// The least severe level written; may be changed at run time from any thread.
    public var level: LogLevel {
        get { LogLevel.allCases.first { $0.severity == threshold.load(ordering: .relaxed) } ?? .info }
        set { threshold.store(newValue.severity, ordering: .relaxed) }
    }

    /// Whether a line at `level` would be written (check before building expensive fields).
    @inline(__always)
    public func isEnabled(_ level: LogLevel) -> Bool {
        level.severity >= threshold.load(ordering: .relaxed)
    }

    /// Writes one line. Field order is kept, so lines read the same way every time.
    public func log(_ level: LogLevel, _ message: String, _ fields: KeyValuePairs<String, String> = [:]) {
        guard isEnabled(level) else { return }
        var line = "ts=\(Clock.timestamp()) level=\(level.rawValue) msg=\(logfmtValue(message))"
        for (key, value) in fields {
            line += " \(key)=\(logfmtValue(value))"
        }
        line += "\n"
        output.writeAll(line)
    }

    /// Writes one line with fields built at run time, in the order given.
    public func log(_ level: LogLevel, _ message: String, _ fields: [(String, String)]) {
        guard isEnabled(level) else { return }
        var line = "ts=\(Clock.timestamp()) level=\(level.rawValue) msg=\(logfmtValue(message))"
        for (key, value) in fields {
            line += " \(key)=\(logfmtValue(value))"
        }
        line += "\n"
        output.writeAll(line)
    }

    public func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.error, message, fields) }
    public func debug(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.debug, message, fields) }
}

/// A logfmt value: bare when it has no space, quote, '=' or control character; otherwise
/// double-quoted with `"` and `\` escaped and control characters written as \n, \t or \u{…}.
func logfmtValue(_ value: String) -> String {
    if !value.isEmpty, value.utf8.allSatisfy({ $0 > 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\\") && $0 != 0x7f }) {
        return value
    }
    var quoted = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": quoted += "\\\""
        case "\\": quoted += "\\\\"
        case "\n": quoted += "\\n"
        case "\t": quoted += "\\t"
        case "\r": quoted += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f {
                quoted += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                quoted.unicodeScalars.append(scalar)
            }
        }
    }
    return quoted + "\""
}
