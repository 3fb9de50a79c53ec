import Addresses
import Identity
import LinuxSys
import Policy
import Relay
import TLS

/// Which listener accepted a connection.
public enum TrafficDirection: String, Sendable {
    /// The application's own connection leaving the pod (captured by the output chain → 15001).
    case outbound
    /// A connection arriving at the pod (captured by the prerouting chain → 15006).
    case inbound
}

/// The peer that connected to the proxy.
public struct ClientAddress: Hashable, Sendable, CustomStringConvertible {
    public let address: SocketAddress
    public init(_ address: SocketAddress) { self.address = address }
    public var description: String { address.description }
}

/// Where the client meant to go before nftables redirected it (SO_ORIGINAL_DST).
public struct OriginalDestination: Hashable, Sendable, CustomStringConvertible {
    public let address: SocketAddress
    public init(_ address: SocketAddress) { self.address = address }
    public var description: String { address.description }
}

/// The proxy's own end of an accepted connection (getsockname).
public struct LocalAddress: Hashable, Sendable, CustomStringConvertible {
    public let address: SocketAddress
    public init(_ address: SocketAddress) { self.address = address }
    public var description: String { address.description }
}

/// How a connection ended, as written in its log line (`end=`).
public enum ConnectionEnd: String, Sendable, CaseIterable {
    /// Both directions finished with FIN.
    case closed
    case clientReset = "client-reset"
    case upstreamReset = "upstream-reset"
    case upstreamRefused = "upstream-refused"
    case upstreamUnreachable = "upstream-unreachable"
    case connectTimeout = "connect-timeout"
    case idleTimeout = "idle-timeout"
    case drainTimeout = "drain-timeout"
    /// The connection reached a listener without having been redirected to it.
    case notRedirected = "not-redirected"
    /// The proxy's own traffic came back to it.
    case loop
    /// The mTLS handshake with the peer sidecar failed (`reason=` names why).
    case tlsHandshakeFailed = "tls-handshake-failed"
    /// The mTLS handshake did not finish within `tls.handshakeTimeout`.
    case handshakeTimeout = "handshake-timeout"
    /// A STRICT port refused a connection that was not mTLS from a sidecar.
    case plaintextRefused = "plaintext-refused"
    /// An AuthorizationPolicy refused the (non-HTTP) connection right after accept.
    case denied
    /// REGISTRY_ONLY refused a destination that is no Service.
    case notInRegistry = "not-in-registry"
    /// The Service had no healthy endpoint to balance the connection to.
    case noHealthyUpstream = "no-healthy-upstream"
    case error

    /// Classifies a failed connect(2) (immediate or via SO_ERROR).
    init(connectFailure errno: Errno) {
        switch errno {
        case .connectionRefused: self = .upstreamRefused
        case .hostUnreachable, .networkUnreachable, .addressNotAvailable: self = .upstreamUnreachable
        case .timedOut: self = .connectTimeout
        case .connectionReset: self = .upstreamReset
        default: self = .error
        }
    }
}

/// One proxied connection: the accepted client socket, the upstream socket, and the two
/// half-duplex directions between them.
final class Connection {
    enum Phase {
        /// Inbound on a PERMISSIVE or STRICT port: waiting for the first bytes to tell a sidecar's
        /// mTLS from plaintext.
        case detecting
        /// The mTLS handshake is running (inbound: on the client socket, before connecting to the
        /// application; outbound: on the upstream socket, after the TCP connect).
        case handshaking
        /// Inbound after mTLS: reading the first decrypted bytes to see what the peer speaks.
        case sniffing
        /// Waiting for the non-blocking connect to the original destination.
        case connecting
        case relaying
        case closed
    }

    // Stored properties are laid out in declaration order: eight-byte fields first, the one-byte
    // ones together at the end. An idle keep-alive connection is this object and its session, so
    // what only some connections need lives elsewhere: the relay's two directions (`relay`, for
    // opaque TCP and tunnels) and rarer per-connection facts (`extras`).

