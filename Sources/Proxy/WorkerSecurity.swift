import Config
import Detect
import Identity
import LinuxSys
import Relay
import TLS

/// A worker's mTLS state: its view of the rotating credentials, its client session cache (TLS 1.3
/// tickets per destination), the inbound modes and the buffer first bytes are peeked into. Owned
/// by one worker thread.
final class WorkerSecurity {
    private var credentialView: CredentialView
    let sessions = TLSSessionCache()
    let inbound: InboundMTLS
    let handshakeTimeout: UInt64

    init(store: CredentialStore, inbound: InboundMTLS, config: SidecarConfig) {
        credentialView = store.view()
        self.inbound = inbound
        handshakeTimeout = config.tlsHandshakeTimeout.nanoseconds
    }

    /// The credentials for a new handshake: one atomic load, plus a lock only after a rotation.
    func credentials() -> TLSCredentials { credentialView.current() }

    func inboundMode(port: UInt16) -> MTLSMode { inbound.mode(port: port) }
}

/// A `TLSStream` seen by the relay as a `SecureChannel`.
final class TLSChannel: SecureChannel {
    let stream: TLSStream

    init(_ stream: TLSStream) { self.stream = stream }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) -> SecureIO {
        Self.map(stream.read(into: buffer, count: count))
    }

    func write(from buffer: UnsafeRawPointer, count: Int) -> SecureIO {
        Self.map(stream.write(from: buffer, count: count))
    }

    var socketDrained: Bool { stream.socketDrained }

    func closeWrite() -> SecureIO {
        switch stream.closeWrite() {
        case .done: return .closed
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .failed(let failure): return .failed(reason: failure.description)
        }
    }

    private static func map(_ io: TLSIO) -> SecureIO {
        switch io {
        case .bytes(let count): return .bytes(count)
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .closed: return .closed
        case .failed(let failure): return .failed(reason: failure.description)
        }
    }
}

extension Worker {
    // MARK: - Handshakes

    /// Inbound: terminate the peer sidecar's mTLS on the client socket, then connect to the app.
    func startServerHandshake(_ connection: Connection, security: WorkerSecurity) {
        do {
            connection.tls = try TLSStream.server(security.credentials(), descriptor: connection.client)
        } catch {
            connection.failureDetail = "\(error)"
            close(connection, end: .error, reset: true)
            return
        }
        connection.tlsOnClientSide = true
        connection.phase = .handshaking
        loop.timers.schedule(connection.slot + 1, at: loop.now + security.handshakeTimeout)
        continueHandshake(connection)
    }

    /// Outbound: originate mTLS on the connected upstream socket.
    func startClientHandshake(_ connection: Connection, on upstream: Descriptor) {
        guard let security, let destination = connection.destination else { return }
        do {
            // Tickets are kept per destination and expected identity: a ticket from one peer
            // must never resume a session with another.
            let key = "\(destination)|\(connection.expectedPeer?.description ?? "")"
            connection.tls = try TLSStream.client(
                security.credentials(), descriptor: upstream, expectedPeer: connection.expectedPeer,
                session: security.sessions, sessionKey: key
            )
        } catch {
            connection.failureDetail = "\(error)"
            close(connection, end: .error, reset: true)
            return
        }
        connection.tlsOnClientSide = false
        connection.phase = .handshaking
        loop.timers.schedule(connection.slot + 1, at: loop.now + security.handshakeTimeout)
        continueHandshake(connection)
    }

    /// Drives the handshake one step; called again on every event of its socket.
    func continueHandshake(_ connection: Connection) {
        guard let tls = connection.tls else { return }
        switch tls.handshake() {
        case .wantRead, .wantWrite:
            return // edge-triggered: the socket's next readiness brings us back here
        case .failed(let failure):
            let reason = Stat.handshakeOutcomes.contains(failure.reason.rawValue) ? failure.reason.rawValue : "other"
            counters.add(Stat.handshake(connection.direction, outcome: reason))
            connection.failureDetail = failure.description
            close(connection, end: .tlsHandshakeFailed, reset: true)
        case .done:
            counters.add(Stat.handshake(connection.direction, outcome: "ok"))
            if tls.resumed { counters.add(Stat.resumed(connection.direction)) }
            loop.timers.cancel(connection.slot + 1)
            if connection.tlsOnClientSide {
                startSniffingDecrypted(connection) // inbound: what does the peer's application speak?
            } else {
                startRelaying(connection)
            }
        }
    }
}
