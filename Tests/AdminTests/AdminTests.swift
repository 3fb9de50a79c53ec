import Addresses
import Glibc
import LinuxSys
import Testing
@testable import Admin

@Suite struct AdminRequestTests {
    @Test(arguments: [
        ("GET /healthz/ready HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/healthz/ready"),
        ("HEAD /stats/prometheus?x=1 HTTP/1.0\r\n\r\n", "HEAD", "/stats/prometheus"),
        ("GET / HTTP/1.1\r\nUser-Agent: kube-probe/1.30\r\nAccept: */*\r\n\r\n", "GET", "/"),
    ])
    func readsTheRequestLine(_ head: String, _ method: String, _ path: String) throws {
        let request = try #require(AdminRequest(head: Array(head.utf8)))
        guard case .success(let (gotMethod, gotPath)) = request.parsed else {
            Issue.record("rejected \(head.debugDescription)")
            return
        }
        #expect(gotMethod == method)
        #expect(gotPath == path)
    }

    @Test(arguments: [
        "GET /x HTTP/1.1\r\n", // head not finished yet
        "GET /x HTTP/1.1\r\nHost: a\r\n",
        "",
    ])
    func waitsForTheWholeHead(_ partial: String) {
        #expect(AdminRequest(head: Array(partial.utf8)) == nil)
    }

    @Test(arguments: [
        "get /x HTTP/1.1\r\n\r\n",        // lowercase method
        "GET  /x HTTP/1.1\r\n\r\n",       // two spaces
        "GET x HTTP/1.1\r\n\r\n",         // not origin-form
        "GET /x HTTP/2.0\r\n\r\n",        // not HTTP/1.x
        "GET /x\u{01} HTTP/1.1\r\n\r\n",  // control character in the target
        "GET /x HTTP/1.1\n\r\n\r\n",      // bare LF ending the request line
    ])
    func refusesMalformedRequestLines(_ head: String) throws {
        let request = try #require(AdminRequest(head: Array(head.utf8)))
        guard case .failure(let error) = request.parsed else {
            Issue.record("accepted \(head.debugDescription)")
            return
        }
        #expect(error.status == 400)
    }
}

@Suite struct AdminServerTests {
    /// Sends `request` to `address` and returns the whole response (the server closes after it).
    func exchange(_ request: String, with address: SocketAddress) throws -> String {
        let fd = try Socket.makeTCP(.ipv4)
        defer { fd.close() }
        _ = try Socket.connect(fd, to: address)
        var entry = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
        _ = poll(&entry, 1, 2000)
        _ = try Socket.send(fd, bytes: Array(request.utf8)[...])
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<100 {
            entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 2000)
            guard case .done(let count) = try Socket.receive(fd, into: &chunk), count > 0 else { break }
            response += chunk[0..<count]
        }
        return String(decoding: response, as: UTF8.self)
    }

    @Test func routesRequestsAndAnswersErrors() throws {
        let server = try AdminServer(listen: [("health", SocketAddress(IPv4Address.loopback, port: 0))]) { call in
            call.path == "/healthz/ready" ? AdminResponse(status: 503, body: "certificate expired\n") : nil
        }
        let address = try #require(server.boundAddresses["health"])
        let thread = try server.start()
        defer {
            server.stop()
            thread.join()
        }
        let ready = try exchange("GET /healthz/ready HTTP/1.1\r\nHost: x\r\n\r\n", with: address)
        #expect(ready.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(ready.contains("Content-Length: 20\r\n"))
        #expect(ready.hasSuffix("\r\n\r\ncertificate expired\n"))
        #expect(try exchange("GET /nope HTTP/1.1\r\n\r\n", with: address).hasPrefix("HTTP/1.1 404 "))
        #expect(try exchange("POST /healthz/ready HTTP/1.1\r\n\r\n", with: address).hasPrefix("HTTP/1.1 405 "))
        #expect(try exchange("BROKEN\r\n\r\n", with: address).hasPrefix("HTTP/1.1 400 "))
        let huge = "GET /" + String(repeating: "a", count: 10_000) + " HTTP/1.1\r\n\r\n"
        #expect(try exchange(huge, with: address).hasPrefix("HTTP/1.1 431 "))
    }

    @Test func writableListenerTakesBodies() throws {
        let server = try AdminServer(
            listen: [("admin", SocketAddress(IPv4Address.loopback, port: 0)), ("metrics", SocketAddress(IPv4Address.loopback, port: 0))],
            writable: ["admin"]
        ) { call in
            AdminResponse(status: 200, body: "\(call.method) \(call.path) ?\(call.query) [\(String(decoding: call.body, as: UTF8.self))]\n")
        }
        let admin = try #require(server.boundAddresses["admin"])
        let metrics = try #require(server.boundAddresses["metrics"])
        let thread = try server.start()
        defer {
            server.stop()
            thread.join()
        }
        let put = try exchange("PUT /config?x=1 HTTP/1.1\r\nContent-Length: 11\r\n\r\nkind: Thing", with: admin)
        #expect(put.hasSuffix("\r\n\r\nPUT /config ?x=1 [kind: Thing]\n"))
        let empty = try exchange("POST /routes/a/b/weights HTTP/1.1\r\n\r\n", with: admin)
        #expect(empty.hasSuffix("POST /routes/a/b/weights ? []\n"))
        #expect(try exchange("PUT /config HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", with: metrics).hasPrefix("HTTP/1.1 405 "))
        #expect(try exchange("PUT /config HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", with: admin).hasPrefix("HTTP/1.1 411 "))
        #expect(try exchange("PUT /config HTTP/1.1\r\nContent-Length: x\r\n\r\n", with: admin).hasPrefix("HTTP/1.1 400 "))
        #expect(try exchange("PUT /config HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", with: admin).hasPrefix("HTTP/1.1 413 "))
    }
}
