import Detect
import Testing

/// One prefix and what `ProtocolSniffer.classify` must call it.
struct SniffCase: CustomTestStringConvertible, Sendable {
    let name: String
    let bytes: [UInt8]
    let expected: String

    init(_ name: String, _ bytes: [UInt8], _ expected: String) {
        self.name = name
        self.bytes = bytes
        self.expected = expected
    }

    init(_ name: String, text: String, _ expected: String) {
        self.init(name, Array(text.utf8), expected)
    }

    var testDescription: String { name }
}

/// A verdict as short text for tables: `http1 GET`, `http2`, `tls`, `malformed-tls <reason>`,
/// `opaque`, `more <n>`.
func text(_ verdict: Sniffed) -> String {
    switch verdict {
    case .needMoreBytes(let count): return "more \(count)"
    case .tls: return "tls"
    case .malformedTLS(let reason): return "malformed-tls \(reason)"
    case .http1(let method): return "http1 \(method)"
    case .http2: return "http2"
    case .opaque: return "opaque"
    }
}

let capturedCases: [SniffCase] = [
    SniffCase("curl GET", CapturedRequests.curlGet, "http1 GET"),
    SniffCase("curl POST with a body", CapturedRequests.curlPost, "http1 POST"),
    SniffCase("curl --http2-prior-knowledge", CapturedRequests.curlHTTP2PriorKnowledge, "http2"),
    SniffCase("python urllib", CapturedRequests.pythonURLLib, "http1 GET"),
    SniffCase("python requests", CapturedRequests.pythonRequests, "http1 GET"),
    SniffCase("python http.client PUT", CapturedRequests.pythonHTTPClientPut, "http1 PUT"),
    SniffCase("wrk", CapturedRequests.wrk, "http1 GET"),
    SniffCase("curl through a proxy (absolute-form)", CapturedRequests.curlThroughProxy, "http1 GET"),
    SniffCase("curl OPTIONS *", CapturedRequests.curlOptionsAsterisk, "http1 OPTIONS"),
    SniffCase("curl TLS ClientHello", Captured.curl, "tls"),
    SniffCase("python TLS ClientHello", Captured.python, "tls"),
    SniffCase("openssl TLS ClientHello in three records", Captured.opensslSplit, "tls"),
    SniffCase("ssh banner", CapturedRequests.sshBanner, "opaque"),
    SniffCase("redis PING", CapturedRequests.redisPing, "opaque"),
    SniffCase("postgres startup", CapturedRequests.postgresStartup, "opaque"),
]

/// Prefixes of the captures: each is undecided until its deciding byte, and asks for one more
/// byte (HTTP/1), the rest of the preface (HTTP/2) or the rest of the record (TLS).
let prefixCases: [SniffCase] = [
    SniffCase("nothing yet", [], "more 1"),
    SniffCase("a method", text: "GET", "more 4"),
    SniffCase("a method and a space", text: "GET ", "more 5"),
    SniffCase("a method and a target", text: "GET /api/items", "more 15"),
    SniffCase("up to the version", text: "GET / HTTP/1.", "more 14"),
    SniffCase("the version without the line end", text: "GET / HTTP/1.1", "more 15"),
    SniffCase("the first byte of the preface", text: "P", "more 24"),
    SniffCase("PRI alone", text: "PRI * HTTP/2.0\r\n", "more 24"),
    SniffCase("the preface less its last byte", Array(ProtocolSniffer.http2Preface.dropLast()), "more 24"),
    SniffCase("a TLS record header", Array(Captured.curl.prefix(5)), "more \(Captured.curl.count)"),
]

