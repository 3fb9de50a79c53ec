import HTTP
import Testing

@Suite("Serializer")
struct SerializerTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("request heads are written in normalized form with only the proxy's framing")
    func requestHead() {
        let head = HTTPRequestHead(method: .POST, target: "/a?b=c", headers: [
            "Host": "svc.ns.svc.cluster.local", "Content-Length": "99", "transfer-encoding": "chunked", "X-Trace": "1",
        ])
        var out: [UInt8] = []
        HTTPSerializer.requestHead(head, framing: .contentLength(5), into: &out)
        #expect(Self.text(out) == "POST /a?b=c HTTP/1.1\r\nHost: svc.ns.svc.cluster.local\r\nX-Trace: 1\r\nContent-Length: 5\r\n\r\n")
        out.removeAll()
        HTTPSerializer.requestHead(head, framing: .chunked, into: &out)
        #expect(Self.text(out) == "POST /a?b=c HTTP/1.1\r\nHost: svc.ns.svc.cluster.local\r\nX-Trace: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        out.removeAll()
        HTTPSerializer.requestHead(HTTPRequestHead(method: .GET, target: "/", version: .http1_0), framing: .none, into: &out)
        #expect(Self.text(out) == "GET / HTTP/1.0\r\n\r\n")
    }

    struct ResponseCase: Sendable, CustomTestStringConvertible {
        let status: Int
        let framing: HTTPBodyFraming
        let expected: String
        var testDescription: String { "\(status) \(framing)" }
    }

    @Test("response heads: framing field from the proxy; Content-Length kept only as metadata of HEAD/304", arguments: [
        ResponseCase(status: 200, framing: .chunked, expected: "HTTP/1.1 200 R\r\nServer: s\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ResponseCase(status: 200, framing: .contentLength(0), expected: "HTTP/1.1 200 R\r\nServer: s\r\nContent-Length: 0\r\n\r\n"),
        ResponseCase(status: 200, framing: .none, expected: "HTTP/1.1 200 R\r\nServer: s\r\nContent-Length: 42\r\n\r\n"),
        ResponseCase(status: 304, framing: .none, expected: "HTTP/1.1 304 R\r\nServer: s\r\nContent-Length: 42\r\n\r\n"),
        ResponseCase(status: 204, framing: .none, expected: "HTTP/1.1 204 R\r\nServer: s\r\n\r\n"),
        ResponseCase(status: 103, framing: .none, expected: "HTTP/1.1 103 R\r\nServer: s\r\n\r\n"),
        ResponseCase(status: 200, framing: .untilClose, expected: "HTTP/1.1 200 R\r\nServer: s\r\n\r\n"),
        ResponseCase(status: 101, framing: .tunnel, expected: "HTTP/1.1 101 R\r\nServer: s\r\n\r\n"),
    ])
    func responseHead(_ test: ResponseCase) {
        let head = HTTPResponseHead(status: test.status, reason: "R", headers: ["Server": "s", "Content-Length": "42, 42"])
        var out: [UInt8] = []
        HTTPSerializer.responseHead(head, framing: test.framing, into: &out)
        #expect(Self.text(out) == test.expected)
    }

    @Test("chunk framing: lowercase hex sizes, last chunk with allowed trailers only")
    func chunks() {
        var out: [UInt8] = []
        HTTPSerializer.chunkHeader(size: 255, into: &out)
        HTTPSerializer.chunkHeader(size: 1, into: &out)
        HTTPSerializer.chunkHeader(size: 0x1_0000_0000, into: &out)
        HTTPSerializer.chunkEnd(into: &out)
        HTTPSerializer.lastChunk(trailers: ["Checksum": "x", "Content-Length": "5", "Host": "evil", "Transfer-Encoding": "chunked"], into: &out)
        #expect(Self.text(out) == "ff\r\n1\r\n100000000\r\n\r\n0\r\nChecksum: x\r\n\r\n")
        out.removeAll()
        HTTPSerializer.lastChunk(trailers: nil, into: &out)
        #expect(Self.text(out) == "0\r\n\r\n")
    }

    @Test("serializing a parsed request and parsing it again gives the same head", arguments: [
        RequestParsingTests.rfcExample,
        "GET http://h:8080/p?q HTTP/1.1\r\nHost: h:8080\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n",
        "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n",
        "GET / HTTP/1.0\r\nx-lower:   padded value\t\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n",
        "PROPFIND /dav HTTP/1.1\r\nHost: h\r\nDepth: 1\r\nContent-Length: 0\r\n\r\n",
    ])
    func requestRoundTrip(_ text: String) throws {
        let first = try #require(firstRequest(parse(.request, text, upgrade: false)))
        var out: [UInt8] = []
        HTTPSerializer.requestHead(first, framing: .none, into: &out)
        let again = try #require(firstRequest(run(.request, [out], upgrade: false).items))
        var withoutFraming = first.headers
        withoutFraming.remove(name: "Content-Length")
        let expected = HTTPRequestHead(method: first.method, target: first.target, version: first.version, headers: withoutFraming)
        #expect(again == expected)
    }

    @Test("serializing a parsed response and parsing it again gives the same head")
    func responseRoundTrip() throws {
        let items = parse(.response, ResponseParsingTests.rfcExample, expecting: [(.GET, false)])
        guard case .response(let first, let framing)? = items.first else {
            Issue.record("no response")
            return
        }
        var out: [UInt8] = []
        HTTPSerializer.responseHead(first, framing: framing, into: &out)
        let again = run(.response, [out + bytes("Hello World! My content includes a trailing CRLF.\r\n")], expecting: [(.GET, false)]).items
        guard case .response(let second, let secondFraming)? = again.first else {
            Issue.record("no response in \(again)")
            return
        }
        var expected = first.headers
        expected.remove(name: "Content-Length")
        expected.add(name: "Content-Length", value: "51")
        #expect(second == HTTPResponseHead(version: first.version, status: first.status, reason: first.reason, headers: expected))
        #expect(secondFraming == framing)
        #expect(Array(again.dropFirst()) == Array(items.dropFirst()))
    }
}

