/// A request method (RFC 9110 §9): a case-sensitive token. `get` is not `GET`.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The method as sent, e.g. `GET` or an extension method such as `PROPFIND`.
    public let rawValue: String

    /// A method from its token; nil when `rawValue` is empty or has a character outside tchar
    /// (RFC 9110 §5.6.2).
    public init?(rawValue: String) {
        guard !rawValue.utf8.isEmpty, rawValue.utf8.allSatisfy(ASCII.isTokenChar) else { return nil }
        self.rawValue = rawValue
    }

    private init(known: String) { rawValue = known }

    /// RFC 9110 §9.3.1.
    public static let GET = HTTPMethod(known: "GET")
    /// RFC 9110 §9.3.2: its responses never have content.
    public static let HEAD = HTTPMethod(known: "HEAD")
    /// RFC 9110 §9.3.3.
    public static let POST = HTTPMethod(known: "POST")
    /// RFC 9110 §9.3.4.
    public static let PUT = HTTPMethod(known: "PUT")
    /// RFC 9110 §9.3.5.
    public static let DELETE = HTTPMethod(known: "DELETE")
    /// RFC 9110 §9.3.6: authority-form target; a 2xx answer turns the connection into a tunnel.
    public static let CONNECT = HTTPMethod(known: "CONNECT")
    /// RFC 9110 §9.3.7: the only method that may use the asterisk-form target.
    public static let OPTIONS = HTTPMethod(known: "OPTIONS")
    /// RFC 9110 §9.3.8.
    public static let TRACE = HTTPMethod(known: "TRACE")
    /// RFC 5789.
    public static let PATCH = HTTPMethod(known: "PATCH")

    /// The methods of RFC 9110 §9 and PATCH (RFC 5789), whose lowercase or mixed-case spellings the
    /// parser refuses (see `HTTPParseError.Reason.invalidMethod`).
    static let standard: [HTTPMethod] = [.GET, .HEAD, .POST, .PUT, .DELETE, .CONNECT, .OPTIONS, .TRACE, .PATCH]

    /// The method token.
    public var description: String { rawValue }
}

/// The protocol version of an HTTP/1.x message (RFC 9112 §2.3). The parser accepts only 1.0 and
/// 1.1; other versions are refused with 505 (requests) or 502 (responses).
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    /// The digit before the dot.
    public var major: UInt8
    /// The digit after the dot.
    public var minor: UInt8

    /// A version from its two digits.
    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0: persistent only with `Connection: keep-alive`; no chunked coding.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1 (RFC 9112).
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// `HTTP/1.1`.
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A request's start line and header section (RFC 9112 §3, §5).
public struct HTTPRequestHead: Sendable, Equatable {
    /// The method, case-sensitive.
    public var method: HTTPMethod
    /// The request-target as sent (RFC 9112 §3.2): origin-form (`/a?b`), absolute-form
    /// (`http://host/a`), authority-form (`host:443`, CONNECT only) or asterisk-form (`*`, OPTIONS
    /// only). The parser guarantees visible ASCII without `#` or `\`.
    public var target: String
    /// HTTP/1.0 or HTTP/1.1.
    public var version: HTTPVersion
    /// The header section in received order, framing fields included (the serializer replaces them).
    public var headers: HTTPHeaders

    /// A head from its parts; nothing is validated here (the serializer checks the target).
    public init(method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders()) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// The target without its query: the path of origin-form and absolute-form targets (`/` when an
    /// absolute-form target has an empty path), `*` for asterisk-form, empty for authority-form.
    public var path: String {
        let utf8 = target.utf8
        guard let first = utf8.first else { return "" }
        if first == ASCII.slash || target == "*" {
            guard let end = utf8.firstIndex(of: ASCII.question) else { return target }
            return String(target[..<end])
        }
        guard let components = RequestTarget.absoluteForm(Array(utf8)) else { return "" }
        let bytes = Array(utf8)
        let pathEnd = bytes[components.pathStart...].firstIndex(of: ASCII.question) ?? bytes.count
        if pathEnd == components.pathStart { return "/" }
        return String(decoding: bytes[components.pathStart..<pathEnd], as: UTF8.self)
    }

    /// The authority the request is for (RFC 9110 §7.2): the authority of an absolute-form target
    /// (which RFC 9112 §3.2.2 says wins over Host), the target of CONNECT, or else the Host field.
    /// Nil for an HTTP/1.0 request without Host.
    public var authority: String? {
        if method == .CONNECT { return target }
        // Origin-form (the usual case) and asterisk-form: the Host field, without copying the target.
        if let first = target.utf8.first, first != ASCII.slash, first != ASCII.asterisk {
            let bytes = Array(target.utf8)
            if let components = RequestTarget.absoluteForm(bytes) {
                return String(decoding: bytes[components.authority], as: UTF8.self)
            }
        }
        return headers.first("Host")
    }
}

