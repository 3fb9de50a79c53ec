import Addresses
import Identity

/// What is known of a connection once it is accepted (and, for mTLS, once the handshake is
/// done): enough to judge every field of a policy that does not need HTTP.
///
/// Build it once per connection: the principal text is made here, so evaluating a policy for
/// the connection and for each of its requests allocates nothing for it.
public struct ConnectionAttributes: Sendable, Equatable {
    /// The peer's address (the connection's source); an IPv4-mapped IPv6 address is stored as
    /// the IPv4 address it carries, so `10.0.0.0/8` matches a dual-stack socket's peer.
    public let source: IPAddress
    /// The original destination port (SO_ORIGINAL_DST), which `ports` and `destination.port`
    /// are compared with.
    public let destinationPort: UInt16
    /// The SPIFFE id the peer proved with its mTLS certificate; nil for a plaintext peer.
    public let peer: SPIFFEID?
    /// `peer` without `spiffe://`, the form Istio's principals are written in.
    let principal: String?
    /// The byte range of the namespace in `principal`, if it has `/ns/<namespace>/`.
    let namespaceRange: Range<String.Index>?

    /// The attributes of a connection from `source` to original destination port
    /// `destinationPort`, authenticated as `peer` (nil when the peer sent no certificate).
    public init(source: IPAddress, destinationPort: UInt16, peer: SPIFFEID?) {
        self.source = source.unmapped
        self.destinationPort = destinationPort
        self.peer = peer
        guard let peer else {
            principal = nil
            namespaceRange = nil
            return
        }
        let text = peer.trustDomain.name + peer.path
        principal = text
        namespaceRange = Self.namespaceRange(in: text, pathOffset: peer.trustDomain.name.utf8.count)
    }

    /// The principal as Istio writes it, `cluster.local/ns/shop/sa/web`; nil for a plaintext peer.
    public var sourcePrincipal: String? { principal }

    /// The namespace of the principal: the segment after a leading `/ns/` of the SPIFFE path,
    /// when another segment follows it (Istio's `.*/ns/<namespace>/.*` on the Kubernetes form
    /// `/ns/<namespace>/sa/<service-account>`); nil otherwise and for a plaintext peer.
    public var sourceNamespace: Substring? {
        guard let principal, let namespaceRange else { return nil }
        return principal[namespaceRange]
    }

    private static func namespaceRange(in text: String, pathOffset: Int) -> Range<String.Index>? {
        let utf8 = text.utf8
        let pathStart = utf8.index(utf8.startIndex, offsetBy: pathOffset)
        let path = utf8[pathStart...]
        let marker = "/ns/".utf8
        guard path.starts(with: marker) else { return nil }
        let start = utf8.index(pathStart, offsetBy: marker.count)
        guard let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")), end > start else { return nil }
        return start..<end
    }
}

/// Header fields of a request, as a policy's `request.headers[<name>]` conditions read them.
///
/// The proxy conforms its parsed header block to this, so evaluation reads the fields where they
/// are instead of converting them.
public protocol AuthorizationHeaderFields {
    /// The bytes of a field value.
    associatedtype FieldValue: BidirectionalCollection<UInt8>

    /// The value of the field named `name` (given in lowercase; names are case-insensitive,
    /// RFC 9110 §5.1) without leading and trailing whitespace, or nil when the request has no
    /// such field. A field sent on several lines is their values joined with `,` in order
    /// (RFC 9110 §5.3), as Istio's normalization does before matching.
    func authorizationValue(ofField name: String) -> FieldValue?
}

/// Header fields as a list of name-value pairs, for tests and for callers that have no parsed
/// header block of their own. A lookup allocates only when a field is repeated.
public struct HeaderFieldList: AuthorizationHeaderFields, Sendable, Equatable {
    /// The fields in the order received.
    public let fields: [(name: String, value: String)]

    /// Fields with the given names (any case) and values.
    public init(_ fields: [(name: String, value: String)]) {
        self.fields = fields
    }

    /// No fields.
    public static let empty = HeaderFieldList([])

    public func authorizationValue(ofField name: String) -> Substring.UTF8View? {
        var found: Substring?
        var joined: String?
        for field in fields where asciiCaseInsensitiveEqual(field.name.utf8, name.utf8) {
            let value = trimmedFieldValue(field.value[...])
            if let first = found {
                joined = (joined ?? String(first)) + "," + value
            } else {
                found = value
            }
        }
        if let joined { return joined[...].utf8 }
        return found?.utf8
    }

    public static func == (lhs: HeaderFieldList, rhs: HeaderFieldList) -> Bool {
        lhs.fields.count == rhs.fields.count && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

/// What a policy reads of one HTTP request, besides its connection.
public struct RequestAttributes<Headers: AuthorizationHeaderFields> {
    /// The connection the request came on.
    public var connection: ConnectionAttributes
    /// The method, as sent (`GET`).
    public var method: Substring
    /// The request target's path and query as sent in origin form (`/a/b?x=1`); evaluation
    /// drops the query and normalizes the path (`RequestPath.normalize`). For an absolute-form
    /// target the caller passes its path and query.
    public var path: Substring
    /// The Host field, or HTTP/2's :authority, as sent (it may carry a port).
    public var authority: Substring
    /// The header fields, for `request.headers[...]` conditions.
    public var headers: Headers

    /// A request on `connection`.
    public init(connection: ConnectionAttributes, method: Substring, path: Substring, authority: Substring, headers: Headers) {
        self.connection = connection
        self.method = method
        self.path = path
        self.authority = authority
        self.headers = headers
    }
}

extension RequestAttributes: Sendable where Headers: Sendable {}

/// Whether two byte sequences are equal when ASCII letters are compared without case.
func asciiCaseInsensitiveEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    return zip(a, b).allSatisfy { asciiLowercase($0) == asciiLowercase($1) }
}

@inline(__always)
func asciiLowercase(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
}

/// `value` without leading and trailing spaces and tabs (RFC 9112 §5.1: optional whitespace
/// around a field value is not part of it).
func trimmedFieldValue(_ value: Substring) -> Substring {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    guard let first = value.firstIndex(where: { !isSpace($0) }) else { return value[value.endIndex...] }
    let last = value.lastIndex(where: { !isSpace($0) })!
    return value[first...last]
}