@Suite("Semantics")
struct SemanticsTests {
    struct KeepAliveCase: Sendable, CustomTestStringConvertible {
        let request: (HTTPVersion, String?)
        let response: (HTTPVersion, String?)
        let framing: HTTPBodyFraming
        let keepAlive: Bool
        var testDescription: String { "\(request) → \(response) \(framing): \(keepAlive)" }
    }

    /// RFC 9112 §9.3: 1.1 persists unless close; 1.0 only with keep-alive; close on either side wins;
    /// a body delimited by close ends the connection.
    @Test("keep-alive decision", arguments: [
        KeepAliveCase(request: (.http1_1, nil), response: (.http1_1, nil), framing: .contentLength(1), keepAlive: true),
        KeepAliveCase(request: (.http1_1, "close"), response: (.http1_1, nil), framing: .contentLength(1), keepAlive: false),
        KeepAliveCase(request: (.http1_1, nil), response: (.http1_1, "close"), framing: .contentLength(1), keepAlive: false),
        KeepAliveCase(request: (.http1_1, "keep-alive, Close"), response: (.http1_1, nil), framing: .chunked, keepAlive: false),
        KeepAliveCase(request: (.http1_1, nil), response: (.http1_1, nil), framing: .untilClose, keepAlive: false),
        KeepAliveCase(request: (.http1_0, nil), response: (.http1_1, nil), framing: .contentLength(1), keepAlive: false),
        KeepAliveCase(request: (.http1_0, "keep-alive"), response: (.http1_1, nil), framing: .contentLength(1), keepAlive: true),
        KeepAliveCase(request: (.http1_0, "Keep-Alive"), response: (.http1_0, nil), framing: .contentLength(1), keepAlive: false),
        KeepAliveCase(request: (.http1_0, "keep-alive"), response: (.http1_0, "keep-alive"), framing: .none, keepAlive: true),
        KeepAliveCase(request: (.http1_1, "upgrade"), response: (.http1_1, nil), framing: .none, keepAlive: true),
    ])
    func keepAlive(_ test: KeepAliveCase) {
        var requestHeaders: HTTPHeaders = ["Host": "h"]
        if let connection = test.request.1 { requestHeaders.add(name: "Connection", value: connection) }
        var responseHeaders = HTTPHeaders()
        if let connection = test.response.1 { responseHeaders.add(name: "Connection", value: connection) }
        let request = HTTPRequestHead(method: .GET, target: "/", version: test.request.0, headers: requestHeaders)
        let response = HTTPResponseHead(version: test.response.0, status: 200, headers: responseHeaders)
        #expect(HTTPSemantics.keepAlive(request: request, response: response, responseFraming: test.framing) == test.keepAlive)
    }

