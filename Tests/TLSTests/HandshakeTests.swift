import Glibc
import Identity
import LinuxSys
import Testing
@testable import TLS

@Suite("mTLS between two sidecars")
struct HandshakeTests {
    @Test(arguments: [false, true])
    func fullHandshakeAuthenticatesBothSides(intermediate: Bool) throws {
        let mesh = try Mesh(intermediate: intermediate)
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: spiffe(Mesh.serverID), session: nil, sessionKey: "cart")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        let (clientStep, serverStep) = handshake(client, sockets.client, server, sockets.server)
        #expect(clientStep == .done)
        #expect(serverStep == .done)
        #expect(client.peerIdentity == spiffe(Mesh.serverID))
        #expect(server.peerIdentity == spiffe(Mesh.clientID))
        #expect(client.peerSerial == mesh.server.serial)
        #expect(server.peerSerial == mesh.client.serial)
        #expect(client.protocolVersion == "TLSv1.3" && server.protocolVersion == "TLSv1.3")
        #expect(client.cipher.hasPrefix("TLS_") && client.cipher == server.cipher)
        #expect(!client.resumed && !server.resumed)
        #expect(mesh.client.identity == spiffe(Mesh.clientID))
    }

    @Test func dataFlowsBothWaysByteExactIncludingSeveralMebibytes() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "cart")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        #expect(handshake(client, sockets.client, server, sockets.server) == (.done, .done))

        let small = Array("GET / HTTP/1.1\r\nHost: cart\r\n\r\n".utf8)
        let reply = Array("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".utf8)
        let first = exchange(client, server, aToB: small, bToA: reply)
        #expect(first.atB == small)
        #expect(first.atA == reply)

        let up = patternBytes(5 << 20, seed: 1)
        let down = patternBytes(3 << 20 + 12345, seed: 2)
        let bulk = exchange(client, server, aToB: up, bToA: down)
        #expect(bulk.atB.count == up.count && bulk.atB == up)
        #expect(bulk.atA.count == down.count && bulk.atA == down)
    }

    @Test func halfCloseWithCloseNotifyKeepsTheOtherDirectionFlowing() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "cart")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        #expect(handshake(client, sockets.client, server, sockets.server) == (.done, .done))

        // The client sends its request and closes its sending side (close_notify, then FIN).
        let request = patternBytes(200_000, seed: 3)
        #expect(writeAll(client, request) == .bytes(request.count))
        #expect(client.closeWrite() == .done)
        #expect(client.closeWrite() == .done, "a second call does not wait for the peer")
        try Socket.shutdownWrite(sockets.client)

        let (received, end) = readAvailable(server, limit: .max)
        #expect(received == request)
        #expect(end == .closed, "close_notify reads as .closed, not as an error")

        // The server keeps answering after the client's close_notify, and the client reads it all.
        let response = patternBytes(1 << 20, seed: 4)
        #expect(writeAll(server, response) == .bytes(response.count))
        #expect(server.closeWrite() == .done)
        let (answer, clientEnd) = readAvailable(client, limit: .max)
        #expect(answer == response)
        #expect(clientEnd == .closed)
        #expect(client.write(from: request, count: 10).failure?.reason == .protocol, "writing after closeWrite is refused")
    }

    @Test func truncationWithoutCloseNotifyIsReportedNotMistakenForAnEnd() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "cart")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        #expect(handshake(client, sockets.client, server, sockets.server) == (.done, .done))
        #expect(writeAll(server, [1, 2, 3]) == .bytes(3))
        try Socket.shutdownWrite(sockets.server)
        let (bytes, end) = readAvailable(client)
        #expect(bytes == [1, 2, 3])
        #expect(end.failure?.reason == .truncated)

        let reset = try SocketPair()
        let resetClient = try TLSStream.client(mesh.client, descriptor: reset.client, expectedPeer: nil, session: nil, sessionKey: "cart")
        let resetServer = try TLSStream.server(mesh.server, descriptor: reset.server)
        #expect(handshake(resetClient, reset.client, resetServer, reset.server) == (.done, .done))
        _ = readAvailable(resetClient, waitMilliseconds: 100) // take the session tickets off the socket
        try Socket.setResetOnClose(reset.server)
        shutdown(reset.server.rawValue, Int32(SHUT_RDWR))
        let (_, resetEnd) = readAvailable(resetClient)
        #expect([.reset, .truncated].contains(resetEnd.failure?.reason))
    }

    @Test func plaintextBufferedInsideOpenSSLIsVisibleWithoutASocketEdge() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "cart")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        #expect(handshake(client, sockets.client, server, sockets.server) == (.done, .done))
        // Three records in one go.
        for chunk in [[UInt8](repeating: 1, count: 100), [UInt8](repeating: 2, count: 100), [UInt8](repeating: 3, count: 100)] {
            #expect(writeAll(server, chunk) == .bytes(100))
        }
        usleep(50_000)
        var buffer = [UInt8](repeating: 0, count: 10)
        var total = 0
        // Read a little: read-ahead pulls all three records off the socket at once.
        while total == 0 {
            waitFor(sockets.client, POLLIN, milliseconds: 1000)
            if case .bytes(let count) = buffer.withUnsafeMutableBytes({ client.read(into: $0.baseAddress!, count: 10) }) { total += count }
        }
        #expect(total == 10)
        #expect(!waitFor(sockets.client, POLLIN, milliseconds: 100), "the socket is drained: epoll would report nothing more")
        #expect(client.hasBufferedPlaintext, "yet 290 bytes wait inside OpenSSL")
        let (rest, end) = readAvailable(client, waitMilliseconds: 0)
        #expect(total + rest.count == 300)
        #expect(end == .wantRead)
        #expect(!client.hasBufferedPlaintext)
    }

    @Test func aShortSocketReadSaysTheSocketIsDrainedOnlyWhenNothingIsLeft() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "cart")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        #expect(handshake(client, sockets.client, server, sockets.server) == (.done, .done))
        var buffer = [UInt8](repeating: 0, count: 65536)
        func read() -> TLSIO { buffer.withUnsafeMutableBytes { client.read(into: $0.baseAddress!, count: $0.count) } }
        /// Reads until bytes come (the session tickets sent after the handshake come first).
        func readSome() -> Int {
            for _ in 0..<100 {
                if case .bytes(let count) = read() { return count }
                _ = waitFor(sockets.client, POLLIN, milliseconds: 1000)
            }
            return 0
        }

        // The keep-alive case: one small record, and OpenSSL's read of the socket came back
        // with less than it asked for, so the socket is empty.
        #expect(writeAll(server, [UInt8](repeating: 1, count: 100)) == .bytes(100))
        #expect(readSome() == 100)
        #expect(client.socketDrained)
        #expect(read() == .wantRead)

        // A burst written before reading: reads that fill OpenSSL's request say nothing, and
        // whenever the socket is called drained a read right away finds nothing (no byte is
        // left behind an edge that already passed); every byte arrives.
        let burst = 60_000
        for _ in 0..<6 { #expect(writeAll(server, [UInt8](repeating: 2, count: 10_000)) == .bytes(10_000)) }
        var total = 0
        for _ in 0..<1000 where total < burst {
            total += readSome()
            if client.socketDrained, total < burst {
                #expect(read() == .wantRead, "called drained after \(total) bytes, yet more was readable")
            }
        }
        #expect(total == burst)
    }

    @Test func kernelTLSIsReportedHonestlyAndUserSpaceWorks() throws {
        let probe = KernelTLS.probe()
        let ulp = ProcessInfo.readSmallFile("/proc/sys/net/ipv4/tcp_available_ulp") ?? ""
        #expect(probe.available == ulp.split(whereSeparator: \.isWhitespace).contains("tls"))
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "cart")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        #expect(handshake(client, sockets.client, server, sockets.server) == (.done, .done))
        let data = patternBytes(300_000, seed: 9)
        let moved = exchange(client, server, aToB: data, bToA: data)
        #expect(moved.atA == data && moved.atB == data)
        if !probe.available {
            // This machine: no CONFIG_TLS, OpenSSL silently stays in user space and says so.
            #expect(client.kernelTLS == (false, false))
            #expect(server.kernelTLS == (false, false))
            #expect(client.dataPath == "userspace" && server.dataPath == "userspace")
            #expect(probe.detail.contains("not available"))
        }
    }

    @Test func kernelTLSProbeReadsTheULPList() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("with", Array("mptcp tls\n".utf8))
        try directory.write("without", Array("mptcp\n".utf8))
        #expect(KernelTLS.probe(ulpFile: directory.file("with")).available)
        #expect(!KernelTLS.probe(ulpFile: directory.file("without")).available)
        #expect(KernelTLS.probe(ulpFile: directory.file("without")).detail.contains("mptcp"))
        #expect(!KernelTLS.probe(ulpFile: directory.file("missing")).available)
    }

    @Test func dropingAStreamLeavesTheCallersSocketOpen() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        var client: TLSStream? = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        var server: TLSStream? = try TLSStream.server(mesh.server, descriptor: sockets.server)
        #expect(handshake(client!, sockets.client, server!, sockets.server) == (.done, .done))
        let before = sockets.inodes
        client = nil
        server = nil
        #expect(sockets.inodes == before, "TLSStream does not own the descriptor")
        #expect(fcntl(sockets.client.rawValue, F_GETFD) != -1)
    }
}

