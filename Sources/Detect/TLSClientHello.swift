/// A TLS protocol version as it appears on the wire (RFC 8446 §4.2.1, Appendix B.1): 0x0301 is
/// TLS 1.0 ... 0x0304 is TLS 1.3. Values a client offers are not validated: GREASE values
/// (RFC 8701, 0x?A?A) and drafts appear in real traffic and are kept as sent.
public struct TLSProtocolVersion: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let tls1_0 = TLSProtocolVersion(rawValue: 0x0301)
    public static let tls1_1 = TLSProtocolVersion(rawValue: 0x0302)
    public static let tls1_2 = TLSProtocolVersion(rawValue: 0x0303)
    public static let tls1_3 = TLSProtocolVersion(rawValue: 0x0304)

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `TLS 1.3` for the known versions, `0x7f1c` otherwise.
    public var description: String {
        switch rawValue {
        case 0x0300: return "SSL 3.0"
        case 0x0301: return "TLS 1.0"
        case 0x0302: return "TLS 1.1"
        case 0x0303: return "TLS 1.2"
        case 0x0304: return "TLS 1.3"
        default:
            let digits = String(rawValue, radix: 16)
            return "0x" + String(repeating: "0", count: 4 - digits.count) + digits
        }
    }
}

/// Why a prefix that starts like a TLS handshake record is not an acceptable ClientHello. The raw
/// values are stable tokens for logs and metrics.
public enum ClientHelloMalformation: String, Sendable, Hashable, CustomStringConvertible {
    /// A record's legacy_record_version is not 0x0301...0x0303 (RFC 8446 §5.1).
    case recordVersion = "bad-record-version"
    /// A handshake record with no bytes (RFC 8446 §5.1: zero-length Handshake fragments MUST NOT
    /// be sent).
    case emptyRecord = "empty-record"
    /// A record longer than 2^14 bytes (RFC 8446 §5.1: record_overflow).
    case recordOverflow = "record-overflow"
    /// A non-handshake record arrived before the ClientHello was complete (RFC 8446 §5.1:
    /// handshake messages MUST NOT be interleaved with other record types).
    case interleavedRecord = "interleaved-record"
    /// The first handshake message is not a ClientHello (msg_type 1, RFC 8446 §4).
    case notClientHello = "not-client-hello"
    /// The ClientHello claims more than `TLSClientHello.maximumMessageLength` bytes.
    case handshakeTooLong = "handshake-too-long"
    /// The ClientHello is split over so many records that it does not fit in
    /// `TLSClientHello.maximumPrefixLength` bytes.
    case tooFragmented = "too-fragmented"
    /// legacy_version is not 3.x (RFC 8446 §4.1.2; SSL 2 and earlier are not TLS).
    case legacyVersion = "bad-legacy-version"
    /// The message ends inside random, or legacy_session_id is longer than 32 bytes.
    case sessionID = "bad-session-id"
    /// cipher_suites is empty, odd-length or runs past the message (RFC 8446 §4.1.2: <2..2^16-2>).
    case cipherSuites = "bad-cipher-suites"
    /// legacy_compression_methods is empty or runs past the message (<1..2^8-1>).
    case compressionMethods = "bad-compression-methods"
    /// The extensions block, or one extension in it, runs past its container, or bytes follow it.
    case extensions = "bad-extensions"
    /// The same extension type appears twice (RFC 8446 §4.2: MUST NOT).
    case duplicateExtension = "duplicate-extension"
    /// server_name is not a well-formed ServerNameList with one printable host_name (RFC 6066 §3).
    case serverName = "bad-server-name"
    /// application_layer_protocol_negotiation is not a well-formed, non-empty list of non-empty
    /// protocol names (RFC 7301 §3.1).
    case alpn = "bad-alpn"
    /// supported_versions is not a list of 1 to 127 versions (RFC 8446 §4.2.1: <2..254>).
    case supportedVersions = "bad-supported-versions"

    public var description: String { rawValue }
}

