import Glibc
import Identity
import LinuxSys
import Testing
@testable import TLS

@Suite("Bad peers: each fails its connection with a specific reason")
struct BadPeerTests {
    /// A Weft server against `client` (a RawPeer or TLSStream made on `sockets.client`).
    func serverVersus(_ mesh: Mesh, _ sockets: SocketPair, _ client: HandshakeParty) throws -> (server: TLSStep, client: TLSStep, stream: TLSStream) {
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        let (clientStep, serverStep) = handshake(client, sockets.client, server, sockets.server)
        return (serverStep, clientStep, server)
    }

    @Test func clientFromAnotherCA() throws {
        let mesh = try Mesh()
        let otherCA = try TestCA()
        // The stranger trusts our root (so it accepts our server) but its own chain leads elsewhere.
        var stranger = try otherCA.issue(Mesh.clientID)
        stranger.bundle = otherCA.rootPEM + mesh.ca.rootPEM
        let sockets = try SocketPair()
        let client = try TLSStream.client(try stranger.credentials(), descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let result = try serverVersus(mesh, sockets, client)
        #expect(result.server.failure?.reason == .untrustedCA)
        #expect(result.server.failure?.detail.contains("unable to get local issuer certificate") == true, "\(String(describing: result.server.failure))")
        // TLS 1.3: the client finished first and learns of the refusal from the alert.
        if result.client == .done {
            #expect(readAvailable(client).1.failure?.reason == .rejectedByPeer)
        } else {
            #expect(result.client.failure?.reason == .rejectedByPeer)
        }
    }

    @Test func serverFromAnotherCA() throws {
        let mesh = try Mesh()
        let otherCA = try TestCA()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let impostor = try TLSStream.server(try otherCA.issue(Mesh.serverID).credentials(), descriptor: sockets.server)
        let (clientStep, serverStep) = handshake(client, sockets.client, impostor, sockets.server)
        #expect(clientStep.failure?.reason == .untrustedCA)
        #expect(serverStep.failure?.reason == .rejectedByPeer)
        #expect(serverStep.failure?.detail.contains("unknown ca") == true)
    }

    @Test func expiredClientCertificate() throws {
        let mesh = try Mesh()
        let issuedAt = now() - 7200
        let expired = try mesh.ca.issue(Mesh.clientID, lifetime: .seconds(3600), at: issuedAt)
        let sockets = try SocketPair()
        let client = try TLSStream.client(try expired.credentials(at: issuedAt), descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let result = try serverVersus(mesh, sockets, client)
        #expect(result.server.failure?.reason == .expired)
        #expect(result.server.failure?.detail.contains("expired at \(WallClock.format(Int(issuedAt + 3600)))") == true)
        if result.client == .done {
            let failure = readAvailable(client).1.failure
            #expect(failure?.reason == .rejectedByPeer)
            #expect(failure?.detail.contains("certificate expired") == true)
        }
    }

    @Test func expiredServerCertificate() throws {
        let mesh = try Mesh()
        let issuedAt = now() - 7200
        let expired = try mesh.ca.issue(Mesh.serverID, lifetime: .seconds(3600), at: issuedAt)
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let server = try TLSStream.server(try expired.credentials(at: issuedAt), descriptor: sockets.server)
        let (clientStep, serverStep) = handshake(client, sockets.client, server, sockets.server)
        #expect(clientStep.failure?.reason == .expired)
        #expect(serverStep.failure?.reason == .rejectedByPeer)
    }

    @Test func notYetValidClientCertificate() throws {
        let mesh = try Mesh()
        let issuedAt = now() + 3600
        let early = try mesh.ca.issue(Mesh.clientID, lifetime: .seconds(3600), at: issuedAt)
        let sockets = try SocketPair()
        let client = try TLSStream.client(try early.credentials(at: issuedAt), descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        #expect(try serverVersus(mesh, sockets, client).server.failure?.reason == .notYetValid)
    }

    static let badClientCertificates: [(String, String?, Bool, TLSFailure.Reason, String)] = [
        ("no subjectAltName", nil, false, .noSPIFFEID, "no URI SAN"),
        ("only a DNS name", "DNS:cart.shop.svc", false, .noSPIFFEID, "no URI SAN"),
        ("two SPIFFE ids", "URI:spiffe://cluster.local/ns/a/sa/b,URI:spiffe://cluster.local/ns/c/sa/d", false, .noSPIFFEID, "2 URI SANs"),
        ("an https URI", "URI:https://cluster.local/ns/a/sa/b", false, .noSPIFFEID, "not a SPIFFE id"),
        ("the trust domain's own id", "URI:spiffe://cluster.local", false, .noSPIFFEID, "names a trust domain"),
        ("another trust domain", "URI:spiffe://evil.example/ns/shop/sa/frontend", false, .wrongTrustDomain, "spiffe://evil.example/ns/shop/sa/frontend"),
        ("a CA certificate as leaf", "URI:spiffe://cluster.local/ns/shop/sa/frontend", true, .notWorkload, "CA"),
    ]

    @Test("client certificates our CA signed but Weft refuses", arguments: badClientCertificates)
    func refusedClientCertificate(_ name: String, _ subjectAltName: String?, _ isCA: Bool, _ reason: TLSFailure.Reason, _ detail: String) throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let raw = try RawPeer(client: true, descriptor: sockets.client, identity: try mesh.ca.craft(subjectAltName: subjectAltName, isCA: isCA), alpn: ["weft/1"])
        let result = try serverVersus(mesh, sockets, raw)
        #expect(result.server.failure?.reason == reason, "\(name)")
        #expect(result.server.failure?.detail.contains(detail) == true, "\(name): \(String(describing: result.server.failure))")
        // The refusal happens inside the verify callback, so the peer gets an alert.
        let seen = result.client == .done ? raw.readError() : raw.lastError
        #expect(seen?.contains("bad certificate") == true, "\(name): the client saw \(String(describing: seen))")
    }

    @Test("server certificates Weft refuses", arguments: badClientCertificates)
    func refusedServerCertificate(_ name: String, _ subjectAltName: String?, _ isCA: Bool, _ reason: TLSFailure.Reason, _ detail: String) throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let raw = try RawPeer(client: false, descriptor: sockets.server, identity: try mesh.ca.craft(subjectAltName: subjectAltName, isCA: isCA))
        let (clientStep, _) = handshake(client, sockets.client, raw, sockets.server)
        #expect(clientStep.failure?.reason == reason, "\(name)")
        #expect(raw.lastError.contains("bad certificate"), "\(name): the server saw \(raw.lastError)")
    }

    @Test func serverWithAnotherIdentityThanExpected() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: spiffe("spiffe://cluster.local/ns/shop/sa/payments"),
                                          session: nil, sessionKey: "k")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        let (clientStep, serverStep) = handshake(client, sockets.client, server, sockets.server)
        #expect(clientStep.failure == TLSFailure(.unexpectedIdentity, "peer is \(Mesh.serverID), expected spiffe://cluster.local/ns/shop/sa/payments"))
        #expect(serverStep.failure?.reason == .rejectedByPeer)
    }

    @Test func clientWithoutALPNIsRefusedWithNoApplicationProtocol() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let raw = try RawPeer(client: true, descriptor: sockets.client, identity: try mesh.ca.issue(Mesh.clientID), alpn: nil)
        let result = try serverVersus(mesh, sockets, raw)
        #expect(result.server.failure?.reason == .noALPN)
        #expect(raw.lastError.contains("no application protocol"), "alert no_application_protocol; the client saw \(raw.lastError)")
    }

    @Test func clientOfferingOtherProtocolsIsRefused() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let raw = try RawPeer(client: true, descriptor: sockets.client, identity: try mesh.ca.issue(Mesh.clientID), alpn: ["h2", "http/1.1"])
        let result = try serverVersus(mesh, sockets, raw)
        #expect(result.server.failure == TLSFailure(.noALPN, "the client offered h2, http/1.1, not weft/1"))
        #expect(raw.lastError.contains("no application protocol"))
    }

    @Test func serverThatAgreesOnNoProtocol() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let raw = try RawPeer(client: false, descriptor: sockets.server, identity: try mesh.ca.issue(Mesh.serverID), selectsALPN: false)
        #expect(handshake(client, sockets.client, raw, sockets.server).0.failure?.reason == .noALPN)
    }

    @Test func clientWithoutCertificate() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let raw = try RawPeer(client: true, descriptor: sockets.client, identity: nil, alpn: ["weft/1"])
        #expect(try serverVersus(mesh, sockets, raw).server.failure?.reason == .noCertificate)
    }

    static let garbage: [(String, [UInt8])] = [
        ("an HTTP request", Array("GET / HTTP/1.1\r\nHost: cart\r\n\r\n".utf8)),
        ("random bytes", patternBytes(300, seed: 77)),
        ("an SSH banner", Array("SSH-2.0-OpenSSH_9.2p1\r\n".utf8)),
        ("a TLS alert record", [21, 3, 3, 0, 2, 2, 40]),
    ]

    @Test("garbage instead of a ClientHello", arguments: garbage)
    func garbageInsteadOfClientHello(_ name: String, _ bytes: [UInt8]) throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        try sendRaw(sockets.client, bytes)
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        var step = server.handshake()
        for _ in 0..<40 where step == .wantRead {
            waitFor(sockets.server, POLLIN, milliseconds: 50)
            step = server.handshake()
        }
        #expect([.notTLS, .protocol].contains(step.failure?.reason), "\(name): \(step)")
        if name != "a TLS alert record" { #expect(step.failure?.reason == .notTLS, "\(name)") }
    }

    @Test func serverAnsweringInPlaintext() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        #expect(client.handshake() == .wantRead)
        _ = try receiveRaw(sockets.server)
        try sendRaw(sockets.server, Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
        waitFor(sockets.client, POLLIN, milliseconds: 1000)
        #expect(client.handshake().failure?.reason == .notTLS)
    }

    /// A real ClientHello, as our client writes it.
    func clientHelloBytes(_ mesh: Mesh) throws -> [UInt8] {
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        #expect(client.handshake() == .wantRead)
        return try receiveRaw(sockets.server)
    }

    @Test(arguments: [false, true])
    func clientClosingOrResettingMidHandshake(reset: Bool) throws {
        let mesh = try Mesh()
        let hello = try clientHelloBytes(mesh)
        #expect(hello.count > 100 && hello[0] == 22)
        let sockets = try SocketPair()
        try sendRaw(sockets.client, Array(hello.prefix(60)))
        if reset { try Socket.setResetOnClose(sockets.client) }
        shutdown(sockets.client.rawValue, Int32(SHUT_RDWR))
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        var step = server.handshake()
        for _ in 0..<40 where step == .wantRead {
            waitFor(sockets.server, POLLIN, milliseconds: 50)
            step = server.handshake()
        }
        #expect(step.failure?.reason == .handshakeEOF, "\(step)")
    }

    @Test func serverClosingAfterTheClientHello() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        #expect(client.handshake() == .wantRead)
        _ = try receiveRaw(sockets.server)
        shutdown(sockets.server.rawValue, Int32(SHUT_RDWR))
        waitFor(sockets.client, POLLIN, milliseconds: 1000)
        #expect(client.handshake().failure?.reason == .handshakeEOF)
    }

    @Test func stalledHandshakeNeverBlocksTheCaller() throws {
        let mesh = try Mesh()
        let hello = try clientHelloBytes(mesh)
        let sockets = try SocketPair()
        try sendRaw(sockets.client, Array(hello.prefix(hello.count - 20)))
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        for _ in 0..<5 {
            let started = Clock.monotonicNanoseconds()
            #expect(server.handshake() == .wantRead, "a truncated ClientHello waits for more")
            #expect(Clock.monotonicNanoseconds() - started < 20_000_000, "and returns at once")
            usleep(20_000)
        }
        // Whoever drives it gives up (the handshake timeout is the caller's) by dropping it.
    }

    @Test func failuresAreStickyAndReadsAfterThemDoNotTouchTheSocket() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        try sendRaw(sockets.client, Array("GET / HTTP/1.1\r\n\r\n".utf8))
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        waitFor(sockets.server, POLLIN, milliseconds: 1000)
        let first = server.handshake()
        #expect(first.failure?.reason == .notTLS)
        #expect(server.handshake() == first)
        var byte: UInt8 = 0
        #expect(server.read(into: &byte, count: 1) == .failed(first.failure!))
        #expect(server.write(from: &byte, count: 1) == .failed(first.failure!))
        #expect(server.closeWrite() == first)
    }
}

