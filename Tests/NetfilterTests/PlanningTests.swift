import Addresses
@testable import Netfilter
import Testing

@Suite("Interception options")
struct InterceptionOptionsTests {
    struct Invalid: Sendable, CustomTestStringConvertible {
        let label: String
        let make: @Sendable () throws(InvalidInterceptionOptions) -> InterceptionOptions
        let flag: String
        let reasonContains: String
        var testDescription: String { label }
    }

    static let invalid: [Invalid] = [
        Invalid(label: "same inbound and outbound port", make: { () throws(InvalidInterceptionOptions) in try InterceptionOptions(outboundPort: 15006, inboundPort: 15006) },
                flag: "--inbound-port", reasonContains: "both 15006"),
        Invalid(label: "outbound port 0", make: { () throws(InvalidInterceptionOptions) in try InterceptionOptions(outboundPort: 0) },
                flag: "--outbound-port", reasonContains: "port 0"),
        Invalid(label: "inbound port 0", make: { () throws(InvalidInterceptionOptions) in try InterceptionOptions(inboundPort: 0) },
                flag: "--inbound-port", reasonContains: "port 0"),
        Invalid(label: "excluded inbound port 0", make: { () throws(InvalidInterceptionOptions) in try InterceptionOptions(excludedInboundPorts: [80, 0]) },
                flag: "--exclude-inbound-ports", reasonContains: "port 0"),
        Invalid(label: "excluded outbound port 0", make: { () throws(InvalidInterceptionOptions) in try InterceptionOptions(excludedOutboundPorts: [0]) },
                flag: "--exclude-outbound-ports", reasonContains: "port 0"),
        Invalid(label: "uid (uid_t)-1", make: { () throws(InvalidInterceptionOptions) in try InterceptionOptions(proxyUID: .max) },
                flag: "--proxy-uid", reasonContains: "(uid_t)-1"),
        Invalid(label: "gid (gid_t)-1", make: { () throws(InvalidInterceptionOptions) in try InterceptionOptions(proxyGID: .max) },
                flag: "--proxy-gid", reasonContains: "(gid_t)-1"),
    ]

    @Test("invalid options name the flag and the reason", arguments: invalid)
    func rejects(_ example: Invalid) {
        #expect {
            _ = try example.make()
        } throws: { error in
            guard let invalid = error as? InvalidInterceptionOptions else { return false }
            return invalid.flag == example.flag && invalid.reason.contains(example.reasonContains)
        }
    }

    @Test("duplicates are dropped, order kept")
    func deduplicates() throws {
        let options = try InterceptionOptions(
            excludedInboundPorts: [22, 80, 22],
            excludedOutboundCIDRs: [CIDR(parsing: "10.0.0.0/8"), CIDR(parsing: "fd00::/8"), CIDR(parsing: "10.0.0.0/8")]
        )
        #expect(options.excludedInboundPorts == [22, 80])
        #expect(options.excludedOutboundCIDRs.map(\.description) == ["10.0.0.0/8", "fd00::/8"])
    }

    @Test("an always-excluded inbound port given again appears once")
    func alwaysExcludedOnce() throws {
        let ruleset = Ruleset(planning: try InterceptionOptions(excludedInboundPorts: [15021, 22]))
        #expect(ruleset.chains[0].rules.map(\.nftText) == [
            "tcp dport 15090 counter return", "tcp dport 15021 counter return", "tcp dport 15020 counter return",
            "tcp dport 22 counter return", "meta l4proto tcp counter redirect to :15006",
        ])
    }
}

/// The flag values of `weft init` go through Addresses' parsers; these are the inputs an operator
/// types and what each must become (or why it is refused).
@Suite("Flag value parsing")
struct FlagParsingTests {
    @Test("port lists", arguments: [
        ("", [UInt16]()), ("80", [80]), ("80,443", [80, 443]), ("80, 443 ,80", [80, 443]), ("1,65535", [1, 65535]),
    ])
    func portLists(_ text: String, _ expected: [UInt16]) throws {
        #expect(try parsePortList(text) == expected)
    }

    @Test("bad ports are refused with a reason", arguments: ["0", "70000", "65536", "-1", "http", "80,,443", "1e3"])
    func badPorts(_ text: String) {
        #expect(throws: AddressParseError.self) { try parsePortList(text) }
    }

    @Test("CIDR lists", arguments: [
        ("*", ["0.0.0.0/0", "::/0"]),
        ("10.0.0.0/8,fd00::/8", ["10.0.0.0/8", "fd00::/8"]),
        ("10.1.2.3", ["10.1.2.3/32"]),
        ("2001:db8::1", ["2001:db8::1/128"]),
        ("", []),
    ])
    func cidrLists(_ text: String, _ expected: [String]) throws {
        #expect(try parseCIDRList(text).map(\.description) == expected)
    }

