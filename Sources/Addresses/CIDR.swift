/// An address range written as `address/prefix-length` (RFC 4632 §3.1 for IPv4, RFC 4291 §2.3 for IPv6).
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the range (host bits are always zero).
    public let address: IPAddress
    /// The number of leading bits that are fixed: 0...32 for IPv4, 0...128 for IPv6.
    public let prefixLength: Int

    /// Builds a range, refusing host bits below the prefix so `10.1.2.3/8` cannot silently mean
    /// `10.0.0.0/8`.
    public init(address: IPAddress, prefixLength: Int) throws(AddressParseError) {
        let maximum = address.bitWidth
        guard (0...maximum).contains(prefixLength) else {
            throw AddressParseError("\(address)/\(prefixLength)", "the prefix length must be 0...\(maximum)")
        }
        let masked = address.masked(to: prefixLength)
        guard masked == address else {
            throw AddressParseError(
                "\(address)/\(prefixLength)",
                "host bits are set below the /\(prefixLength) prefix; did you mean \(masked)/\(prefixLength)?"
            )
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses `a.b.c.d/n`, `x:y::z/n`, or a bare address (a single-host range, /32 or /128).
    public init(parsing text: some StringProtocol) throws(AddressParseError) {
        let input = String(text)
        let parts = input.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw AddressParseError(input, "a CIDR has one '/'") }
        let address: IPAddress
        do { address = try IPAddress(parsing: parts[0]) } catch {
            throw AddressParseError(input, "not a CIDR: \(error.reason)")
        }
        var length = address.bitWidth
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw AddressParseError(input, "the prefix length after '/' must be a number")
            }
            // Too many digits for an Int is simply out of range; init(address:prefixLength:) says so.
            length = Int(digits) ?? Int.max
        }
        do { try self.init(address: address, prefixLength: length) } catch {
            throw AddressParseError(input, error.reason)
        }
    }

    /// Whether `candidate` falls inside this range (always false across families).
    public func contains(_ candidate: IPAddress) -> Bool {
        switch (address, candidate) {
        case (.v4, .v4), (.v6, .v6): return candidate.masked(to: prefixLength) == address
        default: return false
        }
    }

    public var isIPv4: Bool { if case .v4 = address { return true } else { return false } }

    /// The netmask as bytes in network order (4 or 16 of them).
    public var maskBytes: [UInt8] {
        let width = address.bitWidth
        return (0..<(width / 8)).map { index in
            let bitsInByte = min(max(prefixLength - index * 8, 0), 8)
            return bitsInByte == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsInByte))
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

extension IPAddress {
    /// 32 or 128.
    public var bitWidth: Int {
        switch self {
        case .v4: return 32
        case .v6: return 128
        }
    }

    /// The address in network byte order.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a): return a.octets
        case .v6(let a): return a.bytes
        }
    }

    /// The address with every bit after the first `prefixLength` cleared. Lengths outside
    /// 0...bitWidth are clamped to it (a negative length clears everything, a longer one nothing).
    public func masked(to prefixLength: Int) -> IPAddress {
        // Clamping first: UInt32(32 - prefixLength) below traps for a length over 32.
        let prefixLength = Swift.min(Swift.max(prefixLength, 0), bitWidth)
        switch self {
        case .v4(let a):
            let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefixLength)
            return .v4(IPv4Address(a.value & mask))
        case .v6(let a):
            func mask(_ bits: Int) -> UInt64 {
                bits <= 0 ? 0 : bits >= 64 ? ~UInt64(0) : ~UInt64(0) << UInt64(64 - bits)
            }
            return .v6(IPv6Address(high: a.high & mask(prefixLength), low: a.low & mask(prefixLength - 64)))
        }
    }
}