@Suite("Descriptors", .serialized)
struct DescriptorTests {
    @Test func nothingLeaksThroughSuccessesFailuresAndCredentialLoads() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mesh = try Mesh()
        let files = try mesh.ca.issue(Mesh.serverID).write(to: directory)
        var socketInodes: Set<String> = []
        for round in 0..<20 {
            let sockets = try SocketPair()
            socketInodes.formUnion(sockets.inodes)
            let server = try TLSStream.server(try TLSCredentials.load(files, trustDomain: meshDomain), descriptor: sockets.server)
            if round % 2 == 0 {
                let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
                _ = handshake(client, sockets.client, server, sockets.server)
                _ = exchange(client, server, aToB: [1], bToA: [2])
            } else {
                try sendRaw(sockets.client, Array("garbage\r\n".utf8))
                waitFor(sockets.server, POLLIN, milliseconds: 500)
                _ = server.handshake()
            }
            sockets.close()
        }
        _ = try? TLSCredentials.load(TLSIdentityFiles.inDirectory(directory.file("missing")), trustDomain: meshDomain)
        let open = openDescriptorTargets()
        #expect(!open.contains { $0.hasPrefix(directory.path) }, "a credential file stayed open: \(open)")
        #expect(open.filter { socketInodes.contains($0) }.isEmpty, "a test socket stayed open")
    }
}
