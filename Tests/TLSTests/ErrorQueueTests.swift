import Glibc
import LinuxSys
import Testing
@testable import TLS

/// Reads and writes do not clear OpenSSL's per-thread error queue before each call
/// (SSL_get_error(3) needs it empty then): every failure drains it instead. These check that a
/// failure on one connection leaves nothing behind that would make the next call on another
/// connection of the same thread (a worker's) look failed, or fail for the wrong reason. Each test
/// is synchronous, so it runs on one thread from start to end, as a worker does.
@Suite("OpenSSL's error queue between connections of one thread")
struct ErrorQueueTests {
    /// A handshaken client/server pair on fresh sockets.
    func established(_ mesh: Mesh) throws -> (SocketPair, client: TLSStream, server: TLSStream) {
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let server = try TLSStream.server(mesh.server, descriptor: sockets.server)
        #expect(handshake(client, sockets.client, server, sockets.server) == (.done, .done))
        return (sockets, client, server)
    }

    /// After `failing` went wrong on this thread: a quiet connection reads `.wantRead`, and one
    /// whose peer goes away without close_notify reads `.truncated` — not the earlier error.
    func nextConnectionIsClassifiedOnItsOwn(_ mesh: Mesh) throws {
        #expect(OpenSSLErrors.isEmpty, "the failure left entries in the thread's error queue")
        let (sockets, client, server) = try established(mesh)
        _ = readAvailable(client, waitMilliseconds: 100) // the session tickets
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(buffer.withUnsafeMutableBytes { client.read(into: $0.baseAddress!, count: $0.count) } == .wantRead)
        #expect(writeAll(server, [1, 2, 3]) == .bytes(3))
        #expect(writeAll(client, [4, 5]) == .bytes(2))
        try Socket.shutdownWrite(sockets.server)
        let (bytes, end) = readAvailable(client)
        #expect(bytes == [1, 2, 3])
        #expect(end.failure?.reason == .truncated)
        #expect(OpenSSLErrors.isEmpty)
        sockets.close()
    }

    @Test func aCorruptRecordFailsOnlyItsOwnConnection() throws {
        let mesh = try Mesh()
        let (sockets, client, _) = try established(mesh)
        _ = readAvailable(client, waitMilliseconds: 100)
        // An application-data record that does not decrypt (bad_record_mac, RFC 8446 §5.2):
        // SSL_ERROR_SSL with entries in the queue.
        try sendRaw(sockets.server, [0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 0x5a, count: 32))
        let (_, end) = readAvailable(client)
        #expect(end.failure?.reason == .protocol, "\(end)")
        #expect(end.failure?.detail.contains("bad record mac") == true || end.failure?.detail.contains("decrypt") == true, "\(end)")
        sockets.close()
        try nextConnectionIsClassifiedOnItsOwn(mesh)
    }

    @Test func aFailedHandshakeFailsOnlyItsOwnConnection() throws {
        let mesh = try Mesh()
        let sockets = try SocketPair()
        let client = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let impostor = try TLSStream.server(try TestCA().issue(Mesh.serverID).credentials(), descriptor: sockets.server)
        let (clientStep, serverStep) = handshake(client, sockets.client, impostor, sockets.server)
        #expect(clientStep.failure?.reason == .untrustedCA)
        #expect(serverStep.failure?.reason == .rejectedByPeer)
        sockets.close()
        try nextConnectionIsClassifiedOnItsOwn(mesh)
    }

    @Test func aResetAndAWriteAfterCloseFailOnlyTheirOwnConnections() throws {
        let mesh = try Mesh()
        let (sockets, client, server) = try established(mesh)
        _ = readAvailable(client, waitMilliseconds: 100)
        try Socket.setResetOnClose(sockets.server)
        shutdown(sockets.server.rawValue, Int32(SHUT_RDWR))
        let (_, end) = readAvailable(client)
        #expect([.reset, .truncated].contains(end.failure?.reason))
        #expect(OpenSSLErrors.isEmpty)
        // Writing after our own close_notify: OpenSSL refuses it with an entry (SSL_ERROR_SSL).
        let (otherSockets, other, _) = try established(mesh)
        #expect(other.closeWrite() == .done)
        #expect(other.write(from: [9], count: 1).failure != nil)
        otherSockets.close()
        sockets.close()
        _ = server
        try nextConnectionIsClassifiedOnItsOwn(mesh)
    }
}
