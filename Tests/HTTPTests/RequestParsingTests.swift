import HTTP
import Testing

@Suite("Request parsing")
struct RequestParsingTests {
    /// RFC 9112 §2.1's example request.
    static let rfcExample = "GET /hello.txt HTTP/1.1\r\nUser-Agent: curl/7.64.1\r\nHost: www.example.com\r\nAccept-Language: en, mi\r\n\r\n"

    @Test("RFC 9112 §2.1 example request")
    func rfcExampleRequest() throws {
        let items = parse(.request, Self.rfcExample)
        #expect(items.count == 2)
        let head = try #require(firstRequest(items))
        #expect(head.method == .GET)
        #expect(head.target == "/hello.txt")
        #expect(head.version == .http1_1)
        #expect(Array(head.headers).map(\.name) == ["User-Agent", "Host", "Accept-Language"])
        #expect(head.headers.first("user-agent") == "curl/7.64.1")
        #expect(head.headers.first("ACCEPT-LANGUAGE") == "en, mi")
        #expect(head.authority == "www.example.com")
        #expect(items[1] == .end(nil))
        #expect(framings(items) == [HTTPBodyFraming.none])
    }

    struct TargetCase: Sendable, CustomTestStringConvertible {
        let request: String
        let path: String
        let authority: String?
        var testDescription: String { request.prefix { $0 != "\r" }.description }
    }

    /// RFC 9112 §3.2's four forms, with the path and authority routing reads.
    @Test("request-target forms (RFC 9112 §3.2)", arguments: [
        TargetCase(request: "GET /where?q=now HTTP/1.1\r\nHost: www.example.org\r\n\r\n", path: "/where", authority: "www.example.org"),
        TargetCase(request: "GET / HTTP/1.1\r\nHost: a:8080\r\n\r\n", path: "/", authority: "a:8080"),
        TargetCase(request: "GET http://www.example.org/pub/WWW/TheProject.html HTTP/1.1\r\nHost: www.example.org\r\n\r\n",
                   path: "/pub/WWW/TheProject.html", authority: "www.example.org"),
        TargetCase(request: "GET http://www.example.org?x=1 HTTP/1.1\r\nHost: WWW.example.org\r\n\r\n", path: "/", authority: "www.example.org"),
        TargetCase(request: "CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com:80\r\n\r\n", path: "", authority: "www.example.com:80"),
        TargetCase(request: "OPTIONS * HTTP/1.1\r\nHost: www.example.org:8001\r\n\r\n", path: "*", authority: "www.example.org:8001"),
        TargetCase(request: "GET /a HTTP/1.0\r\n\r\n", path: "/a", authority: nil),
    ])
    func targetForms(_ test: TargetCase) throws {
        let items = parse(.request, test.request, upgrade: false)
        #expect(failureReason(items) == nil, "\(items)")
        let head = try #require(firstRequest(items))
        #expect(head.path == test.path)
        #expect(head.authority == test.authority)
    }

    @Test("three pipelined requests in one read: consumed counts are exact")
    func pipelining() {
        let first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        let second = "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        let third = "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        let input = bytes(first + second + third)
        var parser = HTTPMessageParser(.request)
        var position = 0
        var events: [HTTPParseEvent] = []
        while position < input.count {
            let event = parser.parse(input[position...])
            events.append(event)
            switch event {
            case .requestHead(_, _, let consumed), .body(_, _, let consumed), .messageEnd(_, let consumed), .needMoreInput(let consumed):
                position += consumed
            default:
                Issue.record("unexpected \(event)")
                return
            }
        }
        let secondHeadLength = second.utf8.count - 5
        let thirdHeadLength = third.utf8.count - "3\r\nabc\r\n0\r\n\r\n".utf8.count
        let consumed = events.map { event -> Int in
            switch event {
            case .requestHead(_, _, let consumed), .body(_, _, let consumed), .messageEnd(_, let consumed), .needMoreInput(let consumed): consumed
            default: -1
            }
        }
        #expect(consumed == [first.utf8.count, 0, secondHeadLength, 5, 0, thirdHeadLength, 6, 7])
        if case .body(let offset, let count, _) = events[6] {
            #expect(offset == 3 && count == 3)
        } else {
            Issue.record("expected the chunk data, got \(events[6])")
        }
        #expect(parser.waitingFor == .idle)
    }

