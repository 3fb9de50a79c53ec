/// A SPIFFE trust domain name, such as `cluster.local`: the authority of every SPIFFE id issued by
/// one root of trust (SPIFFE-ID.md §2.1).
///
/// Only the spellings the specification allows exist as values: 1 to 255 bytes of `[a-z0-9._-]`.
/// The specification calls the name case-insensitive but says it MUST be lowercase, so an
/// uppercase name is refused rather than folded: one trust domain has exactly one spelling, and
/// comparing values is comparing bytes.
public struct TrustDomain: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The longest name allowed: RFC 3986's host limit, which §2.3 applies to trust domains.
    public static let maximumLength = 255

    /// The name, e.g. `cluster.local`.
    public let name: String

    /// Parses a bare trust domain name (`cluster.local`, not `spiffe://cluster.local`). Throws
    /// `SPIFFEIDError` naming the offending byte.
    public init(parsing text: some StringProtocol) throws(SPIFFEIDError) {
        let input = String(text)
        let bytes = Array(input.utf8)
        if bytes.starts(with: Array(SPIFFEID.schemePrefix.utf8)) {
            throw SPIFFEIDError(input, .schemeInTrustDomain, subject: .trustDomain)
        }
        do { try Self.validate(bytes[...], in: input, offset: 0) } catch {
            throw SPIFFEIDError(input, error.reason, subject: .trustDomain)
        }
        name = input
    }

    /// Checks `bytes` (a trust domain name found at `offset` of `input`) against §2.1 and §2.3.
    static func validate(_ bytes: ArraySlice<UInt8>, in input: String, offset: Int) throws(SPIFFEIDError) {
        if bytes.isEmpty { throw SPIFFEIDError(input, .missingTrustDomain) }
        for (index, byte) in zip(bytes.indices, bytes) where !isTrustDomainByte(byte) {
            throw SPIFFEIDError(input, .trustDomainCharacter(byte: byte, offset: offset + index - bytes.startIndex))
        }
        if bytes.count > maximumLength { throw SPIFFEIDError(input, .trustDomainTooLong(length: bytes.count)) }
    }

    /// Builds a value from a name already checked by `validate`.
    init(validated name: String) {
        self.name = name
    }

    /// The trust domain's own SPIFFE id, `spiffe://<name>` (no path): the id a signing
    /// certificate of this trust domain carries (X.509-SVID §3.2).
    public var id: SPIFFEID { SPIFFEID(trustDomain: self, validatedPath: "") }

    public var description: String { name }

    public static func < (lhs: TrustDomain, rhs: TrustDomain) -> Bool { lhs.name < rhs.name }
}