/// What a TLS client sent as its first flight, as far as the proxy needs it to route and log:
/// the versions, the server name and the application protocols it offers.
///
/// Parsed by `TLSClientHello.parse(_:)` from a peeked prefix of a connection (MSG_PEEK), so the
/// bytes stay in the socket for whoever terminates or forwards the TLS session.
public struct TLSClientHello: Sendable, Hashable {
    /// legacy_record_version of the first record (0x0301 is common for compatibility).
    public let recordVersion: TLSProtocolVersion
    /// legacy_version of the ClientHello: 0x0303 from every TLS 1.3 client (RFC 8446 §4.1.2).
    public let legacyVersion: TLSProtocolVersion
    /// The supported_versions extension in the client's order; empty when the client did not send
    /// one (then it offers `legacyVersion` and below).
    public let supportedVersions: [TLSProtocolVersion]
    /// The host_name of the server_name extension (RFC 6066 §3), nil when absent.
    public let serverName: String?
    /// The ALPN protocol names in the client's order (RFC 7301); empty when the extension is
    /// absent. Names that are not UTF-8 are decoded with replacement characters, so they never
    /// compare equal to an ASCII protocol name.
    public let alpnProtocols: [String]
    /// The extension types in the order sent (for logs and fingerprints).
    public let extensionTypes: [UInt16]
    /// How many bytes of the prefix the records carrying the ClientHello took.
    public let prefixLength: Int

    public init(
        recordVersion: TLSProtocolVersion, legacyVersion: TLSProtocolVersion,
        supportedVersions: [TLSProtocolVersion], serverName: String?, alpnProtocols: [String],
        extensionTypes: [UInt16], prefixLength: Int
    ) {
        self.recordVersion = recordVersion
        self.legacyVersion = legacyVersion
        self.supportedVersions = supportedVersions
        self.serverName = serverName
        self.alpnProtocols = alpnProtocols
        self.extensionTypes = extensionTypes
        self.prefixLength = prefixLength
    }

    /// Whether the client offers TLS 1.3 (through supported_versions, RFC 8446 §4.2.1).
    public var offersTLS13: Bool { supportedVersions.contains(.tls1_3) }

    /// Whether `name` is among the ALPN protocols the client offers.
    public func offers(alpn name: String) -> Bool { alpnProtocols.contains(name) }

    /// What a peeked prefix turned out to be.
    public enum Outcome: Sendable, Hashable {
        /// Not decided yet: peek again once at least this many bytes are available. Never more
        /// than `maximumPrefixLength`.
        case needMoreBytes(atLeast: Int)
        /// The first bytes are not a TLS handshake record (content type 22, version 3.x): plaintext.
        case notTLS
        /// A complete, well-formed ClientHello.
        case clientHello(TLSClientHello)
        /// It starts like TLS but breaks the record or ClientHello rules.
        case malformed(ClientHelloMalformation)
    }

    /// The largest ClientHello body considered (its 24-bit length field). Real ones are under
    /// 2 KiB even with post-quantum key shares; a bound keeps a hostile peer from making the proxy
    /// buffer 16 MiB.
    public static let maximumMessageLength = 16 * 1024
    /// The longest prefix `parse` ever needs: one maximal message plus room for 200 record
    /// headers (a ClientHello sent in 512-byte records, OpenSSL's smallest max_send_fragment,
    /// needs 33).
    public static let maximumPrefixLength = 4 + maximumMessageLength + 200 * recordHeaderLength

    static let recordHeaderLength = 5
    /// RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14.
    static let maximumRecordLength = 1 << 14
    static let handshakeContentType: UInt8 = 22
    static let clientHelloType: UInt8 = 1

    /// Decides what `bytes`, the first bytes a connection sent, are: a complete ClientHello (whose
    /// handshake message may span several records), not TLS at all, malformed, or undecided yet.
    /// Looks at no more than `maximumPrefixLength` bytes and never fails on any input.
    @inlinable
    public static func parse(_ bytes: some Collection<UInt8>) -> Outcome {
        guard let first = bytes.first else { return .needMoreBytes(atLeast: 1) }
        // Plaintext is the common case on the inbound listener: decide without copying.
        if first != handshakeContentTypeValue { return .notTLS }
        return parse(prefix: Array(bytes.prefix(maximumPrefixLength)))
    }

    @usableFromInline static let handshakeContentTypeValue: UInt8 = 22

