import Addresses

/// One nf_tables expression: the kernel's bytecode unit. A rule lowers to a list of these
/// (`Rule.expressions`), exactly as `nft` compiles the same rule text, and a rule read back from
/// the kernel decodes to them again.
///
/// `description` is libnftnl's debug form (`[ cmp eq reg 1 0x00000539 ]`), the one
/// `nft --debug=netlink` prints, so plans and kernel rules can be compared with nft's output.
public enum NftExpression: Hashable, Sendable, CustomStringConvertible {
    /// `meta load KEY => reg`: a packet or socket property into a register.
    case meta(key: MetaKey, destination: Register)
    /// `cmp OP reg DATA`: stop evaluating the rule unless the register compares true.
    case compare(CompareOperator, source: Register, data: [UInt8])
    /// `payload load LEN @ BASE header + OFFSET => reg`: packet bytes, in network order.
    case payload(base: PayloadBase, offset: UInt32, length: UInt32, destination: Register)
    /// `bitwise reg = (reg & MASK) ^ XOR`; the length is the mask's.
    case bitwise(source: Register, destination: Register, mask: [UInt8], xor: [UInt8])
    /// `immediate reg DATA`: a constant into a data register.
    case immediate(destination: Register, data: [UInt8])
    /// `immediate reg 0 VERDICT`: the rule's verdict.
    case verdict(VerdictCode)
    /// `redir proto_min reg ...`: redirect to a local port read from a register.
    case redirect(protoMin: Register, protoMax: Register?, flags: UInt32)
    /// `counter`: packets and bytes seen (zero in a plan).
    case counter(packets: UInt64, bytes: UInt64)
    /// An expression Weft never writes, read back from the kernel: its name and what was seen.
    case unsupported(name: String, detail: String)

    public var description: String {
        switch self {
        case let .meta(key, destination):
            return "[ meta load \(key) => reg \(destination.rawValue) ]"
        case let .compare(op, source, data):
            return "[ cmp \(op) reg \(source.rawValue) \(hexWords(data))]"
        case let .payload(base, offset, length, destination):
            return "[ payload load \(length)b @ \(base) header + \(offset) => reg \(destination.rawValue) ]"
        case let .bitwise(source, destination, mask, xor):
            return "[ bitwise reg \(destination.rawValue) = ( reg \(source.rawValue) & \(hexWords(mask))) ^ \(hexWords(xor))]"
        case let .immediate(destination, data):
            return "[ immediate reg \(destination.rawValue) \(hexWords(data))]"
        case let .verdict(code):
            return "[ immediate reg \(Register.verdict.rawValue) \(code) ]"
        case let .redirect(protoMin, protoMax, flags):
            var text = "[ redir proto_min reg \(protoMin.rawValue) "
            if let protoMax { text += "proto_max reg \(protoMax.rawValue) " }
            return text + "flags 0x\(String(flags, radix: 16)) ]"
        case let .counter(packets, bytes):
            return "[ counter pkts \(packets) bytes \(bytes) ]"
        case let .unsupported(name, detail):
            return "[ \(name) \(detail) ]"
        }
    }

    /// The same expression with what the kernel fills in or changes by itself set to what a plan
    /// holds: counters to zero, and a redirect's `proto_max` dropped when it equals `proto_min`
    /// (nft_redir_init copies proto_min into proto_max when userspace sends none).
    public var normalizedForComparison: NftExpression {
        switch self {
        case .counter: return .counter(packets: 0, bytes: 0)
        case let .redirect(protoMin, protoMax, flags) where protoMax == protoMin:
            return .redirect(protoMin: protoMin, protoMax: nil, flags: flags)
        default: return self
        }
    }
}

/// An nf_tables register (`enum nft_registers`). nft uses the 16-byte `NFT_REG_1` for everything
/// Weft needs; register 0 holds the verdict.
public struct Register: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// NFT_REG_VERDICT.
    public static let verdict = Register(rawValue: 0)
    /// NFT_REG_1, 16 bytes wide.
    public static let one = Register(rawValue: 1)
}

