/// Why a piece of text is not an address, CIDR or port, in words an operator can act on.
public struct AddressParseError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The text that was rejected.
    public let input: String
    /// What is wrong with it.
    public let reason: String

    public init(_ input: String, _ reason: String) {
        self.input = input
        self.reason = reason
    }

    public var description: String { "\"\(input)\": \(reason)" }
}

/// An IPv4 address. `value` holds the four octets with the first octet in the most significant byte
/// (so `10.0.0.1` is `0x0A00_0001` in every byte order of the host).
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    public static let any = IPv4Address(0)
    public static let loopback = IPv4Address(127, 0, 0, 1)
    /// The source Weft's inbound side connects to the application from (Istio's convention), so the
    /// output chain can tell the proxy's own passthrough traffic from the application's.
    public static let inboundPassthroughSource = IPv4Address(127, 0, 0, 6)

    /// The four octets in network order.
    public var octets: [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    /// 127.0.0.0/8 (RFC 1122 §3.2.1.3).
    public var isLoopback: Bool { value >> 24 == 127 }

    /// Parses dotted-decimal text: exactly four decimal octets 0...255, no leading zeros (which some
    /// parsers read as octal — refusing them keeps `010.0.0.1` from meaning two different things).
    public init(parsing text: some StringProtocol) throws(AddressParseError) {
        let input = String(text)
        var octets: [UInt32] = []
        octets.reserveCapacity(4)
        var current: UInt32 = 0
        var digits = 0
        var firstDigit: UInt8 = 0
        for byte in input.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if digits == 0 { firstDigit = byte }
                else if firstDigit == UInt8(ascii: "0") {
                    throw AddressParseError(input, "an IPv4 octet has a leading zero")
                }
                digits += 1
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
                if digits > 3 || current > 255 {
                    throw AddressParseError(input, "an IPv4 octet is larger than 255")
                }
            case UInt8(ascii: "."):
                guard digits > 0 else { throw AddressParseError(input, "an IPv4 octet is empty") }
                octets.append(current)
                guard octets.count < 4 else { throw AddressParseError(input, "an IPv4 address has four octets") }
                current = 0
                digits = 0
            default:
                throw AddressParseError(input, "not an IPv4 address (unexpected character)")
            }
        }
        guard digits > 0 else {
            throw AddressParseError(input, input.isEmpty ? "empty address" : "an IPv4 octet is empty")
        }
        octets.append(current)
        guard octets.count == 4 else { throw AddressParseError(input, "an IPv4 address has four octets") }
        value = octets[0] << 24 | octets[1] << 16 | octets[2] << 8 | octets[3]
    }

    public var description: String {
        "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }
}