    /// Walks the handshake records of `prefix` and reassembles the first handshake message
    /// (RFC 8446 §5.1: a message may be fragmented across records, and records carry nothing else
    /// until it is complete).
    @usableFromInline
    static func parse(prefix: [UInt8]) -> Outcome {
        var offset = 0
        var recordVersion: TLSProtocolVersion?
        var handshake: [UInt8] = []
        // Asking for bytes past the bound would never be answered: the caller peeks at most that.
        func more(_ count: Int) -> Outcome {
            count > maximumPrefixLength ? .malformed(.tooFragmented) : .needMoreBytes(atLeast: count)
        }
        while true {
            // Record header (RFC 8446 §5.1): type(1) legacy_record_version(2) length(2). Each byte
            // is judged as soon as it is there, so plaintext and garbage are refused early.
            if prefix.count < offset + 1 { return more(offset + 1) }
            if prefix[offset] != handshakeContentType {
                return offset == 0 ? .notTLS : .malformed(.interleavedRecord)
            }
            if prefix.count < offset + 2 { return more(offset + 2) }
            if prefix[offset + 1] != 3 {
                return offset == 0 ? .notTLS : .malformed(.recordVersion)
            }
            if prefix.count < offset + 3 { return more(offset + 3) }
            guard (1...3).contains(prefix[offset + 2]) else { return .malformed(.recordVersion) }
            if recordVersion == nil { recordVersion = TLSProtocolVersion(rawValue: 0x0300 | UInt16(prefix[offset + 2])) }
            if prefix.count < offset + recordHeaderLength { return more(offset + recordHeaderLength) }
            let length = Int(prefix[offset + 3]) << 8 | Int(prefix[offset + 4])
            if length == 0 { return .malformed(.emptyRecord) }
            if length > maximumRecordLength { return .malformed(.recordOverflow) }
            let fragmentStart = offset + recordHeaderLength
            let recordEnd = fragmentStart + length

            // Take what is there of this record, so a wrong message type or an oversized length
            // fails before the rest arrives.
            let available = min(recordEnd, prefix.count)
            handshake.append(contentsOf: prefix[fragmentStart..<available])
            if handshake.count >= 1, handshake[0] != clientHelloType { return .malformed(.notClientHello) }
            var messageEnd: Int?
            if handshake.count >= 4 {
                let bodyLength = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
                if bodyLength > maximumMessageLength { return .malformed(.handshakeTooLong) }
                messageEnd = 4 + bodyLength
            }
            if available < recordEnd { return more(recordEnd) }
            offset = recordEnd
            if let messageEnd, handshake.count >= messageEnd {
                // Bytes after the ClientHello in its last record would be a second handshake
                // message, which a client never sends before the server's reply; they are left to
                // the TLS library, which refuses them.
                return parseBody(handshake, end: messageEnd, recordVersion: recordVersion!, prefixLength: offset)
            }
        }
    }

    /// Parses the ClientHello body (RFC 8446 §4.1.2), `message[4..<end]`.
    static func parseBody(_ message: [UInt8], end: Int, recordVersion: TLSProtocolVersion, prefixLength: Int) -> Outcome {
        var reader = ByteReader(message, from: 4, to: end)
        guard let versionBytes = reader.uint16() else { return .malformed(.legacyVersion) }
        let legacyVersion = TLSProtocolVersion(rawValue: versionBytes)
        guard versionBytes >> 8 == 3 else { return .malformed(.legacyVersion) }
        guard reader.skip(32) else { return .malformed(.sessionID) } // random
        guard let sessionIDLength = reader.uint8(), sessionIDLength <= 32, reader.skip(Int(sessionIDLength)) else {
            return .malformed(.sessionID)
        }
        guard let suitesLength = reader.uint16(), suitesLength >= 2, suitesLength % 2 == 0,
              reader.skip(Int(suitesLength)) else { return .malformed(.cipherSuites) }
        guard let methodsLength = reader.uint8(), methodsLength >= 1, reader.skip(Int(methodsLength)) else {
            return .malformed(.compressionMethods)
        }

        var supportedVersions: [TLSProtocolVersion] = []
        var serverName: String?
        var alpnProtocols: [String] = []
        var extensionTypes: [UInt16] = []
        // A TLS 1.2 ClientHello may end here (RFC 5246 §7.4.1.2: extensions are optional).
        if !reader.isAtEnd {
            guard let blockLength = reader.uint16(), var block = reader.subReader(Int(blockLength)), reader.isAtEnd else {
                return .malformed(.extensions)
            }
            while !block.isAtEnd {
                guard let type = block.uint16(), let length = block.uint16(), var data = block.subReader(Int(length)) else {
                    return .malformed(.extensions)
                }
                if extensionTypes.contains(type) { return .malformed(.duplicateExtension) }
                extensionTypes.append(type)
                switch type {
                case 0:
                    guard let name = parseServerName(&data) else { return .malformed(.serverName) }
                    serverName = name
                case 16:
                    guard let names = parseALPN(&data) else { return .malformed(.alpn) }
                    alpnProtocols = names
                case 43:
                    guard let versions = parseSupportedVersions(&data) else { return .malformed(.supportedVersions) }
                    supportedVersions = versions
                default:
                    break
                }
            }
        }
        return .clientHello(TLSClientHello(
            recordVersion: recordVersion, legacyVersion: legacyVersion, supportedVersions: supportedVersions,
            serverName: serverName, alpnProtocols: alpnProtocols, extensionTypes: extensionTypes,
            prefixLength: prefixLength
        ))
    }

