import Addresses
import HTTP
import LinuxSys
import Policy
import Relay
import Routing

/// One request on an L7 connection, from its head to the end of its response: what the access
/// log line says about it.
final class HTTPExchange {
    let startedAt: UInt64
    /// Wall-clock time of the first byte, formatted only if a log line is written.
    let startWall: (seconds: Int, nanoseconds: Int)
    var startTime: String { Clock.timestamp(wall: startWall) }
    let method: HTTPMethod
    let authority: String
    let path: String
    let version: HTTPVersion
    /// The client wants the connection kept after this exchange (RFC 9112 §9.3).
    let requestPersistent: Bool
    /// Forwarded with its Upgrade field (a WebSocket handshake), or a CONNECT.
    let upgradeRequested: Bool
    var decision: Decision?
    /// A response the proxy gives itself instead of the upstream's; sent in turn.
    var local: [UInt8]?
    /// The connection closes after this exchange's response.
    var closeAfter = false
    var status: Int?
    var requestBodyBytes: UInt64 = 0
    var responseBodyBytes: UInt64 = 0
    var flag: ResponseFlag?
    var reason: String?
    /// The routing of an outbound request (service, route, endpoint, attempts), when routed.
    var routed: RoutedRequest?
    /// The endpoint of the last attempt, for the log line.
    var endpoint: SocketAddress?
    /// Its `x-request-id` and trace context, as forwarded (nil: the session generates no ids).
    var correlation: RequestCorrelation?

    init(head: HTTPRequestHead, now: UInt64) {
        startedAt = now
        startWall = Clock.wallClock()
        method = head.method
        authority = head.authority ?? ""
        path = head.path
        version = head.version
        requestPersistent = HTTPSemantics.isPersistent(version: head.version, headers: head.headers)
        upgradeRequested = HTTPSemantics.isUpgradeRequest(head) || head.method == .CONNECT
    }

    /// For a request the parser refused before a head existed.
    init(refused now: UInt64) {
        startedAt = now
        startWall = Clock.wallClock()
        method = .GET
        authority = ""
        path = ""
        version = .http1_1
        requestPersistent = false
        upgradeRequested = false
    }
}

/// Bytes read from one end and not yet parsed or forwarded, in a pooled buffer held only while
/// bytes are in it.
struct SessionInput {
    var buffer: UnsafeMutableRawPointer?
    /// Parsed up to here.
    var start = 0
    /// Filled up to here.
    var end = 0

    var isEmpty: Bool { start == end }

    /// The unparsed bytes as a span for the parser.
    func withUnparsed<R>(_ body: (Span<UInt8>) -> R) -> R {
        guard let buffer else {
            // No bytes held (the parser is asked for an event it owes without new input).
            return UnsafeBufferPointer<UInt8>(start: nil, count: 0).withMemoryRebound(to: UInt8.self) { body($0.span) }
        }
        let bytes = UnsafeBufferPointer<UInt8>(start: buffer.assumingMemoryBound(to: UInt8.self) + start, count: end - start)
        return body(bytes.span)
    }
}

/// Byte arrays for what the proxy writes itself (heads, chunk lines, its own responses), lent to
/// a session's outboxes only while bytes wait in them: serializing a message reuses the capacity
/// of an earlier one instead of allocating per message, and an idle connection holds none. One
/// per worker, used by its thread only.
final class StagingPool {
    private var spare: [[UInt8]] = []
    /// Arrays kept for reuse, at most; a burst that needed more gives the rest back to malloc.
    static let maximumSpare = 32
    /// An array that grew larger (a big head or local response) is not kept: the pool holds at
    /// most 128 KiB however large the messages were.
    static let maximumKeptCapacity = 4 * 1024

    init() {}

    /// An empty array, with capacity from earlier use when there is one.
    func take() -> [UInt8] {
        spare.popLast() ?? []
    }

    /// Takes `bytes` back (emptied); `bytes` is left empty without storage.
    func give(_ bytes: inout [UInt8]) {
        guard bytes.capacity > 0 else { return }
        if spare.count < Self.maximumSpare, bytes.capacity <= Self.maximumKeptCapacity {
            bytes.removeAll(keepingCapacity: true)
            spare.append(bytes)
        }
        bytes = []
    }
}

/// What is waiting to be written to one end, in order: bytes the proxy made (heads, chunk lines,
/// its own responses), written into one staging array borrowed from the worker's `StagingPool`,
/// and ranges of the opposite input buffer (body bytes, forwarded as read). A flush hands up to
/// `maximumVectors` pieces to one sendmsg(2), so a response head and its body leave together
/// rather than as two sends (and two segments) per response; once everything is written, the
/// staging array goes back to the pool.
struct Outbox {
    /// One piece, 12 bytes: offsets are 32 bits (they index an input buffer or the staging
    /// array, both far below 4 GiB), so the two a response usually needs sit inline in
    /// `segments`.
    enum Segment {
        /// `[from, to)` of the staging array.
        case staged(from: UInt32, to: UInt32)
        /// `[from, to)` of the input buffer of the other direction.
        case input(from: UInt32, to: UInt32)
    }

    private let pool: StagingPool
    /// Borrowed from `pool` while bytes are queued; empty without storage otherwise.
    private var staged: [UInt8] = []
    private(set) var segments = SmallArray<Segment>()
    private var index = 0
    private(set) var bytesQueued = 0

    static let maximumVectors = 8

    init(pool: StagingPool) {
        self.pool = pool
    }

    var isEmpty: Bool { index == segments.count }

    /// Enough is queued for one full vectored write: send it before parsing more.
    var isFull: Bool { segments.count - index >= Self.maximumVectors }

    /// Whether the outbox holds an allocation: a staging array or storage past two pieces.
    var holdsStorage: Bool { segments.hasSpareStorage || staged.capacity > 0 }

    /// Queues the bytes `write` appends to the array it is given (which may already hold bytes
    /// queued before: `write` only appends, or changes what it appended itself). Returns the
    /// range written, for `staged(_:)`.
    @discardableResult
    mutating func append(writing write: (inout [UInt8]) -> Void) -> Range<Int> {
        if staged.isEmpty, staged.capacity == 0 { staged = pool.take() }
        let start = staged.count
        write(&staged)
        let end = staged.count
        guard end > start else {
            // Nothing written and nothing queued before: an idle outbox keeps no staging array.
            if start == 0 { pool.give(&staged) }
            return start..<start
        }
        bytesQueued += end - start
        // Bytes the proxy made one after another (a chunk's end and the next chunk's size line)
        // are one piece.
        if index < segments.count, case .staged(let from, let to) = segments[segments.count - 1], Int(to) == start {
            segments[segments.count - 1] = .staged(from: from, to: UInt32(end))
        } else {
            segments.append(.staged(from: UInt32(start), to: UInt32(end)))
        }
        return start..<end
    }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        append { $0.append(contentsOf: bytes) }
    }

    /// Gives back storage kept for more than two pieces (for a connection going idle).
    mutating func releaseSpareCapacity() {
        if isEmpty { segments.releaseSpareCapacity() }
    }

    mutating func append(input from: Int, to: Int) {
        guard to > from else { return }
        segments.append(.input(from: UInt32(from), to: UInt32(to)))
        bytesQueued += to - from
    }

    /// The bytes of `range` of the staging array (as `append(writing:)` returned it).
    func staged(_ range: Range<Int>) -> ArraySlice<UInt8> { staged[range] }

    /// Forgets everything queued and gives the staging array back.
    mutating func reset() {
        segments.removeAll(keepingCapacity: true)
        index = 0
        bytesQueued = 0
        pool.give(&staged)
    }

    /// Writes in order until done or the end would block.
    mutating func flush(to end: RelayEndpoint, input: UnsafeMutableRawPointer?) -> EndpointWrite {
        while index < segments.count {
            let pieces = min(segments.count - index, Self.maximumVectors)
            let outcome = staged.withUnsafeBytes { stagedBytes in
                withUnsafeTemporaryAllocation(of: IOVector.self, capacity: pieces) { vectors in
                    for piece in 0..<pieces {
                        switch segments[index + piece] {
                        case .staged(let from, let to):
                            vectors[piece] = IOVector(base: stagedBytes.baseAddress! + Int(from), count: Int(to - from))
                        case .input(let from, let to):
                            vectors[piece] = IOVector(base: input! + Int(from), count: Int(to - from))
                        }
                    }
                    return end.write(vectors: vectors)
                }
            }
            guard case .bytes(let count) = outcome else { return outcome }
            advance(by: count)
        }
        reset()
        return .bytes(0)
    }

    /// Drops `count` written bytes from the front.
    private mutating func advance(by count: Int) {
        var left = count
        bytesQueued -= count
        while left > 0, index < segments.count {
            switch segments[index] {
            case .staged(let from, let to), .input(let from, let to):
                if left >= Int(to - from) {
                    index += 1
                    left -= Int(to - from)
                } else {
                    segments[index] = segments[index].dropping(UInt32(left))
                    left = 0
                }
            }
        }
    }
}

