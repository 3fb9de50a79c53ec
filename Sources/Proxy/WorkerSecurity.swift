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
    let detectionTimeout: UInt64
    /// A ClientHello is peeked into this, never consumed: if the connection turns out to be
    /// plaintext, the bytes are still in the socket for the application.
    var peekBuffer = [UInt8](repeating: 0, count: TLSClientHello.maximumPrefixLength)

    init(store: CredentialStore, inbound: InboundMTLS, config: SidecarConfig) {
        credentialView = store.view()
        self.inbound = inbound
        handshakeTimeout = config.tlsHandshakeTimeout.nanoseconds
        detectionTimeout = config.tlsDetectionTimeout.nanoseconds
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
    // MARK: - Inbound: what are the first bytes?

    /// An inbound connection on a PERMISSIVE or STRICT port: wait for its first bytes. A
    /// PERMISSIVE port gives up waiting after `tls.detectionTimeout` and relays in plaintext
    /// (server-speaks-first protocols send nothing first); a STRICT port waits as long as a
    /// handshake may take.
    func startDetecting(_ connection: Connection, security: WorkerSecurity) {
        connection.phase = .detecting
        let strict = security.inboundMode(port: connection.destination?.address.port ?? 0) == .strict
        loop.timers.schedule(connection.slot + 1, at: loop.now + (strict ? security.handshakeTimeout : security.detectionTimeout))
        detect(connection)
    }

    /// Peeks at what arrived so far and decides, or waits for more (a new edge comes with every
    /// new segment, so a ClientHello split across segments completes).
    func detect(_ connection: Connection) {
        guard let security else { return }
        let outcome: IOOutcome<Int>
        do {
            outcome = try Socket.peek(connection.client, into: &security.peekBuffer)
        } catch {
            connection.failureDetail = "before sending anything: \(error)"
            close(connection, end: .clientReset, reset: true)
            return
        }
        guard case .done(let count) = outcome else { return }
        if count == 0 {
            // End of stream before a single byte: nothing to detect; relay the close.
            classified(connection, as: .silent, detail: "client closed without sending")
            return
        }
        switch TLSClientHello.parse(security.peekBuffer[0..<count]) {
        case .needMoreBytes:
            // With FIN already received, or the buffer full, no more bytes can complete it.
            if connection.clientHungUp || count == security.peekBuffer.count {
                classified(connection, as: .plaintext, detail: "an incomplete TLS record")
            } else if !connection.partialClientHello {
                // It has started like a ClientHello: give it as long as a handshake may take, not
                // just the detection timeout, and don't mistake a slow peer for silence.
                connection.partialClientHello = true
                loop.timers.schedule(connection.slot + 1, at: connection.openedAt + security.handshakeTimeout)
            }
        case .clientHello(let hello):
            if hello.offers(alpn: TLSCredentials.applicationProtocol) {
                classified(connection, as: .mutualTLS, detail: nil)
            } else {
                classified(connection, as: .applicationTLS, detail: "a TLS ClientHello without ALPN \(TLSCredentials.applicationProtocol) (ALPN: \(hello.alpnProtocols.joined(separator: ",")))")
            }
        case .notTLS:
            classified(connection, as: .plaintext, detail: "plaintext")
        case .malformed(let problem):
            classified(connection, as: .plaintext, detail: "a malformed ClientHello (\(problem))")
        }
    }

    /// The detection timeout fired: the client sent nothing, or began a ClientHello and stalled
    /// (which is a handshake that timed out, on any port).
    func detectionTimedOut(_ connection: Connection) {
        if connection.partialClientHello {
            counters.add(Stat.handshake(connection.direction, outcome: "timeout"))
            connection.failureDetail = "the client began a TLS ClientHello and did not finish it within \(formatDuration(config.tlsHandshakeTimeout))"
            close(connection, end: .handshakeTimeout, reset: true)
            return
        }
        classified(connection, as: .silent, detail: "nothing within the detection timeout")
    }

    /// Acts on what the first bytes were: terminate mTLS, relay plaintext, or refuse on STRICT.
    private func classified(_ connection: Connection, as detection: InboundDetection, detail: String?) {
        guard let security, let port = connection.destination?.address.port else { return }
        connection.detection = detection
        counters.add(Stat.detection(detection))
        if detection == .mutualTLS {
            startServerHandshake(connection, security: security)
            return
        }
        if security.inboundMode(port: port) == .strict {
            connection.failureDetail = "STRICT mTLS on port \(port) and the client sent \(detail ?? detection.rawValue)"
            close(connection, end: .plaintextRefused, reset: true)
            return
        }
        // PERMISSIVE: the peeked bytes are still in the socket; relay them as they are.
        loop.timers.cancel(connection.slot + 1)
        connectUpstream(connection)
    }

    // MARK: - Handshakes

    /// Inbound: terminate the peer sidecar's mTLS on the client socket, then connect to the app.
    private func startServerHandshake(_ connection: Connection, security: WorkerSecurity) {
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
                connectUpstream(connection) // inbound: now the application
            } else {
                startRelaying(connection)
            }
        }
    }
}