/// A response's status line and header section (RFC 9112 §4, §5).
public struct HTTPResponseHead: Sendable, Equatable {
    /// HTTP/1.0 or HTTP/1.1.
    public var version: HTTPVersion
    /// The three-digit status code, 100...599 from the parser (RFC 9110 §15).
    public var status: Int
    /// The reason phrase as sent; may be empty. Clients ignore it (RFC 9112 §4).
    public var reason: String
    /// The header section in received order, framing fields included (the serializer replaces them).
    public var headers: HTTPHeaders

    /// A head from its parts; the serializer checks the status and reason.
    public init(version: HTTPVersion = .http1_1, status: Int, reason: String = "", headers: HTTPHeaders = HTTPHeaders()) {
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
    }
}

/// How the body of a message is delimited (RFC 9112 §6.3), as decided by the parser or chosen by
/// the proxy for the message it forwards.
public enum HTTPBodyFraming: Sendable, Equatable {
    /// No body: a request without Content-Length or Transfer-Encoding, or a response that never has
    /// one (to HEAD; 1xx, 204, 304).
    case none
    /// Exactly this many bytes (Content-Length).
    case contentLength(UInt64)
    /// The chunked transfer coding (RFC 9112 §7.1), the final and only coding.
    case chunked
    /// Responses only: everything until the upstream closes the connection (RFC 9112 §6.3 item 8).
    case untilClose
    /// After a 101 (Switching Protocols) or a 2xx to CONNECT: the connection becomes a byte tunnel
    /// (RFC 9110 §7.8, §9.3.6).
    case tunnel
}

/// Bounds on what the parser buffers or accepts from a peer. The parser copies only heads and
/// trailers, so these bound its memory per connection.
public struct HTTPLimits: Sendable, Equatable {
    // Stored as 32 bits (every parser keeps a copy, two per proxied connection); read and
    // written as Int.
    private var headBytes: UInt32
    private var headerCount: UInt32
    private var startLineBytes: UInt32
    private var chunkLineBytes: UInt32
    private var trailerBytes: UInt32

    /// The largest head: start line, fields and the empty line, counting any empty lines before the
    /// start line. Beyond it: 431 (`head-too-large`).
    public var maxHeadBytes: Int {
        get { Int(headBytes) }
        set { headBytes = Self.stored(newValue) }
    }
    /// The most field lines in a header or trailer section. Beyond it: 431 (`too-many-headers`).
    public var maxHeaderCount: Int {
        get { Int(headerCount) }
        set { headerCount = Self.stored(newValue) }
    }
    /// The longest start line without its CRLF. Beyond it: 414 for requests
    /// (`start-line-too-long`, RFC 9112 §3).
    public var maxStartLineBytes: Int {
        get { Int(startLineBytes) }
        set { startLineBytes = Self.stored(newValue) }
    }
    /// The longest chunk-size line, extensions included, without its CRLF. Beyond it: 400
    /// (`chunk-line-too-long`).
    public var maxChunkLineBytes: Int {
        get { Int(chunkLineBytes) }
        set { chunkLineBytes = Self.stored(newValue) }
    }
    /// The largest trailer section. Beyond it: 431 (`trailers-too-large`).
    public var maxTrailerBytes: Int {
        get { Int(trailerBytes) }
        set { trailerBytes = Self.stored(newValue) }
    }

    /// Limits, each defaulting to the value of `.default`. Precondition: all positive (the field
    /// count may be 0) and below 4 GiB.
    public init(
        maxHeadBytes: Int = 64 * 1024, maxHeaderCount: Int = 100, maxStartLineBytes: Int = 8 * 1024,
        maxChunkLineBytes: Int = 4 * 1024, maxTrailerBytes: Int = 16 * 1024
    ) {
        precondition(maxHeadBytes > 0 && maxHeaderCount >= 0 && maxStartLineBytes > 0 && maxChunkLineBytes > 0 && maxTrailerBytes > 0,
                     "HTTPLimits: limits must be positive")
        headBytes = Self.stored(maxHeadBytes)
        headerCount = Self.stored(maxHeaderCount)
        startLineBytes = Self.stored(maxStartLineBytes)
        chunkLineBytes = Self.stored(maxChunkLineBytes)
        trailerBytes = Self.stored(maxTrailerBytes)
    }

    private static func stored(_ limit: Int) -> UInt32 {
        precondition(limit >= 0 && limit < Int(UInt32.max), "HTTPLimits: a limit must be below 4 GiB")
        return UInt32(limit)
    }

    /// 64 KiB heads, 100 fields, 8 KiB start lines, 4 KiB chunk lines, 16 KiB trailers.
    public static let `default` = HTTPLimits()
}