    @Test("bad CIDRs are refused with a reason", arguments: [
        ("10.0.0.0/33", "prefix length"), ("10.1.2.3/8", "host bits"), ("300.0.0.0/8", "larger than 255"),
        ("10.0.0/8", "four octets"), ("fd00::/129", "prefix length"), ("10.0.0.0/x", "must be a number"), ("bogus", "not a CIDR"),
    ])
    func badCIDRs(_ text: String, _ reason: String) {
        #expect {
            try parseCIDRList(text)
        } throws: { error in
            (error as? AddressParseError)?.reason.contains(reason) == true
        }
    }
}

@Suite("Lowering matches to expressions")
struct LoweringTests {
    static func cidr(_ text: String) -> CIDR { try! CIDR(parsing: text) }

    @Test("address tests follow nft: whole bytes of an aligned prefix, else a mask", arguments: [
        // (range, payload length, mask present, compared bytes)
        ("10.0.0.0/8", 1, false, [10]),
        ("192.168.0.0/16", 2, false, [192, 168]),
        ("172.16.5.0/24", 3, false, [172, 16, 5]),
        ("10.16.0.0/12", 4, true, [10, 16, 0, 0]),
        ("10.1.2.3/32", 4, false, [10, 1, 2, 3]),
        ("fd00::/8", 1, false, [0xfd]),
        ("2001:db8::/33", 16, true, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12)),
        ("fd00:1::/64", 8, false, [0xfd, 0, 0, 1, 0, 0, 0, 0]),
    ] as [(String, Int, Bool, [UInt8])])
    func prefixes(_ range: String, _ length: Int, _ masked: Bool, _ data: [UInt8]) {
        let expressions = Match.address(.destination, Self.cidr(range), negated: false).expressions
        let family: UInt8 = range.contains(":") ? 10 : 2
        #expect(expressions.first == .meta(key: .nfproto, destination: .one))
        #expect(expressions.dropFirst().first == .compare(.equal, source: .one, data: [family]))
        #expect(expressions.contains { if case .payload(.network, _, UInt32(length), .one) = $0 { return true } else { return false } })
        #expect(expressions.contains { if case .bitwise = $0 { return true } else { return false } } == masked)
        #expect(expressions.last == .compare(.equal, source: .one, data: data))
    }

    @Test("a whole family is a family test, not an address load")
    func wholeFamily() {
        #expect(Match.destination(in: Self.cidr("0.0.0.0/0")) == .family(.ipv4))
        #expect(Match.destination(in: Self.cidr("::/0")) == .family(.ipv6))
        #expect(Match.destination(in: Self.cidr("10.0.0.0/8")) == .address(.destination, Self.cidr("10.0.0.0/8"), negated: false))
    }

    @Test("meta values are in host order, packet values in network order")
    func byteOrder() {
        #expect(Match.socketUser(1337).expressions.last == .compare(.equal, source: .one, data: UInt32(1337).hostOrderBytes))
        #expect(UInt32(0x0102_0304).hostOrderBytes == (UInt16(1).littleEndian == 1 ? [4, 3, 2, 1] : [1, 2, 3, 4]))
        #expect(Match.tcpDestinationPort(15001).expressions.last == .compare(.equal, source: .one, data: [0x3a, 0x99]))
        #expect(Rule([.tcp], .redirect(port: 15006)).expressions.suffix(2) == [
            .immediate(destination: .one, data: [0x3a, 0x9e]),
            .redirect(protoMin: .one, protoMax: nil, flags: 2),
        ])
    }

    @Test("interface names compare as 16 zero-padded bytes")
    func interfaceName() {
        let data: [UInt8] = [0x6c, 0x6f] + [UInt8](repeating: 0, count: 14)
        #expect(Match.outputInterface("lo").expressions == [
            .meta(key: .outputInterfaceName, destination: .one), .compare(.equal, source: .one, data: data),
        ])
    }

    // The expected words below are how a little-endian host reads the bytes.
    @Test("debug text uses libnftnl's word layout", .enabled(if: UInt16(1).littleEndian == 1), arguments: [
        (NftExpression.compare(.equal, source: .one, data: [6]), "[ cmp eq reg 1 0x00000006 ]"),
        (.compare(.notEqual, source: .one, data: [127, 0, 0, 1]), "[ cmp neq reg 1 0x0100007f ]"),
        (.payload(base: .transport, offset: 2, length: 2, destination: .one), "[ payload load 2b @ transport header + 2 => reg 1 ]"),
        (.bitwise(source: .one, destination: .one, mask: [255, 240, 0, 0], xor: [0, 0, 0, 0]), "[ bitwise reg 1 = ( reg 1 & 0x0000f0ff ) ^ 0x00000000 ]"),
        (.verdict(.return), "[ immediate reg 0 return ]"),
        (.redirect(protoMin: .one, protoMax: .one, flags: 2), "[ redir proto_min reg 1 proto_max reg 1 flags 0x2 ]"),
        (.counter(packets: 3, bytes: 180), "[ counter pkts 3 bytes 180 ]"),
    ] as [(NftExpression, String)])
    func debugText(_ expression: NftExpression, _ text: String) {
        #expect(expression.description == text)
    }
}
