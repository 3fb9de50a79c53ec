import HTTP
import Testing

@Suite("Response parsing")
struct ResponseParsingTests {
    /// RFC 9112 §2.1's example response (its content ends in CRLF: 51 bytes).
    static let rfcExample = "HTTP/1.1 200 OK\r\nDate: Mon, 27 Jul 2009 12:28:53 GMT\r\nServer: Apache\r\n"
        + "Last-Modified: Wed, 22 Jul 2009 19:15:56 GMT\r\nETag: \"34aa387-d-1568eb00\"\r\nAccept-Ranges: bytes\r\n"
        + "Content-Length: 51\r\nVary: Accept-Encoding\r\nContent-Type: text/plain\r\n\r\n"
        + "Hello World! My content includes a trailing CRLF.\r\n"

    @Test("RFC 9112 §2.1 example response")
    func rfcExampleResponse() {
        let items = parse(.response, Self.rfcExample, expecting: [(.GET, false)])
        guard case .response(let head, let framing)? = items.first else {
            Issue.record("no response in \(items)")
            return
        }
        #expect(head.status == 200 && head.reason == "OK" && head.version == .http1_1)
        #expect(head.headers.first("etag") == "\"34aa387-d-1568eb00\"")
        #expect(framing == .contentLength(51))
        #expect(body(items) == bytes("Hello World! My content includes a trailing CRLF.\r\n"))
        #expect(items.last == .end(nil))
    }

    struct FramingCase: Sendable, CustomTestStringConvertible {
        let name: String
        let method: HTTPMethod
        let upgradeRequested: Bool
        let response: String
        /// The framing of each head reported, in order; empty when the first head fails.
        let framings: [HTTPBodyFraming]
        let failure: String?
        var testDescription: String { name }

        init(_ name: String, _ method: HTTPMethod, upgrade: Bool = false, _ response: String, _ framings: [HTTPBodyFraming], failure: String? = nil) {
            self.name = name
            self.method = method
            self.upgradeRequested = upgrade
            self.response = response
            self.framings = framings
            self.failure = failure
        }
    }

