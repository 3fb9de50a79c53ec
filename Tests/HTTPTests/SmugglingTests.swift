import HTTP
import Testing

/// A request the parser must refuse (with `reason` and `status`) or accept (with `framing`).
struct Vector: CustomTestStringConvertible, Sendable {
    let name: String
    let input: String
    let reason: String?
    let status: Int
    let framing: HTTPBodyFraming?

    static func reject(_ name: String, _ input: String, _ reason: String, status: Int = 400) -> Vector {
        Vector(name: name, input: input, reason: reason, status: status, framing: nil)
    }

    static func accept(_ name: String, _ input: String, _ framing: HTTPBodyFraming) -> Vector {
        Vector(name: name, input: input, reason: nil, status: 0, framing: framing)
    }

    var testDescription: String { name }
}

private let head = "POST / HTTP/1.1\r\nHost: h\r\n"

/// Request smuggling and desync vectors by class (RFC 9112 §6.3, §11.2 and the PortSwigger /
/// "HTTP Desync" families). Each is refused with a stable token, or accepted with the framing the
/// serializer will then write alone.
let smugglingVectors: [Vector] = [
    // CL.TE and TE.CL: both framings present, in either order.
    .reject("CL.TE", head + "Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED", "cl-and-te"),
    .reject("TE.CL", head + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", "cl-and-te"),
    .reject("CL.TE with CL 0", head + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", "cl-and-te"),
    .reject("TE.CL, TE obfuscated but still present", head + "Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\n", "cl-and-te"),
    // TE.TE: obfuscated Transfer-Encoding that some hop might ignore and another honour.
    .reject("TE xchunked", head + "Transfer-Encoding: xchunked\r\n\r\n", "te-not-chunked"),
    .reject("TE chunkedx", head + "Transfer-Encoding: chunkedx\r\n\r\n", "te-not-chunked"),
    .reject("TE space before colon", head + "Transfer-Encoding : chunked\r\n\r\n", "space-before-colon"),
    .reject("TE tab before colon", head + "Transfer-Encoding\t: chunked\r\n\r\n", "space-before-colon"),
    .reject("TE chunked, identity", head + "Transfer-Encoding: chunked, identity\r\n\r\n", "te-not-chunked"),
    .reject("TE chunked then gzip on another line", head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", "te-not-chunked"),
    .reject("TE duplicate chunked lines", head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "te-chunked-twice"),
    .reject("TE chunked, chunked", head + "Transfer-Encoding: chunked, chunked\r\n\r\n", "te-chunked-twice"),
    .reject("TE gzip, chunked (coding not applied by the proxy)", head + "Transfer-Encoding: gzip, chunked\r\n\r\n", "te-unsupported", status: 501),
    .reject("TE identity, chunked", head + "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n", "te-unsupported", status: 501),
    .reject("TE quoted", head + "Transfer-Encoding: \"chunked\"\r\n\r\n", "te-not-chunked"),
    .reject("TE with parameter", head + "Transfer-Encoding: chunked;q=1\r\n\r\n", "te-not-chunked"),
    .reject("TE empty list element", head + "Transfer-Encoding: ,chunked\r\n\r\n", "te-not-chunked"),
    .reject("TE empty value", head + "Transfer-Encoding: \r\n\r\n", "te-not-chunked"),
    .reject("TE vertical tab", head + "Transfer-Encoding:\u{0B}chunked\r\n\r\n", "invalid-field-value"),
    .reject("TE form feed", head + "Transfer-Encoding: chunked\u{0C}\r\n\r\n", "invalid-field-value"),
    .reject("TE obs-fold", head + "Transfer-Encoding:\r\n chunked\r\n\r\n", "obs-fold"),
    .reject("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "te-in-http10"),
    .reject("Transfer_Encoding lookalike", head + "Transfer_Encoding: chunked\r\n\r\n", "invalid-field-name"),
    .reject("Content_Length lookalike", head + "content_length: 5\r\n\r\n", "invalid-field-name"),
    .reject("TE name with NUL", head + "Transfer-Encoding\0: chunked\r\n\r\n", "nul-in-head"),
    .accept("TE tab as OWS", head + "Transfer-Encoding:\tchunked\t\r\n\r\n0\r\n\r\n", .chunked),
    .accept("TE uppercase", head + "TRANSFER-ENCODING: CHUNKED\r\n\r\n0\r\n\r\n", .chunked),
    // Content-Length forms.
    .reject("CL plus sign", head + "Content-Length: +5\r\n\r\n", "invalid-content-length"),
    .reject("CL minus sign", head + "Content-Length: -5\r\n\r\n", "invalid-content-length"),
    .reject("CL hex", head + "Content-Length: 0x5\r\n\r\n", "invalid-content-length"),
    .reject("CL inner space", head + "Content-Length: 5 5\r\n\r\n", "invalid-content-length"),
    .reject("CL empty", head + "Content-Length:\r\n\r\n", "invalid-content-length"),
    .reject("CL trailing comma", head + "Content-Length: 5,\r\n\r\n", "invalid-content-length"),
    .reject("CL overflows 64 bits", head + "Content-Length: 18446744073709551616\r\n\r\n", "invalid-content-length"),
    .reject("CL 5, 6", head + "Content-Length: 5, 6\r\n\r\n", "duplicate-content-length"),
    .reject("CL 5 then 6", head + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "duplicate-content-length"),
    .reject("CL space before colon", head + "Content-Length : 5\r\n\r\n", "space-before-colon"),
    .accept("CL 5 then 5 (collapsed)", head + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", .contentLength(5)),
    .accept("CL 5, 5 (collapsed)", head + "Content-Length: 5, 5\r\n\r\nhello", .contentLength(5)),
    .accept("CL 05 (decimal, leading zero)", head + "Content-Length: 05\r\n\r\nhello", .contentLength(5)),
    .accept("CL 05 and 5 agree", head + "Content-Length: 05\r\nContent-Length: 5\r\n\r\nhello", .contentLength(5)),
    // Line endings, folding and NUL.
    .reject("bare LF line endings", "GET / HTTP/1.1\nHost: h\n\n", "bare-lf"),
    .reject("bare LF ends one field", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", "bare-lf"),
    .reject("bare LF as the empty line", "GET / HTTP/1.1\r\nHost: h\r\n\n", "bare-lf"),
    .reject("bare CR inside a value", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", "bare-cr"),
    .reject("bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", "bare-cr"),
    .reject("obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", "obs-fold"),
    .reject("obs-fold with a tab", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", "obs-fold"),
    .reject("whitespace before the first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", "whitespace-after-start-line"),
    .reject("NUL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", "nul-in-head"),
    .reject("NUL in the target", "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", "nul-in-head"),
    .reject("NUL in the method", "G\0T / HTTP/1.1\r\nHost: h\r\n\r\n", "nul-in-head"),
    .reject("space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", "space-before-colon"),
    .reject("space inside a name", "GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n", "invalid-field-name"),
    .reject("empty field name", "GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n", "invalid-field-name"),
    .reject("no colon", "GET / HTTP/1.1\r\nHost: h\r\nGarbage\r\n\r\n", "invalid-field-name"),
    .reject("DEL in a name", "GET / HTTP/1.1\r\nHost: h\r\nX\u{7F}: z\r\n\r\n", "invalid-field-name"),
    .reject("non-ASCII in a name", "GET / HTTP/1.1\r\nHost: h\r\nX\u{E9}: z\r\n\r\n", "invalid-field-name"),
    .reject("control in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{01}b\r\n\r\n", "invalid-field-value"),
    .reject("DEL in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7F}b\r\n\r\n", "invalid-field-value"),
    // Methods are case-sensitive tokens.
    .reject("lowercase get", "get / HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-method"),
    .reject("mixed-case Post", "Post / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "invalid-method"),
    .reject("method with a separator", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-method"),
    .reject("leading space", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-method"),
    .accept("extension method", "PROPFIND /d HTTP/1.1\r\nHost: h\r\n\r\n", .none),
    // Request line and targets.
    .reject("two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-start-line"),
    .reject("space in the target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-start-line"),
    .reject("tab in the target", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("fragment in the target", "GET /admin#/public HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("backslash in the target", "GET /public\\..\\admin HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("non-ASCII in the target", "GET /\u{E9} HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("HTTP/0.9", "GET /\r\n\r\n", "invalid-start-line"),
    .reject("trailing space after the version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", "invalid-start-line"),
    .reject("lowercase version", "GET / http/1.1\r\nHost: h\r\n\r\n", "invalid-start-line"),
    .reject("HTTP/2.0 over HTTP/1 syntax", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", "unsupported-version", status: 505),
    .reject("HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", "unsupported-version", status: 505),
    .accept("absolute-form", "GET http://h/a?b HTTP/1.1\r\nHost: h\r\n\r\n", .none),
    .reject("absolute-form with another Host", "GET http://h/a HTTP/1.1\r\nHost: evil\r\n\r\n", "host-mismatch"),
    .reject("absolute-form with userinfo", "GET http://u@h/a HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("absolute-form with another scheme", "GET ftp://h/a HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("authority-form on GET", "GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("origin-form on CONNECT", "CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("CONNECT without a port", "CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .reject("CONNECT with a body", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 5\r\n\r\nhello", "connect-with-body"),
    .reject("asterisk-form on GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", "invalid-target"),
    .accept("asterisk-form on OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", .none),
    // Host rules (RFC 9112 §3.2).
    .reject("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", "missing-host"),
    .reject("two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "duplicate-host"),
    .reject("two equal Host fields", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "duplicate-host"),
    .reject("Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "invalid-host"),
    .reject("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid-host"),
    .reject("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", "invalid-host"),
    .reject("Host with a bad port", "GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", "invalid-host"),
    .accept("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", .none),
    .accept("IPv6 Host with port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", .none),
    .accept("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", .none),
]

/// Chunked-body vectors: the head is accepted, the body is refused mid-way.
let chunkedVectors: [Vector] = [
    .reject("chunk size 0x5", "0x5\r\nhello\r\n0\r\n\r\n", "chunk-size-not-hex"),
    .reject("chunk size -5", "-5\r\nhello\r\n0\r\n\r\n", "chunk-size-not-hex"),
    .reject("chunk size +5", "+5\r\nhello\r\n0\r\n\r\n", "chunk-size-not-hex"),
    .reject("chunk size with leading space", " 5\r\nhello\r\n0\r\n\r\n", "chunk-size-not-hex"),
    .reject("empty chunk size", "\r\nhello\r\n0\r\n\r\n", "chunk-size-not-hex"),
    .reject("chunk size with trailing space only", "5 \r\nhello\r\n0\r\n\r\n", "invalid-chunk-extension"),
    .reject("17 hex digits", "10000000000000000\r\n", "chunk-size-overflow"),
    .reject("17 hex digits with leading zeros", "00000000000000005\r\nhello\r\n0\r\n\r\n", "chunk-size-overflow"),
    .reject("16 hex digits above 2^63-1", "8000000000000000\r\n", "chunk-size-overflow"),
    .reject("chunk size g", "5g\r\nhello\r\n0\r\n\r\n", "chunk-size-not-hex"),
    .reject("bare LF after the size", "5\nhello\r\n0\r\n\r\n", "bare-lf"),
    .reject("bare CR after the size", "5\rhello\r\n0\r\n\r\n", "bare-cr"),
    .reject("bare LF after the data", "5\r\nhello\n0\r\n\r\n", "bare-lf"),
    .reject("data longer than the size", "3\r\nhello\r\n0\r\n\r\n", "chunk-missing-crlf"),
    .reject("data shorter than the size (eats the CRLF)", "7\r\nhello\r\n0\r\n\r\n", "chunk-missing-crlf"),
    .reject("extension without a name", "5;=x\r\nhello\r\n0\r\n\r\n", "invalid-chunk-extension"),
    .reject("extension value with a space", "5;a=b c\r\nhello\r\n0\r\n\r\n", "invalid-chunk-extension"),
    .reject("quoted extension with CRLF inside", "5;a=\"b\r\nc\"\r\nhello\r\n0\r\n\r\n", "invalid-chunk-extension"),
    .reject("quoted extension with LF inside", "5;a=\"b\nc\"\r\nhello\r\n0\r\n\r\n", "bare-lf"),
    .reject("unterminated quoted extension", "5;a=\"bc\r\nhello\r\n0\r\n\r\n", "invalid-chunk-extension"),
    .reject("text after a quoted extension", "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", "invalid-chunk-extension"),
    .reject("NUL in an extension", "5;a\0\r\nhello\r\n0\r\n\r\n", "invalid-chunk-extension"),
    .reject("obs-fold in trailers", "0\r\nT: a\r\n b\r\n\r\n", "obs-fold"),
    .reject("NUL in trailers", "0\r\nT: a\0\r\n\r\n", "nul-in-head"),
    .reject("space before colon in trailers", "0\r\nT : a\r\n\r\n", "space-before-colon"),
    .reject("bare LF in trailers", "0\r\nT: a\n\r\n", "bare-lf"),
    .reject("bare LF ending the last chunk", "0\r\n\n", "bare-lf"),
    .accept("quoted extension with ; and \\\"", "5;a=\"b;c\\\"d\";e = f\r\nhello\r\n0;last\r\n\r\n", .chunked),
    .accept("BWS around ; and =", "5 ; a = b\r\nhello\r\n0\r\n\r\n", .chunked),
    .accept("uppercase hex and leading zeros", "0000A\r\n0123456789\r\n0\r\n\r\n", .chunked),
]

@Suite("Request smuggling defences")
struct SmugglingTests {
    @Test("there are at least 40 vectors of each kind together")
    func enoughVectors() {
        #expect(smugglingVectors.count + chunkedVectors.count >= 40)
    }

    @Test("request head vectors", arguments: smugglingVectors)
    func requestVector(_ vector: Vector) {
        for items in [parse(.request, vector.input), parseBytewise(.request, vector.input)] {
            if let reason = vector.reason {
                #expect(failureReason(items) == reason, "\(items)")
                #expect(failureStatus(items) == vector.status)
                #expect(firstRequest(items) == nil, "a refused request must not be handed to the proxy")
            } else {
                #expect(failureReason(items) == nil, "\(items)")
                #expect(framings(items) == [vector.framing], "\(items)")
            }
        }
    }

    @Test("chunked body vectors", arguments: chunkedVectors)
    func chunkedVector(_ vector: Vector) {
        let input = "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + vector.input
        for items in [parse(.request, input), parseBytewise(.request, input)] {
            #expect(framings(items) == [.chunked])
            if let reason = vector.reason {
                #expect(failureReason(items) == reason, "\(items)")
                #expect(failureStatus(items) == 400)
            } else {
                #expect(failureReason(items) == nil, "\(items)")
                #expect(items.last.map { if case .end = $0 { true } else { false } } == true, "\(items)")
            }
        }
    }

    @Test("the bytes after a refused request are never parsed as a request")
    func noSecondRequestAfterFailure() {
        let smuggled = head + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"
        let items = parse(.request, smuggled)
        #expect(items == [.failure(reason: "cl-and-te", status: 400)])
        var parser = HTTPMessageParser(.request)
        _ = parser.parse(bytes(smuggled).span)
        #expect(parser.waitingFor == .closed)
        #expect(parser.parse(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n").span) == .failure(HTTPParseError(
            status: 400, reason: "cl-and-te", detail: "both Content-Length and Transfer-Encoding (RFC 9112 §6.1)")))
    }

    @Test("a chunked request re-serialized carries only the proxy's framing")
    func reframedRequestIsUnambiguous() {
        let items = parse(.request, head + "Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        guard let request = firstRequest(items) else {
            Issue.record("no request in \(items)")
            return
        }
        var out: [UInt8] = []
        HTTPSerializer.requestHead(request, framing: .contentLength(5), into: &out)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text == "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n")
    }
}
