// W3C Trace Context Level 1 (https://www.w3.org/TR/trace-context-1/) `traceparent` values, and
// the random UUIDs Envoy puts in `x-request-id`. Pure values: parsing works on bytes without
// allocating, and new ids come from a random number generator the caller passes in, so a worker
// uses its own fast generator and tests are deterministic.

/// A 16-byte trace-id (Trace Context §3.2.2.3), the high 8 bytes first. All zeros is invalid.
public struct TraceID: Sendable, Hashable, CustomStringConvertible {
    /// Bytes 0-7, the first 16 hex digits.
    public var high: UInt64
    /// Bytes 8-15, the last 16 hex digits.
    public var low: UInt64

    /// A trace-id from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Whether it may be sent: not all zeros (§3.2.2.3).
    public var isValid: Bool { high | low != 0 }

    /// Appends the 32 lowercase hex digits.
    public func append(to output: inout [UInt8]) {
        output.append(addingCapacity: 32) { append(to: &$0) }
    }

    func append(to output: inout OutputSpan<UInt8>) {
        TraceHex.append(high, digits: 16, to: &output)
        TraceHex.append(low, digits: 16, to: &output)
    }

    /// The 32 lowercase hex digits.
    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        append(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A `traceparent` value (Trace Context §3.2): `version-traceid-parentid-flags`, lowercase hex.
///
/// Parsing follows §3.2 and the forward-compatibility rules of §3.2.4: version 00 is exactly 55
/// characters; a higher version (never ff) is read as its version-00 prefix, which must be
/// followed by the end of the value or `-` and whatever a later version adds. A trace-id or
/// parent-id of all zeros is invalid. Optional whitespace around the value is ignored, as the
/// HTTP field syntax already ignores it (RFC 9110 §5.5; the W3C test suite's
/// `test_traceparent_ows_handling`).
public struct TraceContext: Sendable, Hashable, CustomStringConvertible {
    /// `version`: 0 for Level 1; a higher one was parsed by its version-00 prefix.
    public var version: UInt8
    /// `trace-id`: the whole distributed trace.
    public var traceID: TraceID
    /// `parent-id`: the request as its caller knows it (a span id). Never 0.
    public var parentID: UInt64
    /// `trace-flags`: bit 0 is `sampled` (§3.2.2.5).
    public var flags: UInt8

    /// The length of a version-00 value.
    public static let length = 55
    /// The field that carries it.
    public static let headerName = "traceparent"

    /// A context from its fields. Precondition: `version` is not 0xff, `traceID` is valid and
    /// `parentID` is not 0 (§3.2.2): a context that exists can always be sent.
    public init(version: UInt8 = 0, traceID: TraceID, parentID: UInt64, flags: UInt8 = 0) {
        precondition(version != 0xff && traceID.isValid && parentID != 0, "TraceContext: version ff or an all-zero id")
        self.version = version
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// Parses a `traceparent` field value; nil when it is not a valid one (the caller then starts
    /// a new trace, §3.2.4).
    public init?(parsing value: ArraySlice<UInt8>) {
        guard let parsed = Self.parse(value.span) else { return nil }
        self = parsed
    }

    /// Parses a `traceparent` field value in place.
    public init?(parsing value: Span<UInt8>) {
        guard let parsed = Self.parse(value) else { return nil }
        self = parsed
    }

    /// Parses a `traceparent` field value given as text.
    public init?(parsing text: String) {
        self.init(parsing: Array(text.utf8)[...])
    }

    /// Whether the caller may have recorded trace data (§3.2.2.5.1).
    public var sampled: Bool { flags & 1 != 0 }

    /// A new trace: random trace-id and parent-id, version 00, flags 00 (not sampled: whoever
    /// generates it without recording spans must not claim to have sampled, §3.2.2.5.1).
    public static func random(using generator: inout some RandomNumberGenerator) -> TraceContext {
        var traceID = TraceID(high: generator.next(), low: generator.next())
        // All zeros is the one forbidden value (a chance of 2^-128, or a broken generator).
        if !traceID.isValid { traceID.low = 1 }
        let parentID: UInt64 = generator.next()
        return TraceContext(traceID: traceID, parentID: parentID == 0 ? 1 : parentID)
    }

    /// Appends the 55-character value (the version-00 fields, with `version` as parsed).
    public func append(to output: inout [UInt8]) {
        // Written in one step into capacity made for all of it: appending to the array one
        // character at a time checks its uniqueness and capacity for each.
        output.append(addingCapacity: Self.length) { span in
            TraceHex.append(UInt64(version), digits: 2, to: &span)
            span.append(TraceHex.dash)
            traceID.append(to: &span)
            span.append(TraceHex.dash)
            TraceHex.append(parentID, digits: 16, to: &span)
            span.append(TraceHex.dash)
            TraceHex.append(UInt64(flags), digits: 2, to: &span)
        }
    }

    /// The 55-character value.
    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.length)
        append(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func parse(_ value: Span<UInt8>) -> TraceContext? {
        var start = 0
        var end = value.count
        while start < end, ASCII.isWhitespace(value[start]) { start += 1 }
        while end > start, ASCII.isWhitespace(value[end - 1]) { end -= 1 }
        // §3.2.4: shorter than 55 characters is never parsed, whatever the version.
        guard end - start >= length,
              let version = TraceHex.value(value, from: start, digits: 2), version != 0xff,
              value[start + 2] == TraceHex.dash,
              let high = TraceHex.value(value, from: start + 3, digits: 16),
              let low = TraceHex.value(value, from: start + 19, digits: 16),
              value[start + 35] == TraceHex.dash,
              let parentID = TraceHex.value(value, from: start + 36, digits: 16),
              value[start + 52] == TraceHex.dash,
              let flags = TraceHex.value(value, from: start + 53, digits: 2)
        else { return nil }
        if end - start > length {
            // Version 00 has exactly four fields; a later version may add more, after a dash.
            guard version != 0, value[start + length] == TraceHex.dash else { return nil }
        }
        let traceID = TraceID(high: high, low: low)
        guard traceID.isValid, parentID != 0 else { return nil }
        return TraceContext(version: UInt8(version), traceID: traceID, parentID: parentID, flags: UInt8(flags))
    }
}

/// An `x-request-id` as Envoy generates it: a random UUID (version 4, RFC 9562 §5.4), written
/// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` in lowercase hex.
public struct RequestID: Sendable, Hashable, CustomStringConvertible {
    /// Bytes 0-7 of the UUID (the version nibble is the high half of byte 6).
    public let high: UInt64
    /// Bytes 8-15 (the variant is the top two bits of byte 8).
    public let low: UInt64

    /// The field that carries it.
    public static let headerName = "x-request-id"
    /// The length of the text.
    public static let length = 36

    /// A version 4 UUID from 128 bits: the 6 bits of version and variant are set, the other 122
    /// kept (RFC 9562 §5.4).
    public init(high: UInt64, low: UInt64) {
        self.high = high & ~0xF000 | 0x4000
        self.low = low & ~(0b11 << 62) | (0b10 << 62)
    }

    /// A new random id.
    public static func random(using generator: inout some RandomNumberGenerator) -> RequestID {
        RequestID(high: generator.next(), low: generator.next())
    }

    /// Parses the lowercase text of a version 4 UUID (what `description` writes); nil for
    /// anything else.
    public init?(parsing text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == Self.length else { return nil }
        for position in [8, 13, 18, 23] where bytes[position] != TraceHex.dash { return nil }
        let hex = Array(bytes[0..<8] + bytes[9..<13] + bytes[14..<18] + bytes[19..<23] + bytes[24...])
        guard let high = TraceHex.value(hex.span, from: 0, digits: 16), let low = TraceHex.value(hex.span, from: 16, digits: 16),
              (high >> 12) & 0xF == 4, low >> 62 == 0b10 else { return nil }
        self.high = high
        self.low = low
    }

    /// Appends the 36 characters.
    public func append(to output: inout [UInt8]) {
        output.append(addingCapacity: Self.length) { span in
            TraceHex.append(high >> 32, digits: 8, to: &span)
            span.append(TraceHex.dash)
            TraceHex.append(high >> 16, digits: 4, to: &span)
            span.append(TraceHex.dash)
            TraceHex.append(high, digits: 4, to: &span)
            span.append(TraceHex.dash)
            TraceHex.append(low >> 48, digits: 4, to: &span)
            span.append(TraceHex.dash)
            TraceHex.append(low, digits: 12, to: &span)
        }
    }

    /// The 36 characters.
    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.length)
        append(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Lowercase hex (Trace Context's HEXDIGLC) in and out.
enum TraceHex {
    static let dash = UInt8(ascii: "-")

    /// The value of `digits` (at most 16) lowercase hex digits from `start`; nil when one is not
    /// [0-9a-f] (uppercase is refused: §3.2.2 says HEXDIGLC). Precondition: they are in `bytes`.
    @inline(__always)
    static func value(_ bytes: Span<UInt8>, from start: Int, digits count: Int) -> UInt64? {
        var value: UInt64 = 0
        for index in start..<start + count {
            let byte = bytes[index]
            let nibble: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: nibble = byte &- ASCII.zero
            case 0x61...0x66: nibble = byte &- 0x61 &+ 10
            default: return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }

    /// Appends the low `count` hex digits of `value`, leading zeros included.
    @inline(__always)
    static func append(_ value: UInt64, digits count: Int, to output: inout OutputSpan<UInt8>) {
        var shift = 4 * (count - 1)
        while shift >= 0 {
            let nibble = UInt8((value >> UInt64(shift)) & 0xF)
            output.append(nibble < 10 ? ASCII.zero &+ nibble : 0x61 &+ nibble &- 10)
            shift -= 4
        }
    }
}
