import LinuxSys

/// One value of an access log record.
enum AccessValue {
    case string(String)
    case integer(Int64)
    case unsigned(UInt64)
    case null
}

/// The access log: one JSON object per line on standard output, one line per TCP connection and
/// per HTTP request (as Envoy writes its access log to stdout and its own diagnostics to stderr).
/// Each line is a single write(2) of a few hundred bytes, so concurrent workers never interleave
/// and no lock is taken.
final class AccessLogSink: Sendable {
    private let output: Descriptor
    let enabled: Bool

    init(enabled: Bool, output: Descriptor = Descriptor(rawValue: 1)) {
        self.enabled = enabled
        self.output = output
    }

    /// Writes one record with its fields in the order given.
    func write(_ fields: [(String, AccessValue)]) {
        guard enabled else { return }
        var line = "{"
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { line += "," }
            line += "\""
            line += key
            line += "\":"
            switch value {
            case .string(let text): appendJSONString(text, to: &line)
            case .integer(let number): line += String(number)
            case .unsigned(let number): line += String(number)
            case .null: line += "null"
            }
        }
        line += "}\n"
        output.writeAll(line)
    }
}

/// Appends `text` as a JSON string (RFC 8259 §7): quotes, backslashes and control characters
/// escaped; everything else, including non-ASCII, as UTF-8.
func appendJSONString(_ text: String, to output: inout String) {
    output += "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": output += "\\\""
        case "\\": output += "\\\\"
        case "\n": output += "\\n"
        case "\r": output += "\\r"
        case "\t": output += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f {
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
    }
    output += "\""
}

/// Envoy's response flags, which operators of Istio read in access logs and dashboards.
enum ResponseFlag: String {
    /// Upstream connection failure (refused, unreachable, connect timeout).
    case upstreamConnectionFailure = "UF"
    /// Upstream request timeout.
    case upstreamTimeout = "UT"
    /// Upstream connection termination (reset or closed mid-response).
    case upstreamTermination = "UC"
    /// Downstream (client) connection termination.
    case downstreamTermination = "DC"
    /// Refused by an AuthorizationPolicy.
    case denied = "DENIED"
    /// The proxy refused a malformed request.
    case badRequest = "DPE"
    /// Idle timeout.
    case idleTimeout = "SI"
    /// mTLS handshake or STRICT mode refused the connection.
    case tlsFailure = "TLS"

    /// The flag for how a TCP connection ended, or nil when it ended normally.
    init?(end: ConnectionEnd) {
        switch end {
        case .closed, .drainTimeout: return nil
        case .clientReset: self = .downstreamTermination
        case .upstreamReset: self = .upstreamTermination
        case .upstreamRefused, .upstreamUnreachable, .connectTimeout: self = .upstreamConnectionFailure
        case .idleTimeout: self = .idleTimeout
        case .tlsHandshakeFailed, .handshakeTimeout, .plaintextRefused: self = .tlsFailure
        case .denied: self = .denied
        case .notRedirected, .loop, .error: return nil
        }
    }
}