/// A SPIFFE id: `spiffe://<trust-domain><path>` (SPIFFE-ID.md §2), such as
/// `spiffe://cluster.local/ns/default/sa/web`.
///
/// Every value obeys the specification: the scheme is `spiffe://` in lowercase; the trust domain
/// is `[a-z0-9._-]`, 1 to 255 bytes; the path is empty or `/`-separated segments of
/// `[A-Za-z0-9._-]`, none empty, none `.` or `..`, with no trailing `/`; the whole text is at most
/// 2048 bytes. So there is no query, fragment, port, userinfo or percent-encoding, and two ids are
/// the same identity exactly when their texts are equal.
public struct SPIFFEID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The longest id allowed, in bytes (§2.3: implementations MUST accept 2048 and SHOULD NOT
    /// generate longer; Weft neither generates nor accepts longer).
    public static let maximumLength = 2048
    /// `spiffe://`, the only scheme spelling accepted.
    public static let schemePrefix = "spiffe://"

    /// The trust domain (the URI's authority).
    public let trustDomain: TrustDomain
    /// The path: empty (the trust domain's own id) or starting with `/`, e.g. `/ns/default/sa/web`.
    public let path: String

    /// Parses `spiffe://<trust-domain>[/<segment>...]`. Throws `SPIFFEIDError` naming the first
    /// rule broken and, for a bad character, its byte offset.
    public init(parsing text: some StringProtocol) throws(SPIFFEIDError) {
        let input = String(text)
        let bytes = Array(input.utf8)
        if bytes.isEmpty { throw SPIFFEIDError(input, .empty) }
        let scheme = Array(Self.schemePrefix.utf8)
        guard bytes.starts(with: scheme) else { throw SPIFFEIDError(input, .wrongScheme) }
        let afterScheme = scheme.count
        let pathStart = bytes[afterScheme...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
        try TrustDomain.validate(bytes[afterScheme..<pathStart], in: input, offset: afterScheme)
        try Self.validatePath(bytes[pathStart...], in: input, offset: pathStart)
        // Checked last so a long id with a bad character reports the character, which is the
        // more useful of the two reasons.
        if bytes.count > Self.maximumLength { throw SPIFFEIDError(input, .tooLong(length: bytes.count)) }
        trustDomain = TrustDomain(validated: String(decoding: bytes[afterScheme..<pathStart], as: UTF8.self))
        path = String(decoding: bytes[pathStart...], as: UTF8.self)
    }

    /// The id with `path` (empty, or `/`-separated segments starting with `/`) in `trustDomain`.
    /// Throws `SPIFFEIDError` if the path breaks §2.2 or the whole id would exceed 2048 bytes.
    public init(trustDomain: TrustDomain, path: some StringProtocol) throws(SPIFFEIDError) {
        let pathText = String(path)
        let text = Self.schemePrefix + trustDomain.name + pathText
        let pathBytes = Array(pathText.utf8)
        let offset = Self.schemePrefix.utf8.count + trustDomain.name.utf8.count
        if let first = pathBytes.first, first != UInt8(ascii: "/") {
            throw SPIFFEIDError(text, .pathCharacter(byte: first, offset: offset))
        }
        try Self.validatePath(pathBytes[...], in: text, offset: offset)
        if text.utf8.count > Self.maximumLength { throw SPIFFEIDError(text, .tooLong(length: text.utf8.count)) }
        self.trustDomain = trustDomain
        self.path = pathText
    }

    /// The id whose path is `segments` joined with `/`, e.g. `["payments", "mysql"]` gives
    /// `spiffe://<trust domain>/payments/mysql`; no segments gives the trust domain's own id.
    /// A segment holding `/` is refused, not split: `["a/b"]` is one bad segment, never two.
    public init(trustDomain: TrustDomain, segments: [String]) throws(SPIFFEIDError) {
        let path = segments.map { "/" + $0 }.joined()
        var offset = Self.schemePrefix.utf8.count + trustDomain.name.utf8.count
        for segment in segments {
            if let slash = segment.utf8.firstIndex(of: UInt8(ascii: "/")) {
                let position = offset + 1 + segment.utf8.distance(from: segment.utf8.startIndex, to: slash)
                throw SPIFFEIDError(Self.schemePrefix + trustDomain.name + path, .pathCharacter(byte: UInt8(ascii: "/"), offset: position))
            }
            offset += 1 + segment.utf8.count
        }
        try self.init(trustDomain: trustDomain, path: path)
    }

    /// The Kubernetes form Istio and Linkerd use, `spiffe://<td>/ns/<namespace>/sa/<service-account>`.
    /// Throws if either name has a character a path segment cannot hold (Kubernetes names are
    /// DNS labels and subdomains, which always fit).
    public static func kubernetes(trustDomain: TrustDomain, namespace: String, serviceAccount: String) throws(SPIFFEIDError) -> SPIFFEID {
        try SPIFFEID(trustDomain: trustDomain, segments: ["ns", namespace, "sa", serviceAccount])
    }

    init(trustDomain: TrustDomain, validatedPath: String) {
        self.trustDomain = trustDomain
        path = validatedPath
    }

    /// The path's segments, e.g. `["ns", "default", "sa", "web"]`; empty for a trust domain's id.
    public var segments: [Substring] {
        path.isEmpty ? [] : path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Whether the id has no path: it names the trust domain itself, as a CA certificate's does.
    public var isTrustDomainID: Bool { path.isEmpty }

    /// The namespace when the path is exactly `/ns/<namespace>/sa/<service-account>`, else nil.
    public var namespace: String? { kubernetesNames?.namespace }

    /// The service account when the path is exactly `/ns/<namespace>/sa/<service-account>`, else nil.
    public var serviceAccount: String? { kubernetesNames?.serviceAccount }

    private var kubernetesNames: (namespace: String, serviceAccount: String)? {
        let parts = segments
        guard parts.count == 4, parts[0] == "ns", parts[2] == "sa" else { return nil }
        return (String(parts[1]), String(parts[3]))
    }

    /// Whether the id belongs to `trustDomain` (its authority is exactly that name). Membership is
    /// what a CA checks before issuing and a verifier checks before trusting (SPIFFE-ID.md §3.1,
    /// §4.1.2: an authority speaks only for its own trust domain).
    public func isMember(of trustDomain: TrustDomain) -> Bool {
        self.trustDomain == trustDomain
    }

    /// `spiffe://<trust-domain><path>`.
    public var description: String { Self.schemePrefix + trustDomain.name + path }

    public static func < (lhs: SPIFFEID, rhs: SPIFFEID) -> Bool { lhs.description < rhs.description }

    /// Checks a path (empty, or starting with `/`) found at `offset` of `input` against §2.2.
    private static func validatePath(_ bytes: ArraySlice<UInt8>, in input: String, offset: Int) throws(SPIFFEIDError) {
        guard !bytes.isEmpty else { return }
        var segmentStart = bytes.startIndex + 1
        var index = segmentStart
        while true {
            if index == bytes.endIndex || bytes[index] == UInt8(ascii: "/") {
                let segment = bytes[segmentStart..<index]
                if segment.isEmpty {
                    throw SPIFFEIDError(input, index == bytes.endIndex ? .trailingSlash : .emptySegment)
                }
                if segment.allSatisfy({ $0 == UInt8(ascii: ".") }) && segment.count <= 2 {
                    throw SPIFFEIDError(input, .dotSegment(String(decoding: segment, as: UTF8.self)))
                }
                if index == bytes.endIndex { return }
                segmentStart = index + 1
            } else if !isPathByte(bytes[index]) {
                throw SPIFFEIDError(input, .pathCharacter(byte: bytes[index], offset: offset + index - bytes.startIndex))
            }
            index += 1
        }
    }
}

/// `[a-z0-9._-]` (SPIFFE-ID.md §2.1).
@inline(__always)
func isTrustDomainByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
         UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
        return true
    default:
        return false
    }
}

/// `[A-Za-z0-9._-]` (SPIFFE-ID.md §2.2).
@inline(__always)
func isPathByte(_ byte: UInt8) -> Bool {
    isTrustDomainByte(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
}