/// Why the parser refused a message. The parser stops at the first error: the proxy answers a
/// request with `status` (and `Connection: close`) and closes; a response error becomes the
/// proxy's 502 to its client, and the upstream connection is closed.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The status to answer with: 400, 413, 414, 431, 501 or 505 for requests; always 502 for
    /// responses (the upstream broke the protocol).
    public var status: Int
    /// A stable token for logs and metrics (see `Reason`), e.g. `cl-and-te`.
    public var reason: String
    /// Words for an operator: what was seen where.
    public var detail: String

    /// An error with its status, reason token and detail.
    public init(status: Int, reason: String, detail: String) {
        self.status = status
        self.reason = reason
        self.detail = detail
    }

    /// `400 cl-and-te: both Content-Length and ...`, for logs.
    public var description: String { "\(status) \(reason): \(detail)" }

    /// The reason tokens the parser produces.
    public enum Reason {
        /// Content-Length and Transfer-Encoding together (RFC 9112 §6.1, §6.3 item 3).
        public static let clAndTE = "cl-and-te"
        /// Content-Length values that differ (RFC 9110 §8.6).
        public static let duplicateContentLength = "duplicate-content-length"
        /// A Content-Length that is not 1*DIGIT, or overflows 64 bits.
        public static let invalidContentLength = "invalid-content-length"
        /// Transfer-Encoding whose final coding is not chunked, or malformed (RFC 9112 §6.3 item 4).
        public static let teNotChunked = "te-not-chunked"
        /// chunked applied more than once (RFC 9112 §7: MUST NOT).
        public static let teChunkedTwice = "te-chunked-twice"
        /// A coding before chunked (gzip, chunked): 501, the proxy does not re-apply codings.
        public static let teUnsupported = "te-unsupported"
        /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: framing is faulty).
        public static let teInHTTP10 = "te-in-http10"
        /// A field line starting with whitespace: obs-fold (RFC 9112 §5.2).
        public static let obsFold = "obs-fold"
        /// Whitespace between the start line and the first field (RFC 9112 §2.2).
        public static let whitespaceAfterStartLine = "whitespace-after-start-line"
        /// Whitespace between a field name and the colon (RFC 9112 §5.1: MUST reject).
        public static let spaceBeforeColon = "space-before-colon"
        /// LF without CR where CRLF is required (RFC 9112 §2.2).
        public static let bareLF = "bare-lf"
        /// CR not followed by LF (RFC 9112 §2.2).
        public static let bareCR = "bare-cr"
        /// NUL anywhere in a head or trailer section (RFC 9110 §5.5).
        public static let nulInHead = "nul-in-head"
        /// The method is not a token, or a standard method in the wrong case.
        public static let invalidMethod = "invalid-method"
        /// A request-target with forbidden characters or in a form its method may not use.
        public static let invalidTarget = "invalid-target"
        /// The request or status line does not follow the grammar (spacing, version syntax).
        public static let invalidStartLine = "invalid-start-line"
        /// A status code outside 100...599.
        public static let invalidStatus = "invalid-status"
        /// A field name that is empty or not a token, or a field line without a colon.
        public static let invalidFieldName = "invalid-field-name"
        /// A control character in a field value (RFC 9110 §5.5).
        public static let invalidFieldValue = "invalid-field-value"
        /// An HTTP/1.1 request without Host (RFC 9112 §3.2: MUST respond 400).
        public static let missingHost = "missing-host"
        /// More than one Host field (RFC 9112 §3.2: MUST respond 400).
        public static let duplicateHost = "duplicate-host"
        /// A Host value that is not uri-host [ ":" port ] (RFC 9110 §7.2).
        public static let invalidHost = "invalid-host"
        /// Host differs from the authority of an absolute-form target.
        public static let hostMismatch = "host-mismatch"
        /// A CONNECT request with a body (RFC 9110 §9.3.6: it has no content).
        public static let connectWithBody = "connect-with-body"
        /// A chunk size with a character that is not HEXDIG where the size is read.
        public static let chunkSizeNotHex = "chunk-size-not-hex"
        /// A chunk size with more than 16 hex digits or above 2^63-1.
        public static let chunkSizeOverflow = "chunk-size-overflow"
        /// A chunk extension that breaks the grammar of RFC 9112 §7.1.1.
        public static let invalidChunkExtension = "invalid-chunk-extension"
        /// Chunk data not followed by CRLF.
        public static let chunkMissingCRLF = "chunk-missing-crlf"
        /// A chunk-size line longer than `maxChunkLineBytes`.
        public static let chunkLineTooLong = "chunk-line-too-long"
        /// A head larger than `maxHeadBytes`.
        public static let headTooLarge = "head-too-large"
        /// More field lines than `maxHeaderCount`.
        public static let tooManyHeaders = "too-many-headers"
        /// A start line longer than `maxStartLineBytes`.
        public static let startLineTooLong = "start-line-too-long"
        /// A trailer section larger than `maxTrailerBytes`.
        public static let trailersTooLarge = "trailers-too-large"
        /// HTTP/x.y other than 1.0 and 1.1 (RFC 9110 §15.6.6: 505).
        public static let unsupportedVersion = "unsupported-version"
        /// A response arrived when no request was waiting for one.
        public static let unsolicitedResponse = "unsolicited-response"
        /// 101 without a request that asked to upgrade, or without an Upgrade field (RFC 9110 §15.2.2).
        public static let unexpectedSwitchingProtocols = "unexpected-101"
        /// The connection ended inside a message.
        public static let truncated = "truncated-message"
    }
}
