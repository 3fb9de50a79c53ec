import Config
import Detect
import LinuxSys
import Policy
import Relay
import TLS

/// What the application bytes of a connection turned out to be.
enum ApplicationProtocol: String, Sendable {
    /// HTTP/1.x: proxied at L7 (parsed, authorized per request, logged per request).
    case http1 = "http/1.1"
    /// Anything else (including HTTP/2 for now, and server-speaks-first protocols): bytes are
    /// relayed as they are.
    case opaque
}

/// What protocol detection concluded for a connection, as counted in metrics and logged.
enum ProtocolDetection: String, CaseIterable, Sendable {
    /// An HTTP/1.x request line (proxied at L7).
    case http1 = "http/1.1"
    /// The HTTP/2 connection preface (relayed as bytes until HTTP/2 is proxied).
    case http2 = "http/2"
    /// A TLS ClientHello that is not a sidecar's (the application's own TLS).
    case tls
    /// Bytes of no known protocol, or a client that closed first.
    case opaque
    /// Nothing within the detection timeout (a server-speaks-first protocol).
    case timeout
    /// A port declared opaque: not looked at.
    case declaredOpaque = "declared-opaque"
}

extension Worker {
    /// Records what detection concluded, once per connection.
    func recordDetection(_ connection: Connection, _ outcome: ProtocolDetection) {
        guard connection.protocolDetection == nil else { return }
        connection.protocolDetection = outcome
        counters.add(Stat.protocolDetection(connection.direction, outcome))
    }

    // MARK: - Plaintext sockets: peek

    /// Starts watching the first bytes of a connection before connecting upstream.
    /// Inbound on PERMISSIVE/STRICT ports this also decides mTLS (a ClientHello offering weft/1);
    /// a port that is STRICT, or a client in the mesh (a sidecar, which always starts with its
    /// ClientHello), waits as long as a handshake may take; every other case
    /// `detection.timeout` — after which a silent client's connection is relayed as opaque
    /// (server-speaks-first protocols must not stall). A busy peer sidecar can take longer than
    /// the detection timeout to send its ClientHello; relaying it as plaintext then would hand
    /// the application a TLS handshake (seen with a burst of 1000 new connections).
    func startDetecting(_ connection: Connection) {
        connection.phase = .detecting
        let patient = isStrict(connection) || fromMeshPeer(connection)
        loop.timers.schedule(connection.slot + 1, at: loop.now + (patient ? tlsHandshakeTimeout : detectionTimeout))
        detect(connection)
    }

    private func fromMeshPeer(_ connection: Connection) -> Bool {
        acceptsMutualTLS(connection) && config.mesh.contains(connection.clientAddress.address.ip)
    }

    private func isStrict(_ connection: Connection) -> Bool {
        guard connection.direction == .inbound, let security, let port = connection.destination?.address.port else { return false }
        return security.inboundMode(port: port) == .strict
    }

    /// Whether this inbound connection may be mTLS from a sidecar (identity configured and the
    /// port's mode is not DISABLE).
    private func acceptsMutualTLS(_ connection: Connection) -> Bool {
        guard connection.direction == .inbound, let security, let port = connection.destination?.address.port else { return false }
        return security.inboundMode(port: port) != .disable
    }

    /// Peeks at what arrived so far and decides, or waits for more (every new segment brings a
    /// new edge, so a request line or ClientHello split across segments completes).
    func detect(_ connection: Connection) {
        let outcome: IOOutcome<Int>
        do {
            outcome = try Socket.peek(connection.client, into: &peekBuffer)
        } catch {
            connection.failureDetail = "before sending anything: \(error)"
            close(connection, end: .clientReset, reset: true)
            return
        }
        guard case .done(let count) = outcome else { return }
        if count == 0 {
            // End of stream before a single byte: nothing to detect; relay the close.
            recordDetection(connection, .opaque)
            detected(connection, as: .silent, detail: "client closed without sending")
            return
        }
        switch ProtocolSniffer.classify(peekBuffer[0..<count]) {
        case .needMoreBytes:
            // With FIN already received, or the buffer full, no more bytes can decide it.
            if connection.clientHungUp || count == peekBuffer.count {
                recordDetection(connection, .opaque)
                detected(connection, as: .plaintext, detail: "an incomplete first message")
            } else if peekBuffer[0] == 0x16, !connection.partialClientHello, acceptsMutualTLS(connection) {
                // It has started like a ClientHello: give it as long as a handshake may take, not
                // just the detection timeout, and don't mistake a slow peer for silence.
                connection.partialClientHello = true
                loop.timers.schedule(connection.slot + 1, at: connection.openedAt + tlsHandshakeTimeout)
            }
        case .tls(let hello):
            if hello.offers(alpn: TLSCredentials.applicationProtocol), acceptsMutualTLS(connection) {
                detected(connection, as: .mutualTLS, detail: nil)
            } else {
                recordDetection(connection, .tls)
                detected(connection, as: .applicationTLS, detail: "a TLS ClientHello without ALPN \(TLSCredentials.applicationProtocol) (ALPN: \(hello.alpnProtocols.joined(separator: ",")))")
            }
        case .malformedTLS(let problem):
            recordDetection(connection, .opaque)
            detected(connection, as: .plaintext, detail: "a malformed ClientHello (\(problem))")
        case .http1:
            if let port = connection.destination?.address.port, !config.isOpaque(port: port) {
                connection.protocolKind = .http1
                recordDetection(connection, .http1)
            } else {
                recordDetection(connection, .declaredOpaque)
            }
            detected(connection, as: .plaintext, detail: "plaintext HTTP")
        case .http2:
            recordDetection(connection, .http2)
            detected(connection, as: .plaintext, detail: "plaintext HTTP/2")
        case .opaque:
            recordDetection(connection, .opaque)
            detected(connection, as: .plaintext, detail: "plaintext")
        }
    }