/// Request lines by hand: every form of RFC 9112 §3.2, and what is not HTTP/1.
let requestLineCases: [SniffCase] = [
    SniffCase("origin-form", text: "GET /index.html HTTP/1.1\r\n", "http1 GET"),
    SniffCase("HTTP/1.0", text: "HEAD / HTTP/1.0\r\n\r\n", "http1 HEAD"),
    SniffCase("a bare LF ends the line", text: "GET / HTTP/1.1\n", "http1 GET"),
    SniffCase("an extension method", text: "PURGE /cache HTTP/1.1\r\n", "http1 PURGE"),
    SniffCase("a method with token punctuation", text: "M-SEARCH * HTTP/1.1\r\n", "http1 M-SEARCH"),
    SniffCase("absolute-form https", text: "GET https://example.com/ HTTP/1.1\r\n", "http1 GET"),
    SniffCase("absolute-form with scheme characters", text: "GET coap+tcp://h/ HTTP/1.1\r\n", "http1 GET"),
    SniffCase("CONNECT authority-form", text: "CONNECT example.com:443 HTTP/1.1\r\n", "http1 CONNECT"),
    SniffCase("CONNECT to an address", text: "CONNECT 10.0.0.1:443 HTTP/1.1\r\n", "http1 CONNECT"),
    SniffCase("CONNECT to an IPv6 literal", text: "CONNECT [fd00::1]:443 HTTP/1.1\r\n", "http1 CONNECT"),
    SniffCase("authority-form without CONNECT", text: "GET example.com:443 HTTP/1.1\r\n", "opaque"),
    SniffCase("authority-form without a port", text: "CONNECT example.com HTTP/1.1\r\n", "opaque"),
    SniffCase("a target of letters", text: "GET index.html HTTP/1.1\r\n", "opaque"),
    SniffCase("a target starting with a digit", text: "GET 1/ HTTP/1.1\r\n", "opaque"),
    SniffCase("asterisk-form with more", text: "OPTIONS *x HTTP/1.1\r\n", "opaque"),
    SniffCase("a non-ASCII target byte is tolerated", [UInt8]("GET /caf".utf8) + [0xC3, 0xA9] + [UInt8](" HTTP/1.1\r\n".utf8), "http1 GET"),
    SniffCase("HTTP/0.9", text: "GET /\r\n", "opaque"),
    SniffCase("HTTP/2.0 in a request line", text: "PRI * HTTP/2.0\r\n\r\nXX", "opaque"),
    SniffCase("the version in lowercase", text: "GET / http/1.1\r\n", "opaque"),
    SniffCase("HTTP/1.x with a letter", text: "GET / HTTP/1.x\r\n", "opaque"),
    SniffCase("a second digit", text: "GET / HTTP/1.10\r\n", "opaque"),
    SniffCase("two spaces", text: "GET  / HTTP/1.1\r\n", "opaque"),
    SniffCase("a leading space", text: " GET / HTTP/1.1\r\n", "opaque"),
    SniffCase("a leading empty line", text: "\r\nGET / HTTP/1.1\r\n", "opaque"),
    SniffCase("a tab in the target", text: "GET /a\tb HTTP/1.1\r\n", "opaque"),
    SniffCase("a control byte in the method", [0x47, 0x01, 0x54, 0x20], "opaque"),
    SniffCase("a method of 32 characters", text: String(repeating: "A", count: 32) + " / HTTP/1.1\r\n", "http1 " + String(repeating: "A", count: 32)),
    SniffCase("a method of 33 characters", text: String(repeating: "A", count: 33), "opaque"),
    SniffCase("SMTP client text", text: "EHLO client.example.com\r\n", "opaque"),
    SniffCase("a TLS-like first byte that is not TLS", [0x16, 0x02, 0x00], "opaque"),
    SniffCase("a malformed ClientHello", [0x16, 0x03, 0x01, 0x00, 0x00], "malformed-tls empty-record"),
    SniffCase("binary", [0x00, 0x00, 0x00, 0x08, 0x04, 0xD2, 0x16, 0x2F], "opaque"),
]

@Suite("ProtocolSniffer")
struct SnifferTests {
    @Test("captured clients", arguments: capturedCases)
    func captured(_ sniffCase: SniffCase) {
        #expect(text(ProtocolSniffer.classify(sniffCase.bytes)) == sniffCase.expected)
    }