extension Outbox.Segment {
    /// The segment without its first `count` bytes.
    func dropping(_ count: UInt32) -> Outbox.Segment {
        switch self {
        case .staged(let from, let to): return .staged(from: from + count, to: to)
        case .input(let from, let to): return .input(from: from + count, to: to)
        }
    }
}

/// What an HTTP session asks of the proxy around it: the time, the AuthorizationPolicies' decision
/// on a request, and what to do with a finished exchange (metrics, access log). The worker's
/// `Connection` is the host of its session and forwards to its worker, so a session holds no
/// closures over a copy of the connection's context (1000 idle keep-alive connections held three
/// closure contexts and three boxed label caches each, 0.6 KiB a connection).
protocol HTTPSessionHost: AnyObject {
    /// The worker loop's time of the current wakeup (what access log durations are measured in).
    var now: UInt64 { get }
    /// The decision on a request whose exchange already holds its path and authority; nil when no
    /// policy applies to the connection (nothing is checked, `exchange.decision` stays nil).
    func authorize(_ head: HTTPRequestHead, exchange: HTTPExchange) -> Decision?
    /// An exchange is over (answered, refused or failed): its metrics and access log line.
    func exchangeCompleted(_ exchange: HTTPExchange)
}

/// An HTTP/1.1 connection proxied at L7: requests are parsed, checked against the
/// AuthorizationPolicies (inbound), normalized and forwarded; responses are parsed and forwarded
/// in order, with the proxy's own responses (403, 400, 503) slotted in where their requests were.
/// Every exchange gets an access log line. The worker drives the two directions with `pumpRequests`
/// and `pumpResponses` as their ends become ready; after an accepted Upgrade or CONNECT the
/// session hands over to the byte relay (`.tunnel`).
final class HTTPSession {
    enum Outcome: Equatable {
        /// Waiting for the readiness in the direction's `waitingFor`.
        case blocked
        /// The direction used its read budget with bytes possibly still in the socket: run it
        /// again soon (edge-triggered epoll will not report those bytes again).
        case yielded
        /// The connection is done: close it normally (FIN sent where needed).
        case finished
        /// Reset both ends: `clientFailed` says which end broke.
        case failed(clientFailed: Bool, detail: String)
        /// Switch to the byte relay: the ends agreed on a tunnel.
        case tunnel
    }

    private let client: RelayEndpoint
    /// The upstream connection in use. Fixed for a session without a router; a routed session
    /// attaches one per request (from the worker's pools) and gives it back after the response.
    private var upstream: RelayEndpoint?
    /// Chooses each request's upstream (outbound traffic management); nil: every request goes to
    /// the connection's original destination over `upstream`. Not retained, like `host`.
    private unowned let router: (any HTTPRouting)?
    /// The routed request in flight (one at a time: the next request is read after this one's
    /// response, as Envoy's HTTP/1 pools do).
    private var routed: RoutedRequest?
    /// The bytes of the routed request after its head, as forwarded, while they may have to be
    /// sent again for a retry (at most `maximumReplayBytes`).
    private var replay: [UInt8] = []
    /// Why the upstream is unusable, when it is (every request then gets a 503).
    private let upstreamFailure: String?
    /// Request bodies up to this size are kept for retries; larger requests are not retried.
    static let maximumReplayBytes = 64 * 1024
    /// The time, policy decisions and the end of each exchange (the connection; see the protocol).
    /// Not retained: the connection is the host and the router and owns the session, which the
    /// worker uses only while it holds the connection. Checked `unowned`, as `Connection.worker`.
    private unowned let host: any HTTPSessionHost
    /// Gives every request an `x-request-id` and a `traceparent` (see `RequestCorrelation`);
    /// nil: requests are forwarded without them.
    private let ids: RequestIDSource?
    private let buffers: BufferPool
    /// Header sections whose messages are done, for the next heads this worker parses.
    private let headerStorage: HTTPHeaderStorage

    private var requests = HTTPMessageParser(.request)
    private var responses = HTTPMessageParser(.response)
    var requestInput = SessionInput()
    var responseInput = SessionInput()
    private var toUpstream: Outbox
    private var toClient: Outbox

    /// Requests in order; the first is the one whose response comes next.
    private var exchanges = SmallArray<HTTPExchange>()
    /// The exchange whose request body is being read.
    private var reading: HTTPExchange?
    private var requestFraming: HTTPBodyFraming = .none
    private var discardRequestBody = false
    /// The exchange whose response is being forwarded.
    private var responding: HTTPExchange?
    private var responseFraming: HTTPBodyFraming = .none
    /// No more requests are read (the last one asked to close, or was refused).
    private var requestsDone = false
    private var clientEnded = false
    private var upstreamEnded = false
    /// The response direction sent its last byte and half-closed the client.
    private var closing = false
    private var upstreamWriteShut = false
    private var tunnelAgreed = false
    /// The parser may have an event without new input (a message whose last byte was just
    /// consumed ends on the next call): parse again before reading.
    private var requestEventPending = false
    private var responseEventPending = false
    /// The upstream answered an upgrade request before the request itself was fully read; the
    /// request parser learns the answer when it reaches the decision.
    private var pendingUpgrade: Bool?

    /// The last read of that end was short and no readable edge of its socket has arrived since:
    /// the socket was empty then, and the next bytes bring a new edge, so reading again before it
    /// would only return EAGAIN (one wasted syscall per request on keep-alive connections: the
    /// next request is read only after the response, long after the last short read). Cleared by
    /// `noteClientReadable`/`noteUpstreamReadable`, which the worker calls for every readable
    /// edge, whatever this session waited for then (an edge that came while it waited for
    /// something else is not lost), and when a new upstream is attached.
    private var clientDrained = false
    private var upstreamDrained = false
    /// The end reported FIN/RST: a short read then proves nothing (the end of stream brings no
    /// further edge), so reading goes on until it says so.
    private var clientHungUp = false
    private var upstreamHungUp = false

    /// Records EPOLLRDHUP/HUP/ERR on the client's socket.
    func noteClientHangup() {
        clientHungUp = true
        clientDrained = false
    }
    /// Records EPOLLRDHUP/HUP/ERR on the upstream's socket.
    func noteUpstreamHangup() {
        upstreamHungUp = true
        upstreamDrained = false
    }
    /// A readable edge (or an error or hangup) of the client's socket arrived.
    func noteClientReadable() { clientDrained = false }
    /// A readable edge (or an error or hangup) of the upstream's socket arrived.
    func noteUpstreamReadable() { upstreamDrained = false }

    // The one-byte fields together (stored properties are laid out in declaration order, and a
    // session lives as long as its connection).
    let direction: TrafficDirection
    /// The routed request waits for the worker to attach an upstream connection.
    private(set) var awaitingUpstream = false
    /// A retry may need the request's body again: it is copied to `replay`.
    private var keepsReplay = false
    /// The upstream said the connection may carry another request after this response.
    private var upstreamPersistent = false
    /// The proxy is draining: the response to the request in progress (or the last one read)
    /// carries `Connection: close` unless its head already went out, and no request after it is
    /// read (RFC 9112 §9.6). An idle connection is left to `closeIfIdle`.
    private(set) var draining = false
    /// The response direction sent the client its FIN.
    private var clientWriteShut = false
    private(set) var requestWait: HalfDuplex.Wait = .nothing
    private(set) var responseWait: HalfDuplex.Wait = .nothing
    /// Bytes received from the client and sent to it (for the connection's log line).
    private(set) var bytesFromClient: UInt64 = 0
    private(set) var bytesToClient: UInt64 = 0
    private(set) var requestsSeen = 0

