/// Why a text is not a SPIFFE id or trust domain name, with the input it was given. Every case
/// names the rule of the SPIFFE ID specification ("SPIFFE-ID.md") it breaks.
public struct SPIFFEIDError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule that was broken.
    public enum Reason: Hashable, Sendable {
        /// The input is empty.
        case empty
        /// The input does not start with `spiffe://` (§2: the scheme MUST be `spiffe`). Weft accepts
        /// only the lowercase spelling, as go-spiffe does, so one identity has one spelling.
        case wrongScheme
        /// Nothing between `spiffe://` and the path (§2: a non-zero trust domain name).
        case missingTrustDomain
        /// A byte outside `[a-z0-9._-]` in the trust domain name, at `offset` of the input (§2.1:
        /// lowercase letters, digits, dots, dashes and underscores only; this also rules out a
        /// port, userinfo, percent-encoding and IPv6 literals).
        case trustDomainCharacter(byte: UInt8, offset: Int)
        /// The trust domain name is longer than 255 bytes (§2.3, after RFC 3986's host limit).
        case trustDomainTooLong(length: Int)
        /// A byte outside `[A-Za-z0-9._-]` in a path segment, at `offset` of the input (§2.2; this
        /// also rules out a query, a fragment and percent-encoding).
        case pathCharacter(byte: UInt8, offset: Int)
        /// Two slashes in a row in the path (§2.2: no empty segments).
        case emptySegment
        /// A `.` or `..` segment (§2.2: no relative path modifiers).
        case dotSegment(String)
        /// The path ends with `/` (§2.2).
        case trailingSlash
        /// The whole id is longer than 2048 bytes (§2.3).
        case tooLong(length: Int)
        /// A workload id without a path, where one is required (X.509-SVID §3.1: leaf ids MUST
        /// have a non-root path).
        case missingPath
        /// A trust domain name was written as an id, `spiffe://cluster.local`, where the bare name
        /// belongs.
        case schemeInTrustDomain
    }

    /// What the input was meant to be, which the message names.
    public enum Subject: Hashable, Sendable {
        /// A whole SPIFFE id.
        case id
        /// A bare trust domain name.
        case trustDomain
    }

    /// The text that was refused (as given, possibly long; `description` shortens it).
    public let input: String
    /// Which rule it breaks.
    public let reason: Reason
    /// Whether `input` was meant as an id or as a trust domain name.
    public let subject: Subject

    /// A refusal of `input`, meant as `subject`, because of `reason`.
    public init(_ input: String, _ reason: Reason, subject: Subject = .id) {
        self.input = input
        self.reason = reason
        self.subject = subject
    }

    /// The rule that was broken and what to write instead, without the input.
    public var reasonText: String {
        switch reason {
        case .empty:
            return "it is empty; write spiffe://<trust-domain>/<path>, such as spiffe://cluster.local/ns/default/sa/default"
        case .wrongScheme:
            return "it must start with spiffe:// (lowercase), such as spiffe://cluster.local/ns/default/sa/default"
        case .missingTrustDomain:
            return subject == .id ? "the trust domain after spiffe:// is missing" : "it is empty; write a name such as cluster.local"
        case let .trustDomainCharacter(byte, offset):
            let hint: String
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): hint = "trust domains are lowercase; write it in lowercase"
            case UInt8(ascii: ":"): hint = "a trust domain has no port (and IPv6 literals are not trust domains)"
            case UInt8(ascii: "@"): hint = "a trust domain has no userinfo"
            case UInt8(ascii: "%"): hint = "percent-encoding is not allowed"
            case UInt8(ascii: "?"), UInt8(ascii: "#"): hint = "a SPIFFE id has no query or fragment"
            default: hint = "only a-z, 0-9, '.', '-' and '_' are allowed"
            }
            return "\(Self.show(byte)) at byte \(offset) is not allowed in a trust domain: \(hint)"
        case let .trustDomainTooLong(length):
            return "the trust domain is \(length) bytes long; the longest allowed is \(TrustDomain.maximumLength)"
        case let .pathCharacter(byte, offset):
            let hint: String
            switch byte {
            case UInt8(ascii: "?"), UInt8(ascii: "#"): hint = "a SPIFFE id has no query or fragment"
            case UInt8(ascii: "%"): hint = "percent-encoding is not allowed"
            case UInt8(ascii: "/"): hint = "a single path segment cannot hold '/'"
            default: hint = "path segments allow only A-Z, a-z, 0-9, '.', '-' and '_'"
            }
            return "\(Self.show(byte)) at byte \(offset) is not allowed in the path: \(hint)"
        case .emptySegment:
            return "the path has an empty segment ('//'); remove the extra '/'"
        case .dotSegment(let segment):
            return "the path has a '\(segment)' segment; relative segments are not allowed"
        case .trailingSlash:
            return "the path ends with '/'; remove it"
        case let .tooLong(length):
            return "it is \(length) bytes long; the longest allowed SPIFFE id is \(SPIFFEID.maximumLength) bytes"
        case .missingPath:
            return "a workload id needs a path after the trust domain, such as /ns/<namespace>/sa/<service-account>"
        case .schemeInTrustDomain:
            return "a trust domain is written without spiffe://; write the bare name, such as cluster.local"
        }
    }

    /// `"spiffe://Example.org/x" is not a valid SPIFFE id: 'E' at byte 9 …`, with the input
    /// escaped and cut to 80 characters so a hostile input cannot flood or split a log line.
    public var description: String {
        "\(Self.clip(input)) is not a valid \(subject == .id ? "SPIFFE id" : "trust domain name"): \(reasonText)"
    }

    private static func show(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        let hex = String(byte, radix: 16, uppercase: true)
        return "byte 0x\(hex.count == 1 ? "0" : "")\(hex)"
    }

    /// `text` quoted for a log line: control and non-ASCII characters escaped (`\n`, `\u{FFFD}`),
    /// cut after 80 characters of the rendered form so no input makes a long line.
    private static func clip(_ text: String) -> String {
        let limit = 80
        var shown = ""
        for scalar in text.unicodeScalars {
            let rendered = scalar.isASCII && scalar.value >= 0x20 && scalar != "\u{7F}" ? String(scalar) : scalar.escaped(asASCII: true)
            if shown.count + rendered.count > limit { return "\"" + shown + "\"…" }
            shown += rendered
        }
        return "\"" + shown + "\""
    }
}