    @Test("hop-by-hop fields are removed, Connection-listed ones too, Host never")
    func hopByHop() {
        var headers: HTTPHeaders = [
            "Host": "h", "Connection": "close, X-Private, host", "X-Private": "secret", "Keep-Alive": "timeout=5",
            "Proxy-Connection": "keep-alive", "TE": "trailers", "Trailer": "X-Sum", "Upgrade": "websocket",
            "Transfer-Encoding": "chunked", "Content-Length": "3", "Accept": "*/*",
        ]
        HTTPSemantics.removeHopByHop(from: &headers)
        #expect(headers == ["Host": "h", "Content-Length": "3", "Accept": "*/*"])

        var upgrading: HTTPHeaders = ["Host": "h", "Connection": "Upgrade, Keep-Alive", "Upgrade": "websocket", "Sec-WebSocket-Key": "k"]
        HTTPSemantics.removeHopByHop(from: &upgrading, upgrading: true)
        #expect(upgrading == ["Host": "h", "Upgrade": "websocket", "Sec-WebSocket-Key": "k", "Connection": "upgrade"])

        // Connection options close and keep-alive name fields too; unlisted fields stay.
        var options: HTTPHeaders = ["Host": "h", "Connection": "close", "Close": "x", "X-Private": "s", "A": "1"]
        HTTPSemantics.removeHopByHop(from: &options)
        #expect(options == ["Host": "h", "X-Private": "s", "A": "1"])
        var keepAlive: HTTPHeaders = ["Connection": "keep-alive", "X-Private": "s", "Date": "d"]
        HTTPSemantics.removeHopByHop(from: &keepAlive)
        #expect(keepAlive == ["X-Private": "s", "Date": "d"])
    }

    @Test("a head written with the hop-by-hop mask equals one written after removeHopByHop")
    func hopByHopMask() {
        let sections: [HTTPHeaders] = [
            ["Host": "h"],
            ["Host": "h", "Connection": "keep-alive", "Keep-Alive": "timeout=5", "Accept": "*/*"],
            ["Host": "h", "Connection": "close, X-Private, host", "X-Private": "secret", "Proxy-Connection": "keep-alive",
             "TE": "trailers", "Trailer": "X-Sum", "Upgrade": "websocket", "Transfer-Encoding": "chunked", "Accept": "*/*"],
            ["Connection": "close", "Close": "x", "Date": "d"],
            ["connection": "X-A", "x-a": "1", "X-B": "2", "CONNECTION": "x-b"],
        ]
        for headers in sections {
            var removed = headers
            HTTPSemantics.removeHopByHop(from: &removed)
            let mask = HTTPSemantics.hopByHopMask(in: headers)
            #expect(mask != nil)
            var expected: [UInt8] = []
            var masked: [UInt8] = []
            HTTPSerializer.requestHead(HTTPRequestHead(method: .GET, target: "/", version: .http1_1, headers: removed), framing: .none, into: &expected)
            HTTPSerializer.requestHead(HTTPRequestHead(method: .GET, target: "/", version: .http1_1, headers: headers), framing: .none,
                                       omitting: mask ?? 0, into: &masked)
            #expect(String(decoding: masked, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
            var response: [UInt8] = []
            var responseExpected: [UInt8] = []
            HTTPSerializer.responseHead(HTTPResponseHead(version: .http1_1, status: 200, headers: headers), framing: .contentLength(0),
                                        omitting: mask ?? 0, into: &response)
            HTTPSerializer.responseHead(HTTPResponseHead(version: .http1_1, status: 200, headers: removed), framing: .contentLength(0),
                                        into: &responseExpected)
            #expect(response == responseExpected)
        }
        var many = HTTPHeaders()
        for index in 0..<65 { many.add(name: "F\(index)", value: "v") }
        #expect(HTTPSemantics.hopByHopMask(in: many) == nil, "past 64 fields: removeHopByHop instead")
    }