    /// Loop steps one pump may take: far more than its read budget can cause (16 reads of a
    /// 64 KiB buffer of 18-byte requests, a few events each), far less than a stuck worker.
    static let maximumSteps = 1_000_000

    /// The parsers' states, for the log line of an internal error.
    private var stateDescription: String {
        "requests \(requests.waitingFor), responses \(responses.waitingFor), \(exchanges.count) in flight, "
            + "input \(requestInput.end - requestInput.start)/\(responseInput.end - responseInput.start) bytes"
    }

    /// Starts draining this connection (see `draining`).
    func beginDrain() {
        guard !draining else { return }
        draining = true
        if let reading {
            reading.closeAfter = true
        } else if let last = exchanges.last {
            last.closeAfter = true
            requestsDone = true
        }
    }

    /// Whether nothing is in progress: no request being read or answered, no byte of a next one.
    var isIdle: Bool {
        exchanges.isEmpty && reading == nil && requestInput.isEmpty && !requestEventPending && requestHeadStartedAt == 0
            && !closing && !tunnelAgreed
    }

    /// Between requests: gives back what the last exchanges left allocated beyond the session's
    /// own fields (pipelined-request and outbox storage past two entries, a routed request's
    /// replay copy), so an idle keep-alive connection holds no allocation besides its session.
    /// Pool buffers already went back when their inputs emptied. Requests of one or two pieces
    /// each way (the usual ones) allocate none of this, so a busy connection pays nothing here.
    private func releaseIdleStorage() {
        exchanges.releaseSpareCapacity()
        toUpstream.releaseSpareCapacity()
        toClient.releaseSpareCapacity()
        requests.releaseSpareCapacity()
        responses.releaseSpareCapacity()
        if routed == nil, replay.capacity > 0 { replay = [] }
    }

    /// Whether the session holds anything allocated beyond its own fields: pool buffers, a
    /// staging array, queue storage past two entries, a replay copy (what `releaseIdleStorage`
    /// and the outboxes' flushes give back; for tests).
    var holdsIdleStorage: Bool {
        requestInput.buffer != nil || responseInput.buffer != nil || exchanges.hasSpareStorage || toUpstream.holdsStorage
            || toClient.holdsStorage || requests.holdsStorage || responses.holdsStorage
            || replay.capacity > 0
    }

    /// Closes an idle keep-alive connection the way a server does (FIN, then the lingering read
    /// of whatever the client still sends); the next `pumpResponses` does it. False when the
    /// connection is not idle.
    func closeIfIdle() -> Bool {
        guard isIdle else { return false }
        requestsDone = true
        closing = true
        return true
    }

    /// Pipelined requests read ahead of their responses, at most.
    static let maximumInFlight = 32
    /// How long a request head may take from its first byte to its end (nginx's
    /// client_header_timeout default): a client trickling a head holds a connection, not more.
    static let headerTimeout: UInt64 = 60_000_000_000
    /// When the request head now in progress started (0: none is).
    private(set) var requestHeadStartedAt: UInt64 = 0

    /// A session between `client` and `upstream` (nil with a router: each request gets one).
    /// `host` and `router` are not retained and must outlive every use of the session (the
    /// worker's connection owns it and is both).
    init(
        direction: TrafficDirection, client: RelayEndpoint, upstream: RelayEndpoint?, upstreamFailure: String?,
        buffers: BufferPool, staging: StagingPool = StagingPool(), headerStorage: HTTPHeaderStorage = HTTPHeaderStorage(),
        host: any HTTPSessionHost, router: (any HTTPRouting)? = nil, ids: RequestIDSource? = nil
    ) {
        self.host = host
        toUpstream = Outbox(pool: staging)
        toClient = Outbox(pool: staging)
        self.headerStorage = headerStorage
        self.router = router
        self.ids = ids
        self.direction = direction
        self.client = client
        self.upstream = upstream
        self.upstreamFailure = upstreamFailure
        self.buffers = buffers
    }

    /// The host's time of the current wakeup.
    private func now() -> UInt64 { host.now }

    /// Seeds the request direction with bytes already read from the client (a sniffer's look at
    /// decrypted data). Takes the pooled buffer.
    func seedRequests(buffer: UnsafeMutableRawPointer, count: Int) {
        requestInput = SessionInput(buffer: buffer, start: 0, end: count)
        bytesFromClient &+= UInt64(count)
    }

    /// Returns pooled buffers; call once when the connection ends (not after `.tunnel`, whose
    /// buffers move to the relay).
    func release() {
        if let buffer = requestInput.buffer { buffers.release(buffer) }
        if let buffer = responseInput.buffer { buffers.release(buffer) }
        requestInput = SessionInput()
        responseInput = SessionInput()
    }

    /// What is being waited for, for the idle/header timeout: true while a request head has
    /// started and not finished.
    var requestHeadInProgress: Bool { requests.waitingFor == .head(firstByteSeen: true) }

    // MARK: - Requests: client → upstream

    /// Reads, parses, decides and forwards requests until an end would block.
    func pumpRequests(budget: Int) -> Outcome {
        let outcome = runRequests(budget: budget)
        if outcome == .blocked, isIdle { releaseIdleStorage() }
        return outcome
    }

    private func runRequests(budget: Int) -> Outcome {
        var reads = 0
        var steps = 0
        while true {
            // A guard, not a limit: a pump's work is bounded by its read budget, so this many
            // steps means a state the session cannot leave. Fail the connection rather than
            // spin the worker (and every connection on it) forever.
            steps += 1
            if steps > Self.maximumSteps {
                assertionFailure("HTTPSession.pumpRequests made no progress")
                return .failed(clientFailed: false, detail: "internal error: the request direction made no progress (\(stateDescription))")
            }
            // Bytes queued while parsing go out together when parsing stops (a head and its body
            // in one sendmsg); the queue is always empty before reading, which may move the
            // input buffer's bytes the queue points into.
            let awaitingUpgradeAnswer = requests.isAwaitingUpgradeDecision
            // Routed: the next request is read once this one's response is complete.
            let routedGate = router != nil && reading == nil && !exchanges.isEmpty
            let parsesNext = !routedGate && !tunnelAgreed && !closing && (!requestsDone || reading != nil)
                && (awaitingUpgradeAnswer ? pendingUpgrade != nil : !requestInput.isEmpty || requestEventPending)
            if let upstream, !toUpstream.isEmpty, !parsesNext || toUpstream.isFull {
                switch toUpstream.flush(to: upstream, input: requestInput.buffer) {
                case .bytes: break
                case .wait(let readable):
                    requestWait = readable ? .destinationReadable : .destinationWritable
                    return .blocked
                case .failed(let failure):
                    return .failed(clientFailed: false, detail: "writing to the upstream: \(failure)")
                }
            } else if upstream == nil, router == nil {
                toUpstream.reset()
            } else if upstream == nil, !toUpstream.isEmpty, !parsesNext || toUpstream.isFull {
                // Routed, waiting for an upstream connection or a retry's backoff: the queued
                // bytes point into the input buffer, which reading could move. Attaching resumes.
                requestWait = .nothing
                return .blocked
            }
            if requestInput.isEmpty, toUpstream.isEmpty { releaseInput(&requestInput) }
            if tunnelAgreed { return .tunnel }
            if closing {
                // Once the last response is out and the client has its FIN, the client's bytes
                // are only drained; before that the response direction finishes the close.
                return clientWriteShut ? lingerDrain() : .blocked
            }
            if requests.isAwaitingUpgradeDecision, let accepted = pendingUpgrade {
                pendingUpgrade = nil
                requests.resolveUpgrade(accepted: accepted)
                requestEventPending = true
            }
            if routedGate {
                // The next request may go to another endpoint; pipelined bytes wait in the
                // socket meanwhile.
                requestWait = .nothing
                return .blocked
            }
            if router != nil, clientEnded, reading == nil, exchanges.isEmpty {
                // Nothing in flight and nothing more coming: close (the upstream connections were
                // the pool's, not the client's, so there is no FIN to pass on).
                closing = true
                return finishClosing()
            }
            // Until the upstream answers an Upgrade or CONNECT the parser takes nothing: the bytes
            // the client sent behind it wait in the input (for the tunnel, or the next request).
            if !requestInput.isEmpty || requestEventPending, !requestsDone || reading != nil, !requests.isAwaitingUpgradeDecision {
                if let outcome = parseRequest() { return outcome }
                continue
            }
            if requests.isAwaitingUpgradeDecision || (requestsDone && reading == nil) {
                requestWait = .nothing
                if clientEnded, !upstreamWriteShut { return forwardClientEnd() }
                return .blocked
            }
            if exchanges.count >= Self.maximumInFlight {
                requestWait = .nothing // resumed when a response completes
                return .blocked
            }
            if clientEnded, router != nil, let exchange = reading {
                // Routed: a request cut short cannot be completed upstream.
                exchange.flag = .downstreamTermination
                return .failed(clientFailed: true, detail: exchange.reason ?? "the client closed inside the request")
            }
            if clientEnded { return forwardClientEnd() }
            if clientDrained {
                requestWait = .sourceReadable
                return .blocked
            }
            if reads == budget {
                requestWait = .nothing
                return .yielded
            }
            reads += 1
            switch read(from: client, into: &requestInput) {
            case .bytes(let count, let drained, let ended):
                bytesFromClient &+= UInt64(count)
                clientDrained = drained && !clientHungUp
                if ended { clientEnded = true }
                if requestHeadStartedAt == 0, reading == nil { requestHeadStartedAt = now() }
            case .end:
                clientEnded = true
                if case .truncated(let error) = requests.endOfInput(), let exchange = reading {
                    exchange.reason = "the client closed inside the request: \(error.detail)"
                    exchange.flag = .downstreamTermination
                }
            case .wait(let writable):
                requestWait = writable ? .sourceWritable : .sourceReadable
                return .blocked
            case .failed(let failure):
                return .failed(clientFailed: true, detail: "reading from the client: \(failure)")
            }
        }
    }

