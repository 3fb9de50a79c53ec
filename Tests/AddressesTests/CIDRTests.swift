import Addresses
import Testing

@Suite("CIDR ranges (RFC 4632 §3.1, RFC 4291 §2.3)")
struct CIDRTests {
    static let valid: [(String, String, Int)] = [
        ("10.0.0.0/8", "10.0.0.0", 8),
        ("0.0.0.0/0", "0.0.0.0", 0),
        ("1.2.3.4/32", "1.2.3.4", 32),
        ("192.168.0.0/16", "192.168.0.0", 16),
        ("172.16.0.0/12", "172.16.0.0", 12),
        ("::/0", "::", 0),
        ("::1/128", "::1", 128),
        ("2001:db8::/32", "2001:db8::", 32),
        ("2001:DB8:0:0:8::/80", "2001:db8:0:0:8::", 80),
        ("fe80::/10", "fe80::", 10),
        ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0", 104),
        // A bare address is a host route.
        ("1.2.3.4", "1.2.3.4", 32),
        ("::1", "::1", 128),
    ]

    @Test("valid ranges", arguments: valid)
    func validRange(text: String, address: String, prefixLength: Int) throws {
        let range = try CIDR(parsing: text)
        #expect(range.address == (try IPAddress(parsing: address)))
        #expect(range.prefixLength == prefixLength)
        #expect(try CIDR(parsing: range.description) == range)
    }

    static let invalid: [(String, String)] = [
        ("10.1.2.3/8", "host bits are set below the /8 prefix; did you mean 10.0.0.0/8?"),
        ("192.168.1.1/24", "did you mean 192.168.1.0/24?"),
        ("2001:db8::1/32", "did you mean 2001:db8::/32?"),
        ("::1/0", "did you mean ::/0?"),
        ("10.0.0.0/33", "the prefix length must be 0...32"),
        ("::/129", "the prefix length must be 0...128"),
        ("10.0.0.0/1000", "the prefix length must be 0...32"),
        ("10.0.0.0/", "the prefix length after '/' must be a number"),
        ("10.0.0.0/a", "the prefix length after '/' must be a number"),
        ("10.0.0.0/-1", "the prefix length after '/' must be a number"),
        ("10.0.0.0/+8", "the prefix length after '/' must be a number"),
        ("10.0.0.0/ 8", "the prefix length after '/' must be a number"),
        ("10.0.0.0/8/8", "a CIDR has one '/'"),
        ("/8", "not a CIDR: empty address"),
        ("10.0.0/8", "not a CIDR: an IPv4 address has four octets"),
        ("", "not a CIDR: empty address"),
        ("fe80::/10%eth0", "the prefix length after '/' must be a number"),
    ]

    @Test("invalid ranges say why", arguments: invalid)
    func invalidRange(text: String, reason: String) {
        #expect {
            _ = try CIDR(parsing: text)
        } throws: { error in
            guard let error = error as? AddressParseError else { return false }
            return error.input == text && error.reason.contains(reason)
        }
    }

    static let containment: [(String, String, Bool)] = [
        ("10.0.0.0/8", "10.0.0.0", true),
        ("10.0.0.0/8", "10.255.255.255", true),
        ("10.0.0.0/8", "11.0.0.0", false),
        ("10.0.0.0/8", "9.255.255.255", false),
        ("0.0.0.0/0", "255.255.255.255", true),
        ("0.0.0.0/0", "::", false),          // never across families
        ("::/0", "0.0.0.0", false),
        ("::/0", "ffff::1", true),
        ("1.2.3.4/32", "1.2.3.4", true),
        ("1.2.3.4/32", "1.2.3.5", false),
        ("2001:db8::/32", "2001:db8:ffff:ffff::1", true),
        ("2001:db8::/32", "2001:db9::", false),
        ("::1/128", "::1", true),
        ("::/127", "::1", true),
        ("::/127", "::2", false),
        ("fe80::/10", "febf:ffff::", true),
        ("fe80::/10", "fec0::", false),
        ("::ffff:0.0.0.0/96", "::ffff:10.0.0.1", true),
    ]

    @Test("contains", arguments: containment)
    func contains(range: String, address: String, expected: Bool) throws {
        #expect(try CIDR(parsing: range).contains(IPAddress(parsing: address)) == expected)
    }

    static let masks: [(String, [UInt8])] = [
        ("0.0.0.0/0", [0, 0, 0, 0]),
        ("128.0.0.0/1", [128, 0, 0, 0]),
        ("10.0.0.0/8", [255, 0, 0, 0]),
        ("10.0.0.0/9", [255, 128, 0, 0]),
        ("10.0.16.0/20", [255, 255, 240, 0]),
        ("10.0.0.0/31", [255, 255, 255, 254]),
        ("1.2.3.4/32", [255, 255, 255, 255]),
        ("::/0", [UInt8](repeating: 0, count: 16)),
        ("2001:db8::/64", [UInt8](repeating: 255, count: 8) + [UInt8](repeating: 0, count: 8)),
        ("2001:db8::/65", [UInt8](repeating: 255, count: 8) + [128] + [UInt8](repeating: 0, count: 7)),
        ("::/127", [UInt8](repeating: 255, count: 15) + [254]),
        ("::1/128", [UInt8](repeating: 255, count: 16)),
    ]

    @Test("maskBytes", arguments: masks)
    func maskBytes(range: String, mask: [UInt8]) throws {
        #expect(try CIDR(parsing: range).maskBytes == mask)
    }

    @Test("the designated initialiser refuses the same mistakes")
    func designatedInit() throws {
        #expect(throws: AddressParseError.self) { try CIDR(address: .v4(IPv4Address(10, 1, 0, 0)), prefixLength: 8) }
        #expect(throws: AddressParseError.self) { try CIDR(address: .v4(.any), prefixLength: -1) }
        #expect(throws: AddressParseError.self) { try CIDR(address: .v6(.any), prefixLength: 129) }
        #expect(try CIDR(address: .v6(.loopback), prefixLength: 128).description == "::1/128")
        #expect(try CIDR(parsing: "10.0.0.0/8").isIPv4)
        #expect(try !CIDR(parsing: "::/0").isIPv4)
    }

    static let maskedCases: [(String, Int, String)] = [
        ("10.1.2.3", 8, "10.0.0.0"), ("10.1.2.3", 0, "0.0.0.0"), ("10.1.2.3", 32, "10.1.2.3"),
        ("10.1.2.3", 33, "10.1.2.3"), ("10.1.2.3", -1, "0.0.0.0"), ("10.1.2.3", 1000, "10.1.2.3"),
        ("2001:db8::1", 32, "2001:db8::"), ("2001:db8::1", 127, "2001:db8::"), ("2001:db8::1", 129, "2001:db8::1"),
        ("2001:db8::1", -5, "::"),
    ]

    @Test("masked(to:) clamps out-of-range lengths instead of trapping", arguments: maskedCases)
    func masked(address: String, prefixLength: Int, expected: String) throws {
        #expect(try IPAddress(parsing: address).masked(to: prefixLength) == IPAddress(parsing: expected))
    }
}