    /// RFC 6066 §3: `ServerName server_name_list<1..2^16-1>`, each `NameType name_type` followed,
    /// for host_name (0), by `opaque HostName<1..2^16-1>`. Only host_name is defined, and the
    /// encoding of any other type is unknown, so another type ends parsing as malformed (OpenSSL
    /// refuses it too). At most one host_name (the list MUST NOT hold two names of one type).
    /// The name must be printable ASCII: RFC 6066 host names are ASCII (A-labels), and a byte
    /// outside 0x21...0x7E would let a peer put control characters into our logs.
    static func parseServerName(_ data: inout ByteReader) -> String? {
        guard let listLength = data.uint16(), listLength >= 1, var list = data.subReader(Int(listLength)), data.isAtEnd else {
            return nil
        }
        var name: String?
        while !list.isAtEnd {
            guard let type = list.uint8(), type == 0, name == nil,
                  let length = list.uint16(), length >= 1, let bytes = list.bytes(Int(length)) else { return nil }
            guard bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
            name = String(decoding: bytes, as: UTF8.self)
        }
        return name
    }

    /// RFC 7301 §3.1: `ProtocolName protocol_name_list<2..2^16-1>`, each `opaque
    /// ProtocolName<1..2^8-1>`; empty names MUST NOT be included.
    static func parseALPN(_ data: inout ByteReader) -> [String]? {
        guard let listLength = data.uint16(), listLength >= 2, var list = data.subReader(Int(listLength)), data.isAtEnd else {
            return nil
        }
        var names: [String] = []
        while !list.isAtEnd {
            guard let length = list.uint8(), length >= 1, let bytes = list.bytes(Int(length)) else { return nil }
            names.append(String(decoding: bytes, as: UTF8.self))
        }
        return names
    }

    /// RFC 8446 §4.2.1, in a ClientHello: `ProtocolVersion versions<2..254>`.
    static func parseSupportedVersions(_ data: inout ByteReader) -> [TLSProtocolVersion]? {
        guard let listLength = data.uint8(), listLength >= 2, listLength % 2 == 0,
              var list = data.subReader(Int(listLength)), data.isAtEnd else { return nil }
        var versions: [TLSProtocolVersion] = []
        while let version = list.uint16() { versions.append(TLSProtocolVersion(rawValue: version)) }
        return versions
    }
}

/// Reads big-endian integers and length-prefixed fields from `bytes[position..<end]`; every read
/// that would pass `end` returns nil and consumes nothing, so a length field can never reach
/// outside its container. Lengths are at most 24 bits and `end` at most the array's count, so no
/// sum here can overflow.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var position: Int
    let end: Int

    init(_ bytes: [UInt8], from position: Int, to end: Int) {
        precondition(0 <= position && position <= end && end <= bytes.count)
        self.bytes = bytes
        self.position = position
        self.end = end
    }

    var isAtEnd: Bool { position == end }
    var remaining: Int { end - position }

    mutating func uint8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func uint16() -> UInt16? {
        guard remaining >= 2 else { return nil }
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, remaining >= count else { return false }
        position += count
        return true
    }

    mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, remaining >= count else { return nil }
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// The next `count` bytes as their own reader (a length-prefixed container); nil if they are
    /// not all there. Shares the array: no copy.
    mutating func subReader(_ count: Int) -> ByteReader? {
        guard count >= 0, remaining >= count else { return nil }
        defer { position += count }
        return ByteReader(bytes, from: position, to: position + count)
    }
}