    /// The client ended its side: pass the FIN on once everything before it was forwarded.
    private func forwardClientEnd() -> Outcome {
        requestWait = .nothing
        guard let upstream, !upstreamWriteShut, toUpstream.isEmpty else { return .blocked }
        switch upstream.closeWrite() {
        case .bytes:
            upstreamWriteShut = true
        case .wait(let readable):
            requestWait = readable ? .destinationReadable : .destinationWritable
        case .failed(let failure):
            return .failed(clientFailed: false, detail: "ending the upstream's request stream: \(failure)")
        }
        return .blocked
    }

    /// One parser event for the request direction; nil to continue.
    private func parseRequest() -> Outcome? {
        let base = requestInput.start
        let event = requestInput.withUnparsed { requests.parse($0, storage: headerStorage) }
        requestEventPending = true
        switch consume event {
        case .needMoreInput(let consumed):
            requestEventPending = false
            requestInput.start += consumed
            if consumed == 0, !requestInput.isEmpty, !requests.isAwaitingUpgradeDecision {
                // Nothing consumable (closed parser): drop what is left.
                requestInput.start = requestInput.end
            }
        case .requestHead(let head, let framing, let consumed):
            requestInput.start += consumed
            requestsSeen += 1
            requestHeadStartedAt = 0
            accept(head, framing: framing)
            // Routed, the head lives on in the request until its response is done.
            if router == nil { headerStorage.give(head.headers) }
        case .body(let offset, let count, let consumed):
            requestInput.start += consumed
            reading?.requestBodyBytes &+= UInt64(count)
            if !discardRequestBody {
                if requestFraming == .chunked {
                    queueUpstream { HTTPSerializer.chunkHeader(size: count, into: &$0) }
                    queueUpstream(input: base + offset, to: base + offset + count)
                    queueUpstream { HTTPSerializer.chunkEnd(into: &$0) }
                } else {
                    queueUpstream(input: base + offset, to: base + offset + count)
                }
            }
        case .messageEnd(let trailers, let consumed):
            requestInput.start += consumed
            if !discardRequestBody, requestFraming == .chunked {
                queueUpstream { HTTPSerializer.lastChunk(trailers: trailers, into: &$0) }
            }
            if let exchange = reading, exchange.closeAfter { requestsDone = true }
            reading = nil
            discardRequestBody = false
        case .tunnel:
            tunnelAgreed = true
            return .tunnel
        case .responseHead:
            preconditionFailure("a request parser reported a response head")
        case .failure(let error):
            requestEventPending = false
            // The rest of the input cannot be framed: answer in turn, then close.
            let exchange = reading ?? HTTPExchange(refused: now())
            if exchange.correlation == nil { exchange.correlation = ids?.generate() }
            exchange.flag = .badRequest
            exchange.reason = "bad request: \(error.reason): \(error.detail)"
            exchange.local = localResponse(status: error.status, body: "bad request: \(error.reason)\n", reason: exchange.reason!, close: true)
            exchange.closeAfter = true
            if reading == nil { exchanges.append(exchange) }
            reading = nil
            requestsDone = true
            requestInput.start = requestInput.end
        }
        return nil
    }

    /// A complete request head: authorize, then forward it or queue the proxy's own answer.
    private func accept(_ head: HTTPRequestHead, framing: HTTPBodyFraming) {
        let exchange = HTTPExchange(head: head, now: now())
        exchanges.append(exchange)
        reading = framing == .none ? nil : exchange
        requestFraming = framing
        discardRequestBody = false
        if !exchange.requestPersistent || draining { exchange.closeAfter = true }
        if reading == nil, exchange.closeAfter { requestsDone = true }
        // The fields not forwarded; nil past 64 fields (the head is then forwarded from a copy).
        // Routed, the head forwarded is the one the route's filters make, and its ids are
        // decided on that one (`forwardRouted`).
        let hopByHop = router == nil ? HTTPSemantics.hopByHopMask(in: head.headers) : nil
        if router == nil { exchange.correlation = correlate(head.headers, hopByHop: hopByHop) }

        if let decision = host.authorize(head, exchange: exchange) {
            exchange.decision = decision
            if !decision.isAllowed {
                if exchange.correlation == nil { exchange.correlation = correlate(head.headers, hopByHop: HTTPSemantics.hopByHopMask(in: head.headers)) }
                refuse(exchange, framing: framing, head: head, decision: decision)
                return
            }
        }
        if let upstreamFailure {
            exchange.flag = .upstreamConnectionFailure
            exchange.reason = "upstream connect failed: \(upstreamFailure)"
            exchange.local = localResponse(status: 503, body: "upstream connect error: \(upstreamFailure)\n", reason: exchange.reason!, close: true)
            exchange.closeAfter = true
            discardRequestBody = true
            if reading == nil { requestsDone = true }
            return
        }
        if router != nil {
            forwardRouted(head, exchange: exchange)
            return
        }
        let upgrading = exchange.upgradeRequested && head.method != .CONNECT
        toUpstream.append { forwardedHead(head, framing: framing, upgrading: upgrading, hopByHop: hopByHop, correlation: exchange.correlation, into: &$0) }
        responses.expectResponse(to: head.method, upgradeRequested: exchange.upgradeRequested && head.method != .CONNECT)
    }

    /// Answers a refused request with 403 (400 for a malformed path) in its turn. Its body, if
    /// any, is read and dropped; a client waiting for 100-continue is answered and the connection
    /// closed, since whether it still sends the body cannot be known.
    private func refuse(_ exchange: HTTPExchange, framing: HTTPBodyFraming, head: HTTPRequestHead, decision: Decision) {
        exchange.flag = .denied
        let malformed = decision.reason == .malformedPath
        exchange.reason = malformed ? "malformed path" : "denied by \(decision.policyName)"
        if HTTPSemantics.expectation(of: head) == .continue100 { exchange.closeAfter = true }
        exchange.local = localResponse(
            status: malformed ? 400 : 403, body: malformed ? "bad request: malformed path\n" : "RBAC: access denied",
            reason: exchange.reason!, close: exchange.closeAfter
        )
        discardRequestBody = true
        if exchange.closeAfter {
            requestsDone = true
            reading = nil
        }
    }