    @Test("removing fields in place leaves a section that still adds, compares and serializes right")
    func removalInPlace() {
        var headers: HTTPHeaders = ["A": "1", "Connection": "x-b", "X-B": "2", "C": "3"]
        HTTPSemantics.removeHopByHop(from: &headers)
        headers.add(name: "D", value: "4")
        #expect(headers == ["A": "1", "C": "3", "D": "4"])
        #expect(headers.count == 3 && headers[2].name == "D" && headers[2].value == "4")
        var bytes: [UInt8] = []
        HTTPSerializer.responseHead(HTTPResponseHead(version: .http1_1, status: 200, headers: headers), framing: .none, into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self).hasSuffix("\r\nA: 1\r\nC: 3\r\nD: 4\r\n\r\n"))

        // Past 64 fields the section is rebuilt instead: same result.
        var many = HTTPHeaders()
        var expected = HTTPHeaders()
        for index in 0..<70 {
            many.add(name: "F\(index)", value: "\(index)")
            expected.add(name: "F\(index)", value: "\(index)")
            if index % 10 == 0 { many.add(name: "Keep-Alive", value: "timeout=\(index)") }
        }
        HTTPSemantics.removeHopByHop(from: &many)
        #expect(many == expected)
    }

    @Test("Expect: 100-continue (RFC 9110 §10.1.1)")
    func expectation() {
        func head(_ version: HTTPVersion, _ expect: String?) -> HTTPRequestHead {
            var headers: HTTPHeaders = ["Host": "h"]
            if let expect { headers.add(name: "Expect", value: expect) }
            return HTTPRequestHead(method: .PUT, target: "/", version: version, headers: headers)
        }
        #expect(HTTPSemantics.expectation(of: head(.http1_1, nil)) == .none)
        #expect(HTTPSemantics.expectation(of: head(.http1_1, "100-Continue")) == .continue100)
        #expect(HTTPSemantics.expectation(of: head(.http1_0, "100-continue")) == .none)
        #expect(HTTPSemantics.expectation(of: head(.http1_1, "100-continue, x-thing")) == .unsupported)
        #expect(HTTPSemantics.expectation(of: head(.http1_1, "x-thing")) == .unsupported)
    }

    @Test("upgrade requests need Upgrade, Connection: upgrade and HTTP/1.1")
    func upgrades() {
        func head(_ version: HTTPVersion, _ method: HTTPMethod, _ fields: HTTPHeaders) -> HTTPRequestHead {
            HTTPRequestHead(method: method, target: "/", version: version, headers: fields)
        }
        let websocket: HTTPHeaders = ["Host": "h", "Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket"]
        #expect(HTTPSemantics.isWebSocketUpgrade(head(.http1_1, .GET, websocket)))
        #expect(!HTTPSemantics.isWebSocketUpgrade(head(.http1_1, .POST, websocket)))
        #expect(!HTTPSemantics.isUpgradeRequest(head(.http1_0, .GET, websocket)))
        #expect(!HTTPSemantics.isUpgradeRequest(head(.http1_1, .GET, ["Host": "h", "Upgrade": "websocket"])))
        #expect(HTTPSemantics.isUpgradeRequest(head(.http1_1, .GET, ["Host": "h", "Connection": "upgrade", "Upgrade": "h2c"])))
        #expect(!HTTPSemantics.isWebSocketUpgrade(head(.http1_1, .GET, ["Host": "h", "Connection": "upgrade", "Upgrade": "h2c"])))
    }

    @Test("which responses have a body or start a tunnel")
    func responseBodies() {
        let table: [(Int, HTTPMethod, Bool)] = [
            (200, .GET, true), (200, .HEAD, false), (100, .GET, false), (101, .GET, false), (204, .GET, false),
            (304, .GET, false), (200, .CONNECT, false), (407, .CONNECT, true), (404, .HEAD, false), (500, .POST, true),
        ]
        for (status, method, hasBody) in table {
            #expect(HTTPSemantics.responseHasBody(status: status, to: method) == hasBody, "\(status) to \(method)")
        }
        #expect(HTTPSemantics.responseStartsTunnel(status: 101, to: .GET, upgradeRequested: true))
        #expect(!HTTPSemantics.responseStartsTunnel(status: 101, to: .GET, upgradeRequested: false))
        #expect(HTTPSemantics.responseStartsTunnel(status: 204, to: .CONNECT, upgradeRequested: false))
        #expect(!HTTPSemantics.responseStartsTunnel(status: 302, to: .CONNECT, upgradeRequested: false))
    }
}