/// A meta key (`enum nft_meta_keys` in linux/netfilter/nf_tables.h).
public struct MetaKey: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// NFT_META_OIFNAME: the output interface name, IFNAMSIZ bytes.
    public static let outputInterfaceName = MetaKey(rawValue: 7)
    /// NFT_META_SKUID: the uid owning the sending socket.
    public static let socketUser = MetaKey(rawValue: 10)
    /// NFT_META_SKGID: the gid owning the sending socket.
    public static let socketGroup = MetaKey(rawValue: 11)
    /// NFT_META_NFPROTO: the packet's netfilter family (1 byte).
    public static let nfproto = MetaKey(rawValue: 15)
    /// NFT_META_L4PROTO: the transport protocol number (1 byte).
    public static let l4proto = MetaKey(rawValue: 16)

    /// libnftnl's name for the key.
    public var description: String {
        switch self {
        case .outputInterfaceName: return "oifname"
        case .socketUser: return "skuid"
        case .socketGroup: return "skgid"
        case .nfproto: return "nfproto"
        case .l4proto: return "l4proto"
        default: return "key \(rawValue)"
        }
    }
}

/// A comparison (`enum nft_cmp_ops`).
public struct CompareOperator: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// NFT_CMP_EQ.
    public static let equal = CompareOperator(rawValue: 0)
    /// NFT_CMP_NEQ.
    public static let notEqual = CompareOperator(rawValue: 1)

    public var description: String {
        switch rawValue {
        case 0: return "eq"
        case 1: return "neq"
        case 2: return "lt"
        case 3: return "lte"
        case 4: return "gt"
        case 5: return "gte"
        default: return "unknown"
        }
    }
}

/// Where a payload offset counts from (`enum nft_payload_bases`).
public struct PayloadBase: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// NFT_PAYLOAD_NETWORK_HEADER: the IPv4 or IPv6 header.
    public static let network = PayloadBase(rawValue: 1)
    /// NFT_PAYLOAD_TRANSPORT_HEADER: the TCP header.
    public static let transport = PayloadBase(rawValue: 2)

    public var description: String {
        switch rawValue {
        case 0: return "link"
        case 1: return "network"
        case 2: return "transport"
        case 3: return "inner"
        default: return "unknown"
        }
    }
}

/// A verdict code (NF_ACCEPT, NF_DROP, or one of `enum nft_verdicts`, which are negative).
public struct VerdictCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// NFT_RETURN: leave this chain (a base chain then applies its policy).
    public static let `return` = VerdictCode(rawValue: -5)

    public var description: String {
        switch rawValue {
        case 0: return "drop"
        case 1: return "accept"
        case -1: return "continue"
        case -2: return "break"
        case -3: return "jump"
        case -4: return "goto"
        case -5: return "return"
        default: return "unknown"
        }
    }
}

/// `struct nf_nat_range2` flags: NF_NAT_RANGE_PROTO_SPECIFIED (linux/netfilter/nf_nat.h) says the
/// port registers are set; nft always sends it with a port, and kernels before 5.x need it.
let natRangeProtoSpecified: UInt32 = 0x2

extension Rule {
    /// The rule as the kernel runs it: what `nft --debug=netlink` shows for `nftText` in an
    /// `inet` table (network-layer tests guarded by `meta nfproto`, `tcp` fields by
    /// `meta l4proto`).
    public var expressions: [NftExpression] {
        var lowered = matches.flatMap(\.expressions)
        if counter { lowered.append(.counter(packets: 0, bytes: 0)) }
        switch verdict {
        case .return:
            lowered.append(.verdict(.return))
        case .redirect(let port):
            lowered.append(.immediate(destination: .one, data: port.networkOrderBytes))
            lowered.append(.redirect(protoMin: .one, protoMax: nil, flags: natRangeProtoSpecified))
        }
        return lowered
    }
}