@Suite("Session resumption")
struct ResumptionTests {
    /// One connection through the cache: handshake, a request/response (which carries the
    /// server's tickets to the client), then the streams are dropped the way the relay drops them
    /// when it is done — without any explicit shutdown call.
    func connect(_ mesh: Mesh, cache: TLSSessionCache, key: String, client credentials: TLSCredentials? = nil) throws -> (resumed: Bool, clientSees: SPIFFEID?, serverSees: SPIFFEID?, serverResumed: Bool) {
        let sockets = try SocketPair()
        let client = try TLSStream.client(credentials ?? mesh.client, descriptor: sockets.client, expectedPeer: spiffe(Mesh.serverID), session: cache, sessionKey: key)
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        let steps = handshake(client, sockets.client, server, sockets.server)
        guard steps == (.done, .done) else { throw TestFailure("handshake: \(steps)") }
        let moved = exchange(client, server, aToB: [1, 2, 3], bToA: [4, 5, 6])
        guard moved.atA == [4, 5, 6] else { throw TestFailure("no response") }
        // Tickets may trail the response by a moment.
        _ = readAvailable(client, waitMilliseconds: 50)
        return (client.resumed, client.peerIdentity, server.peerIdentity, server.resumed)
    }

    @Test func secondConnectionResumesAndStillKnowsBothIdentities() throws {
        let mesh = try Mesh()
        let cache = TLSSessionCache()
        let first = try connect(mesh, cache: cache, key: "10.0.0.7:8080")
        #expect(!first.resumed)
        #expect(cache.count >= 1, "the server's tickets reached the cache")
        for round in 0..<3 {
            let next = try connect(mesh, cache: cache, key: "10.0.0.7:8080")
            #expect(next.resumed, "round \(round)")
            #expect(next.serverResumed, "round \(round)")
            #expect(next.clientSees == spiffe(Mesh.serverID), "round \(round)")
            #expect(next.serverSees == spiffe(Mesh.clientID), "the ticket carries the client certificate (round \(round))")
        }
    }

