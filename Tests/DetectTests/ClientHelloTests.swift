import Detect
import Testing

@Suite("TLS ClientHello detection")
struct ClientHelloTests {
    struct Expected: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let recordVersion: UInt16
        let supportedVersions: [UInt16]
        let serverName: String?
        let alpn: [String]
        var testDescription: String { name }
    }

    static let long = (0..<4).map { "p\($0)-" + String(repeating: "x", count: 180) }

    static let captured: [Expected] = [
        Expected(name: "openssl weft/1", bytes: Captured.opensslALPN, recordVersion: 0x0301,
                 supportedVersions: [0x0304], serverName: nil, alpn: ["weft/1"]),
        Expected(name: "openssl SNI + ALPN", bytes: Captured.opensslSNIAndALPN, recordVersion: 0x0301,
                 supportedVersions: [0x0304, 0x0303, 0x0302, 0x0301], serverName: "echo.default.svc.cluster.local",
                 alpn: ["weft/1", "h2"]),
        Expected(name: "openssl TLS 1.2 bare", bytes: Captured.opensslTLS12NoALPN, recordVersion: 0x0301,
                 supportedVersions: [], serverName: nil, alpn: []),
        Expected(name: "curl", bytes: Captured.curl, recordVersion: 0x0301,
                 supportedVersions: [0x0304, 0x0303, 0x0302, 0x0301], serverName: "localhost", alpn: ["h2", "http/1.1"]),
        Expected(name: "python", bytes: Captured.python, recordVersion: 0x0301,
                 supportedVersions: [0x0304, 0x0303], serverName: "api.example.test", alpn: ["http/1.1"]),
        Expected(name: "openssl in three records", bytes: Captured.opensslSplit, recordVersion: 0x0301,
                 supportedVersions: [0x0304, 0x0303, 0x0302, 0x0301], serverName: "split.example.test",
                 alpn: ["weft/1"] + long),
    ]

    @Test("captured ClientHellos parse", arguments: captured)
    func capturedHello(_ expected: Expected) throws {
        guard case .clientHello(let hello) = TLSClientHello.parse(expected.bytes) else {
            Issue.record("\(TLSClientHello.parse(expected.bytes))")
            return
        }
        #expect(hello.recordVersion.rawValue == expected.recordVersion)
        #expect(hello.legacyVersion == .tls1_2, "every client here sends legacy_version 0x0303")
        #expect(hello.supportedVersions.map(\.rawValue) == expected.supportedVersions)
        #expect(hello.serverName == expected.serverName)
        #expect(hello.alpnProtocols == expected.alpn)
        #expect(hello.prefixLength == expected.bytes.count, "the capture is exactly the ClientHello's records")
        #expect(hello.offers(alpn: "weft/1") == expected.alpn.contains("weft/1"))
        #expect(hello.offersTLS13 == expected.supportedVersions.contains(0x0304))
    }

    @Test("every proper prefix of a capture asks for more, and never past the record it is in", arguments: captured)
    func prefixesNeedMore(_ expected: Expected) {
        for length in 0..<expected.bytes.count {
            let outcome = TLSClientHello.parse(expected.bytes[0..<length])
            guard case .needMoreBytes(let atLeast) = outcome else {
                Issue.record("prefix of \(length) bytes: \(outcome)")
                return
            }
            #expect(atLeast > length && atLeast <= expected.bytes.count, "prefix \(length) asked for \(atLeast)")
        }
    }

    @Test("peeking again as asked reaches the ClientHello", arguments: captured)
    func followingNeedMoreBytesConverges(_ expected: Expected) {
        var length = 0
        var peeks = 0
        while true {
            peeks += 1
            switch TLSClientHello.parse(expected.bytes.prefix(length)) {
            case .needMoreBytes(let atLeast):
                #expect(atLeast > length)
                length = atLeast
            case .clientHello(let hello):
                #expect(hello.prefixLength == expected.bytes.count)
                // At most four header steps and one fragment step per record (three records at most).
                #expect(peeks <= 5 * 3 + 1)
                return
            case let other:
                Issue.record("\(other) after \(length) bytes")
                return
            }
        }
    }

    @Test("bytes after the ClientHello (early data, a second flight) are not its business")
    func trailingRecordsIgnored() {
        let bytes = Captured.opensslALPN + [23, 3, 3, 0, 2, 0xAA, 0xBB] + Array("GET".utf8)
        guard case .clientHello(let hello) = TLSClientHello.parse(bytes) else {
            Issue.record("\(TLSClientHello.parse(bytes))")
            return
        }
        #expect(hello.prefixLength == Captured.opensslALPN.count)
    }

    static let plaintext: [(String, [UInt8])] = [
        ("HTTP/1.1 request", Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)),
        ("HTTP/2 preface", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)),
        ("SSH banner", Array("SSH-2.0-OpenSSH_9.2\r\n".utf8)),
        ("one letter", Array("G".utf8)),
        ("SSLv2-compatible hello", [0x80, 0x2E, 0x01, 0x03, 0x01]),
        ("application data record", [23, 3, 3, 0, 5, 1, 2, 3, 4, 5]),
        ("alert record", [21, 3, 3, 0, 2, 2, 40]),
        ("type 22 but not version 3.x", [22, 0x00, 0x01]),
        ("type 22, version byte 0xFE (DTLS)", [22, 0xFE, 0xFD, 0, 0]),
    ]

    @Test("plaintext and other protocols are not TLS", arguments: plaintext)
    func notTLS(_ name: String, _ bytes: [UInt8]) {
        #expect(TLSClientHello.parse(bytes) == .notTLS, "\(name)")
    }

    @Test func emptyInputNeedsOneByte() {
        #expect(TLSClientHello.parse([UInt8]()) == .needMoreBytes(atLeast: 1))
        #expect(TLSClientHello.parse([UInt8(22)]) == .needMoreBytes(atLeast: 2))
        #expect(TLSClientHello.parse([UInt8(22), 3]) == .needMoreBytes(atLeast: 3))
        #expect(TLSClientHello.parse([UInt8(22), 3, 1]) == .needMoreBytes(atLeast: 5))
    }

    /// Byte edits of captured hellos: (name, bytes, edits (offset, value), expected malformation).
    /// Offsets in `opensslALPN`: record header 0-4, msg_type 5, length 6-8, legacy_version 9-10,
    /// random 11-42, session id length 43, cipher_suites length 76-77, compression length 86.
    struct Corruption: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let edits: [(Int, UInt8)]
        let expected: ClientHelloMalformation
        init(_ name: String, _ bytes: [UInt8], _ edits: [(Int, UInt8)], _ expected: ClientHelloMalformation) {
            (self.name, self.bytes, self.edits, self.expected) = (name, bytes, edits, expected)
        }
        var testDescription: String { "\(name) → \(expected)" }
    }

    static let corruptedCaptures: [Corruption] = [
        Corruption("record version 3.4", Captured.opensslALPN, [(2, 4)], .recordVersion),
        Corruption("record version 3.0", Captured.opensslALPN, [(2, 0)], .recordVersion),
        Corruption("empty record", Captured.opensslALPN, [(3, 0), (4, 0)], .emptyRecord),
        Corruption("record of 2^14+1 bytes", Captured.opensslALPN, [(3, 0x40), (4, 0x01)], .recordOverflow),
        Corruption("ServerHello instead", Captured.opensslALPN, [(5, 2)], .notClientHello),
        Corruption("handshake of 16 KiB + 1", Captured.opensslALPN, [(6, 0), (7, 0x40), (8, 0x01)], .handshakeTooLong),
        Corruption("handshake of 16 MiB", Captured.opensslALPN, [(6, 0xFF), (7, 0xFF), (8, 0xFF)], .handshakeTooLong),
        Corruption("legacy version 2.0", Captured.opensslALPN, [(9, 2)], .legacyVersion),
        Corruption("session id of 33 bytes", Captured.opensslALPN, [(43, 33)], .sessionID),
        Corruption("session id past the end", Captured.opensslALPN, [(43, 0xFF)], .sessionID),
        Corruption("odd cipher_suites", Captured.opensslALPN, [(77, 7)], .cipherSuites),
        Corruption("empty cipher_suites", Captured.opensslALPN, [(77, 0)], .cipherSuites),
        Corruption("cipher_suites past the end", Captured.opensslALPN, [(76, 0xFF)], .cipherSuites),
        Corruption("no compression method", Captured.opensslALPN, [(86, 0)], .compressionMethods),
        Corruption("extensions block one byte long", Captured.opensslALPN, [(89, 0x95)], .extensions),
        Corruption("extensions block one byte short", Captured.opensslALPN, [(89, 0x93)], .extensions),
        Corruption("second record is application data", Captured.opensslSplit, [(517, 23)], .interleavedRecord),
        Corruption("second record version 2.0", Captured.opensslSplit, [(518, 2)], .recordVersion),
        Corruption("second record version 3.9", Captured.opensslSplit, [(519, 9)], .recordVersion),
    ]

    @Test("corrupted captures are malformed", arguments: corruptedCaptures)
    func corruptedCapture(_ corruption: Corruption) {
        var bytes = corruption.bytes
        for (offset, value) in corruption.edits { bytes[offset] = value }
        #expect(TLSClientHello.parse(bytes) == .malformed(corruption.expected), "\(corruption.name)")
    }

    @Test func offsetsUsedByTheCorruptionTableAreWhereTheyClaim() {
        let hello = Captured.opensslALPN
        #expect(hello[43] == 32, "session id length")
        #expect(hello[76] == 0 && hello[77] == 8, "cipher_suites length")
        #expect(hello[86] == 1 && hello[87] == 0, "one compression method, null")
        #expect(hello[88] == 0 && hello[89] == 0x94, "extensions length")
        let split = Captured.opensslSplit
        #expect(split[3] == 2 && split[4] == 0 && split[517] == 22 && split[518] == 3 && split[519] == 1,
                "the split capture's first record holds 512 bytes; the second header follows")
    }

    static let built: [(String, ClientHelloBuilder, ClientHelloMalformation)] = {
        var cases: [(String, ClientHelloBuilder, ClientHelloMalformation)] = []
        func add(_ name: String, _ expected: ClientHelloMalformation, _ edit: (inout ClientHelloBuilder) -> Void) {
            var builder = ClientHelloBuilder()
            builder.extensions = [ClientHelloBuilder.sni("a.test"), ClientHelloBuilder.alpn(["weft/1"]),
                                  ClientHelloBuilder.supportedVersions([0x0304])]
            edit(&builder)
            cases.append((name, builder, expected))
        }
        add("duplicate ALPN", .duplicateExtension) { $0.extensions.append(ClientHelloBuilder.alpn(["h2"])) }
        add("duplicate unknown extension", .duplicateExtension) { $0.extensions += [(0x1234, []), (0x1234, [])] }
        add("extension longer than its block", .extensions) { $0.extensions.append((0xFFFF, [1, 2])); $0.extensionsLengthOverride = 0 }
        add("extension data past its block", .extensions) { $0.extensions = [(1, [1, 2, 3])]; $0.extensionsLengthOverride = 5 }
        add("empty ALPN protocol name", .alpn) { $0.extensions[1] = ClientHelloBuilder.alpn(["weft/1", ""]) }
        add("empty ALPN list", .alpn) { $0.extensions[1] = (16, [0, 0]) }
        add("ALPN list longer than the extension", .alpn) { $0.extensions[1] = (16, [0, 9, 6] + Array("weft/1".utf8)) }
        add("ALPN extension with bytes after the list", .alpn) { $0.extensions[1].data += [0] }
        add("ALPN name past its list", .alpn) { $0.extensions[1] = (16, [0, 3, 6, 0x77, 0x65]) }
        add("SNI with a space", .serverName) { $0.extensions[0] = ClientHelloBuilder.sni("a b.test") }
        add("SNI with a NUL", .serverName) { $0.extensions[0] = ClientHelloBuilder.sni("a\u{0}.test") }
        add("SNI with a newline (log injection)", .serverName) { $0.extensions[0] = ClientHelloBuilder.sni("a.test\nlevel=error") }
        add("SNI with non-ASCII bytes", .serverName) { $0.extensions[0] = ClientHelloBuilder.sni("bücher.test") }
        add("SNI name type 1", .serverName) { $0.extensions[0].data[2] = 1 }
        add("two SNI host names", .serverName) {
            let one: [UInt8] = [0, 0, 1, 0x61]
            $0.extensions[0] = (0, u16(one.count * 2) + one + one)
        }
        add("empty SNI host name", .serverName) { $0.extensions[0] = (0, [0, 3, 0, 0, 0]) }
        add("empty SNI extension (a server's form)", .serverName) { $0.extensions[0] = (0, []) }
        add("SNI list past the extension", .serverName) { $0.extensions[0] = (0, [0, 20, 0, 0, 1, 0x61]) }
        add("odd supported_versions", .supportedVersions) { $0.extensions[2] = (43, [3, 3, 4, 3]) }
        add("empty supported_versions", .supportedVersions) { $0.extensions[2] = (43, [0]) }
        add("supported_versions past the extension", .supportedVersions) { $0.extensions[2] = (43, [4, 3, 4]) }
        add("legacy_version 4.0", .legacyVersion) { $0.legacyVersion = 0x0400 }
        add("session id of 33 bytes", .sessionID) { $0.sessionID = Array(repeating: 1, count: 33) }
        add("no cipher suites", .cipherSuites) { $0.cipherSuites = [] }
        add("half a cipher suite", .cipherSuites) { $0.cipherSuites = [0x13, 0x01, 0x13] }
        add("no compression methods", .compressionMethods) { $0.compressionMethods = [] }
        add("certificate message", .notClientHello) { $0.messageType = 11 }
        return cases
    }()

    @Test("built ClientHellos breaking one rule are malformed", arguments: built)
    func builtMalformed(_ name: String, _ builder: ClientHelloBuilder, _ expected: ClientHelloMalformation) {
        #expect(TLSClientHello.parse(builder.records()) == .malformed(expected), "\(name)")
        // The verdict does not depend on how the message was cut into records.
        #expect(TLSClientHello.parse(builder.records(fragment: 7)) == .malformed(expected), "\(name) in 7-byte records")
    }

    @Test func messageEndingInsideItsHeaderOrRandomIsMalformedNotStuck() {
        // A 3-byte body: the length is honest, the content is cut short.
        let bytes = wrapInRecords([1, 0, 0, 3, 3, 3, 0], fragment: 100)
        #expect(TLSClientHello.parse(bytes) == .malformed(.sessionID))
        let noVersion = wrapInRecords([1, 0, 0, 1, 3], fragment: 100)
        #expect(TLSClientHello.parse(noVersion) == .malformed(.legacyVersion))
        let empty = wrapInRecords([1, 0, 0, 0], fragment: 100)
        #expect(TLSClientHello.parse(empty) == .malformed(.legacyVersion))
    }

    @Test func tls12HelloWithoutExtensionsParses() {
        var builder = ClientHelloBuilder()
        builder.includeExtensions = false
        builder.sessionID = []
        guard case .clientHello(let hello) = TLSClientHello.parse(builder.records(recordVersion: 0x0303)) else {
            Issue.record("\(TLSClientHello.parse(builder.records()))")
            return
        }
        #expect(hello.recordVersion == .tls1_2)
        #expect(hello.extensionTypes.isEmpty && hello.alpnProtocols.isEmpty && hello.serverName == nil)
    }

    @Test func oneByteRecordsReassemble() {
        var builder = ClientHelloBuilder()
        builder.extensions = [ClientHelloBuilder.sni("svc.ns.svc.cluster.local"), ClientHelloBuilder.alpn(["weft/1", "h2"]),
                              ClientHelloBuilder.supportedVersions([0x0304, 0x0303])]
        let bytes = builder.records(fragment: 1)
        guard case .clientHello(let hello) = TLSClientHello.parse(bytes) else {
            Issue.record("\(TLSClientHello.parse(bytes))")
            return
        }
        #expect(hello.serverName == "svc.ns.svc.cluster.local")
        #expect(hello.alpnProtocols == ["weft/1", "h2"])
        #expect(hello.supportedVersions == [.tls1_3, .tls1_2])
        #expect(hello.extensionTypes == [0, 16, 43])
        #expect(hello.prefixLength == bytes.count)
    }

    @Test func largestMessageParsesAndTheLimitHolds() {
        var builder = ClientHelloBuilder()
        builder.extensions = [ClientHelloBuilder.alpn(["weft/1"])]
        let fixed = builder.message().count - 4 + 4 // body so far plus a padding extension header
        builder.extensions.append((21, Array(repeating: 0, count: TLSClientHello.maximumMessageLength - fixed)))
        #expect(builder.message().count == 4 + TLSClientHello.maximumMessageLength)
        guard case .clientHello(let hello) = TLSClientHello.parse(builder.records(fragment: 512)) else {
            Issue.record("a 16 KiB ClientHello in 512-byte records")
            return
        }
        #expect(hello.alpnProtocols == ["weft/1"])

        builder.extensions[1].data.append(0)
        #expect(TLSClientHello.parse(builder.records()) == .malformed(.handshakeTooLong))
    }

    @Test func fragmentationBeyondThePrefixBoundIsRefused() {
        var builder = ClientHelloBuilder()
        builder.extensions = [(21, Array(repeating: 0, count: 8000))]
        // 8 KiB in 1-byte records needs 48 KiB of prefix.
        let bytes = builder.records(fragment: 1)
        #expect(TLSClientHello.parse(bytes) == .malformed(.tooFragmented))
        // It is refused before the whole prefix is there, and never asks for more than the bound.
        for length in stride(from: 0, to: TLSClientHello.maximumPrefixLength, by: 997) {
            if case .needMoreBytes(let atLeast) = TLSClientHello.parse(bytes.prefix(length)) {
                #expect(atLeast <= TLSClientHello.maximumPrefixLength)
            }
        }
    }

    @Test func versionDescriptions() {
        #expect(TLSProtocolVersion.tls1_3.description == "TLS 1.3")
        #expect(TLSProtocolVersion(rawValue: 0x0A0A).description == "0x0a0a")
        #expect(TLSProtocolVersion(rawValue: 0x7F1C).description == "0x7f1c")
    }

    @Test("truncating a capture anywhere and appending garbage never crashes", arguments: captured)
    func truncatedAndCorruptedNeverCrash(_ expected: Expected) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for cut in stride(from: 0, to: expected.bytes.count, by: 3) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            var bytes = Array(expected.bytes[0..<cut])
            bytes += (0..<16).map { UInt8(truncatingIfNeeded: state >> (UInt64($0) * 4)) }
            switch TLSClientHello.parse(bytes) {
            case .needMoreBytes(let atLeast): #expect(atLeast > bytes.count)
            case .notTLS: #expect(cut <= 1, "only the first two bytes decide plaintext")
            case .malformed, .clientHello: break
            }
        }
    }
}
