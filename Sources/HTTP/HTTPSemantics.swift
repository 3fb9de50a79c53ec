/// The rules of RFC 9110 and RFC 9112 a proxy applies between parsing a message and forwarding it:
/// connection persistence, hop-by-hop fields, expectations, upgrades and which responses have a
/// body. Pure functions of heads; the parser uses the same ones, so its framing and the proxy's
/// decisions cannot disagree.
public enum HTTPSemantics {
    /// Whether the sender of a message wants the connection kept open after it (RFC 9112 §9.3):
    /// never with the `close` connection option; by default in HTTP/1.1; in HTTP/1.0 only with the
    /// `keep-alive` option.
    public static func isPersistent(version: HTTPVersion, headers: HTTPHeaders) -> Bool {
        if headers.containsToken("close", in: "Connection") { return false }
        if version == .http1_1 { return true }
        return headers.containsToken("keep-alive", in: "Connection")
    }

    /// Whether the client connection stays open after this exchange: both messages want it and the
    /// response is not delimited by closing the connection.
    public static func keepAlive(request: HTTPRequestHead, response: HTTPResponseHead, responseFraming: HTTPBodyFraming) -> Bool {
        responseFraming != .untilClose
            && isPersistent(version: request.version, headers: request.headers)
            && isPersistent(version: response.version, headers: response.headers)
    }

    /// Removes the hop-by-hop fields of a message before it is forwarded (RFC 9110 §7.6.1): the
    /// fields the Connection field lists, then Connection, Keep-Alive, Proxy-Connection, TE,
    /// Trailer, Transfer-Encoding and Upgrade. When `upgrading` (forwarding a request that asks to
    /// upgrade, or the 101 that accepts it), Upgrade is kept and `Connection: upgrade` written back,
    /// since the next hop needs both to switch protocols (RFC 9110 §7.8).
    ///
    /// Content-Length is left alone: the serializer writes the framing of the forwarded message and
    /// never copies it. Host is never removed even when Connection lists it: a request that lost Host
    /// is refused upstream, and a client must not be able to strip the field the proxy routed on.
    public static func removeHopByHop(from headers: inout HTTPHeaders, upgrading: Bool = false) {
        let listsOthers = connectionListsOtherFields(headers)
        headers.removeAll { headers, field in isHopByHop(field, in: headers, upgrading: upgrading, listsOthers: listsOthers) }
        if upgrading && headers.contains("Upgrade") { headers.add(name: "Connection", value: "upgrade") }
    }

    /// The fields `removeHopByHop(from:)` would remove from a section that is forwarded without
    /// upgrading, as a mask (bit i: field i) for the serializers' `omitting:`, so a parsed head is
    /// forwarded without copying its fields; nil past 64 fields (use `removeHopByHop`).
    public static func hopByHopMask(in headers: HTTPHeaders) -> UInt64? {
        guard headers.fields.count <= 64 else { return nil }
        let listsOthers = connectionListsOtherFields(headers)
        var mask: UInt64 = 0
        for (position, field) in headers.fields.enumerated()
        where isHopByHop(field, in: headers, upgrading: false, listsOthers: listsOthers) {
            mask |= 1 << UInt64(position)
        }
        return mask
    }

    /// Only a Connection field naming something besides close/keep-alive lists other fields.
    private static func connectionListsOtherFields(_ headers: HTTPHeaders) -> Bool {
        headers.fields.contains { field in
            guard headers.matches(field, "Connection".utf8) else { return false }
            var other = false
            headers.forEachListElement(field.value) { element in
                if !element.isEmpty, !ASCII.equalsIgnoringCase(headers.bytes[element], "close".utf8),
                   !ASCII.equalsIgnoringCase(headers.bytes[element], "keep-alive".utf8) { other = true }
            }
            return other
        }
    }

    private static func isHopByHop(_ field: HTTPHeaders.Field, in headers: HTTPHeaders, upgrading: Bool, listsOthers: Bool) -> Bool {
        let length = Int(field.nameEnd - field.start)
        if length == 4, headers.matches(field, "Host".utf8) { return false }
        if length == 7, upgrading, headers.matches(field, "Upgrade".utf8) { return false }
        if hasHopByHopName(field, length: length, in: headers) { return true }
        return (listsOthers || length == 5) && headers.isListedInConnection(field) // 5: a field named "close"
    }

