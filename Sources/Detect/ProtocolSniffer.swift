/// What the first bytes of a connection are: the verdict of `ProtocolSniffer.classify`.
public enum Sniffed: Sendable, Hashable {
    /// Not decided yet: peek again once at least this many bytes are available. Never more than
    /// `ProtocolSniffer.maximumPrefixLength`.
    case needMoreBytes(atLeast: Int)
    /// A complete, well-formed TLS ClientHello.
    case tls(TLSClientHello)
    /// It starts like a TLS handshake record but breaks the record or ClientHello rules.
    case malformedTLS(ClientHelloMalformation)
    /// An HTTP/1.x request line (RFC 9112 §3): `method SP request-target SP HTTP/1.x` and the
    /// line's end.
    case http1(method: String)
    /// The HTTP/2 connection preface of a client with prior knowledge (RFC 9113 §3.4).
    case http2
    /// None of the above: relay the bytes as they are.
    case opaque
}

/// Classifies a peeked prefix of a connection (MSG_PEEK, so the bytes stay in the socket) as
/// TLS, HTTP/1, HTTP/2 with prior knowledge, or opaque, as the sidecar's protocol detection
/// needs it. Pure and allocation-light: nothing is copied except for TLS (which the ClientHello
/// parser reassembles) and the method name of an HTTP/1 request.
///
/// Every verdict other than `needMoreBytes` is final: more bytes never change it, so the caller
/// may stop peeking at the first verdict. A prefix undecided after
/// `maximumRequestLineLength` bytes of an apparent HTTP/1 request line is `opaque`.
public enum ProtocolSniffer {
    /// The HTTP/2 client connection preface (RFC 9113 §3.4), 24 bytes.
    public static let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// The longest HTTP/1 request line considered, 8 KiB: RFC 9112 §3 recommends supporting
    /// request lines of at least 8000 octets, and common servers (nginx, HAProxy) stop at 8 KiB.
    /// A longer line is relayed as opaque TCP rather than buffered further.
    public static let maximumRequestLineLength = 8 * 1024

    /// The longest method token considered. Registered methods are at most 17 characters
    /// (UPDATEREDIRECTREF, RFC 3253 via the IANA method registry); the margin is for extensions.
    public static let maximumMethodLength = 32

    /// The longest prefix `classify` ever asks for: a ClientHello's bound, which is larger than
    /// the HTTP/1 bound.
    public static let maximumPrefixLength = max(TLSClientHello.maximumPrefixLength, maximumRequestLineLength)

    /// Decides what `bytes`, the first bytes a client sent, are. Never fails on any input and
    /// never asks for more than `maximumPrefixLength` bytes.
    public static func classify(_ bytes: some Collection<UInt8>) -> Sniffed {
        guard let first = bytes.first else { return .needMoreBytes(atLeast: 1) }
        if first == TLSClientHello.handshakeContentTypeValue {
            switch TLSClientHello.parse(bytes) {
            case .needMoreBytes(let count): return .needMoreBytes(atLeast: count)
            case .notTLS: return .opaque
            case .clientHello(let hello): return .tls(hello)
            case .malformed(let reason): return .malformedTLS(reason)
            }
        }
        if first == http2Preface[0], let verdict = classifyPreface(bytes) { return verdict }
        return classifyRequestLine(bytes)
    }

    /// `.http2` for the whole preface, `.needMoreBytes` for a prefix of it, nil when the bytes
    /// differ from it (then they may still be an HTTP/1 request whose method is PRI).
    private static func classifyPreface(_ bytes: some Collection<UInt8>) -> Sniffed? {
        var count = 0
        for (byte, expected) in zip(bytes, http2Preface) {
            guard byte == expected else { return nil }
            count += 1
        }
        return count == http2Preface.count ? .http2 : .needMoreBytes(atLeast: http2Preface.count)
    }

