import Addresses
import Testing

@Suite("IP address text (RFC 4291 §2.2, RFC 5952)")
struct IPAddressTests {
    /// RFC 4291 §2.2's three text forms, with the eight groups they stand for.
    static let validIPv6Cases: [(String, [UInt16])] = [
        // Form 1: eight groups, upper or lower case, leading zeros optional.
        ("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789", [0xabcd, 0xef01, 0x2345, 0x6789, 0xabcd, 0xef01, 0x2345, 0x6789]),
        ("2001:DB8:0:0:8:800:200C:417A", [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]),
        ("2001:0db8:0000:0000:0008:0800:200c:417a", [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]),
        // Form 2: "::" for one or more groups of zeros, at the start, middle or end.
        ("2001:DB8::8:800:200C:417A", [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]),
        ("FF01::101", [0xff01, 0, 0, 0, 0, 0, 0, 0x101]),
        ("::1", [0, 0, 0, 0, 0, 0, 0, 1]),
        ("::", [0, 0, 0, 0, 0, 0, 0, 0]),
        ("1::", [1, 0, 0, 0, 0, 0, 0, 0]),
        ("1:2:3:4:5:6:7::", [1, 2, 3, 4, 5, 6, 7, 0]),
        ("::2:3:4:5:6:7:8", [0, 2, 3, 4, 5, 6, 7, 8]),
        ("1:2:3::6:7:8", [1, 2, 3, 0, 0, 6, 7, 8]),
        // Form 3: the last 32 bits as dotted IPv4.
        ("0:0:0:0:0:0:13.1.68.3", [0, 0, 0, 0, 0, 0, 0x0d01, 0x4403]),
        ("0:0:0:0:0:FFFF:129.144.52.38", [0, 0, 0, 0, 0, 0xffff, 0x8190, 0x3426]),
        ("::13.1.68.3", [0, 0, 0, 0, 0, 0, 0x0d01, 0x4403]),
        ("::ffff:1.2.3.4", [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]),
        ("64:ff9b::1.2.3.4", [0x64, 0xff9b, 0, 0, 0, 0, 0x0102, 0x0304]),
        ("1:2:3:4:5:6:255.255.255.255", [1, 2, 3, 4, 5, 6, 0xffff, 0xffff]),
    ]

    @Test("valid IPv6 text", arguments: validIPv6Cases)
    func validIPv6(text: String, groups: [UInt16]) throws {
        let address = try IPv6Address(parsing: text)
        #expect(address.groups == groups)
        #expect(try IPAddress(parsing: text) == .v6(address))
    }

    static let invalidIPv6Cases: [(String, String)] = [
        ("", "empty address"),
        (":::", "an IPv6 group is empty"),
        ("1::2::3", "at most one '::'"),
        ("1:2:3:4:5:6:7:8:9", "eight groups"),
        ("1:2:3:4:5:6:7", "eight groups"),
        ("1:2:3:4:5:6:7:8::", "'::' must stand for at least one group"),
        ("::1:2:3:4:5:6:7:8", "'::' must stand for at least one group"),
        ("12345::", "more than four hex digits"),
        ("1:2:3:4:5:6:7:", "cannot end with a single ':'"),
        ("1::2:", "cannot end with a single ':'"),
        (":1:2:3:4:5:6:7", "cannot start with a single ':'"),
        (":1::", "cannot start with a single ':'"),
        ("1:::2", "an IPv6 group is empty"),
        ("g::1", "unexpected character"),
        ("::1 ", "unexpected character"),
        (" ::1", "unexpected character"),
        (":: 1", "unexpected character"),
        ("fe80::1%eth0", "zone ids"),
        ("fe80::1%25eth0", "zone ids"),
        ("1.2.3.4::", "an embedded IPv4 address must come last"),
        ("::1.2.3.4:5", "an embedded IPv4 address must come last"),
        ("::1.2.3", "four octets"),
        ("::256.1.1.1", "larger than 255"),
        ("::ffff:01.2.3.4", "leading zero"),
        ("1:2:3:4:5:6:7:1.2.3.4", "eight groups"),
        ("1:2:3:4:5:6:7::1.2.3.4", "'::' must stand for at least one group"),
        ("[::1]", "unexpected character"),
    ]