    @Test func aBurstOfParallelConnectionsAllResumeFromTheNewestTicket() throws {
        let mesh = try Mesh()
        let cache = TLSSessionCache(capacity: 8, ticketsPerKey: 1)
        _ = try connect(mesh, cache: cache, key: "burst")
        // Six connections take their ticket before any of them finishes a handshake, as parallel
        // requests do: with single-use tickets all but the first would be full handshakes.
        var pairs: [(SocketPair, TLSStream, TLSStream)] = []
        for _ in 0..<6 {
            let sockets = try SocketPair()
            let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: spiffe(Mesh.serverID), session: cache, sessionKey: "burst")
            pairs.append((sockets, client, try TLSStream.server(mesh.server, descriptor: sockets.server)))
        }
        for (sockets, client, server) in pairs {
            let steps = handshake(client, sockets.client, server, sockets.server)
            #expect(steps == (.done, .done))
            #expect(client.resumed && server.resumed)
            #expect(server.peerIdentity == spiffe(Mesh.clientID))
        }
        for (sockets, _, _) in pairs { sockets.close() }
    }

    @Test func ticketsArePerKey() throws {
        let mesh = try Mesh()
        let cache = TLSSessionCache(capacity: 8, ticketsPerKey: 1)
        _ = try connect(mesh, cache: cache, key: "a")
        #expect(cache.count == 1, "one ticket kept per key")
        #expect(try !connect(mesh, cache: cache, key: "b").resumed, "a ticket for a is not offered to b")
        #expect(try connect(mesh, cache: cache, key: "a").resumed)
    }

    @Test func rotatedCredentialsDoNotResumeOldTickets() throws {
        let mesh = try Mesh()
        let cache = TLSSessionCache()
        _ = try connect(mesh, cache: cache, key: "cart")
        #expect(cache.count >= 1)
        let renewed = try mesh.ca.issue(Mesh.clientID).credentials(name: "renewed")
        let afterRotation = try connect(mesh, cache: cache, key: "cart", client: renewed)
        #expect(!afterRotation.resumed, "a ticket from before the rotation is dropped")
        #expect(afterRotation.serverSees == spiffe(Mesh.clientID))
        #expect(try connect(mesh, cache: cache, key: "cart", client: renewed).resumed)
    }

    @Test func aServerWithNewTicketKeysFallsBackToAFullHandshake() throws {
        let mesh = try Mesh()
        let cache = TLSSessionCache()
        _ = try connect(mesh, cache: cache, key: "cart")
        // The server rotated: a new TLSCredentials, new ticket keys.
        let rotatedServer = try mesh.ca.issue(Mesh.serverID).credentials(name: "server2")
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: spiffe(Mesh.serverID), session: cache, sessionKey: "cart")
        let server = try TLSStream.server(rotatedServer, descriptor: sockets.server)
        #expect(handshake(client, sockets.client, server, sockets.server) == (.done, .done))
        #expect(!client.resumed)
        #expect(client.peerSerial == rotatedServer.serial)
    }

    @Test func ticketForAnotherIdentityIsCheckedAgainOnResumption() throws {
        let mesh = try Mesh()
        let cache = TLSSessionCache()
        _ = try connect(mesh, cache: cache, key: "shared-key")
        // Same key, but now the caller expects someone else: the resumed session's certificate is
        // checked like a fresh one.
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: spiffe("spiffe://cluster.local/ns/shop/sa/payments"),
                                          session: cache, sessionKey: "shared-key")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        let (clientStep, _) = handshake(client, sockets.client, server, sockets.server)
        #expect(client.resumed, "no certificate was exchanged, so only the post-handshake check could catch it")
        #expect(clientStep.failure?.reason == .unexpectedIdentity)
    }
}