    @Test("undecided prefixes ask for what they need", arguments: prefixCases)
    func prefixes(_ sniffCase: SniffCase) {
        #expect(text(ProtocolSniffer.classify(sniffCase.bytes)) == sniffCase.expected)
    }

    @Test("request lines", arguments: requestLineCases)
    func requestLines(_ sniffCase: SniffCase) {
        #expect(text(ProtocolSniffer.classify(sniffCase.bytes)) == sniffCase.expected)
    }

    @Test("every prefix of a capture is undecided or already final", arguments: capturedCases)
    func prefixesOfCaptures(_ sniffCase: SniffCase) {
        let whole = ProtocolSniffer.classify(sniffCase.bytes)
        var decidedAt: Int?
        for cut in 0...sniffCase.bytes.count {
            let verdict = ProtocolSniffer.classify(sniffCase.bytes[0..<cut])
            if case .needMoreBytes(let count) = verdict {
                #expect(decidedAt == nil, "undecided again at \(cut) bytes after deciding at \(decidedAt ?? -1)")
                #expect(count > cut && count <= sniffCase.bytes.count, "asked for \(count) bytes at \(cut)")
            } else {
                #expect(text(verdict) == text(whole), "at \(cut) bytes")
                decidedAt = decidedAt ?? cut
            }
        }
        #expect(decidedAt != nil)
    }

    @Test("HTTP/1 is decided at the end of the request line, HTTP/2 at the end of the preface")
    func decisionPoints() {
        let get = CapturedRequests.curlGet
        let lineEnd = get.firstIndex(of: UInt8(ascii: "\r"))!
        #expect(text(ProtocolSniffer.classify(get[0..<lineEnd])) == "more \(lineEnd + 1)")
        #expect(text(ProtocolSniffer.classify(get[0...lineEnd])) == "http1 GET")
        let preface = ProtocolSniffer.http2Preface
        #expect(preface.count == 24)
        #expect(text(ProtocolSniffer.classify(preface)) == "http2")
        #expect(text(ProtocolSniffer.classify(preface + [0x00, 0x00])) == "http2")
    }

    @Test("a request line longer than the bound is opaque, one just within it is HTTP/1")
    func bound() {
        let limit = ProtocolSniffer.maximumRequestLineLength
        #expect(limit == 8192 && ProtocolSniffer.maximumPrefixLength >= limit)
        let fixed = "GET /".utf8.count + " HTTP/1.1\r".utf8.count
        let fits = Array("GET /\(String(repeating: "a", count: limit - fixed)) HTTP/1.1\r\n".utf8)
        #expect(text(ProtocolSniffer.classify(fits)) == "http1 GET")
        let tooLong = Array("GET /\(String(repeating: "a", count: limit - fixed + 1)) HTTP/1.1\r\n".utf8)
        #expect(text(ProtocolSniffer.classify(tooLong)) == "opaque")
        // Undecided prefixes never ask past the bound.
        let endless = Array("GET /\(String(repeating: "a", count: 3 * limit))".utf8)
        for cut in [limit - 2, limit - 1, limit, limit + 1, 2 * limit] {
            let verdict = ProtocolSniffer.classify(endless[0..<cut])
            if case .needMoreBytes(let count) = verdict { #expect(count <= limit && count > cut) } else { #expect(verdict == .opaque) }
        }
        #expect(ProtocolSniffer.classify(endless) == .opaque)
    }

    @Test("a ClientHello is the same whether sniffed or parsed")
    func tlsAgrees() throws {
        for hello in [Captured.curl, Captured.python, Captured.opensslALPN, Captured.opensslSNIAndALPN, Captured.opensslTLS12NoALPN] {
            guard case .clientHello(let parsed) = TLSClientHello.parse(hello) else {
                Issue.record("a capture did not parse")
                continue
            }
            #expect(ProtocolSniffer.classify(hello) == .tls(parsed))
        }
    }
}