    @Test("invalid IPv6 text says why", arguments: invalidIPv6Cases)
    func invalidIPv6(text: String, reason: String) {
        #expect {
            _ = try IPv6Address(parsing: text)
        } throws: { error in
            guard let error = error as? AddressParseError else { return false }
            // The whole text is named, even when the problem is in an embedded IPv4 part.
            return error.input == text && error.reason.contains(reason)
        }
    }

    static let validIPv4Cases: [(String, UInt32)] = [
        ("0.0.0.0", 0), ("255.255.255.255", 0xffff_ffff), ("10.0.0.1", 0x0a00_0001), ("127.0.0.6", 0x7f00_0006),
        ("192.168.100.200", 0xc0a8_64c8), ("1.2.3.4", 0x0102_0304),
    ]

    @Test("valid IPv4 text", arguments: validIPv4Cases)
    func validIPv4(text: String, value: UInt32) throws {
        let address = try IPv4Address(parsing: text)
        #expect(address.value == value)
        #expect(address.description == text)
        #expect(try IPAddress(parsing: text) == .v4(address))
    }

    static let invalidIPv4Cases: [(String, String)] = [
        ("", "empty address"),
        ("1.2.3", "four octets"),
        ("1.2.3.4.5", "four octets"),
        ("1.2.3.", "an IPv4 octet is empty"),
        (".1.2.3", "an IPv4 octet is empty"),
        ("1..2.3", "an IPv4 octet is empty"),
        ("256.1.1.1", "larger than 255"),
        ("1.2.3.1000", "larger than 255"),
        ("01.2.3.4", "leading zero"),
        ("1.2.3.00", "leading zero"),
        ("1.2.3.-1", "unexpected character"),
        (" 1.2.3.4", "unexpected character"),
        ("1.2.3.4 ", "unexpected character"),
        ("1.2.3.4/8", "unexpected character"),
        ("\u{FF11}.2.3.4", "unexpected character"), // a full-width digit is not an ASCII digit
        ("0x1.2.3.4", "unexpected character"),
        ("localhost", "unexpected character"),
    ]

    @Test("invalid IPv4 text says why", arguments: invalidIPv4Cases)
    func invalidIPv4(text: String, reason: String) {
        #expect {
            _ = try IPv4Address(parsing: text)
        } throws: { error in
            guard let error = error as? AddressParseError else { return false }
            return error.input == text && error.reason.contains(reason)
        }
    }

    /// RFC 5952 §4 (and §5 for IPv4-mapped addresses): the one text form to print.
    static let canonical: [(String, String)] = [
        ("2001:0db8::0001", "2001:db8::1"),                       // §4.1 leading zeros dropped
        ("2001:db8:0:0:0:0:2:1", "2001:db8::2:1"),                // §4.2.1 shortest
        ("2001:db8:0000:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),      // §4.2.2 one zero group stays
        ("2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),          // ... even when written with '::'
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),                  // §4.2.3 longest run
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),            // §4.2.3 first of equal runs
        ("2001:DB8::ABCD:EF", "2001:db8::abcd:ef"),               // §4.3 lowercase
        ("0:0:0:0:0:0:0:0", "::"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("1:0:0:0:0:0:0:0", "1::"),
        ("1:0:0:0:0:0:0:2", "1::2"),
        ("0:0:1:0:0:0:0:0", "0:0:1::"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7"),
        ("::FFFF:129.144.52.38", "::ffff:129.144.52.38"),         // §5 mapped IPv4 stays dotted
        ("::ffff:0:0", "::ffff:0.0.0.0"),
        ("64:ff9b::1.2.3.4", "64:ff9b::102:304"),
        ("::13.1.68.3", "::d01:4403"),
        ("fe80::0:0:1", "fe80::1"),
    ]

    @Test("RFC 5952 canonical text", arguments: canonical)
    func canonicalText(text: String, expected: String) throws {
        let address = try IPv6Address(parsing: text)
        #expect(address.description == expected)
        #expect(try IPv6Address(parsing: expected) == address)
    }

    @Test("bytes and halves agree")
    func bytes() throws {
        let address = try IPv6Address(parsing: "2001:db8::8:800:200c:417a")
        #expect(address.bytes == [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x08, 0x08, 0x00, 0x20, 0x0c, 0x41, 0x7a])
        #expect(IPv6Address(bytes: address.bytes) == address)
        #expect(IPAddress.v6(address).bytes == address.bytes)
        #expect(IPAddress.v4(IPv4Address(10, 0, 0, 1)).bytes == [10, 0, 0, 1])
    }

    @Test("loopback and mapped addresses")
    func special() throws {
        #expect(try IPAddress(parsing: "127.1.2.3").isLoopback)
        #expect(try IPAddress(parsing: "::1").isLoopback)
        #expect(try IPAddress(parsing: "::ffff:127.0.0.1").isLoopback)
        #expect(try !IPAddress(parsing: "::2").isLoopback)
        #expect(try !IPAddress(parsing: "128.0.0.1").isLoopback)
        #expect(try IPAddress(parsing: "::ffff:10.0.0.1").unmapped == .v4(IPv4Address(10, 0, 0, 1)))
        #expect(try IPAddress(parsing: "64:ff9b::10.0.0.1").unmapped == IPAddress(parsing: "64:ff9b::a00:1"))
        #expect(IPv6Address.inboundPassthroughSource.description == "::6")
        #expect(IPv4Address.inboundPassthroughSource.description == "127.0.0.6")
    }

    @Test("addresses order by value")
    func ordering() throws {
        #expect(try IPv4Address(parsing: "9.255.255.255") < IPv4Address(parsing: "10.0.0.0"))
        #expect(try IPv6Address(parsing: "::ffff:ffff:ffff:ffff") < IPv6Address(parsing: "0:0:0:1::"))
    }

    @Test("formatting then parsing gives the same address", arguments: validIPv6Cases.map(\.0) + validIPv4Cases.map(\.0) + canonical.map(\.0))
    func roundTrip(text: String) throws {
        let address = try IPAddress(parsing: text)
        #expect(try IPAddress(parsing: address.description) == address)
        #expect(try IPAddress(parsing: address.description).description == address.description)
    }
}