@Suite("Headers")
struct HeadersTests {
    @Test("ordered, original spelling, case-insensitive lookup")
    func lookup() {
        var headers: HTTPHeaders = ["Accept": "a", "X-Multi": "1", "x-multi": "2, 3"]
        #expect(headers.count == 3)
        #expect(headers.values(for: "X-MULTI") == ["1", "2, 3"])
        #expect(headers.first("accept") == "a")
        #expect(headers.first("missing") == nil)
        #expect(headers.contains("ACCEPT") && !headers.contains("Accep"))
        #expect(headers.containsToken("3", in: "x-multi") && !headers.containsToken("2, 3", in: "x-multi"))
        headers.replace(name: "X-MULTI", value: "only")
        #expect(Array(headers).map(\.name) == ["Accept", "X-Multi"])
        #expect(headers.values(for: "x-multi") == ["only"])
        headers.replace(name: "New", value: "v")
        headers.remove(name: "accept")
        #expect(headers == ["X-Multi": "only", "New": "v"])
        #expect(headers != ["x-multi": "only", "New": "v"], "equality keeps the spelling")
    }

    @Test("name and value validation")
    func validation() {
        #expect(HTTPHeaders.isValidName("X-Request-Id") && HTTPHeaders.isValidName("a!#$%&'*+-.^_`|~"))
        for bad in ["", "X Y", "X:", "X\r\nY", "Ü", "X\0"] { #expect(!HTTPHeaders.isValidName(bad), "\(bad.debugDescription)") }
        #expect(HTTPHeaders.isValidValue("") && HTTPHeaders.isValidValue("a \t b") && HTTPHeaders.isValidValue("café"))
        for bad in ["a\r\nInjected: 1", "a\nb", "a\0b", " lead", "trail\t", "a\u{7F}"] {
            #expect(!HTTPHeaders.isValidValue(bad), "\(bad.debugDescription)")
        }
        #expect(HTTPMethod(rawValue: "GET") == .GET && HTTPMethod(rawValue: "M-SEARCH") != nil)
        #expect(HTTPMethod(rawValue: "GET /") == nil && HTTPMethod(rawValue: "") == nil)
    }
}
