/// An IP address and TCP port: what a socket is bound or connected to.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16
    /// The IPv6 scope (interface index) of a link-local address; 0 otherwise.
    public var scopeID: UInt32

    public init(ip: IPAddress, port: UInt16, scopeID: UInt32 = 0) {
        self.ip = ip
        self.port = port
        self.scopeID = scopeID
    }

    public init(_ v4: IPv4Address, port: UInt16) { self.init(ip: .v4(v4), port: port) }
    public init(_ v6: IPv6Address, port: UInt16, scopeID: UInt32 = 0) {
        self.init(ip: .v6(v6), port: port, scopeID: scopeID)
    }

    /// Parses `a.b.c.d:port` or `[v6]:port`.
    public init(parsing text: some StringProtocol) throws(AddressParseError) {
        let input = String(text)
        let hostPart: Substring
        let portPart: Substring
        if input.hasPrefix("[") {
            guard let close = input.firstIndex(of: "]") else {
                throw AddressParseError(input, "missing ']' after the IPv6 address")
            }
            hostPart = input[input.index(after: input.startIndex)..<close]
            let rest = input[input.index(after: close)...]
            guard rest.hasPrefix(":") else { throw AddressParseError(input, "missing ':port' after ']'") }
            portPart = rest.dropFirst()
        } else {
            guard let colon = input.lastIndex(of: ":") else {
                throw AddressParseError(input, "missing ':port'")
            }
            hostPart = input[..<colon]
            guard !hostPart.contains(":") else {
                throw AddressParseError(input, "write IPv6 socket addresses as [address]:port")
            }
            portPart = input[input.index(after: colon)...]
        }
        let ip: IPAddress
        do { ip = try IPAddress(parsing: hostPart) } catch { throw AddressParseError(input, error.reason) }
        // RFC 3986 §3.2.2: brackets enclose IPv6 literals only; `[1.2.3.4]:80` is not an address
        // any other tool would print, so refusing it keeps one spelling per endpoint.
        if input.hasPrefix("["), case .v4(let v4) = ip {
            throw AddressParseError(input, "brackets are only for IPv6 addresses; write \(v4):\(portPart)")
        }
        let port: UInt16
        do { port = try parsePort(portPart) } catch { throw AddressParseError(input, error.reason) }
        self.init(ip: ip, port: port)
    }

    /// `a.b.c.d:port` or `[v6]:port`, the form `init(parsing:)` reads.
    public var description: String {
        switch ip {
        case .v4(let a): return "\(a):\(port)"
        case .v6(let a): return "[\(a)]:\(port)"
        }
    }

    /// The same endpoint with an IPv4-mapped IPv6 address written as plain IPv4, so a dual-stack
    /// listener reports `10.0.0.1:80` rather than `[::ffff:10.0.0.1]:80`.
    public var unmapped: SocketAddress {
        SocketAddress(ip: ip.unmapped, port: port, scopeID: ip.unmapped == ip ? scopeID : 0)
    }
}

/// Parses a TCP port: a decimal number 1...65535 (0 means "any" to the kernel and is never a
/// valid destination or listener here).
public func parsePort(_ text: some StringProtocol) throws(AddressParseError) -> UInt16 {
    let input = String(text)
    guard !input.isEmpty else { throw AddressParseError(input, "empty port") }
    guard input.count <= 5, input.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
          let value = Int(input) else {
        throw AddressParseError(input, "a port must be a number from 1 to 65535")
    }
    guard value >= 1, value <= 65535 else {
        throw AddressParseError(input, "a port must be a number from 1 to 65535")
    }
    return UInt16(value)
}

/// Parses a comma-separated list of ports (`"80,443, 8080"`); an empty (or blank) string is an empty
/// list. Duplicates are dropped, order is kept. Errors name the whole list and the bad item.
public func parsePortList(_ text: some StringProtocol) throws(AddressParseError) -> [UInt16] {
    var ports: [UInt16] = []
    for item in try listItems(text) {
        let port: UInt16
        do { port = try parsePort(item) } catch { throw AddressParseError(String(text), "\"\(item)\": \(error.reason)") }
        if !ports.contains(port) { ports.append(port) }
    }
    return ports
}

/// Parses a comma-separated list of CIDRs (or bare addresses); `*` alone means every address of
/// both families; an empty (or blank) string is an empty list. Duplicates are dropped, order is
/// kept. Errors name the whole list and the bad item.
public func parseCIDRList(_ text: some StringProtocol) throws(AddressParseError) -> [CIDR] {
    var ranges: [CIDR] = []
    for item in try listItems(text) {
        if item == "*" {
            for all in CIDR.everything where !ranges.contains(all) { ranges.append(all) }
            continue
        }
        let range: CIDR
        do { range = try CIDR(parsing: item) } catch { throw AddressParseError(String(text), error.description) }
        if !ranges.contains(range) { ranges.append(range) }
    }
    return ranges
}

/// The trimmed items of a comma-separated list. A blank text is no items; an empty item inside a
/// list (`80,,443`, a trailing comma) is an error, since it is usually a value that went missing.
private func listItems(_ text: some StringProtocol) throws(AddressParseError) -> [Substring] {
    if text.trimmingSpaces.isEmpty { return [] }
    var items: [Substring] = []
    for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
        let trimmed = piece.trimmingSpaces
        guard !trimmed.isEmpty else {
            throw AddressParseError(String(text), "the list has an empty item; remove the extra comma")
        }
        items.append(trimmed)
    }
    return items
}

extension CIDR {
    /// `0.0.0.0/0` and `::/0`.
    public static var everything: [CIDR] {
        // Both are valid by construction, so the throwing initialiser cannot fail here.
        [try! CIDR(address: .v4(.any), prefixLength: 0), try! CIDR(address: .v6(.any), prefixLength: 0)]
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        let text = Substring(self)
        guard let first = text.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return text[text.endIndex...] }
        let last = text.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return text[first...last]
    }
}