    /// The worker that owns it (the HTTP session's host and router forward to it). Not retained:
    /// a worker closes its connections before it ends. `unowned`, not `unowned(unsafe)`: a load
    /// costs an atomic check of the referent, a few per request, and a broken invariant traps
    /// instead of reading freed memory in a process that parses untrusted bytes.
    unowned let worker: Worker
    let slot: Int
    let clientAddress: ClientAddress
    let openedAt: UInt64
    var destination: OriginalDestination?
    /// Monotonic time of the last event on either socket (the idle timer compares against it).
    var lastActivity: UInt64
    /// The mTLS session with the peer sidecar, if this connection has one.
    var tls: TLSStream?
    /// Decrypted bytes read while sniffing, handed to the relay or HTTP session first.
    var early: (buffer: UnsafeMutableRawPointer, count: Int)?
    /// The L7 session of an HTTP/1 connection while it is not a tunnel.
    var http: HTTPSession?
    /// The byte relay's two directions, once relaying starts (see `RelayDirections`).
    private(set) var relay: RelayDirections?
    /// What only some connections have (see `ConnectionExtras`); nil until one is set.
    private var extras: ConnectionExtras?
    /// Wall-clock time of the accept, for the access log (formatted when the line is written).
    let startWall: (seconds: Int, nanoseconds: Int)
    var startTime: String { Clock.timestamp(wall: startWall) }
    /// When the lingering close after an HTTP connection's last response began (0: not yet).
    var lingerStarted: UInt64 = 0
    /// What an HTTP session moved before it became a tunnel (or ended).
    var httpBytes: (fromClient: UInt64, toClient: UInt64) = (0, 0)
    /// The pooled upstream connection a routed session is using or waiting to be connected.
    var lease: UpstreamConnection?
    /// The bytes already added to the counters (by the periodic report of open connections).
    var reportedBytes: (sent: UInt64, received: UInt64, spliced: UInt64) = (0, 0, 0)
    let generation: UInt32
    let client: Descriptor
    var upstream: Descriptor?
    let direction: TrafficDirection
    var phase: Phase = .connecting
    /// Set while the connection sits in the worker's queue of directions that used up their budget.
    var queued = false
    /// Whether `tls` runs on the client socket (inbound termination) or the upstream socket
    /// (outbound origination).
    var tlsOnClientSide = false
    /// Whether the outbound connection gets mTLS once connected.
    var originatesTLS = false
    /// The first bytes began a TLS ClientHello that has not arrived whole yet.
    var partialClientHello = false
    /// The client sent FIN or was reset (seen as EPOLLRDHUP/HUP/ERR).
    var clientHungUp = false
    /// The upstream sent FIN or was reset.
    var upstreamHungUp = false
    /// What an inbound connection's first bytes were, on PERMISSIVE/STRICT ports.
    var detection: InboundDetection?
    /// What the application protocol was detected as (nil until decided).
    var protocolDetection: ProtocolDetection?
    /// What the application speaks (HTTP/1 connections are proxied at L7).
    var protocolKind: ApplicationProtocol = .opaque
    /// An outbound HTTP connection routed per request (the connection is its session's router).
    var routesRequests = false
    /// A pool slot was freed for it: try acquiring again from the run queue.
    var retryAcquire = false
    /// Whether the connection's opening was counted in Istio's metrics
    /// (`istio_tcp_connections_opened_total`).
    var tcpMetricsOpened = false

    init(worker: Worker, slot: Int, generation: UInt32, direction: TrafficDirection, client: Descriptor, clientAddress: ClientAddress, now: UInt64) {
        self.worker = worker
        self.slot = slot
        self.generation = generation
        self.direction = direction
        self.client = client
        self.clientAddress = clientAddress
        self.openedAt = now
        self.lastActivity = now
        startWall = Clock.wallClock()
    }

    // MARK: The relay's directions

    /// Starts the byte relay between `clientEnd` and `upstreamEnd` (opaque TCP relaying starts,
    /// or an HTTP session becomes a tunnel), with the hangups its sockets already reported.
    func startRelay(clientEnd: RelayEndpoint, upstreamEnd: RelayEndpoint) {
        precondition(relay == nil, "a connection's relay starts once")
        let directions = RelayDirections(clientEnd: clientEnd, upstreamEnd: upstreamEnd)
        if clientHungUp { directions.toUpstream.noteSourceHangup() }
        if upstreamHungUp { directions.toClient.noteSourceHangup() }
        relay = directions
    }

    /// client → upstream; before relaying starts, a direction that has moved nothing.
    var toUpstream: HalfDuplex {
        _read {
            if let relay { yield relay.toUpstream } else { yield HalfDuplex() }
        }
    }

    /// upstream → client; before relaying starts, a direction that has moved nothing.
    var toClient: HalfDuplex {
        _read {
            if let relay { yield relay.toClient } else { yield HalfDuplex() }
        }
    }

    var isFinished: Bool { toUpstream.state == .writeShut && toClient.state == .writeShut }

    /// Bytes from the client and to the client, whichever relay carried them.
    var bytesSent: UInt64 { toUpstream.bytesDelivered + (http?.bytesFromClient ?? httpBytes.fromClient) }
    var bytesReceived: UInt64 { toClient.bytesDelivered + (http?.bytesToClient ?? httpBytes.toClient) }