    /// Whether the field is one RFC 9110 §7.6.1 and RFC 9112 define as hop-by-hop: Connection,
    /// TE, Trailer, Transfer-Encoding, Upgrade, and by common practice Keep-Alive and
    /// Proxy-Connection. By length first: most fields have none of these lengths. (Literals, not
    /// a table of names: a static table is initialized lazily, and every request would pay the
    /// check that it is.)
    private static func hasHopByHopName(_ field: HTTPHeaders.Field, length: Int, in headers: HTTPHeaders) -> Bool {
        switch length {
        case 2: return headers.matches(field, "TE".utf8)
        case 7: return headers.matches(field, "Trailer".utf8) || headers.matches(field, "Upgrade".utf8)
        case 10: return headers.matches(field, "Connection".utf8) || headers.matches(field, "Keep-Alive".utf8)
        case 16: return headers.matches(field, "Proxy-Connection".utf8)
        case 17: return headers.matches(field, "Transfer-Encoding".utf8)
        default: return false
        }
    }

    /// What an Expect field asks for (RFC 9110 §10.1.1).
    public enum Expectation: Sendable, Equatable {
        /// No Expect field, or one in an HTTP/1.0 request (which a server MUST ignore).
        case none
        /// `100-continue`: the client waits for a 100 before sending the content.
        case continue100
        /// Any other expectation: answer 417 (Expectation Failed).
        case unsupported
    }

    /// The expectation of `request`.
    public static func expectation(of request: HTTPRequestHead) -> Expectation {
        let values = request.headers.values(for: "Expect")
        guard !values.isEmpty, request.version == .http1_1 else { return .none }
        var continues = false
        for value in values {
            for element in value.split(separator: ",") {
                let trimmed = element.utf8.drop(while: ASCII.isWhitespace).reversed().drop(while: ASCII.isWhitespace).reversed()
                if trimmed.isEmpty { continue }
                guard ASCII.equalsIgnoringCase(trimmed, "100-continue".utf8) else { return .unsupported }
                continues = true
            }
        }
        return continues ? .continue100 : .none
    }

    /// Whether `request` asks to switch protocols (RFC 9110 §7.8): HTTP/1.1 (a server MUST ignore
    /// Upgrade in HTTP/1.0), an Upgrade field, and `upgrade` among the Connection options (without
    /// it the Upgrade field may have been forwarded by a hop that did not understand it).
    public static func isUpgradeRequest(_ request: HTTPRequestHead) -> Bool {
        request.version == .http1_1 && request.headers.contains("Upgrade")
            && request.headers.containsToken("upgrade", in: "Connection")
    }

    /// Whether `request` is a WebSocket opening handshake (RFC 6455 §4.1): a GET that upgrades to
    /// `websocket`.
    public static func isWebSocketUpgrade(_ request: HTTPRequestHead) -> Bool {
        request.method == .GET && isUpgradeRequest(request) && request.headers.containsToken("websocket", in: "Upgrade")
    }

    /// Whether a response with `status` to a `method` request carries content (RFC 9110 §6.4.1,
    /// RFC 9112 §6.3): not to HEAD, not 1xx, 204 or 304, and not a 2xx to CONNECT (which starts a
    /// tunnel instead).
    public static func responseHasBody(status: Int, to method: HTTPMethod) -> Bool {
        if method == .HEAD || status < 200 || status == 204 || status == 304 { return false }
        if method == .CONNECT && (200...299).contains(status) { return false }
        return true
    }

    /// Whether a response turns the connection into a byte tunnel: 101 to a request that asked to
    /// upgrade (RFC 9110 §15.2.2), or 2xx to CONNECT (RFC 9110 §9.3.6).
    public static func responseStartsTunnel(status: Int, to method: HTTPMethod, upgradeRequested: Bool) -> Bool {
        (status == 101 && upgradeRequested) || (method == .CONNECT && (200...299).contains(status))
    }
}