    /// A response the proxy writes itself, saying why in `x-weft-reason`.
    private func localResponse(status: Int, body: String, reason: String, close: Bool, extraHeaders: [(name: String, value: String)] = []) -> [UInt8] {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "text/plain")
        headers.add(name: "x-weft-reason", value: Self.headerSafe(reason))
        for field in extraHeaders { headers.add(name: field.name, value: Self.headerSafe(field.value)) }
        if close { headers.add(name: "connection", value: "close") }
        var bytes: [UInt8] = []
        HTTPSerializer.responseHead(
            HTTPResponseHead(version: .http1_1, status: status, reason: Self.reasonPhrase(status), headers: headers),
            framing: .contentLength(UInt64(body.utf8.count)), into: &bytes
        )
        bytes += Array(body.utf8)
        return bytes
    }

    /// A reason text fit for a field value: visible ASCII and spaces only.
    private static func headerSafe(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? $0 : "?" }).prefix(300))
    }

    private static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 500: return "Internal Server Error"
        case 504: return "Gateway Timeout"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 417: return "Expectation Failed"
        case 431: return "Request Header Fields Too Large"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Error"
        }
    }

    /// The header timeout passed: answer 408 in turn and close (RFC 9110 §15.5.9).
    func requestHeadTimedOut() {
        guard requestHeadStartedAt != 0, !requestsDone else { return }
        let exchange = HTTPExchange(refused: requestHeadStartedAt)
        exchange.correlation = ids?.generate()
        exchange.flag = .downstreamTermination
        exchange.reason = "the request head did not arrive within \(Self.headerTimeout / 1_000_000_000)s"
        exchange.local = localResponse(status: 408, body: "request timeout\n", reason: exchange.reason!, close: true)
        exchange.closeAfter = true
        exchanges.append(exchange)
        requestsDone = true
        requestHeadStartedAt = 0
        requestInput.start = requestInput.end
    }

    // MARK: - Responses: upstream → client

    /// Forwards responses (and the proxy's own, in turn) until an end would block.
    func pumpResponses(budget: Int) -> Outcome {
        let outcome = runResponses(budget: budget)
        if outcome == .blocked, isIdle { releaseIdleStorage() }
        return outcome
    }

    private func runResponses(budget: Int) -> Outcome {
        var reads = 0
        var steps = 0
        while true {
            steps += 1
            if steps > Self.maximumSteps {
                assertionFailure("HTTPSession.pumpResponses made no progress")
                return .failed(clientFailed: false, detail: "internal error: the response direction made no progress (\(stateDescription))")
            }
            // As for requests: flush when parsing stops, never read with bytes queued.
            let parsesNext = !closing && !tunnelAgreed && (!responseInput.isEmpty || responseEventPending)
            if !toClient.isEmpty, !parsesNext || toClient.isFull {
                switch toClient.flush(to: client, input: responseInput.buffer) {
                case .bytes: break
                case .wait(let readable):
                    responseWait = readable ? .destinationReadable : .destinationWritable
                    return .blocked
                case .failed(let failure):
                    return .failed(clientFailed: true, detail: "writing to the client: \(failure)")
                }
            }
            if responseInput.isEmpty, toClient.isEmpty { releaseInput(&responseInput) }
            if closing { return finishClosing() }
            if tunnelAgreed { return .tunnel }
            // The proxy's own answer is next.
            if responding == nil, let first = exchanges.first, let local = first.local {
                toClient.append(local)
                bytesToClient &+= UInt64(local.count)
                first.status = Self.status(of: local)
                complete(first)
                continue
            }
            if !responseInput.isEmpty || responseEventPending {
                if let outcome = parseResponse() { return outcome }
                continue
            }
            if router != nil, upstream == nil || upstreamEnded {
                if let outcome = routedUpstreamGone() { return outcome }
                continue
            }
            if upstreamEnded || upstream == nil {
                if let outcome = upstreamGone() { return outcome }
                continue
            }
            if upstreamDrained {
                responseWait = .sourceReadable
                return .blocked
            }
            if reads == budget {
                responseWait = .nothing
                return .yielded
            }
            reads += 1
            switch read(from: upstream!, into: &responseInput) {
            case .bytes(_, let drained, let ended):
                upstreamDrained = drained && !upstreamHungUp
                if ended { upstreamEnded = true }
            case .end:
                upstreamEnded = true
            case .wait(let writable):
                responseWait = writable ? .sourceWritable : .sourceReadable
                return .blocked
            case .failed(let failure):
                if let request = routed, responding == nil {
                    attemptFailed(request, outcome: .gatewayError, reason: "the upstream \(request.target.address) failed before responding: \(failure)",
                                  flag: .upstreamTermination, status: 503)
                    continue
                }
                if let exchange = responding ?? exchanges.first(where: { $0.local == nil }) {
                    exchange.flag = .upstreamTermination
                    exchange.reason = "the upstream failed: \(failure)"
                    if responding == nil, exchange.status == nil {
                        // Nothing of its response reached the client yet: answer 502 in its place.
                        exchange.local = localResponse(status: 502, body: "upstream reset before responding\n", reason: exchange.reason!, close: true)
                        exchange.closeAfter = true
                        requestsDone = true
                        upstreamEnded = true
                        continue
                    }
                    complete(exchange)
                }
                return .failed(clientFailed: false, detail: "reading from the upstream: \(failure)")
            }
        }
    }

    /// One parser event for the response direction; nil to continue.
    private func parseResponse() -> Outcome? {
        let base = responseInput.start
        let event = responseInput.withUnparsed { responses.parse($0, storage: headerStorage) }
        responseEventPending = true
        switch consume event {
        case .needMoreInput(let consumed):
            responseEventPending = false
            responseInput.start += consumed
            if consumed == 0 { responseInput.start = responseInput.end }
        case .responseHead(let head, let framing, let consumed):
            // Forwarded (or dropped) before this case ends: its storage can serve the next head.
            defer { headerStorage.give(head.headers) }
            responseInput.start += consumed
            guard let exchange = exchanges.first(where: { $0.local == nil }) else {
                return .failed(clientFailed: false, detail: "the upstream sent a response nobody asked for")
            }
            let tunnel = framing == .tunnel
            if exchange.upgradeRequested, head.status >= 200 || tunnel {
                if requests.isAwaitingUpgradeDecision {
                    requests.resolveUpgrade(accepted: tunnel)
                    requestEventPending = true
                } else {
                    pendingUpgrade = tunnel
                }
            }
            /// Queues the forwarded head: hop-by-hop fields dropped, `Connection: close` added
            /// when asked; the usual keep-alive response without copying its fields.
            func forward(framing: HTTPBodyFraming, close: Bool) {
                let upgrading = tunnel && head.status == 101
                let written = toClient.append { bytes in
                    if !upgrading, !close, let hopByHop = HTTPSemantics.hopByHopMask(in: head.headers) {
                        HTTPSerializer.responseHead(head, framing: framing, omitting: hopByHop, into: &bytes)
                    } else {
                        var forwarded = head
                        HTTPSemantics.removeHopByHop(from: &forwarded.headers, upgrading: upgrading)
                        if close { forwarded.headers.add(name: "Connection", value: "close") }
                        HTTPSerializer.responseHead(forwarded, framing: framing, into: &bytes)
                    }
                }
                bytesToClient &+= UInt64(written.count)
            }
            if head.status < 200, !tunnel {
                forward(framing: .none, close: false)
                return nil
            }
            if let request = routed, !tunnel, request.retryCodes.contains(head.status), mayRetry(request) {
                // A retriable status: this response is dropped with its connection, and the
                // request goes again (the client never sees it).
                attemptFailed(request, outcome: EndpointPicker.Outcome(status: head.status),
                              reason: "the upstream \(request.target.address) answered \(head.status)", flag: .upstreamTermination, status: head.status)
                return nil
            }
            exchange.status = head.status
            if let request = routed, request.attempt > 1, request.retryCodes.contains(head.status) {
                exchange.flag = .retriesExhausted // the last attempt's retriable status is the answer
            }
            responding = exchange
            responseFraming = framing
            upstreamPersistent = framing != .untilClose && HTTPSemantics.isPersistent(version: head.version, headers: head.headers)
            // RFC 9112 §9.3: both sides must want persistence, and a body delimited by the
            // upstream closing can only reach the client delimited the same way. A routed
            // client keeps its connection when the upstream does not: the next request gets
            // another upstream connection.
            let keepAlive = !tunnel && !exchange.closeAfter && exchange.requestPersistent && framing != .untilClose
                && (router != nil || upstreamPersistent)
            if !keepAlive, !tunnel {
                exchange.closeAfter = true
                requestsDone = true
            }
            forward(framing: framing, close: !keepAlive && !tunnel)
            if tunnel {
                if let request = routed {
                    // The connection becomes the tunnel's: it never returns to the pool.
                    routed = nil
                    exchange.endpoint = request.target.address
                    router?.attemptEnded(request, outcome: .success, now: now())
                    router?.requestEnded(request)
                }
                complete(exchange)
                tunnelAgreed = true
            } else if framing == .none {
                finishResponse()
            }
        case .body(let offset, let count, let consumed):
            responseInput.start += consumed
            responding?.responseBodyBytes &+= UInt64(count)
            bytesToClient &+= UInt64(count)
            if responseFraming == .chunked {
                toClient.append { HTTPSerializer.chunkHeader(size: count, into: &$0) }
                toClient.append(input: base + offset, to: base + offset + count)
                toClient.append { HTTPSerializer.chunkEnd(into: &$0) }
            } else {
                toClient.append(input: base + offset, to: base + offset + count)
            }
        case .messageEnd(let trailers, let consumed):
            responseInput.start += consumed
            if responseFraming == .chunked {
                toClient.append { HTTPSerializer.lastChunk(trailers: trailers, into: &$0) }
            }
            finishResponse()
        case .tunnel:
            tunnelAgreed = true
        case .requestHead:
            preconditionFailure("a response parser reported a request head")
        case .failure(let error):
            responseEventPending = false
            if let request = routed, responding == nil {
                attemptFailed(request, outcome: .gatewayError,
                              reason: "invalid response from the upstream \(request.target.address): \(error.reason): \(error.detail)",
                              flag: .upstreamTermination, status: 502)
                return nil
            }
            guard let exchange = exchanges.first(where: { $0.local == nil }) else {
                return .failed(clientFailed: false, detail: "the upstream sent an invalid response: \(error)")
            }
            exchange.flag = .upstreamTermination
            exchange.reason = "invalid response from the upstream: \(error.reason): \(error.detail)"
            if responding == nil {
                exchange.local = localResponse(status: 502, body: "bad gateway: \(error.reason)\n", reason: exchange.reason!, close: true)
                exchange.closeAfter = true
                requestsDone = true
                responseInput.start = responseInput.end
                upstreamEnded = true
                return nil
            }
            complete(exchange)
            return .failed(clientFailed: false, detail: exchange.reason!)
        }
        return nil
    }

    /// The response being forwarded is complete.
    private func finishResponse() {
        guard let exchange = responding else { return }
        responding = nil
        if let request = routed {
            routed = nil
            headerStorage.give(request.head.headers)
            exchange.endpoint = request.target.address
            router?.attemptEnded(request, outcome: EndpointPicker.Outcome(status: exchange.status ?? 502), now: now())
            router?.requestEnded(request)
            // The connection goes back to the pool only when it is clean: the upstream keeps
            // it, the whole request went out, and nothing follows the response.
            let reusable = upstreamPersistent && !upstreamEnded && !upstreamHungUp && reading !== exchange
                && toUpstream.isEmpty && responseInput.isEmpty
            if reading === exchange { discardRequestBody = true }
            // Body bytes still queued for a connection that is not reused must never reach the
            // next request's connection.
            if !reusable { toUpstream.reset() }
            detachUpstream(reusable: reusable)
        }
        complete(exchange)
    }

    /// Logs an exchange and removes it from the queue; the connection starts closing after it if
    /// it asked to.
    private func complete(_ exchange: HTTPExchange) {
        if let index = exchanges.firstIndex(where: { $0 === exchange }) { exchanges.remove(at: index) }
        host.exchangeCompleted(exchange)
        if exchange.closeAfter { closing = true }
    }

    /// The upstream closed (or was never there): finish what can be finished.
    private func upstreamGone() -> Outcome? {
        if let exchange = responding {
            switch responses.endOfInput() {
            case .messageEnd, .clean:
                finishResponse()
                exchange.closeAfter = true
                closing = true
                return nil
            case .truncated(let error):
                exchange.flag = .upstreamTermination
                exchange.reason = "the upstream closed inside the response: \(error.detail)"
                complete(exchange)
                return .failed(clientFailed: false, detail: exchange.reason!)
            }
        }
        if let exchange = exchanges.first(where: { $0.local == nil }), upstream != nil {
            // Requests sent, no response started: answer 503 for the first, then close.
            exchange.flag = .upstreamTermination
            exchange.reason = "the upstream closed before responding"
            exchange.local = localResponse(status: 503, body: "upstream closed before responding\n", reason: exchange.reason!, close: true)
            exchange.closeAfter = true
            requestsDone = true
            return nil
        }
        if exchanges.isEmpty {
            if requestsDone || clientEnded || upstream != nil {
                closing = true
                return nil
            }
            // No upstream at all: wait for the client's requests to answer them.
            responseWait = .nothing
            return .blocked
        }
        responseWait = .nothing
        return .blocked
    }

    /// After the last response: FIN to the client, then wait for its end (reading and dropping
    /// what it still sends) so that closing does not reset unread responses away.
    private func finishClosing() -> Outcome {
        guard toClient.isEmpty else { return .blocked }
        if !clientWriteShut {
            switch client.closeWrite() {
            case .bytes: clientWriteShut = true
            case .wait(let readable):
                responseWait = readable ? .destinationReadable : .destinationWritable
                return .blocked
            case .failed:
                return .finished
            }
        }
        return lingerDrain()
    }

    /// After the FIN to the client: read and drop what it still sends until its own end, so that
    /// closing does not reset responses it has not read yet. Run by either direction, as the
    /// client's readiness wakes the request direction.
    private func lingerDrain() -> Outcome {
        if clientEnded { return .finished }
        // The worker's timer bounds this (lingering close), the read budget bounds each round (a
        // client that keeps sending cannot hold the worker).
        var scratch = SessionInput()
        defer { releaseInput(&scratch) }
        for _ in 0..<Self.lingerReadsPerRound {
            switch read(from: client, into: &scratch) {
            case .bytes(_, _, let ended):
                scratch.start = scratch.end
                if ended { return .finished }
            case .end, .failed:
                return .finished
            case .wait(let writable):
                requestWait = writable ? .sourceWritable : .sourceReadable
                responseWait = .nothing
                return .blocked
            }
        }
        requestWait = .nothing
        responseWait = .nothing
        return .yielded
    }

    /// Reads of what a closing client still sends, per round.
    static let lingerReadsPerRound = 16

    /// The proxy's own response is next in line: the response direction can make progress
    /// without any upstream event.
    var responsesReady: Bool { responding == nil && exchanges.first?.local != nil }

    /// Whether the session is lingering after its last response (the worker bounds the wait).
    var isClosing: Bool { closing }

    // MARK: - Routing (outbound traffic management)

    /// A routed request's head: the router picks its endpoint (or answers it), and the head is
    /// queued for the upstream connection the worker attaches.
    private func forwardRouted(_ head: HTTPRequestHead, exchange: HTTPExchange) {
        guard let router else { return }
        switch router.route(head, exchange: exchange, now: now()) {
        case .respond(let answer):
            if exchange.correlation == nil { exchange.correlation = correlate(head.headers, hopByHop: HTTPSemantics.hopByHopMask(in: head.headers)) }
            exchange.flag = answer.flag
            exchange.reason = answer.reason
            let body = answer.body.isEmpty ? Self.reasonPhrase(answer.status).lowercased() + ": " + answer.reason + "\n" : answer.body
            exchange.local = localResponse(status: answer.status, body: body, reason: answer.reason,
                                           close: exchange.closeAfter, extraHeaders: answer.headers)
            discardRequestBody = true
        case .forward(let request):
            let hopByHop = HTTPSemantics.hopByHopMask(in: request.head.headers)
            if ids != nil {
                let correlation = correlate(request.head.headers, hopByHop: hopByHop)
                request.correlation = correlation
                exchange.correlation = correlation
            }
            exchange.routed = request
            routed = request
            replay.removeAll(keepingCapacity: true)
            keepsReplay = request.maximumAttempts > 1
            queueRoutedHead(request, hopByHop: hopByHop)
            responses.expectResponse(to: request.head.method, upgradeRequested: exchange.upgradeRequested && head.method != .CONNECT)
            startAttempt(request)
        }
    }

    /// The head of the current attempt, with its number in `x-weft-attempt-count`. `hopByHop`:
    /// `HTTPSemantics.hopByHopMask(in: request.head.headers)`.
    private func queueRoutedHead(_ request: RoutedRequest, hopByHop: UInt64?) {
        let upgrading = HTTPSemantics.isUpgradeRequest(request.head) && request.head.method != .CONNECT
        toUpstream.append { forwardedHead(
            request.head, framing: requestFraming, upgrading: upgrading, hopByHop: hopByHop, correlation: request.correlation,
            attempt: request.attempt, into: &$0
        ) }
    }

    /// Appends the bytes of a request head as forwarded to `bytes`: without its hop-by-hop
    /// fields, with the ids `correlation` decided (`RequestCorrelation`: generated fields added,
    /// the ones they replace left out) and, routed, the attempt's number in
    /// `x-weft-attempt-count`. The usual head is written from the parsed one without copying its
    /// fields, what the proxy adds after them; an upgrade, more than 64 fields (`hopByHop` nil) or
    /// a client's own attempt count go through a copy.
    private func forwardedHead(
        _ head: HTTPRequestHead, framing: HTTPBodyFraming, upgrading: Bool, hopByHop: UInt64?, correlation: RequestCorrelation?,
        attempt: Int? = nil, into bytes: inout [UInt8]
    ) {
        let clientSentCount = attempt != nil && head.headers.contains(Self.attemptCountName)
        if !upgrading, let hopByHop, !clientSentCount {
            let omitting = hopByHop | (correlation?.omitting ?? 0)
            guard correlation?.addsFields == true || attempt != nil else {
                // Nothing to add (the ids were both there): the head as parsed, less its hop-by-hop fields.
                HTTPSerializer.requestHead(head, framing: framing, omitting: omitting, into: &bytes)
                return
            }
            let extra = (correlation?.addedFieldsLength ?? 0) + (attempt != nil ? Self.attemptCountName.utf8.count + 24 : 0)
            HTTPSerializer.requestHead(head, framing: framing, omitting: omitting, reservingExtra: extra, into: &bytes)
            bytes.removeLast(2) // the empty line ending this head, written again after the added fields
            correlation?.appendAddedFields(to: &bytes)
            if let attempt {
                bytes.append(contentsOf: Self.attemptCountName.utf8)
                bytes.append(contentsOf: ": ".utf8)
                bytes.append(contentsOf: String(attempt).utf8)
                bytes.append(contentsOf: "\r\n".utf8)
            }
            bytes.append(contentsOf: "\r\n".utf8)
            return
        }
        var forwarded = head
        HTTPSemantics.removeHopByHop(from: &forwarded.headers, upgrading: upgrading)
        correlation?.apply(to: &forwarded.headers)
        if let attempt {
            // The count is the proxy's: whatever the client sent under that name goes.
            forwarded.headers.remove(name: Self.attemptCountName)
            forwarded.headers.add(name: Self.attemptCountName, value: String(attempt))
        }
        HTTPSerializer.requestHead(forwarded, framing: framing, into: &bytes)
    }

    private static let attemptCountName = "x-weft-attempt-count"

    /// The ids of a request whose head is forwarded without the fields `hopByHop` names (nil:
    /// more than 64 fields, read from a copy without them); nil when the session makes none.
    private func correlate(_ headers: HTTPHeaders, hopByHop: UInt64?) -> RequestCorrelation? {
        guard let ids else { return nil }
        if let hopByHop { return ids.correlate(headers, ignoring: hopByHop) }
        var forwarded = headers
        HTTPSemantics.removeHopByHop(from: &forwarded)
        return ids.correlate(forwarded, ignoring: 0)
    }

    /// Queues the request bytes `write` appends for the upstream (and keeps them for a retry).
    private func queueUpstream(writing write: (inout [UInt8]) -> Void) {
        let written = toUpstream.append(writing: write)
        if keepsReplay { keepForReplay(toUpstream.staged(written)) }
    }

    /// Queues `[from, to)` of the request input for the upstream (and keeps a copy for a retry).
    private func queueUpstream(input from: Int, to: Int) {
        toUpstream.append(input: from, to: to)
        if keepsReplay, let buffer = requestInput.buffer {
            keepForReplay(UnsafeRawBufferPointer(start: buffer + from, count: to - from))
        }
    }

    private func keepForReplay(_ bytes: some Collection<UInt8>) {
        guard replay.count + bytes.count <= Self.maximumReplayBytes else {
            // Too large to send twice: this request is not retried.
            keepsReplay = false
            replay = []
            return
        }
        replay.append(contentsOf: bytes)
    }

    /// Sends the current attempt: an upstream connection now, or when the worker has one.
    private func startAttempt(_ request: RoutedRequest) {
        guard let router else { return }
        let started = now()
        request.attemptStartedAt = started
        request.tryDeadline = request.tryTimeout > 0 ? started &+ request.tryTimeout : 0
        switch router.acquireUpstream(for: request) {
        case .ready(let endpoint, let hungUp):
            attach(endpoint, hungUp: hungUp)
        case .pending:
            awaitingUpstream = true
        case .failed(let reason, let flag):
            attemptFailed(request, outcome: .connectFailure, reason: reason, flag: flag, status: 503)
        }
    }

    /// The worker has an upstream connection for the routed request waiting for one.
    func attach(_ endpoint: RelayEndpoint, hungUp: Bool) {
        awaitingUpstream = false
        upstream = endpoint
        upstreamEnded = false
        upstreamDrained = false
        upstreamHungUp = hungUp
        upstreamWriteShut = false
        upstreamPersistent = false
        // The response can only follow the request: its first bytes bring a readable edge.
        responseWait = .sourceReadable
    }

    /// The worker could not get an upstream connection for the waiting request.
    func upstreamUnavailable(reason: String, flag: ResponseFlag) {
        guard let request = routed, awaitingUpstream else { return }
        awaitingUpstream = false
        attemptFailed(request, outcome: .connectFailure, reason: reason, flag: flag, status: 503)
    }

    /// Gives the upstream connection back (to the pool when `reusable`) and forgets whatever
    /// of the exchange was queued for it or read from it.
    private func detachUpstream(reusable: Bool) {
        if upstream != nil || awaitingUpstream { router?.releaseUpstream(reusable: reusable) }
        upstream = nil
        awaitingUpstream = false
        if !reusable {
            // A fresh parser for the next connection: this one may be inside a response.
            responses = HTTPMessageParser(.response)
            responseEventPending = false
            // Unparsed bytes of that connection are dropped; the buffer stays while the client's
            // queue may still point into it (a body just forwarded), and is reused or released
            // once that queue is flushed.
            responseInput.start = responseInput.end
        }
    }

    /// Whether `request` may be sent again: attempts left, its body kept whole, nothing of its
    /// response sent to the client, and time left.
    private func mayRetry(_ request: RoutedRequest) -> Bool {
        guard request.attempt < request.maximumAttempts, keepsReplay || requestFraming == .none, responding == nil else { return false }
        return request.requestDeadline == 0 || now() < request.requestDeadline
    }

    /// An attempt failed before any of its response reached the client: try again (after the
    /// backoff) when allowed, else answer `status` with the reason.
    private func attemptFailed(_ request: RoutedRequest, outcome: EndpointPicker.Outcome, reason: String, flag: ResponseFlag, status: Int) {
        guard let router else { return }
        router.attemptEnded(request, outcome: outcome, now: now())
        detachUpstream(reusable: false)
        toUpstream.reset()
        if mayRetry(request), router.prepareRetry(request, now: now()) {
            // prepareRetry chose the endpoint, counted the attempt and set the backoff; the
            // attempt starts when the backoff's deadline passes.
            queueRoutedHead(request, hopByHop: HTTPSemantics.hopByHopMask(in: request.head.headers))
            if !replay.isEmpty { toUpstream.append(replay) }
            responses.expectResponse(to: request.head.method, upgradeRequested: HTTPSemantics.isUpgradeRequest(request.head) && request.head.method != .CONNECT)
            return
        }
        // Envoy's URX: the request was retried and the last attempt failed too.
        answerRouted(request, status: status, reason: request.attempt > 1 ? "\(reason) (attempt \(request.attempt))" : reason,
                     flag: request.attempt > 1 ? .retriesExhausted : flag)
    }

    /// Ends the routed request with the proxy's own response.
    private func answerRouted(_ request: RoutedRequest, status: Int, reason: String, flag: ResponseFlag) {
        routed = nil
        router?.requestEnded(request)
        toUpstream.reset()
        guard let exchange = exchanges.first(where: { $0.routed === request }) else { return }
        exchange.flag = flag
        exchange.reason = reason
        exchange.endpoint = request.target.address
        if reading === exchange {
            // The rest of its body is not wanted; rather than read it all, close after answering.
            discardRequestBody = true
            exchange.closeAfter = true
            requestsDone = true
        }
        exchange.local = localResponse(status: status, body: Self.reasonPhrase(status).lowercased() + ": " + reason + "\n", reason: reason, close: exchange.closeAfter)
    }

    /// Routed, with no upstream connection or one that ended.
    private func routedUpstreamGone() -> Outcome? {
        if upstream != nil, upstreamEnded {
            if let exchange = responding {
                switch responses.endOfInput() {
                case .messageEnd, .clean:
                    // A body delimited by the close: it reached the client the same way.
                    exchange.closeAfter = true
                    requestsDone = true
                    finishResponse()
                    return nil
                case .truncated(let error):
                    exchange.flag = .upstreamTermination
                    exchange.reason = "the upstream closed inside the response: \(error.detail)"
                    if let request = routed {
                        routed = nil
                        router?.attemptEnded(request, outcome: .gatewayError, now: now())
                        router?.requestEnded(request)
                    }
                    detachUpstream(reusable: false)
                    responding = nil
                    complete(exchange)
                    return .failed(clientFailed: false, detail: exchange.reason!)
                }
            }
            if let request = routed {
                attemptFailed(request, outcome: .gatewayError, reason: "the upstream \(request.target.address) closed before responding",
                              flag: .upstreamTermination, status: 503)
                return nil
            }
            detachUpstream(reusable: false)
            return nil
        }
        if exchanges.isEmpty, requestsDone || clientEnded {
            closing = true
            return nil
        }
        // Waiting for an upstream connection, a retry's backoff, or the next request.
        responseWait = .nothing
        return .blocked
    }

    /// The earliest deadline of the routed request in flight (request timeout, per-try timeout,
    /// retry backoff); 0 when none.
    var routedDeadline: UInt64 { routed?.nextDeadline ?? 0 }

    /// A routed deadline passed: start the retry whose backoff is over, or time the request out
    /// (504 when nothing of the response was sent yet). Returns a reason when the connection must
    /// fail instead (the response had started).
    func routedDeadlinePassed(now: UInt64) -> String? {
        guard let request = routed else { return nil }
        let requestTimedOut = request.requestDeadline != 0 && now >= request.requestDeadline
        let tryTimedOut = request.tryDeadline != 0 && now >= request.tryDeadline
        if requestTimedOut || tryTimedOut {
            let what = requestTimedOut ? "request timeout (\(request.requestTimeoutText ?? "-"))" : "per-try timeout (\(request.tryTimeoutText ?? "-"))"
            if let exchange = responding {
                exchange.flag = .upstreamTimeout
                exchange.reason = "\(what) inside the response from \(request.target.address)"
                return exchange.reason
            }
            if requestTimedOut {
                router?.attemptEnded(request, outcome: .gatewayError, now: now)
                detachUpstream(reusable: false)
                answerRouted(request, status: 504, reason: "\(what): no response from \(request.target.address)", flag: .upstreamTimeout)
            } else {
                request.tryDeadline = 0
                attemptFailed(request, outcome: .gatewayError, reason: "\(what): no response from \(request.target.address)", flag: .upstreamTimeout, status: 504)
            }
            return nil
        }
        if request.backoffUntil != 0, now >= request.backoffUntil {
            request.backoffUntil = 0
            startAttempt(request)
        }
        return nil
    }

    /// The connection is closing with a routed request in flight: give back its budget.
    func abandonRouted() {
        guard let request = routed else { return }
        routed = nil
        router?.requestEnded(request)
    }

    /// The routed request in flight, if any.
    var routedRequest: RoutedRequest? { routed }

    // MARK: - Tunnel hand-over

    /// After `.tunnel`: the bytes read past the handshake in each direction, for the byte relay
    /// (`HalfDuplex.seed`). The buffers move to the caller.
    func takeTunnelLeftovers() -> (toUpstream: (UnsafeMutableRawPointer, Int, Int)?, toClient: (UnsafeMutableRawPointer, Int, Int)?) {
        func take(_ input: inout SessionInput) -> (UnsafeMutableRawPointer, Int, Int)? {
            guard let buffer = input.buffer else { return nil }
            let leftover = input.isEmpty ? nil : (buffer, input.start, input.end - input.start)
            if leftover == nil { buffers.release(buffer) }
            input = SessionInput()
            return leftover
        }
        return (take(&requestInput), take(&responseInput))
    }

    /// The ends the session moves bytes between (a tunnel's relay takes them over).
    var ends: (client: RelayEndpoint, upstream: RelayEndpoint?) { (client, upstream) }

    /// Whether everything the proxy wrote for the handshake has reached both ends.
    var outboxesEmpty: Bool { toUpstream.isEmpty && toClient.isEmpty }

    // MARK: - Reading

    private func read(from end: RelayEndpoint, into input: inout SessionInput) -> EndpointRead {
        if input.buffer == nil { input.buffer = buffers.acquire() }
        if input.isEmpty {
            input.start = 0
            input.end = 0
        } else if input.end == buffers.bufferSize {
            // Full with a partial section at its end: the parser buffered everything before
            // `start`, so move the rest to the front.
            let remaining = input.end - input.start
            input.buffer!.copyMemory(from: input.buffer! + input.start, byteCount: remaining)
            input.start = 0
            input.end = remaining
        }
        let outcome = end.read(into: input.buffer! + input.end, count: buffers.bufferSize - input.end)
        switch outcome {
        case .bytes(let count, _, _):
            input.end += count
        case .wait:
            // Nothing came and nothing is kept: the buffer goes back to the pool, so an idle
            // keep-alive connection holds none (1000 idle connections held 1000 × 64 KiB).
            releaseInput(&input)
        case .end, .failed:
            break
        }
        return outcome
    }

    private func releaseInput(_ input: inout SessionInput) {
        guard let buffer = input.buffer, input.isEmpty else { return }
        buffers.release(buffer)
        input = SessionInput()
    }

    private static func status(of response: [UInt8]) -> Int {
        // "HTTP/1.1 403 ..." — the proxy's own responses always have this shape.
        guard response.count >= 12 else { return 0 }
        return response[9...11].reduce(0) { $0 * 10 + Int($1 - 48) }
    }
}
