import Addresses
import Glibc
import LinuxSys
import Testing
@testable import Admin

@Suite struct AdminQueryTests {
    @Test(arguments: [
        ("", []),
        ("usedonly", ["usedonly="]),
        ("filter=connections&usedonly", ["filter=connections", "usedonly="]),
        ("filter=direction%3Dinbound", ["filter=direction=inbound"]),
        ("filter=a+b%20c", ["filter=a+b c"]),              // + is a plus: this is not a form
        ("a=1&&b=", ["a=1", "b="]),
        ("filter=%E2%9C%93", ["filter=✓"]),
        ("x=a=b", ["x=a=b"]),
    ] as [(String, [String])])
    func decodesParametersInOrder(_ query: String, _ expected: [String]) throws {
        let call = AdminCall(listener: "admin", method: "GET", path: "/stats", query: query)
        let parameters = try #require(call.queryParameters)
        #expect(parameters.map { "\($0.name)=\($0.value)" } == expected)
    }

    @Test(arguments: ["filter=%", "filter=%4", "filter=%zz", "filter=%ff", "%C3=x"])
    func refusesMalformedEscapes(_ query: String) {
        #expect(AdminCall(listener: "admin", method: "GET", path: "/stats", query: query).queryParameters == nil)
    }
}

@Suite struct AdminClientHeadTests {
    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 200, 38, 3),
        ("HTTP/1.0 503 Service Unavailable\r\n\r\n", 503, 36, nil),
        ("HTTP/1.1 404\r\ncontent-length:  0 \r\nX: y\r\n\r\n", 404, 43, 0),
    ] as [(String, Int, Int, Int?)])
    func readsStatusAndFraming(_ text: String, _ status: Int, _ length: Int, _ contentLength: Int?) throws {
        let head = try #require(try AdminClient.parseHead(Array(text.utf8)).get())
        #expect(head == AdminClient.Head(status: status, length: length, contentLength: contentLength))
    }

    @Test(arguments: ["", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r"])
    func waitsForTheWholeHead(_ text: String) throws {
        #expect(try AdminClient.parseHead(Array(text.utf8)).get() == nil)
    }

    @Test(arguments: [
        "SSH-2.0-OpenSSH_9.6\r\n\r\n",
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    ])
    func refusesWhatIsNotAnHTTPHead(_ text: String) {
        guard case .failure = AdminClient.parseHead(Array(text.utf8)) else {
            Issue.record("accepted \(text.debugDescription)")
            return
        }
    }

    @Test func theBodyEndsAtContentLengthOrTheEndOfTheConnection() throws {
        let address = SocketAddress(IPv4Address.loopback, port: 1)
        let framed = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA".utf8)
        let head = try #require(try AdminClient.parseHead(framed).get())
        #expect(try AdminClient.response(head, framed, from: address).get() == AdminClient.Response(status: 200, body: "ok"))
        let unframed = Array("HTTP/1.0 200 OK\r\n\r\nall of it".utf8)
        let until = try #require(try AdminClient.parseHead(unframed).get())
        #expect(try AdminClient.response(until, unframed, from: address).get().body == "all of it")
        let short = Array("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc".utf8)
        let cut = try #require(try AdminClient.parseHead(short).get())
        guard case .failure(.notHTTP(_, let reason)) = AdminClient.response(cut, short, from: address) else {
            Issue.record("a body cut short was accepted")
            return
        }
        #expect(reason.contains("3 of the 9 bytes"))
    }
}

@Suite struct AdminClientExchangeTests {
    @Test func getsStatusAndBodyFromTheAdminServer() throws {
        let server = try AdminServer(listen: [("admin", SocketAddress(IPv4Address.loopback, port: 0))]) { call in
            switch call.path {
            case "/status": return AdminResponse(status: 200, contentType: "application/json", body: "{\"q\": \"\(call.query)\"}\n")
            case "/ready": return AdminResponse(status: 503, body: "draining\n")
            default: return nil
            }
        }
        let address = try #require(server.boundAddresses["admin"])
        let thread = try server.start()
        defer {
            server.stop()
            thread.join()
        }
        #expect(try AdminClient.get(address, path: "/status?x=1").get() == AdminClient.Response(status: 200, body: "{\"q\": \"x=1\"}\n"))
        #expect(try AdminClient.get(address, path: "/ready").get() == AdminClient.Response(status: 503, body: "draining\n"))
        #expect(try AdminClient.get(address, path: "/nope").get().status == 404)
    }

    @Test func aPortWithoutListenerIsReportedAsNothingListening() throws {
        // A port the kernel just gave out and took back: nothing listens there now.
        let probe = try Socket.makeTCP(.ipv4)
        try Socket.bind(probe, to: SocketAddress(IPv4Address.loopback, port: 0))
        let address = try Socket.localAddress(probe)
        probe.close()
        let result = AdminClient.get(address, path: "/status", timeoutMilliseconds: 1000)
        #expect(result == .failure(.cannotConnect(address, .connectionRefused)))
        if case .failure(let failure) = result {
            #expect(failure.description == "nothing listens on \(address) (\(Errno.connectionRefused))")
        }
    }

    @Test func aListenerThatNeverAnswersTimesOut() throws {
        // The kernel completes the handshake from the backlog; nobody ever accepts.
        let listener = try Socket.makeTCP(.ipv4)
        defer { listener.close() }
        try Socket.bind(listener, to: SocketAddress(IPv4Address.loopback, port: 0))
        try Socket.listen(listener, backlog: 4)
        let address = try Socket.localAddress(listener)
        let started = Clock.monotonicNanoseconds()
        #expect(AdminClient.get(address, path: "/status", timeoutMilliseconds: 200) == .failure(.timedOut(address, milliseconds: 200)))
        let elapsed = (Clock.monotonicNanoseconds() - started) / 1_000_000
        #expect(elapsed >= 190 && elapsed < 2000, "took \(elapsed) ms")
    }

    @Test func somethingElseOnThePortIsNotTakenForAnAnswer() throws {
        let listener = try Socket.makeTCP(.ipv4)
        defer { listener.close() }
        try Socket.bind(listener, to: SocketAddress(IPv4Address.loopback, port: 0))
        try Socket.listen(listener, backlog: 4)
        let address = try Socket.localAddress(listener)
        // Another program on the port: reads the request, answers with its own greeting, hangs up.
        let thread = try OSThread.spawn(name: "not-http") {
            var entry = pollfd(fd: listener.rawValue, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 2000)
            guard case .done(let (client, _))? = try? Socket.accept(listener) else { return }
            // Read the request first: closing with unread bytes would send a reset instead.
            var request = [UInt8](repeating: 0, count: 4096)
            entry = pollfd(fd: client.rawValue, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 2000)
            _ = try? Socket.receive(client, into: &request)
            _ = try? Socket.send(client, bytes: Array("SSH-2.0-OpenSSH_9.6\r\n\r\n".utf8)[...])
            client.close()
        }
        defer { thread.join() }
        guard case .failure(.notHTTP(let from, let reason)) = AdminClient.get(address, path: "/status") else {
            Issue.record("an SSH greeting was taken for an HTTP answer")
            return
        }
        #expect(from == address)
        #expect(reason.contains("SSH-2.0"))
    }
}
