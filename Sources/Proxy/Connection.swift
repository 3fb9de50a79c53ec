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

    let slot: Int
    let generation: UInt32
    let direction: TrafficDirection
    let client: Descriptor
    let clientAddress: ClientAddress
    let openedAt: UInt64
    var destination: OriginalDestination?
    var upstream: Descriptor?
    var phase: Phase = .connecting
    /// client → upstream
    var toUpstream = HalfDuplex()
    /// upstream → client
    var toClient = HalfDuplex()
    /// Monotonic time of the last event on either socket (the idle timer compares against it).
    var lastActivity: UInt64
    /// Set while the connection sits in the worker's queue of directions that used up their budget.
    var queued = false
    /// Extra detail for `end=error` lines.
    var failureDetail: String?
    /// The mTLS session with the peer sidecar, if this connection has one.
    var tls: TLSStream?
    /// Whether `tls` runs on the client socket (inbound termination) or the upstream socket
    /// (outbound origination).
    var tlsOnClientSide = false
    /// The identity an outbound mTLS peer must present (nil: any in the trust domain).
    var expectedPeer: SPIFFEID?
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
    /// Decrypted bytes read while sniffing, handed to the relay or HTTP session first.
    var early: (buffer: UnsafeMutableRawPointer, count: Int)?
    /// The L4 authorization decision of an inbound non-HTTP connection.
    var decision: Decision?
    /// The L7 session of an HTTP/1 connection while it is not a tunnel.
    var http: HTTPSession?
    /// Wall-clock time of the accept, for the access log (formatted when the line is written).
    let startWall: (seconds: Int, nanoseconds: Int)
    var startTime: String { Clock.timestamp(wall: startWall) }
    /// The ends the relay moves bytes between, fixed when relaying starts.
    var clientEnd: RelayEndpoint
    var upstreamEnd: RelayEndpoint?

    init(slot: Int, generation: UInt32, direction: TrafficDirection, client: Descriptor, clientAddress: ClientAddress, now: UInt64) {
        self.slot = slot
        self.generation = generation
        self.direction = direction
        self.client = client
        self.clientAddress = clientAddress
        self.openedAt = now
        self.lastActivity = now
        clientEnd = .socket(client)
        startWall = Clock.wallClock()
    }

    var isFinished: Bool { toUpstream.state == .writeShut && toClient.state == .writeShut }

    /// Bytes from the client and to the client, whichever relay carried them.
    var bytesSent: UInt64 { toUpstream.bytesDelivered + (http?.bytesFromClient ?? httpBytes.fromClient) }
    var bytesReceived: UInt64 { toClient.bytesDelivered + (http?.bytesToClient ?? httpBytes.toClient) }
    /// When the lingering close after an HTTP connection's last response began (0: not yet).
    var lingerStarted: UInt64 = 0
    /// What an HTTP session moved before it became a tunnel (or ended).
    var httpBytes: (fromClient: UInt64, toClient: UInt64) = (0, 0)

    // Traffic management, after the fields every event touches (kept where they were).
    /// A routed HTTP connection's router (nil for every other connection).
    var router: ConnectionRouter?
    /// The pooled upstream connection a routed session is using or waiting to be connected.
    var lease: UpstreamConnection?
    /// A routed session waits for a slot of this target's pool (`maxConnections` reached).
    var waitingForPool: TargetPool?
    /// A pool slot was freed for it: try acquiring again from the run queue.
    var retryAcquire = false
    /// An opaque connection balanced over a Service's endpoints: the balancer, the endpoint's
    /// index and address (reported when the connect ends).
    var balanced: (BalancerState, Int, SocketAddress)?
    /// Where the proxy connects when that is not the original destination (a balanced endpoint).
    var upstreamAddress: SocketAddress?
    /// Istio metrics: the Service of a balanced TCP connection, and whether the connection's
    /// opening was counted (`istio_tcp_connections_opened_total`).
    var metricService: ServiceLabels?
    var tcpMetricsOpened = false
    /// The bytes already added to the counters (by the periodic report of open connections).
    var reportedBytes: (sent: UInt64, received: UInt64, spliced: UInt64) = (0, 0, 0)

    /// `splice`, `copy`, `mixed` or `none`: how the bytes moved.
    var relayMode: String {
        let total = toUpstream.bytesDelivered + toClient.bytesDelivered
        let spliced = toUpstream.bytesSpliced + toClient.bytesSpliced
        if total == 0 { return "none" }
        if spliced == total { return "splice" }
        if spliced == 0 { return "copy" }
        return "mixed"
    }
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
