// Byte classes and number parsing for HTTP/1.1 syntax (RFC 9110 §5.6, RFC 9112). The codec does
// not use Foundation: these helpers work on bytes, never on locale-dependent text.

/// Named bytes of the HTTP grammar (RFC 5234 Appendix B.1 core rules).
enum ASCII {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let comma: UInt8 = 0x2C
    static let equals: UInt8 = 0x3D
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let slash: UInt8 = 0x2F
    static let question: UInt8 = 0x3F
    static let hash: UInt8 = 0x23
    static let percent: UInt8 = 0x25
    static let at: UInt8 = 0x40
    static let period: UInt8 = 0x2E
    static let openBracket: UInt8 = 0x5B
    static let closeBracket: UInt8 = 0x5D
    static let asterisk: UInt8 = 0x2A
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39

    // tchar (RFC 9110 §5.6.2): "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
    // "_" / "`" / "|" / "~" / DIGIT / ALPHA, as two 64-bit masks so the test is a shift and an
    // and, without a table in global memory.
    private static let tokenMaskLow: UInt64 = 0x03FF_6CFA_0000_0000
    private static let tokenMaskHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// tchar (RFC 9110 §5.6.2): the characters of a token (method, field name, coding name).
    @inline(__always)
    static func isTokenChar(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenMaskLow >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (tokenMaskHigh >> UInt64(byte &- 64)) & 1 == 1 }
        return false
    }

    /// field-vchar / SP / HTAB (RFC 9110 §5.5): VCHAR, obs-text (0x80-0xFF), space or tab. Every
    /// other control character, DEL and NUL are refused in field values.
    @inline(__always)
    static func isFieldValueChar(_ byte: UInt8) -> Bool {
        (byte >= 0x20 && byte != 0x7F) || byte == tab
    }

    /// OWS (RFC 9110 §5.6.3): space or horizontal tab.
    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    /// VCHAR (RFC 5234): visible US-ASCII, 0x21-0x7E.
    @inline(__always)
    static func isVisible(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte >= zero && byte <= nine }

    @inline(__always)
    static func isAlpha(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }

    /// The value of a HEXDIG (RFC 5234, either case), nil for anything else.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case zero...nine: return byte &- zero
        case 0x41...0x46: return byte &- 0x41 &+ 10
        case 0x61...0x66: return byte &- 0x61 &+ 10
        default: return nil
        }
    }

    /// ASCII lowercase of one byte; other bytes unchanged.
    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    /// Whether two byte sequences are equal ignoring ASCII case (field names and coding names are
    /// case-insensitive, RFC 9110 §5.1 and §8.4.1).
    static func equalsIgnoringCase<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        guard a.count == b.count else { return false }
        // Both contiguous (array slices, native strings): compare the bytes directly, without
        // the generic iterators (this runs for every field of every head).
        let contiguous = a.withContiguousStorageIfAvailable { left in
            b.withContiguousStorageIfAvailable { right in
                for index in 0..<left.count where lowercased(left[index]) != lowercased(right[index]) { return false }
                return true
            }
        }
        if let contiguous, let equal = contiguous { return equal }
        var other = b.makeIterator()
        for byte in a {
            guard let theirs = other.next(), lowercased(byte) == lowercased(theirs) else { return false }
        }
        return true
    }

    /// Parses 1*DIGIT (RFC 9110 §8.6 Content-Length) with an overflow check: no sign, no
    /// whitespace, no empty string. Leading zeros are allowed by the grammar and read as decimal.
    static func parseDecimal<C: Collection<UInt8>>(_ digits: C) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard isDigit(byte) else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte &- zero))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// Appends the decimal digits of `value`.
    static func appendDecimal(_ value: UInt64, to output: inout [UInt8]) {
        var divisor: UInt64 = 1
        var digits = 1
        while divisor <= value / 10 {
            divisor *= 10
            digits += 1
        }
        // All digits in one step into capacity made for them (per-digit appends check the array's
        // uniqueness and capacity for each).
        output.append(addingCapacity: digits) { span in
            var rest = value
            while divisor > 0 {
                span.append(zero &+ UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
    }

    /// Appends the lowercase hexadecimal digits of `value` without leading zeros (RFC 9112 §7.1
    /// chunk-size).
    static func appendHex(_ value: UInt64, to output: inout [UInt8]) {
        var shift = 60
        while shift > 0 && (value >> UInt64(shift)) & 0xF == 0 { shift -= 4 }
        while shift >= 0 {
            let nibble = UInt8((value >> UInt64(shift)) & 0xF)
            output.append(nibble < 10 ? zero &+ nibble : 0x61 &+ nibble &- 10)
            shift -= 4
        }
    }

    /// Appends the UTF-8 of `text`.
    @inline(__always)
    static func append(_ text: String, to output: inout [UInt8]) {
        output.append(contentsOf: text.utf8)
    }
}