    /// RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`, ended by CRLF (or
    /// a bare LF, which §2.2 lets a recipient accept). Each byte is judged as it arrives, so
    /// anything else is `opaque` as soon as it breaks the grammar.
    private static func classifyRequestLine<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Sniffed {
        var index = bytes.startIndex
        var consumed = 0
        // At the end of what was peeked: wait for one more byte, unless the line is already as
        // long as a request line may be.
        func more() -> Sniffed {
            consumed >= maximumRequestLineLength ? .opaque : .needMoreBytes(atLeast: consumed + 1)
        }

        // method = token (RFC 9110 §9.1), then one SP.
        while true {
            guard index != bytes.endIndex else { return more() }
            let byte = bytes[index]
            if byte == space { break }
            guard isTokenByte(byte), consumed < maximumMethodLength else { return .opaque }
            bytes.formIndex(after: &index)
            consumed += 1
        }
        guard consumed > 0 else { return .opaque }
        let method = String(decoding: bytes[bytes.startIndex..<index], as: UTF8.self)
        bytes.formIndex(after: &index)
        consumed += 1

        // request-target (RFC 9112 §3.2): origin-form `/...`, asterisk-form `*`, absolute-form
        // `scheme://...`, or, for CONNECT only, authority-form `host:port`; then one SP.
        let targetStart = index
        var targetLength = 0
        while true {
            guard consumed < maximumRequestLineLength else { return .opaque }
            guard index != bytes.endIndex else { return more() }
            let byte = bytes[index]
            if byte == space { break }
            guard isTargetByte(byte) else { return .opaque }
            if targetLength == 0, !isTargetStart(byte, method: method) { return .opaque }
            bytes.formIndex(after: &index)
            consumed += 1
            targetLength += 1
        }
        guard targetLength > 0, isTarget(bytes[targetStart..<index], method: method) else { return .opaque }
        bytes.formIndex(after: &index)
        consumed += 1

        // HTTP-version = "HTTP/1." DIGIT (case-sensitive, RFC 9112 §2.3), then the line's end.
        for expected in httpVersionPrefix {
            guard consumed < maximumRequestLineLength else { return .opaque }
            guard index != bytes.endIndex else { return more() }
            guard bytes[index] == expected else { return .opaque }
            bytes.formIndex(after: &index)
            consumed += 1
        }
        for position in 0..<2 {
            guard consumed < maximumRequestLineLength else { return .opaque }
            guard index != bytes.endIndex else { return more() }
            let byte = bytes[index]
            if position == 0 {
                guard isDigit(byte) else { return .opaque }
            } else {
                guard byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") else { return .opaque }
            }
            bytes.formIndex(after: &index)
            consumed += 1
        }
        return .http1(method: method)
    }

    /// Whether a target may start with `byte`: `/`, `*`, a scheme's letter, or (CONNECT) a host's
    /// first letter, digit or `[`.
    private static func isTargetStart(_ byte: UInt8, method: String) -> Bool {
        if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "*") || isAlpha(byte) { return true }
        return method == "CONNECT" && (isDigit(byte) || byte == UInt8(ascii: "["))
    }

    /// Whether a complete target has one of the forms its first byte promised.
    private static func isTarget(_ target: some Collection<UInt8>, method: String) -> Bool {
        guard let first = target.first else { return false }
        if first == UInt8(ascii: "/") { return true }
        // asterisk-form is exactly `*` (RFC 9112 §3.2.4).
        if first == UInt8(ascii: "*") { return target.count == 1 }
        // absolute-form: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1),
        // then "://" (the hier-part of http and https URIs, RFC 9110 §4.2).
        let scheme = target.prefix { isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
        if target.dropFirst(scheme.count).starts(with: "://".utf8) { return true }
        // authority-form: uri-host ":" port, only for CONNECT (RFC 9112 §3.2.3).
        guard method == "CONNECT" else { return false }
        let port = target.reversed().prefix(while: isDigit)
        return !port.isEmpty && target.count > port.count + 1 && target.dropLast(port.count).last == UInt8(ascii: ":")
    }

    private static let space = UInt8(ascii: " ")
    private static let httpVersionPrefix = Array("HTTP/1.".utf8)

    /// RFC 9110 §5.6.2 tchar.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        if isAlpha(byte) || isDigit(byte) { return true }
        switch byte {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// A byte a request-target may hold: visible ASCII (RFC 3986 characters) and, leniently,
    /// bytes above 0x7F, which some clients send unencoded; never a space or a control byte.
    private static func isTargetByte(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || byte >= 0x80
    }

    private static func isAlpha(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
