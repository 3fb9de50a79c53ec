import Addresses
import Config
import HTTP
import Identity
import LinuxSys
import Policy
import Reactor
import Relay
import Synchronization
import TLS
import Detect

/// A listening socket owned by one worker (SO_REUSEPORT: each worker has its own, the kernel
/// spreads new connections across them).
struct Listener {
    let descriptor: Descriptor
    let direction: TrafficDirection
    let address: SocketAddress
}

/// Requests from the main thread to a worker. Written by the main thread, read by the worker after
/// a wakeup; relaxed ordering is enough because the eventfd write/read pair orders them.
final class WorkerControl: Sendable {
    /// Drain: inbound HTTP responses carry `Connection: close`; listeners stay open.
    let drainRequested = Atomic<Bool>(false)
    /// The drain duration passed: stop accepting inbound connections, close idle inbound
    /// keep-alive connections, and finish once no connection is left.
    let stopInboundRequested = Atomic<Bool>(false)
    let terminateRequested = Atomic<Bool>(false)
    let finished = Atomic<Bool>(false)
}

/// One worker thread: an epoll loop, its own listeners, its own connections, pipes and buffers.
/// Nothing here is shared with other workers, so the data path takes no lock.
final class Worker {
    let index: Int
    let loop: EventLoop
    let control = WorkerControl()
    let config: SidecarConfig
    let log: LogSink
    private var listeners: [Listener]
    let pipes: PipePool
    let buffers: BufferPool
    /// Storage for the bytes HTTP sessions write themselves, lent while they wait to be sent.
    let staging = StagingPool()
    /// Header sections of finished HTTP messages, for the heads parsed next.
    let headerStorage = HTTPHeaderStorage()
    /// This worker's counters; only this worker's thread writes them.
    let counters: CounterBlock
    /// mTLS state (nil when the Sidecar has no identity: everything is plaintext).
    var security: WorkerSecurity?
    /// The AuthorizationPolicies that apply to this workload, compiled.
    let authorizer: Authorizer
    /// Allow/deny decisions per policy (see `Stat.policySlot`); only this worker writes them.
    let policyCounters: CounterBlock
    /// Istio's standard metrics, by label set; only this worker writes them.
    let istio: IstioSeriesTable
    let accessLog: AccessLog
    /// First bytes of a connection are peeked into this, never consumed: whatever they turn out
    /// to be, they are still in the socket for the relay.
    var peekBuffer = [UInt8](repeating: 0, count: ProtocolSniffer.maximumPrefixLength)
    let detectionTimeout: UInt64
    let tlsHandshakeTimeout: UInt64
    /// Traffic management: snapshot, balancers, retry budgets, upstream pools.
    let traffic: WorkerTraffic
    /// New `x-request-id`s and trace contexts for HTTP requests that come without them.
    let requestIDs = RequestIDSource()
    /// The Istio series of the last few request label sets (see `RecentRequestSeries`).
    var recentRequestSeries = RecentRequestSeries()
    /// The Services the last few requests' Host and destination named (see `RecentServices`).
    var recentServices = RecentServices()

