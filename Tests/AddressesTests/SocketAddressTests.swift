import Addresses
import Testing

@Suite("Socket addresses, ports and lists")
struct SocketAddressTests {
    static let valid: [(String, String, UInt16, String)] = [
        ("[::1]:80", "::1", 80, "[::1]:80"),
        ("1.2.3.4:65535", "1.2.3.4", 65535, "1.2.3.4:65535"),
        ("10.0.0.1:1", "10.0.0.1", 1, "10.0.0.1:1"),
        ("[2001:DB8::1]:443", "2001:db8::1", 443, "[2001:db8::1]:443"),
        ("[::]:15001", "::", 15001, "[::]:15001"),
        ("[::ffff:10.0.0.1]:8080", "::ffff:10.0.0.1", 8080, "[::ffff:10.0.0.1]:8080"),
        ("127.0.0.1:00080", "127.0.0.1", 80, "127.0.0.1:80"),
    ]

    @Test("parse and format", arguments: valid)
    func parseAndFormat(text: String, ip: String, port: UInt16, formatted: String) throws {
        let address = try SocketAddress(parsing: text)
        #expect(address.ip == (try IPAddress(parsing: ip)))
        #expect(address.port == port)
        #expect(address.scopeID == 0)
        #expect(address.description == formatted)
        #expect(try SocketAddress(parsing: formatted) == address)
    }

    static let invalid: [(String, String)] = [
        ("1.2.3.4:0", "a port must be a number from 1 to 65535"),
        ("1.2.3.4:65536", "a port must be a number from 1 to 65535"),
        ("1.2.3.4:100000", "a port must be a number from 1 to 65535"),
        ("1.2.3.4:", "empty port"),
        ("1.2.3.4", "missing ':port'"),
        ("1.2.3.4:-1", "a port must be a number"),
        ("1.2.3.4:+80", "a port must be a number"),
        ("1.2.3.4: 80", "a port must be a number"),
        ("1.2.3.4:http", "a port must be a number"),
        ("::1:80", "write IPv6 socket addresses as [address]:port"),
        ("2001:db8::1:443", "write IPv6 socket addresses as [address]:port"),
        ("[::1]", "missing ':port' after ']'"),
        ("[::1]80", "missing ':port' after ']'"),
        ("[::1", "missing ']' after the IPv6 address"),
        ("[::1]:", "empty port"),
        ("[::1]:0", "a port must be a number from 1 to 65535"),
        ("[1.2.3.4]:80", "brackets are only for IPv6 addresses"),
        ("[]:80", "empty address"),
        ("[fe80::1%eth0]:80", "zone ids"),
        (":80", "empty address"),
        ("", "missing ':port'"),
        ("256.0.0.1:80", "larger than 255"),
    ]

    @Test("invalid socket addresses say why", arguments: invalid)
    func invalidAddress(text: String, reason: String) {
        #expect {
            _ = try SocketAddress(parsing: text)
        } throws: { error in
            guard let error = error as? AddressParseError else { return false }
            return error.input == text && error.reason.contains(reason)
        }
    }

    @Test("unmapped writes an IPv4-mapped peer as IPv4")
    func unmapped() throws {
        let mapped = SocketAddress(try IPv6Address(parsing: "::ffff:10.0.0.1"), port: 80, scopeID: 3)
        #expect(mapped.unmapped.description == "10.0.0.1:80")
        #expect(mapped.unmapped.scopeID == 0)
        let linkLocal = SocketAddress(try IPv6Address(parsing: "fe80::1"), port: 80, scopeID: 3)
        #expect(linkLocal.unmapped == linkLocal)
    }

    static let ports: [(String, UInt16)] = [("1", 1), ("80", 80), ("65535", 65535), ("08080", 8080)]

    @Test("ports", arguments: ports)
    func port(text: String, value: UInt16) throws {
        #expect(try parsePort(text) == value)
    }

    @Test("invalid ports", arguments: ["", "0", "65536", "99999", "123456", "-1", "+1", "1e3", "0x50", " 80", "８０"])
    func invalidPort(text: String) {
        #expect(throws: AddressParseError.self) { try parsePort(text) }
    }

    static let portLists: [(String, [UInt16])] = [
        ("", []),
        ("80", [80]),
        ("80,443, 8080", [80, 443, 8080]),
        ("443,80", [443, 80]),                 // order is kept
        ("80,80,443,80", [80, 443]),           // duplicates dropped
        (" 80 ,\t443\t", [80, 443]),
        ("15090,15021,15020", [15090, 15021, 15020]),
    ]

    @Test("port lists", arguments: portLists)
    func portList(text: String, expected: [UInt16]) throws {
        #expect(try parsePortList(text) == expected)
    }

    static let invalidPortLists: [(String, String)] = [
        ("80,,443", "an empty item"),
        ("80,", "an empty item"),
        (",80", "an empty item"),
        (",", "an empty item"),
        ("*", "\"*\": a port must be a number from 1 to 65535"),
        ("80,0", "\"0\": a port must be a number from 1 to 65535"),
        ("80;443", "a port must be a number from 1 to 65535"),
    ]

    @Test("invalid port lists name the whole list", arguments: invalidPortLists)
    func invalidPortList(text: String, reason: String) {
        #expect {
            _ = try parsePortList(text)
        } throws: { error in
            guard let error = error as? AddressParseError else { return false }
            return error.input == text && error.reason.contains(reason)
        }
    }

    static let cidrLists: [(String, [String])] = [
        ("", []),
        ("*", ["0.0.0.0/0", "::/0"]),
        (" * ", ["0.0.0.0/0", "::/0"]),
        ("10.0.0.0/8", ["10.0.0.0/8"]),
        ("10.0.0.0/8, 192.168.0.0/16", ["10.0.0.0/8", "192.168.0.0/16"]),
        ("10.0.0.0/8,10.0.0.0/8", ["10.0.0.0/8"]),
        ("10.0.0.0/8,*,0.0.0.0/0", ["10.0.0.0/8", "0.0.0.0/0", "::/0"]),
        ("1.2.3.4,::1", ["1.2.3.4/32", "::1/128"]),
        ("fd00::/8,10.96.0.0/12", ["fd00::/8", "10.96.0.0/12"]),
    ]

    @Test("CIDR lists", arguments: cidrLists)
    func cidrList(text: String, expected: [String]) throws {
        #expect(try parseCIDRList(text).map(\.description) == expected)
    }

    static let invalidCIDRLists: [(String, String)] = [
        ("10.0.0.0/8,,::/0", "an empty item"),
        ("10.0.0.0/8,", "an empty item"),
        ("10.1.0.0/8", "\"10.1.0.0/8\": host bits are set below the /8 prefix; did you mean 10.0.0.0/8?"),
        ("**", "not a CIDR"),
        ("10.0.0.0/8 192.168.0.0/16", "a CIDR has one '/'"),
    ]

    @Test("invalid CIDR lists name the whole list", arguments: invalidCIDRLists)
    func invalidCIDRList(text: String, reason: String) {
        #expect {
            _ = try parseCIDRList(text)
        } throws: { error in
            guard let error = error as? AddressParseError else { return false }
            return error.input == text && error.reason.contains(reason)
        }
    }

    @Test("everything is both families' /0")
    func everything() {
        #expect(CIDR.everything.map(\.description) == ["0.0.0.0/0", "::/0"])
    }
}