extension Match {
    /// The expressions nft emits for this match in an `inet` table.
    var expressions: [NftExpression] {
        switch self {
        case .outputInterface(let name):
            // Interface names compare as IFNAMSIZ (16) bytes, zero-padded; a shorter comparison
            // would be a prefix match (`oifname "lo*"`).
            let bytes = Array(name.utf8.prefix(15))
            return [
                .meta(key: .outputInterfaceName, destination: .one),
                .compare(.equal, source: .one, data: bytes + Array(repeating: 0, count: 16 - bytes.count)),
            ]
        case let .address(field, range, negated):
            return NetworkFamily(of: range).guardExpressions + addressExpressions(field, range, negated: negated)
        case .tcpDestinationPort(let port):
            return Match.tcp.expressions + [
                .payload(base: .transport, offset: 2, length: 2, destination: .one),
                .compare(.equal, source: .one, data: port.networkOrderBytes),
            ]
        case .socketUser(let uid):
            // Meta values are compared in host byte order (they are kernel integers, not packet bytes).
            return [.meta(key: .socketUser, destination: .one), .compare(.equal, source: .one, data: uid.hostOrderBytes)]
        case .socketGroup(let gid):
            return [.meta(key: .socketGroup, destination: .one), .compare(.equal, source: .one, data: gid.hostOrderBytes)]
        case .tcp:
            return [.meta(key: .l4proto, destination: .one), .compare(.equal, source: .one, data: [6])]
        case .family(let family):
            return family.guardExpressions
        }
    }

    /// nft's lowering of an address test. A prefix that ends on a byte boundary loads only its
    /// leading bytes (no mask needed); any other prefix, /0 included, loads the whole address and
    /// masks it; a single host compares the whole address. (Observed with nft 1.0.6's
    /// `--debug=netlink` for /1 to /31 and /1 to /127; see Tests/NetfilterTests/Golden.)
    private func addressExpressions(_ field: AddressField, _ range: CIDR, negated: Bool) -> [NftExpression] {
        let offset: UInt32
        switch (range.isIPv4, field) {
        case (true, .source): offset = 12   // RFC 791 §3.1: source address at byte 12
        case (true, .destination): offset = 16
        case (false, .source): offset = 8   // RFC 8200 §3: source address at byte 8
        case (false, .destination): offset = 24
        }
        let op: CompareOperator = negated ? .notEqual : .equal
        let bytes = range.address.bytes
        if range.isHost {
            return [
                .payload(base: .network, offset: offset, length: UInt32(bytes.count), destination: .one),
                .compare(op, source: .one, data: bytes),
            ]
        }
        if range.prefixLength > 0, range.prefixLength % 8 == 0 {
            let length = range.prefixLength / 8
            return [
                .payload(base: .network, offset: offset, length: UInt32(length), destination: .one),
                .compare(op, source: .one, data: Array(bytes.prefix(length))),
            ]
        }
        return [
            .payload(base: .network, offset: offset, length: UInt32(bytes.count), destination: .one),
            .bitwise(source: .one, destination: .one, mask: range.maskBytes, xor: Array(repeating: 0, count: bytes.count)),
            .compare(op, source: .one, data: bytes),
        ]
    }
}

extension NetworkFamily {
    /// In an `inet` table a rule sees both families, so nft guards every network-header load
    /// with the packet's family.
    var guardExpressions: [NftExpression] {
        [.meta(key: .nfproto, destination: .one), .compare(.equal, source: .one, data: [rawValue])]
    }
}

extension UInt16 {
    /// Big-endian, as ports are in TCP headers and in nft's redirect register.
    var networkOrderBytes: [UInt8] { [UInt8(self >> 8), UInt8(truncatingIfNeeded: self)] }
}

extension UInt32 {
    /// The four bytes as this machine stores the integer (what meta expressions compare against).
    var hostOrderBytes: [UInt8] {
        let bigEndianBytes = [UInt8(self >> 24), UInt8(truncatingIfNeeded: self >> 16), UInt8(truncatingIfNeeded: self >> 8), UInt8(truncatingIfNeeded: self)]
        return hostIsLittleEndian ? bigEndianBytes.reversed() : bigEndianBytes
    }
}

private let hostIsLittleEndian = UInt16(1).littleEndian == 1

/// libnftnl's rendering of a data register: each 32-bit word as the host reads it, `0x%.8x `,
/// the last word zero-padded (nftnl_data_reg_value_snprintf_default).
func hexWords(_ bytes: [UInt8]) -> String {
    var text = ""
    var index = 0
    while index < bytes.count {
        var word: UInt32 = 0
        for position in 0..<4 where index + position < bytes.count {
            let byte = UInt32(bytes[index + position])
            word |= hostIsLittleEndian ? byte << (8 * UInt32(position)) : byte << (8 * UInt32(3 - position))
        }
        let digits = String(word, radix: 16)
        text += "0x" + String(repeating: "0", count: 8 - digits.count) + digits + " "
        index += 4
    }
    return text
}