    /// `splice`, `copy`, `mixed` or `none`: how the bytes moved.
    var relayMode: String {
        let total = toUpstream.bytesDelivered + toClient.bytesDelivered
        let spliced = toUpstream.bytesSpliced + toClient.bytesSpliced
        if total == 0 { return "none" }
        if spliced == total { return "splice" }
        if spliced == 0 { return "copy" }
        return "mixed"
    }

    // MARK: What only some connections have

    private var writableExtras: ConnectionExtras {
        if let extras { return extras }
        let created = ConnectionExtras()
        extras = created
        return created
    }

    /// One field of the extras: nil while the connection has none, and setting nil to a
    /// connection without extras allocates nothing.
    private subscript<Value>(extra field: ReferenceWritableKeyPath<ConnectionExtras, Value?>) -> Value? {
        get { extras?[keyPath: field] }
        set { if newValue != nil || extras != nil { writableExtras[keyPath: field] = newValue } }
    }

    /// Extra detail for `end=error` lines.
    var failureDetail: String? {
        get { self[extra: \.failureDetail] }
        set { self[extra: \.failureDetail] = newValue }
    }
    /// The identity an outbound mTLS peer must present (nil: any in the trust domain).
    var expectedPeer: SPIFFEID? {
        get { self[extra: \.expectedPeer] }
        set { self[extra: \.expectedPeer] = newValue }
    }
    /// The L4 authorization decision of an inbound non-HTTP connection.
    var decision: Decision? {
        get { self[extra: \.decision] }
        set { self[extra: \.decision] = newValue }
    }
    /// A routed session waits for a slot of this target's pool (`maxConnections` reached).
    var waitingForPool: TargetPool? {
        get { self[extra: \.waitingForPool] }
        set { self[extra: \.waitingForPool] = newValue }
    }
    /// An opaque connection balanced over a Service's endpoints: the balancer, the endpoint's
    /// index and address (reported when the connect ends).
    var balanced: (BalancerState, Int, SocketAddress)? {
        get { self[extra: \.balanced] }
        set { self[extra: \.balanced] = newValue }
    }
    /// Where the proxy connects when that is not the original destination (a balanced endpoint).
    var upstreamAddress: SocketAddress? {
        get { self[extra: \.upstreamAddress] }
        set { self[extra: \.upstreamAddress] = newValue }
    }
    /// Istio metrics: the Service of a balanced TCP connection.
    var metricService: ServiceLabels? {
        get { self[extra: \.metricService] }
        set { self[extra: \.metricService] = newValue }
    }
}

/// A connection's byte relay: its two ends and the two directions between them. Only opaque TCP
/// (and HTTP after an upgrade) relays bytes this way; an HTTP session holds its own ends and
/// moves its own bytes, so an HTTP connection never allocates these 200 bytes.
final class RelayDirections {
    /// The ends the relay moves bytes between (a secure channel over a socket, or the socket).
    let clientEnd: RelayEndpoint
    let upstreamEnd: RelayEndpoint
    /// client → upstream
    var toUpstream = HalfDuplex()
    /// upstream → client
    var toClient = HalfDuplex()

    init(clientEnd: RelayEndpoint, upstreamEnd: RelayEndpoint) {
        self.clientEnd = clientEnd
        self.upstreamEnd = upstreamEnd
    }
}

/// What only some connections have, allocated on the first write: the expected identity of an
/// outbound mTLS peer named in `spec.mesh.destinations`, an inbound L4 policy decision, a wait
/// for a pool slot, a balanced TCP connection's endpoint and Service, a failure's detail. Kept
/// out of `Connection` (280 bytes) so that a plain keep-alive connection does not carry them.
final class ConnectionExtras {
    var failureDetail: String?
    var expectedPeer: SPIFFEID?
    var decision: Decision?
    var waitingForPool: TargetPool?
    var balanced: (BalancerState, Int, SocketAddress)?
    var upstreamAddress: SocketAddress?
    var metricService: ServiceLabels?
}

/// Epoll tokens: kind (8 bits) | generation (24 bits) | slot (32 bits). The generation keeps an
/// event that was already queued for a closed connection from reaching the slot's next occupant.
enum Token {
    static let listenerKind: UInt64 = 1
    static let clientKind: UInt64 = 2
    static let upstreamKind: UInt64 = 3
    /// A pooled upstream connection (slot in the worker's `UpstreamPools`).
    static let pooledKind: UInt64 = 4

    static func make(kind: UInt64, generation: UInt32, slot: Int) -> UInt64 {
        kind << 56 | UInt64(generation & 0xff_ffff) << 32 | UInt64(UInt32(truncatingIfNeeded: slot))
    }

    static func kind(_ token: UInt64) -> UInt64 { token >> 56 }
    static func generation(_ token: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: token >> 32) & 0xff_ffff }
    static func slot(_ token: UInt64) -> Int { Int(UInt32(truncatingIfNeeded: token)) }
}