    private var slots: [Connection?] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int] = []
    private(set) var liveConnections = 0
    /// The most connections held since the heap was last trimmed.
    private var connectionPeak = 0
    /// When open connections' bytes were last added to the counters.
    private var lastByteReport: UInt64 = 0
    static let byteReportInterval: UInt64 = 5_000_000_000
    /// Connections with a direction that used up its budget and must be pumped again.
    private var queued: [Connection] = []
    /// Housekeeping ran while the worker held nothing, and no connection was accepted since: its
    /// once-a-second work (idle pool connections, memory after a burst, open connections' bytes)
    /// has nothing left to do until a connection arrives.
    var housekeptWhileIdle = false

    private var acceptPaused = false
    /// Set from the first pause until a connection gets both its sockets again, so a pause/retry
    /// cycle under sustained pressure logs two lines, not ten a second.
    private var underPressure = false
    private(set) var draining = false
    /// The inbound listener is closed (drain, after the drain duration).
    private var inboundStopped = false

    let connectTimeout: UInt64
    let idleTimeout: UInt64
    /// Reads per direction per wakeup before yielding to other connections.
    let pumpBudget = 16
    /// Ports every sidecar serves itself and `weft init` never captures inbound (health 15021,
    /// metrics 15090, Istio's agent 15020): a mesh peer answers them in plaintext, so outbound
    /// connections to them are never wrapped in mTLS.
    static let uncapturedSidecarPorts: Set<UInt16> = [15020, 15021, 15090]
    /// Timer key of the worker's own accept-retry deadline; connection slots use slot + 1.
    private static let acceptRetryKey = 0
    private static let acceptRetryDelay: UInt64 = 100_000_000

    init(
        index: Int, configuration: Configuration, listeners: [Listener], log: LogSink, accessLog: AccessLog,
        counters: CounterBlock, policyCounters: CounterBlock, istio: IstioSeriesTable, security: WorkerSecurity?, traffic: WorkerTraffic
    ) throws(SyscallError) {
        self.istio = istio
        self.index = index
        self.traffic = traffic
        self.config = configuration.sidecar
        self.listeners = listeners
        self.log = log
        self.accessLog = accessLog
        self.counters = counters
        self.policyCounters = policyCounters
        self.security = security
        authorizer = configuration.authorizer
        detectionTimeout = configuration.sidecar.detectionTimeout.nanoseconds
        tlsHandshakeTimeout = configuration.sidecar.tlsHandshakeTimeout.nanoseconds
        let config = configuration.sidecar
        loop = try EventLoop()
        pipes = PipePool(pipeSize: config.pipeSize, limit: config.maxPipesPerWorker)
        buffers = BufferPool(bufferSize: config.bufferSize)
        connectTimeout = config.connectTimeout.nanoseconds
        idleTimeout = config.idleTimeout.nanoseconds
        for (position, listener) in listeners.enumerated() {
            try loop.epoll.add(listener.descriptor, events: [.readable, .edgeTriggered], token: listenerToken(position))
        }
    }

    private func listenerToken(_ position: Int) -> UInt64 {
        Token.make(kind: Token.listenerKind, generation: 0, slot: position)
    }

    // MARK: - Loop

    /// How long the loop waits with nothing to do: a second while it holds connections, pooled
    /// upstream connections, queued work or timers (housekeeping runs once a second), and a
    /// minute once housekeeping has run with none of them, so an idle sidecar's workers do not
    /// wake every second for nothing. A connection wakes the loop through its listener and a
    /// drain or terminate request through the waker, so neither waits for this; what waits is
    /// only taking a new traffic snapshot (the routing code also takes it when a connection
    /// needs it) and dropping balancers of Services it no longer has.
    static func waitLimitMilliseconds(holdsNothing: Bool, housekeptWhileIdle: Bool) -> Int32 {
        holdsNothing && housekeptWhileIdle ? 60_000 : 1000
    }

    /// No connection, upstream connection, queued work, timer, paused listener or drain.
    var holdsNothing: Bool {
        liveConnections == 0 && traffic.pools.count == 0 && queued.isEmpty && loop.timers.count == 0 && !acceptPaused && !draining
    }

    /// Runs until drained (no connections left after a drain request) or terminated.
    func run() {
        while true {
            let limit = Self.waitLimitMilliseconds(holdsNothing: holdsNothing, housekeptWhileIdle: housekeptWhileIdle)
            let count = loop.wait(maximumMilliseconds: limit, immediately: !queued.isEmpty)
            for position in 0..<count {
                dispatch(token: loop.epoll.token(at: position), events: loop.epoll.events(at: position))
            }
            runQueued()
            fireTimers()
            trafficHousekeeping()
            accessLog.flush()
            if control.terminateRequested.load(ordering: .relaxed) {
                terminateAll()
                break
            }
            if !draining, control.drainRequested.load(ordering: .relaxed) { beginDrain() }
            if draining, !inboundStopped, control.stopInboundRequested.load(ordering: .relaxed) { stopInbound() }
            if inboundStopped, liveConnections == 0 { break }
        }
        accessLog.flush() // terminateAll's records
        closeListeners()
        control.finished.store(true, ordering: .relaxed)
    }

    private func dispatch(token: UInt64, events: EpollEvents) {
        if token == EventLoop.wakerToken {
            loop.acknowledgeWake()
            return
        }
        switch Token.kind(token) {
        case Token.listenerKind:
            acceptAll(from: Token.slot(token))
        case Token.pooledKind:
            guard let upstream = traffic.pools.connection(slot: Token.slot(token), generation: Token.generation(token)) else { return }
            handlePooled(upstream, events: events)
        case Token.clientKind, Token.upstreamKind:
            let slot = Token.slot(token)
            guard slot < slots.count, let connection = slots[slot],
                  connection.generation == Token.generation(token) else { return }
            handle(connection, clientSide: Token.kind(token) == Token.clientKind, events: events)
        default:
            preconditionFailure("unknown epoll token \(token)")
        }
    }

    // MARK: - Accepting

    private func acceptAll(from position: Int) {
        guard position < listeners.count, !acceptPaused else { return }
        let listener = listeners[position]
        while true {
            if config.maxConnectionsPerWorker > 0, liveConnections >= config.maxConnectionsPerWorker {
                pauseAccepting(reason: "connection limit \(config.maxConnectionsPerWorker) reached")
                return
            }
            let outcome: IOOutcome<(Descriptor, SocketAddress)>
            do {
                outcome = try Socket.accept(listener.descriptor)
            } catch {
                switch error.errno {
                case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .outOfMemory:
                    // Out of descriptors or memory: stop accepting (the kernel keeps queueing in the
                    // backlog) until a connection closes or the retry timer fires — never spin.
                    pipes.trim(keep: 0)
                    pauseAccepting(reason: "\(error)")
                default:
                    log.error("accept failed", ["worker": "\(index)", "listener": "\(listener.address)", "error": "\(error)"])
                }
                return
            }
            guard case .done(let (descriptor, peer)) = outcome else { return }
            admit(descriptor, peer: ClientAddress(peer.unmapped), listener: listener)
        }
    }

    private func pauseAccepting(reason: String) {
        guard !acceptPaused else { return }
        acceptPaused = true
        for listener in listeners { try? loop.epoll.remove(listener.descriptor) }
        loop.timers.schedule(Self.acceptRetryKey, at: loop.now + Self.acceptRetryDelay)
        guard !underPressure else { return }
        underPressure = true
        log.warning("accepting paused", ["worker": "\(index)", "reason": reason, "connections": "\(liveConnections)"])
    }

    private func resumeAccepting() {
        guard acceptPaused else { return }
        if config.maxConnectionsPerWorker > 0, liveConnections >= config.maxConnectionsPerWorker { return }
        acceptPaused = false
        loop.timers.cancel(Self.acceptRetryKey)
        // Re-adding an edge-triggered listener reports a backlog that is already waiting.
        for (position, listener) in listeners.enumerated() {
            try? loop.epoll.add(listener.descriptor, events: [.readable, .edgeTriggered], token: listenerToken(position))
        }
    }

    /// Takes an accepted socket: finds where it was going, guards against loops, connects upstream.
    private func admit(_ client: Descriptor, peer: ClientAddress, listener: Listener) {
        let connection = allocate(client: client, peer: peer, direction: listener.direction)
        try? Socket.setNoDelay(client)

        let local: LocalAddress
        let destination: OriginalDestination
        do {
            local = LocalAddress(try Socket.localAddress(client).unmapped)
            destination = OriginalDestination(try Socket.originalDestination(client, peer: peer.address).unmapped)
        } catch {
            // ENOENT: conntrack has no entry, so nothing redirected this connection here.
            connection.failureDetail = error.errno == .noSuchFile ? "no original destination" : "\(error)"
            close(connection, end: error.errno == .noSuchFile ? .notRedirected : .error, reset: true)
            return
        }
        connection.destination = destination
        // A tracked but un-NATed connection reports the listener's own address: someone connected
        // to the proxy port directly. Relaying it would connect the proxy to itself.
        if destination.address == local.address {
            connection.failureDetail = "original destination is the proxy's own listener"
            close(connection, end: .notRedirected, reset: true)
            return
        }
        if listener.direction == .inbound, peer.address.ip == .v4(.inboundPassthroughSource) || peer.address.ip == .v6(.inboundPassthroughSource) {
            // Our own passthrough connection was captured again: the output chain's 127.0.0.6
            // exception is missing. Refuse instead of looping until descriptors run out.
            connection.failureDetail = "inbound passthrough traffic was redirected back to the proxy"
            close(connection, end: .loop, reset: true)
            return
        }
        do {
            try loop.epoll.add(client, events: [.readable, .writable, .readHangup, .edgeTriggered],
                               token: Token.make(kind: Token.clientKind, generation: connection.generation, slot: connection.slot))
        } catch {
            connection.failureDetail = "\(error)"
            close(connection, end: .error, reset: true)
            return
        }
        let port = destination.address.port
        if listener.direction == .outbound, security != nil, !Self.uncapturedSidecarPorts.contains(port),
           case .mutualTLS(let expected) = config.meshPolicy(for: destination.address) {
            connection.originatesTLS = true
            connection.expectedPeer = expected
        }
        // Opaque ports skip detection — unless inbound mTLS must still be recognised there.
        let mayBeMutualTLS = listener.direction == .inbound && security.map { $0.inboundMode(port: port) != .disable } ?? false
        if config.isOpaque(port: port), !mayBeMutualTLS {
            recordDetection(connection, .declaredOpaque)
            applicationDetected(connection)
        } else {
            startDetecting(connection)
        }
    }

    /// Opens the upstream socket and starts connecting to the original destination (inbound: from
    /// 127.0.0.6/::6 to the application).
    func connectUpstream(_ connection: Connection) {
        guard let original = connection.destination else { return }
        let destination = OriginalDestination(connection.upstreamAddress ?? original.address)
        let direction = connection.direction
        let upstream: Descriptor
        do {
            upstream = try Socket.makeTCP(destination.address.family)
        } catch {
            connection.failureDetail = "\(error)"
            close(connection, end: .error, reset: true)
            if error.errno == .tooManyOpenFiles || error.errno == .tooManyOpenFilesInSystem {
                pipes.trim(keep: 0)
                pauseAccepting(reason: "\(error)")
            }
            return
        }
        connection.upstream = upstream
        if underPressure {
            // A connection got both its descriptors: the shortage is over.
            underPressure = false
            log.info("accepting resumed", ["worker": "\(index)", "connections": "\(liveConnections)"])
        }
        do {
            try Socket.setNoDelay(upstream)
            if direction == .inbound {
                // Istio's convention: the application sees inbound traffic from 127.0.0.6 (::6),
                // which the output chain lets through instead of capturing it again.
                let source: SocketAddress = destination.address.family == .ipv4
                    ? SocketAddress(IPv4Address.inboundPassthroughSource, port: 0)
                    : SocketAddress(IPv6Address.inboundPassthroughSource, port: 0)
                try Socket.setBindAddressNoPort(upstream)
                try Socket.bind(upstream, to: source)
            }
            try loop.epoll.add(upstream, events: [.readable, .writable, .readHangup, .edgeTriggered],
                               token: Token.make(kind: Token.upstreamKind, generation: connection.generation, slot: connection.slot))
        } catch {
            connection.failureDetail = error.errno == .addressNotAvailable
                ? "cannot bind the inbound passthrough source (is ::6 on lo? weft init adds it): \(error)"
                : "\(error)"
            close(connection, end: .error, reset: true)
            return
        }
        do {
            switch try Socket.connect(upstream, to: destination.address) {
            case .connected:
                upstreamConnected(connection)
            case .inProgress:
                connection.phase = .connecting
                loop.timers.schedule(connection.slot + 1, at: loop.now + connectTimeout)
            }
        } catch {
            upstreamFailed(connection, errno: error.errno, detail: "\(error)")
        }
    }

    /// The upstream could not be reached. An HTTP client gets a 503 saying why for each request;
    /// anything else is reset.
    private func upstreamFailed(_ connection: Connection, errno: Errno, detail: String) {
        balancedConnectEnded(connection, success: false)
        if connection.protocolKind == .http1, connection.phase != .relaying {
            connection.upstream?.close()
            connection.upstream = nil
            loop.timers.cancel(connection.slot + 1)
            startHTTPSession(connection, upstreamFailure: "\(ConnectionEnd(connectFailure: errno).rawValue): \(errno)")
            return
        }
        connection.failureDetail = detail
        close(connection, end: ConnectionEnd(connectFailure: errno), reset: true)
    }

    // MARK: - Events

    func handle(_ connection: Connection, clientSide: Bool, events: EpollEvents) {
        connection.lastActivity = loop.now
        // Remember a FIN/RST even while still connecting: its edge is reported once, and without
        // the note the first short read after connecting would wait for an edge that never comes.
        if !events.isDisjoint(with: [.readHangup, .hangup, .error]) {
            if clientSide {
                connection.clientHungUp = true
                connection.relay?.toUpstream.noteSourceHangup() // a relay started later notes it then
                connection.http?.noteClientHangup()
            } else {
                connection.upstreamHungUp = true
                connection.relay?.toClient.noteSourceHangup()
                connection.http?.noteUpstreamHangup()
            }
        }
        switch connection.phase {
        case .closed:
            return
        case .detecting:
            guard clientSide else { return }
            detect(connection)
        case .sniffing:
            guard clientSide else { return }
            sniffDecrypted(connection)
        case .handshaking:
            if clientSide != connection.tlsOnClientSide, !events.isDisjoint(with: [.error, .hangup]) {
                connection.failureDetail = "client went away during the upstream's mTLS handshake"
                close(connection, end: .clientReset, reset: true)
                return
            }
            guard clientSide == connection.tlsOnClientSide else { return }
            continueHandshake(connection)
        case .connecting:
            // A client that reset (or vanished) while we were still connecting: give up the
            // connect rather than hold its descriptors until the connect timeout.
            if clientSide, !events.isDisjoint(with: [.error, .hangup]) {
                connection.failureDetail = "client went away before the upstream answered"
                close(connection, end: .clientReset, reset: true)
                return
            }
            // Other client events wait: its bytes (and a FIN) stay in the socket buffer until the
            // upstream is ready, and relaying starts by pumping both directions.
            guard !clientSide, !events.isDisjoint(with: [.writable, .error, .hangup]), let upstream = connection.upstream else { return }
            if let failure = Socket.pendingError(upstream) {
                upstreamFailed(connection, errno: failure, detail: "connect: \(failure)")
                return
            }
            upstreamConnected(connection)
        case .relaying:
            let broken = !events.isDisjoint(with: [.error, .hangup])
            let readable = broken || !events.isDisjoint(with: [.readable, .readHangup])
            let writable = broken || events.contains(.writable)
            if let session = connection.http {
                if readable {
                    if clientSide { session.noteClientReadable() } else { session.noteUpstreamReadable() }
                }
                driveHTTP(connection, session,
                          requests: broken || Self.wakes(session.requestWait, eventOnSource: clientSide, readable: readable, writable: writable),
                          responses: broken || Self.wakes(session.responseWait, eventOnSource: !clientSide, readable: readable, writable: writable))
                return
            }
            // An error or hangup wakes both directions; otherwise a direction runs only when the
            // event is the readiness it is waiting for, on the end it is waiting on.
            if broken || Self.wakes(connection.toUpstream.waitingFor, eventOnSource: clientSide, readable: readable, writable: writable) {
                pumpToUpstream(connection)
            }
            if broken || Self.wakes(connection.toClient.waitingFor, eventOnSource: !clientSide, readable: readable, writable: writable) {
                pumpToClient(connection)
            }
        }
    }

    static func wakes(_ wait: HalfDuplex.Wait, eventOnSource: Bool, readable: Bool, writable: Bool) -> Bool {
        switch wait {
        case .nothing: return false
        case .sourceReadable: return eventOnSource && readable
        case .sourceWritable: return eventOnSource && writable
        case .destinationReadable: return !eventOnSource && readable
        case .destinationWritable: return !eventOnSource && writable
        }
    }

    /// The TCP connect to the upstream finished: originate mTLS if the destination is in the mesh,
    /// else relay.
    private func upstreamConnected(_ connection: Connection) {
        balancedConnectEnded(connection, success: true)
        if connection.originatesTLS, let upstream = connection.upstream {
            startClientHandshake(connection, on: upstream)
        } else {
            startRelaying(connection)
        }
    }

    /// Both ends are ready: fix the relay's endpoints and move whatever is already waiting.
    func startRelaying(_ connection: Connection) {
        guard let upstream = connection.upstream else { return }
        if connection.protocolKind == .http1 {
            startHTTPSession(connection, upstreamFailure: nil)
            return
        }
        connection.phase = .relaying
        var clientEnd = RelayEndpoint.socket(connection.client)
        var upstreamEnd = RelayEndpoint.socket(upstream)
        if let tls = connection.tls {
            let channel = TLSChannel(tls)
            if connection.tlsOnClientSide {
                clientEnd = .secure(channel, over: connection.client)
            } else {
                upstreamEnd = .secure(channel, over: upstream)
            }
        }
        connection.startRelay(clientEnd: clientEnd, upstreamEnd: upstreamEnd)
        countTCPOpened(connection)
        if let (buffer, count) = connection.early {
            connection.early = nil
            if count > 0 { connection.relay?.toUpstream.seed(buffer: buffer, count: count) } else { buffers.release(buffer) }
        }
        loop.timers.schedule(connection.slot + 1, at: loop.now + idleTimeout)
        pumpBothDirections(connection)
    }

    func pumpBothDirections(_ connection: Connection) {
        pumpToUpstream(connection)
        pumpToClient(connection)
    }

    private func pumpToUpstream(_ connection: Connection) {
        guard connection.phase == .relaying, let relay = connection.relay else { return }
        let outcome = relay.toUpstream.pump(from: relay.clientEnd, to: relay.upstreamEnd, pipes: pipes, buffers: buffers, budget: pumpBudget)
        settle(connection, outcome, fromClient: true)
    }

    private func pumpToClient(_ connection: Connection) {
        guard connection.phase == .relaying, let relay = connection.relay else { return }
        let outcome = relay.toClient.pump(from: relay.upstreamEnd, to: relay.clientEnd, pipes: pipes, buffers: buffers, budget: pumpBudget)
        settle(connection, outcome, fromClient: false)
    }

    private func settle(_ connection: Connection, _ outcome: HalfDuplex.Outcome, fromClient: Bool) {
        switch outcome {
        case .blocked:
            return
        case .yielded:
            queue(connection)
        case .finished:
            if connection.isFinished { close(connection, end: .closed, reset: false) }
        case .failed(let failure):
            // A reset or error on one side is passed on as a reset on the other, so neither
            // application mistakes a broken connection for a clean end of stream.
            let clientFailed: Bool
            switch failure {
            case .source(let code), .destination(let code):
                if case .source = failure { clientFailed = fromClient } else { clientFailed = !fromClient }
                if code != .connectionReset, code != .brokenPipe { connection.failureDetail = "\(code)" }
            case .sourceProtocol(let reason), .destinationProtocol(let reason):
                if case .sourceProtocol = failure { clientFailed = fromClient } else { clientFailed = !fromClient }
                connection.failureDetail = "tls: \(reason)"
            }
            close(connection, end: clientFailed ? .clientReset : .upstreamReset, reset: true)
        }
    }

    /// Runs the connection again after this wakeup's events (a direction used its budget).
    func queue(_ connection: Connection) {
        guard !connection.queued else { return }
        connection.queued = true
        queued.append(connection)
    }

    private func runQueued() {
        guard !queued.isEmpty else { return }
        let batch = queued
        queued.removeAll(keepingCapacity: true)
        for connection in batch {
            connection.queued = false
            guard connection.phase == .relaying else { continue }
            if connection.retryAcquire {
                retryAcquire(connection)
                continue
            }
            if let session = connection.http {
                // Only directions not waiting for readiness can move; the others return at once.
                driveHTTP(connection, session, requests: session.requestWait == .nothing && !session.isClosing,
                          responses: session.responseWait == .nothing)
                continue
            }
            // A yielded direction reports `waitingFor == .nothing` until it blocks or finishes.
            if connection.toUpstream.waitingFor == .nothing, connection.toUpstream.state != .writeShut { pumpToUpstream(connection) }
            if connection.phase == .relaying, connection.toClient.waitingFor == .nothing, connection.toClient.state != .writeShut { pumpToClient(connection) }
        }
    }

    // MARK: - Timers

    private func fireTimers() {
        while let key = loop.timers.popExpired(now: loop.now) {
            if key == Self.acceptRetryKey {
                // Descriptors may have been freed elsewhere (another worker, another process); if
                // accept4 still fails the listeners are paused again with a new deadline.
                resumeAccepting()
                continue
            }
            guard let connection = slots[key - 1] else { continue }
            switch connection.phase {
            case .detecting:
                detectionTimedOut(connection)
            case .sniffing:
                sniffingTimedOut(connection)
            case .handshaking:
                counters.add(Stat.handshake(connection.direction, outcome: "timeout"))
                connection.failureDetail = "no mTLS handshake within \(formatDuration(config.tlsHandshakeTimeout))"
                close(connection, end: .handshakeTimeout, reset: true)
            case .connecting:
                connection.failureDetail = "no answer within \(formatDuration(config.connectTimeout))"
                close(connection, end: .connectTimeout, reset: true)
            case .relaying:
                if let session = connection.http {
                    if session.isClosing {
                        // The lingering close after the last response is over.
                        close(connection, end: .closed, reset: false)
                        continue
                    }
                    if let deadline = leaseDeadline(connection), loop.now >= deadline {
                        leaseTimedOut(connection)
                        if connection.phase == .relaying { scheduleHTTPTimer(connection, session) }
                        continue
                    }
                    let routedDeadline = session.routedDeadline
                    if routedDeadline != 0, loop.now >= routedDeadline {
                        if let failure = session.routedDeadlinePassed(now: loop.now) {
                            connection.failureDetail = failure
                            close(connection, end: .upstreamReset, reset: true)
                            continue
                        }
                        driveHTTP(connection, session, requests: true, responses: true)
                        if connection.phase == .relaying { scheduleHTTPTimer(connection, session) }
                        continue
                    }
                    if session.requestHeadStartedAt != 0, loop.now &- session.requestHeadStartedAt >= HTTPSession.headerTimeout {
                        session.requestHeadTimedOut()
                        driveHTTP(connection, session, requests: false, responses: true)
                        continue
                    }
                }
                let idleFor = loop.now &- connection.lastActivity
                if idleFor >= idleTimeout {
                    let inFlight = connection.toUpstream.bytesInFlight + connection.toClient.bytesInFlight
                    close(connection, end: .idleTimeout, reset: inFlight > 0)
                } else {
                    if let session = connection.http {
                        scheduleHTTPTimer(connection, session)
                    } else {
                        loop.timers.schedule(key, at: connection.lastActivity + idleTimeout)
                    }
                }
            case .closed:
                continue
            }
        }
    }

    // MARK: - Drain and shutdown

    /// Drain, first part: the listeners stay open (peers still sending here get answers), inbound
    /// HTTP connections close after their current response, idle pooled upstreams are let go.
    /// Outbound traffic goes on as before: the application may need it to shut down.
    private func beginDrain() {
        draining = true
        traffic.pools.closeIdle(now: loop.now, olderThan: 0)
        for case let connection? in slots where connection.direction == .inbound {
            connection.http?.beginDrain()
        }
        log.info("worker draining", ["worker": "\(index)", "connections": "\(liveConnections)"])
    }

    /// Drain, second part (after the drain duration): no new inbound connections, idle inbound
    /// keep-alive connections closed; the worker ends once its last connection has.
    private func stopInbound() {
        inboundStopped = true
        // The inbound listener comes after the outbound one (`makeListeners`), so removing it
        // leaves the outbound listener's position, and so its epoll token, unchanged.
        for listener in listeners where listener.direction == .inbound { listener.descriptor.close() }
        listeners.removeAll { $0.direction == .inbound }
        var closedIdle = 0
        for case let connection? in slots where connection.direction == .inbound {
            guard let session = connection.http, session.closeIfIdle() else { continue }
            closedIdle += 1
            driveHTTP(connection, session, requests: false, responses: true)
        }
        log.info("worker stopped accepting inbound", ["worker": "\(index)", "connections": "\(liveConnections)", "idle_closed": "\(closedIdle)"])
    }

    private func closeListeners() {
        for listener in listeners { listener.descriptor.close() }
        listeners.removeAll()
    }

    private func terminateAll() {
        for case let connection? in slots where connection.phase != .closed {
            close(connection, end: .drainTimeout, reset: true)
        }
    }

    // MARK: - Slots

    private func allocate(client: Descriptor, peer: ClientAddress, direction: TrafficDirection) -> Connection {
        counters.add(Stat.opened(direction))
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = slots.count
            slots.append(nil)
            generations.append(0)
        }
        let connection = Connection(worker: self, slot: slot, generation: generations[slot], direction: direction,
                                    client: client, clientAddress: peer, now: loop.now)
        slots[slot] = connection
        liveConnections += 1
        housekeptWhileIdle = false
        if liveConnections > connectionPeak { connectionPeak = liveConnections }
        return connection
    }

    /// Ends a connection: logs it, closes both sockets (with RST when `reset`), returns its pipes.
    func close(_ connection: Connection, end: ConnectionEnd, reset: Bool) {
        guard connection.phase != .closed else { return }
        connection.phase = .closed
        // A pooled upstream still leased by an HTTP session is mid-exchange; one that became a
        // tunnel ends as the tunnel does.
        let leaseMidExchange = connection.http != nil
        let direction = connection.direction
        counters.add(Stat.closed(direction, end))
        let bytes = countUnreportedBytes(connection)
        connection.relay?.toUpstream.releaseResources(pipes: pipes, buffers: buffers)
        connection.relay?.toClient.releaseResources(pipes: pipes, buffers: buffers)
        if let (buffer, _) = connection.early {
            buffers.release(buffer)
            connection.early = nil
        }
        if let session = connection.http {
            connection.httpBytes = (session.bytesFromClient, session.bytesToClient)
            session.abandonRouted()
            session.release()
            connection.http = nil
        }
        if let pool = connection.waitingForPool {
            traffic.pools.removeWaiter(connection, from: pool)
            connection.waitingForPool = nil
        }
        if let lease = connection.lease {
            // Mid-exchange (or mid-connect): the connection cannot be reused.
            connection.lease = nil
            traffic.pools.close(lease, reset: reset || leaseMidExchange)
            if let waiter = traffic.pools.popWaiter(lease.pool) {
                waiter.waitingForPool = nil
                waiter.retryAcquire = true
                queue(waiter)
            }
        }
        if reset {
            try? Socket.setResetOnClose(connection.client)
            if let upstream = connection.upstream { try? Socket.setResetOnClose(upstream) }
        } else if let tls = connection.tls, tls.isEstablished {
            // A clean end says so in TLS too (close_notify, best effort: the socket is about to
            // close), so the peer sidecar sees an end and not a truncation.
            _ = tls.closeWrite()
        }
        connection.client.close()
        connection.upstream?.close()
        loop.timers.cancel(connection.slot + 1)
        slots[connection.slot] = nil
        generations[connection.slot] = (generations[connection.slot] &+ 1) & 0xff_ffff
        freeSlots.append(connection.slot)
        liveConnections -= 1
        if connection.protocolKind != .http1 { countTCPClosed(connection, end, bytes) }
        logEnd(of: connection, end)
        if acceptPaused { resumeAccepting() }
    }

    /// Once a second (housekeeping): when a burst of at least 256 connections has shrunk to a
    /// quarter, the heap's free pages go back to the kernel (after 1000 idle connections closed,
    /// their memory otherwise stayed resident).
    func releaseMemoryAfterBurst() {
        guard connectionPeak >= 256, liveConnections <= connectionPeak / 4 else { return }
        connectionPeak = liveConnections
        pipes.trim(keep: 0)
        Memory.releaseFreePages()
    }

    // MARK: - Istio metrics

    /// The series of a TCP connection (opaque, or HTTP/2 relayed as bytes): Istio counts HTTP/1
    /// as requests and everything else as TCP.
    private func tcpSeries(_ connection: Connection, flags: String) -> Int {
        let inbound = connection.direction == .inbound
        let service: ServiceLabels
        if inbound {
            service = traffic.inboundService(connection.destination?.address)
        } else if let known = connection.metricService {
            service = known
        } else {
            service = .passthrough(connection.destination.map { "\($0)" } ?? "unknown")
        }
        let peer = connection.tls?.peerIdentity
        return istio.series(IstioSeriesKey(
            reporter: inbound ? .destination : .source, peerPrincipal: peer?.description ?? "unknown", service: service,
            tcp: true, responseCode: 0, responseFlags: flags, mutualTLS: inbound ? peer != nil : nil))
    }

    private func countTCPOpened(_ connection: Connection) {
        guard !connection.tcpMetricsOpened else { return }
        connection.tcpMetricsOpened = true
        istio.recordTCPOpened(series: tcpSeries(connection, flags: "-"))
    }

    /// Counts a TCP connection's end (and its opening, if it ended before relaying: refused,
    /// denied, its upstream unreachable), with the flags of how it ended. `sent` is what went
    /// to the client (Istio: bytes sent during the response), `received` what came from it.
    private func countTCPClosed(_ connection: Connection, _ end: ConnectionEnd, _ bytes: (sent: UInt64, received: UInt64)) {
        countTCPOpened(connection)
        istio.recordTCPClosed(series: tcpSeries(connection, flags: ResponseFlag(end: end)?.rawValue ?? "-"),
                              sent: bytes.received, received: bytes.sent)
    }

    /// Adds what `connection` moved since its last report to the byte counters and returns it
    /// (`sent`: from the client, `received`: to it).
    private func countUnreportedBytes(_ connection: Connection) -> (sent: UInt64, received: UInt64) {
        let now = (sent: connection.bytesSent, received: connection.bytesReceived,
                   spliced: connection.toUpstream.bytesSpliced &+ connection.toClient.bytesSpliced)
        let old = connection.reportedBytes
        // The totals only grow; a smaller reading (an HTTP session's counts handed to its tunnel)
        // adds nothing rather than wrapping.
        let sent = now.sent > old.sent ? now.sent - old.sent : 0
        let received = now.received > old.received ? now.received - old.received : 0
        let spliced = now.spliced > old.spliced ? now.spliced - old.spliced : 0
        connection.reportedBytes = (max(now.sent, old.sent), max(now.received, old.received), max(now.spliced, old.spliced))
        let direction = connection.direction
        if sent > 0 { counters.add(Stat.sent(direction), sent) }
        if received > 0 { counters.add(Stat.received(direction), received) }
        if spliced > 0 { counters.add(Stat.spliced(direction), spliced) }
        return (sent, received)
    }

    /// Every `byteReportInterval` (from housekeeping): the bytes of connections still open go
    /// into the counters, so a connection open for hours shows in the metrics before it ends
    /// (Envoy reports long-lived TCP connections periodically too). O(connections) per interval.
    func reportOpenConnectionBytes() {
        guard loop.now &- lastByteReport >= Self.byteReportInterval else { return }
        lastByteReport = loop.now
        for case let connection? in slots where connection.phase == .relaying {
            let bytes = countUnreportedBytes(connection)
            guard connection.protocolKind != .http1, bytes.sent > 0 || bytes.received > 0 else { continue }
            countTCPOpened(connection)
            istio.recordTCPBytes(series: tcpSeries(connection, flags: "-"), sent: bytes.received, received: bytes.sent)
        }
    }

    /// One access log line per connection (`kind: tcp`), also for HTTP connections, whose
    /// requests get their own lines.
    private func logEnd(of connection: Connection, _ end: ConnectionEnd) {
        guard accessLog.enabled else { return }
        let durationMilliseconds = (loop.now &- connection.openedAt) / 1_000_000
        accessLog.record { line in
            line.field("start_time", time: connection.startWall)
            line.field("kind", "tcp")
            line.field("dir", connection.direction.rawValue)
            line.field("worker", index)
            line.field("client", describing: connection.clientAddress)
            line.field("dst", connection.destination.map { "\($0)" } ?? "-")
            if let endpoint = connection.upstreamAddress { line.field("endpoint", describing: endpoint) }
            line.field("protocol", connection.protocolKind.rawValue)
            line.field("sent", connection.bytesSent)
            line.field("received", connection.bytesReceived)
            line.field("duration_ms", durationMilliseconds)
            line.field("end", end.rawValue)
            line.field("relay", connection.protocolKind == .http1 ? "http" : connection.relayMode)
            line.field("response_flags", ResponseFlag(end: end)?.rawValue ?? "-")
            if let detection = connection.detection { line.field("detected", detection.rawValue) }
            if let outcome = connection.protocolDetection { line.field("detection", outcome.rawValue) }
            if let tls = connection.tls, let peer = tls.peerIdentity {
                line.field("tls", "mtls")
                line.field("peer", describing: peer)
                if let serial = tls.peerSerial { line.field("peer_serial", serial) }
                line.field("resumed", tls.resumed ? "1" : "0")
                line.field("tls_path", tls.dataPath)
            }
            if let decision = connection.decision {
                line.field("decision", decision.isAllowed ? "allow" : "deny")
                line.field("policy", decision.policyName)
            }
            if let detail = connection.failureDetail { line.field("reason", detail) }
        }
    }
}

extension Duration {
    /// Whole nanoseconds (saturating at UInt64.max; negative durations count as zero).
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        return whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}
