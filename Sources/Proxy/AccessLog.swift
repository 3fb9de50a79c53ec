import Addresses
import Identity
import LinuxSys

/// The access log: one JSON object per line on standard output, one line per TCP connection and
/// per HTTP request (as Envoy writes its access log to stdout and its own diagnostics to stderr).
///
/// Each worker owns one: lines are built straight into its byte buffer (no intermediate
/// strings or field arrays) and written when the worker finishes a round of events, or sooner
/// once `flushThreshold` bytes are waiting. A write holds whole lines and stays under PIPE_BUF
/// (4096) unless one line alone is longer, so workers sharing a pipe never interleave within a
/// line, and no lock is taken.
final class AccessLog {
    let enabled: Bool
    private let output: Descriptor
    private var pending: [UInt8] = []
    /// `YYYY-MM-DDTHH:MM:SS` of `cachedSecond`: formatting a date once a second, not per line.
    private var cachedSecond = -1
    private var secondText: [UInt8] = []

    /// Waiting lines are written once this many bytes have gathered (below PIPE_BUF, leaving
    /// room for the line that crosses it).
    static let flushThreshold = 2048

    init(enabled: Bool, output: Descriptor = Descriptor(rawValue: 1)) {
        self.enabled = enabled
        self.output = output
        if enabled { pending.reserveCapacity(8192) }
    }

    /// Builds one line (`{"key":value,...}`) with the fields `body` appends, in order.
    func record(_ body: (inout AccessLine) -> Void) {
        guard enabled else { return }
        var line = AccessLine(bytes: pending, log: self)
        pending = []
        line.bytes.append(UInt8(ascii: "{"))
        body(&line)
        line.bytes.append(contentsOf: "}\n".utf8)
        pending = line.bytes
        if pending.count >= Self.flushThreshold { flush() }
    }

    /// Writes the waiting lines.
    func flush() {
        guard !pending.isEmpty else { return }
        pending.withUnsafeBytes { output.writeAll($0) }
        pending.removeAll(keepingCapacity: true)
    }

    /// `2026-11-28T01:02:03.456Z`.
    fileprivate func appendTimestamp(_ wall: (seconds: Int, nanoseconds: Int), to bytes: inout [UInt8]) {
        if wall.seconds != cachedSecond {
            cachedSecond = wall.seconds
            let text = Clock.timestamp(seconds: wall.seconds)  // ends with "Z"
            secondText = Array(text.utf8.dropLast())
        }
        bytes.append(contentsOf: secondText)
        let milliseconds = wall.nanoseconds / 1_000_000
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(48 + milliseconds / 100))
        bytes.append(UInt8(48 + milliseconds / 10 % 10))
        bytes.append(UInt8(48 + milliseconds % 10))
        bytes.append(UInt8(ascii: "Z"))
    }
}

/// One access log line being built: `field` calls append `"key":value` in order.
struct AccessLine {
    fileprivate(set) var bytes: [UInt8]
    fileprivate unowned let log: AccessLog
    private var first = true

    fileprivate init(bytes: [UInt8], log: AccessLog) {
        self.bytes = bytes
        self.log = log
    }

    private mutating func key(_ key: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: "\":".utf8)
    }

    /// A JSON string.
    mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        appendJSONString(value, to: &bytes)
    }

    /// A JSON string, or null.
    mutating func field(_ key: StaticString, _ value: String?) {
        if let value { field(key, value) } else { null(key) }
    }

    /// A JSON string of bytes received from a peer (a field value): UTF-8 as it is, anything
    /// else as U+FFFD.
    mutating func field(_ key: StaticString, bytes: ArraySlice<UInt8>) {
        self.key(key)
        if bytes.allSatisfy({ $0 < 0x80 }) {
            appendJSONString(utf8: bytes, to: &self.bytes)
        } else {
            appendJSONString(String(decoding: bytes, as: UTF8.self), to: &self.bytes)
        }
    }

    /// A JSON string that `write` appends itself, without escaping: only for text the proxy
    /// formats from characters JSON never escapes (hex digits and dashes of an id).
    mutating func field(_ key: StaticString, unescaped write: (inout [UInt8]) -> Void) {
        self.key(key)
        bytes.append(UInt8(ascii: "\""))
        write(&bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func null(_ key: StaticString) {
        self.key(key)
        bytes.append(contentsOf: "null".utf8)
    }

    /// A JSON string of a value's description (addresses, identities).
    mutating func field(_ key: StaticString, describing value: some CustomStringConvertible) {
        field(key, value.description)
    }

    /// A JSON string of an address as `description` writes it (`a.b.c.d:port`, `[v6]:port`); an
    /// IPv4 address is written without building a string first.
    mutating func field(_ key: StaticString, address: SocketAddress) {
        guard case .v4(let ip) = address.ip else {
            field(key, address.description)
            return
        }
        self.key(key)
        bytes.append(UInt8(ascii: "\""))
        appendDecimal(UInt64(ip.value >> 24))
        for shift in [16, 8, 0] as [UInt32] {
            bytes.append(UInt8(ascii: "."))
            appendDecimal(UInt64((ip.value >> shift) & 0xff))
        }
        bytes.append(UInt8(ascii: ":"))
        appendDecimal(UInt64(address.port))
        bytes.append(UInt8(ascii: "\""))
    }

    /// A JSON string of a SPIFFE id (`spiffe://<trust-domain><path>`), or null; written from its
    /// parts, which hold only characters JSON never escapes (SPIFFE-ID.md §2).
    mutating func field(_ key: StaticString, spiffe id: SPIFFEID?) {
        guard let id else { return null(key) }
        self.key(key)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: SPIFFEID.schemePrefix.utf8)
        bytes.append(contentsOf: id.trustDomain.name.utf8)
        bytes.append(contentsOf: id.path.utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    /// A number.
    mutating func field(_ key: StaticString, _ value: UInt64) {
        self.key(key)
        appendDecimal(value)
    }

    /// A number.
    mutating func field(_ key: StaticString, _ value: Int) {
        self.key(key)
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDecimal(UInt64(value.magnitude))
    }

    /// A number, or null.
    mutating func field(_ key: StaticString, _ value: Int?) {
        if let value { field(key, value) } else { null(key) }
    }

    /// An RFC 3339 UTC time with milliseconds, as a JSON string.
    mutating func field(_ key: StaticString, time wall: (seconds: Int, nanoseconds: Int)) {
        self.key(key)
        bytes.append(UInt8(ascii: "\""))
        log.appendTimestamp(wall, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendDecimal(_ value: UInt64) {
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(48 + value / divisor % 10))
            divisor /= 10
        }
    }
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
    /// No route: no HTTPRoute rule matched, the rule has no usable backend, or REGISTRY_ONLY
    /// refused a destination that is no Service.
    case noRoute = "NR"
    /// No healthy endpoint to send to.
    case noHealthyUpstream = "UH"
    /// The DestinationRule's connection limits were reached.
    case upstreamOverflow = "UO"
    /// Retries were used up (or refused by the retry budget) and the last attempt failed.
    case retriesExhausted = "URX"

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
        case .notInRegistry: self = .noRoute
        case .noHealthyUpstream: self = .noHealthyUpstream
        case .notRedirected, .loop, .error: return nil
        }
    }
}