    /// The detection timeout fired: the client sent nothing, or began a ClientHello and stalled
    /// (which is a handshake that timed out).
    func detectionTimedOut(_ connection: Connection) {
        if connection.partialClientHello {
            counters.add(Stat.handshake(connection.direction, outcome: "timeout"))
            connection.failureDetail = "the client began a TLS ClientHello and did not finish it within \(formatDuration(config.tlsHandshakeTimeout))"
            close(connection, end: .handshakeTimeout, reset: true)
            return
        }
        recordDetection(connection, .timeout)
        detected(connection, as: .silent, detail: "nothing within the detection timeout")
    }

    /// Acts on what the first bytes were: terminate mTLS, relay, or refuse on STRICT.
    private func detected(_ connection: Connection, as detection: InboundDetection, detail: String?) {
        loop.timers.cancel(connection.slot + 1)
        if connection.direction == .inbound, acceptsMutualTLS(connection) {
            connection.detection = detection
            counters.add(Stat.detection(detection))
            if detection == .mutualTLS, let security {
                startServerHandshake(connection, security: security)
                return
            }
            if isStrict(connection), let port = connection.destination?.address.port {
                connection.failureDetail = "STRICT mTLS on port \(port) and the client sent \(detail ?? detection.rawValue)"
                close(connection, end: .plaintextRefused, reset: true)
                return
            }
        }
        // Plaintext: the peeked bytes are still in the socket; they go out as they are.
        applicationDetected(connection)
    }

    // MARK: - Decrypted bytes (inbound mTLS)

    /// After terminating mTLS, what the peer's application speaks can only be seen by reading:
    /// the first decrypted bytes go into a pooled buffer and later to the relay or HTTP session.
    func startSniffingDecrypted(_ connection: Connection) {
        guard let port = connection.destination?.address.port, !config.isOpaque(port: port) else {
            recordDetection(connection, .declaredOpaque)
            applicationDetected(connection)
            return
        }
        connection.phase = .sniffing
        loop.timers.schedule(connection.slot + 1, at: loop.now + detectionTimeout)
        sniffDecrypted(connection)
    }

    /// Reads more decrypted bytes and classifies them, or waits.
    func sniffDecrypted(_ connection: Connection) {
        guard let tls = connection.tls else { return }
        let endpoint = RelayEndpoint.secure(TLSChannel(tls), over: connection.client)
        let limit = min(buffers.bufferSize, ProtocolSniffer.maximumPrefixLength)
        if connection.early == nil { connection.early = (buffers.acquire(), 0) }
        while let (buffer, filled) = connection.early {
            if filled > 0 {
                switch ProtocolSniffer.classify(UnsafeRawBufferPointer(start: buffer, count: filled)) {
                case .http1:
                    sniffed(connection, decided: .http1, detection: .http1)
                    return
                case .needMoreBytes:
                    if connection.clientHungUp || filled >= limit {
                        sniffed(connection, decided: .opaque, detection: .opaque)
                        return
                    }
                case .http2:
                    sniffed(connection, decided: .opaque, detection: .http2)
                    return
                case .tls, .malformedTLS:
                    sniffed(connection, decided: .opaque, detection: .tls)
                    return
                case .opaque:
                    sniffed(connection, decided: .opaque, detection: .opaque)
                    return
                }
            }
            switch endpoint.read(into: buffer + filled, count: limit - filled) {
            case .bytes(let count, _, let ended):
                connection.early = (buffer, filled + count)
                if ended { connection.clientHungUp = true }
            case .end:
                connection.clientHungUp = true
                if filled == 0 {
                    sniffed(connection, decided: .opaque, detection: .opaque)
                    return
                }
            case .wait:
                return
            case .failed(let failure):
                connection.failureDetail = "reading the peer's first bytes: \(failure)"
                close(connection, end: .clientReset, reset: true)
                return
            }
        }
    }

    private func sniffed(_ connection: Connection, decided kind: ApplicationProtocol, detection: ProtocolDetection) {
        loop.timers.cancel(connection.slot + 1)
        recordDetection(connection, detection)
        connection.protocolKind = kind
        applicationDetected(connection)
    }

    /// The sniffing timeout of decrypted bytes fired: relay whatever came as opaque.
    func sniffingTimedOut(_ connection: Connection) {
        sniffed(connection, decided: .opaque, detection: .timeout)
    }

    // MARK: - Decided

    /// The application protocol is known (or sniffing was skipped). Inbound non-HTTP connections
    /// are authorized now, at L4; HTTP is authorized per request. Then connect upstream.
    func applicationDetected(_ connection: Connection) {
        connection.phase = .connecting
        if connection.direction == .inbound, connection.protocolKind == .opaque, !authorizer.isEmpty {
            let decision = authorizer.evaluate(connection: connectionAttributes(connection))
            connection.decision = decision
            countDecision(decision)
            if !decision.isAllowed {
                connection.failureDetail = "\(decision)"
                close(connection, end: .denied, reset: true)
                return
            }
        }
        if connection.direction == .outbound {
            traffic.refresh()
            if connection.protocolKind == .http1, connection.tls == nil, traffic.isActive(mode: config.outboundTrafficMode) {
                startRoutedHTTPSession(connection)
                return
            }
            guard balanceTCP(connection) else { return }
        }
        connectUpstream(connection)
    }

    /// The L4 attributes policies see.
    func connectionAttributes(_ connection: Connection) -> ConnectionAttributes {
        ConnectionAttributes(
            source: connection.clientAddress.address.ip,
            destinationPort: connection.destination?.address.port ?? 0,
            peer: connection.tls?.peerIdentity
        )
    }
}