/// An IPv6 address as two 64-bit halves, most significant bits first.
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Builds an address from its sixteen bytes in network order. Inlinable, so callers in other
    /// modules (every accepted IPv6 or v4-mapped connection) get it specialized, not run through
    /// generic witnesses that allocate.
    @inlinable
    public init<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    public static let any = IPv6Address(high: 0, low: 0)
    public static let loopback = IPv6Address(high: 0, low: 1)
    /// `::6`, the IPv6 twin of 127.0.0.6 (Istio's convention).
    public static let inboundPassthroughSource = IPv6Address(high: 0, low: 6)

    /// The sixteen bytes in network order.
    public var bytes: [UInt8] {
        (0..<16).map { index in
            let half = index < 8 ? high : low
            return UInt8(truncatingIfNeeded: half >> (UInt64(7 - index % 8) * 8))
        }
    }

    /// The eight 16-bit groups.
    public var groups: [UInt16] {
        (0..<8).map { index in
            let half = index < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> (UInt64(3 - index % 4) * 16))
        }
    }

    public var isLoopback: Bool { self == .loopback }

    /// The embedded IPv4 address of an IPv4-mapped address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2).
    public var ipv4Mapped: IPv4Address? {
        guard high == 0, low >> 32 == 0xffff else { return nil }
        return IPv4Address(UInt32(truncatingIfNeeded: low))
    }

    /// Parses the text forms of RFC 4291 §2.2: eight groups of up to four hex digits, at most one
    /// `::`, optionally ending in a dotted IPv4 address. Zone ids (`%eth0`) are not addresses and
    /// are refused.
    public init(parsing text: some StringProtocol) throws(AddressParseError) {
        let input = String(text)
        guard !input.isEmpty else { throw AddressParseError(input, "empty address") }
        guard !input.contains("%") else {
            throw AddressParseError(input, "zone ids (%...) are not supported here")
        }
        let utf8 = Array(input.utf8)
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        var index = 0
        // A leading "::" or a lone leading ":" need special handling: ":x" is invalid.
        if utf8.count >= 2, utf8[0] == UInt8(ascii: ":"), utf8[1] == UInt8(ascii: ":") {
            sawDoubleColon = true
            index = 2
        } else if utf8.first == UInt8(ascii: ":") {
            throw AddressParseError(input, "an IPv6 address cannot start with a single ':'")
        }
        func append(_ group: UInt16) {
            if sawDoubleColon { tail.append(group) } else { head.append(group) }
        }
        while index < utf8.count {
            // Read one group, or an IPv4 tail.
            var end = index
            while end < utf8.count, utf8[end] != UInt8(ascii: ":") { end += 1 }
            let piece = utf8[index..<end]
            if piece.contains(UInt8(ascii: ".")) {
                guard end == utf8.count else {
                    throw AddressParseError(input, "an embedded IPv4 address must come last")
                }
                let v4: IPv4Address
                do { v4 = try IPv4Address(parsing: String(decoding: piece, as: UTF8.self)) } catch {
                    throw AddressParseError(input, "in the embedded IPv4 address: \(error.reason)")
                }
                append(UInt16(v4.value >> 16))
                append(UInt16(truncatingIfNeeded: v4.value))
                index = end
                break
            }
            guard !piece.isEmpty else { throw AddressParseError(input, "an IPv6 group is empty") }
            guard piece.count <= 4 else {
                throw AddressParseError(input, "an IPv6 group has more than four hex digits")
            }
            var group: UInt16 = 0
            for byte in piece {
                guard let digit = hexValue(byte) else {
                    throw AddressParseError(input, "not an IPv6 address (unexpected character)")
                }
                group = group << 4 | UInt16(digit)
            }
            append(group)
            index = end
            guard index < utf8.count else { break }
            // At a ':'. A second ':' right after is "::".
            index += 1
            if index < utf8.count, utf8[index] == UInt8(ascii: ":") {
                guard !sawDoubleColon else {
                    throw AddressParseError(input, "an IPv6 address has at most one '::'")
                }
                sawDoubleColon = true
                index += 1
            } else if index == utf8.count {
                throw AddressParseError(input, "an IPv6 address cannot end with a single ':'")
            }
        }
        let count = head.count + tail.count
        if sawDoubleColon {
            guard count <= 7 else { throw AddressParseError(input, "'::' must stand for at least one group") }
        } else {
            guard count == 8 else { throw AddressParseError(input, "an IPv6 address has eight groups") }
        }
        let groups = head + Array(repeating: 0, count: 8 - count) + tail
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (i, group) in groups.enumerated() {
            if i < 4 { high = high << 16 | UInt64(group) } else { low = low << 16 | UInt64(group) }
        }
        self.init(high: high, low: low)
    }

    /// RFC 5952 text: lowercase, no leading zeros, the longest run (two or more) of zero groups
    /// shortened to `::` (the first one on a tie), and IPv4-mapped addresses as `::ffff:a.b.c.d`.
    public var description: String {
        if let v4 = ipv4Mapped { return "::ffff:\(v4)" }
        let groups = self.groups
        var bestStart = -1
        var bestLength = 0
        var runStart = -1
        for i in 0...8 {
            if i < 8, groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                let length = i - runStart
                if length > bestLength { bestStart = runStart; bestLength = length }
                runStart = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var text = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                text += "::"
                i += bestLength
                continue
            }
            if !text.isEmpty, !text.hasSuffix(":") { text += ":" }
            text += String(groups[i], radix: 16)
            i += 1
        }
        return text
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}

@inline(__always)
private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses either family; text containing ':' is IPv6.
    public init(parsing text: some StringProtocol) throws(AddressParseError) {
        if text.contains(":") { self = .v6(try IPv6Address(parsing: text)) }
        else { self = .v4(try IPv4Address(parsing: text)) }
    }

    public var isLoopback: Bool {
        switch self {
        case .v4(let a): return a.isLoopback
        case .v6(let a): return a.isLoopback || (a.ipv4Mapped?.isLoopback ?? false)
        }
    }

    /// An IPv4-mapped IPv6 address becomes the IPv4 address it carries; anything else is unchanged.
    public var unmapped: IPAddress {
        if case .v6(let a) = self, let v4 = a.ipv4Mapped { return .v4(v4) }
        return self
    }

    public var description: String {
        switch self {
        case .v4(let a): return a.description
        case .v6(let a): return a.description
        }
    }
}