    @Test("response framing (RFC 9112 §6.3)", arguments: [
        FramingCase("HEAD: no body despite Content-Length", .HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", [.none]),
        FramingCase("HEAD: no body despite chunked", .HEAD, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", [.none]),
        FramingCase("204: no body", .GET, "HTTP/1.1 204 No Content\r\n\r\n", [.none]),
        FramingCase("304: no body despite Content-Length", .GET, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", [.none]),
        FramingCase("Content-Length", .GET, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", [.contentLength(2)]),
        FramingCase("chunked", .POST, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", [.chunked]),
        FramingCase("no framing: until close", .GET, "HTTP/1.1 200 OK\r\n\r\nstream", [.untilClose]),
        FramingCase("HTTP/1.0 without framing: until close", .GET, "HTTP/1.0 200 OK\r\n\r\nold", [.untilClose]),
        FramingCase("100 then the final response", .POST, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", [.none, .contentLength(0)]),
        FramingCase("103 then 100 then the final response", .GET,
                    "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                    [.none, .none, .none]),
        FramingCase("101 to an upgrade request: tunnel", .GET, upgrade: true,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", [.tunnel]),
        FramingCase("CONNECT 200: tunnel, Content-Length ignored", .CONNECT, "HTTP/1.1 200 Connection Established\r\nContent-Length: 5\r\n\r\n", [.tunnel]),
        FramingCase("CONNECT 407: an ordinary response", .CONNECT, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n", [.contentLength(0)]),
        FramingCase("no reason phrase, no space", .GET, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", [.contentLength(0)]),
        FramingCase("101 without an upgrade request", .GET, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", [], failure: "unexpected-101"),
        FramingCase("101 without Upgrade", .GET, upgrade: true, "HTTP/1.1 101 Switching Protocols\r\n\r\n", [], failure: "unexpected-101"),
        FramingCase("Content-Length with Transfer-Encoding", .GET, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", [], failure: "cl-and-te"),
        FramingCase("Transfer-Encoding gzip alone", .GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", [], failure: "te-not-chunked"),
        FramingCase("differing Content-Length", .GET, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", [], failure: "duplicate-content-length"),
        FramingCase("Transfer-Encoding in HTTP/1.0", .GET, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", [], failure: "te-in-http10"),
        FramingCase("status 600", .GET, "HTTP/1.1 600 Nope\r\n\r\n", [], failure: "invalid-status"),
        FramingCase("status of two digits", .GET, "HTTP/1.1 20 OK\r\n\r\n", [], failure: "invalid-start-line"),
        FramingCase("status of four digits", .GET, "HTTP/1.1 2000 OK\r\n\r\n", [], failure: "invalid-status"),
        FramingCase("HTTP/2 status line", .GET, "HTTP/2 200 OK\r\n\r\n", [], failure: "invalid-start-line"),
        FramingCase("HTTP/1.2", .GET, "HTTP/1.2 200 OK\r\n\r\n", [], failure: "unsupported-version"),
        FramingCase("obs-fold", .GET, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", [], failure: "obs-fold"),
        FramingCase("bare LF", .GET, "HTTP/1.1 200 OK\nContent-Length: 0\n\n", [], failure: "bare-lf"),
        FramingCase("control in the reason", .GET, "HTTP/1.1 200 O\u{01}K\r\n\r\n", [], failure: "invalid-start-line"),
    ])
    func framing(_ test: FramingCase) {
        let input = test.response
        for items in [parse(.response, input, expecting: [(test.method, test.upgradeRequested)]),
                      parseBytewise(.response, input, expecting: [(test.method, test.upgradeRequested)])] {
            #expect(framings(items) == test.framings, "\(items)")
            #expect(failureReason(items) == test.failure, "\(items)")
            if test.failure != nil { #expect(failureStatus(items) == 502, "response errors answer the client with 502") }
        }
    }

    @Test("until-close bodies end with the input")
    func untilClose() {
        var parser = HTTPMessageParser(.response)
        parser.expectResponse(to: .GET)
        let input = bytes("HTTP/1.1 200 OK\r\n\r\nabc")
        guard case .responseHead(_, .untilClose, let consumed) = parser.parse(input[...]) else {
            Issue.record("no head")
            return
        }
        #expect(parser.parse(input[consumed...]) == .body(offset: 0, count: 3, consumed: 3))
        #expect(parser.waitingFor == .body)
        #expect(parser.endOfInput() == .messageEnd)
        #expect(parser.waitingFor == .closed)
    }

    @Test("a 101 leaves the bytes after it to the tunnel")
    func switchingProtocols() {
        let input = bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n") + [0x81, 0x02] + bytes("hi")
        let result = run(.response, [input], expecting: [(.GET, true)], end: false)
        #expect(result.items.count == 2)
        #expect(result.items.last == .tunnel)
        #expect(result.leftover == [0x81, 0x02] + bytes("hi"))
        #expect(result.parser.waitingFor == .tunnel)
    }

    @Test("pipelined responses answer queued requests in order")
    func pipelinedResponses() {
        let input = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx"
        let items = parse(.response, input, expecting: [(.GET, false), (.HEAD, false), (.GET, false)])
        #expect(framings(items) == [.contentLength(3), .none, .contentLength(1)])
        #expect(body(items) == bytes("abcx"))
        #expect(failureReason(items) == nil)
    }

    @Test("waitingFor: idle without a request, head after one, closed after Connection: close")
    func waiting() {
        var parser = HTTPMessageParser(.response)
        #expect(parser.waitingFor == .idle)
        parser.expectResponse(to: .GET)
        #expect(parser.waitingFor == .head(firstByteSeen: false))
        let input = bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        guard case .responseHead(_, .none, let first) = parser.parse(input[...]) else {
            Issue.record("no 100")
            return
        }
        #expect(parser.waitingFor == .head(firstByteSeen: false))
        guard case .responseHead(_, .contentLength(0), let second) = parser.parse(input[first...]) else {
            Issue.record("no 200")
            return
        }
        #expect(first + second == input.count)
        #expect(parser.parse(input[input.count...]) == .messageEnd(trailers: nil, consumed: 0))
        #expect(parser.waitingFor == .closed)
        #expect(parser.endOfInput() == .clean)
    }

    @Test("a response nobody asked for, and an upstream that closes before answering")
    func unsolicited() {
        #expect(parse(.response, "HTTP/1.1 408 Request Timeout\r\n\r\n") == [.failure(reason: "unsolicited-response", status: 502)])
        #expect(parse(.response, "", expecting: [(.GET, false)]) == [.failure(reason: "truncated-message", status: 502)])
        #expect(parse(.response, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", expecting: [(.GET, false)]).last
            == .failure(reason: "truncated-message", status: 502))
    }
}