    @Test("the parser stops at a message boundary when the caller does not go on")
    func stopsAtBoundary() {
        let input = bytes("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        var parser = HTTPMessageParser(.request)
        guard case .requestHead(_, _, let consumed) = parser.parse(input.span) else {
            Issue.record("no head")
            return
        }
        #expect(consumed == 28)
        #expect(parser.parse(input[consumed...]) == .messageEnd(trailers: nil, consumed: 0))
        #expect(parser.waitingFor == .idle)
    }

    @Test("a head split at every byte position parses the same", arguments: [
        rfcExample,
        "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
        "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=\"y\"\r\nabc\r\n0\r\nT: v\r\n\r\n",
        "\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    ])
    func splitAtEveryPosition(_ text: String) {
        let input = bytes(text)
        let whole = run(.request, [input]).items
        for cut in 0...input.count {
            #expect(run(.request, [Array(input[..<cut]), Array(input[cut...])]).items == whole, "cut at \(cut)")
        }
        #expect(run(.request, input.map { [$0] }).items == whole, "one byte at a time")
    }

    @Test("empty lines before a request are skipped (RFC 9112 §2.2)")
    func leadingEmptyLines() {
        let items = parse(.request, "GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(items.compactMap { if case .request(let head, _) = $0 { head.target } else { nil } } == ["/a", "/b"])
        #expect(failureReason(items) == nil)
    }

    @Test("limits: start line 414, head size 431, field count 431")
    func limits() {
        let limits = HTTPLimits(maxHeadBytes: 200, maxHeaderCount: 3, maxStartLineBytes: 40)
        let longTarget = "GET /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: h\r\n\r\n"
        let large = "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "b", count: 200) + "\r\n\r\n"
        let many = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        let three = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"
        for (text, reason, status) in [(longTarget, "start-line-too-long", 414), (large, "head-too-large", 431), (many, "too-many-headers", 431)] {
            for pieces in [[bytes(text)], bytes(text).map { [$0] }] {
                let items = run(.request, pieces, limits: limits).items
                #expect(items == [.failure(reason: reason, status: status)], "\(text.prefix(20))")
            }
        }
        #expect(failureReason(run(.request, [bytes(three)], limits: limits).items) == nil)
        let unterminated = bytes("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "b", count: 300))
        var parser = HTTPMessageParser(.request, limits: limits)
        guard case .failure(let error) = parser.parse(unterminated.span) else {
            Issue.record("an oversized head must fail before its end arrives")
            return
        }
        #expect(error.reason == "head-too-large")
    }

    @Test("waitingFor follows the connection: head, body, idle, head again")
    func waiting() {
        var parser = HTTPMessageParser(.request)
        #expect(parser.waitingFor == .head(firstByteSeen: false))
        #expect(parser.parse(bytes("PUT / HTTP/1.1\r\n").span) == .needMoreInput(consumed: 16))
        #expect(parser.waitingFor == .head(firstByteSeen: true))
        guard case .requestHead(_, let framing, let consumed) = parser.parse(bytes("Host: h\r\nContent-Length: 2\r\n\r\n").span) else {
            Issue.record("no head")
            return
        }
        #expect(framing == .contentLength(2) && consumed == 30)
        #expect(parser.waitingFor == .body)
        #expect(parser.parse(bytes("a").span) == .body(offset: 0, count: 1, consumed: 1))
        #expect(parser.parse([UInt8]().span) == .needMoreInput(consumed: 0))
        #expect(parser.waitingFor == .body)
        #expect(parser.parse(bytes("bGET").span) == .body(offset: 0, count: 1, consumed: 1))
        #expect(parser.parse(bytes("GET").span) == .messageEnd(trailers: nil, consumed: 0))
        #expect(parser.waitingFor == .idle)
        #expect(parser.parse(bytes("\r\n").span) == .needMoreInput(consumed: 2))
        #expect(parser.waitingFor == .head(firstByteSeen: true))
    }

    @Test("Connection: close and HTTP/1.0 stop the parser after the message")
    func closeAfterMessage() {
        for text in ["GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "GET / HTTP/1.0\r\n\r\n"] {
            let next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
            let result = run(.request, [bytes(text + next)])
            #expect(result.items.count == 2)
            #expect(result.parser.waitingFor == .closed)
            #expect(result.leftover == bytes(next))
        }
        let keepAlive = run(.request, [bytes("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")])
        #expect(keepAlive.items.count == 4)
    }

    @Test("a WebSocket upgrade waits for the answer, then tunnels the bytes after it")
    func upgradeAccepted() {
        let request = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let frames: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        let input = bytes(request) + frames
        var parser = HTTPMessageParser(.request)
        guard case .requestHead(let head, .none, let consumed) = parser.parse(input.span) else {
            Issue.record("no head")
            return
        }
        #expect(HTTPSemantics.isWebSocketUpgrade(head))
        #expect(parser.parse(input[consumed...]) == .messageEnd(trailers: nil, consumed: 0))
        #expect(parser.waitingFor == .upgradeDecision)
        #expect(parser.parse(input[consumed...]) == .needMoreInput(consumed: 0))
        parser.resolveUpgrade(accepted: true)
        #expect(parser.waitingFor == .tunnel)
        #expect(parser.parse(input[consumed...]) == .tunnel(consumed: 0))
        #expect(Array(input[consumed...]) == frames)
    }

    @Test("a declined upgrade or CONNECT goes back to reading requests")
    func upgradeDeclined() {
        let items = parse(.request, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", upgrade: false)
        #expect(items.count == 4)
        #expect(failureReason(items) == nil)
        let tunnel = run(.request, [bytes("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n\u{16}\u{03}\u{01}")], upgrade: true)
        #expect(tunnel.items.last == .tunnel)
        #expect(tunnel.leftover == [0x16, 0x03, 0x01])
    }

    @Test("the end of input inside a message is reported as truncated")
    func truncated() {
        for text in ["GET / HTTP/1.1\r\nHost:", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc",
                     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n"] {
            #expect(failureReason(parse(.request, text)) == "truncated-message", "\(text)")
        }
        #expect(parse(.request, "GET / HTTP/1.1\r\nHost: h\r\n\r\n\r\n").count == 2)
        var parser = HTTPMessageParser(.request)
        #expect(parser.endOfInput() == .clean)
        #expect(parser.waitingFor == .closed)
    }

    @Test("header values keep obs-text bytes and lose surrounding whitespace")
    func fieldValues() throws {
        let input: [UInt8] = bytes("GET / HTTP/1.1\r\nHost: h\r\nX-Latin: \t caf") + [0xE9] + bytes(" \t\r\nX-Empty:\r\nX-Inner: a \t b\r\n\r\n")
        let items = run(.request, [input]).items
        let head = try #require(firstRequest(items))
        #expect(head.headers.first("x-inner") == "a \t b")
        #expect(head.headers.first("x-empty") == "")
        var out: [UInt8] = []
        HTTPSerializer.requestHead(head, framing: .none, into: &out)
        #expect(out == bytes("GET / HTTP/1.1\r\nHost: h\r\nX-Latin: caf") + [0xE9] + bytes("\r\nX-Empty: \r\nX-Inner: a \t b\r\n\r\n"))
    }
}
