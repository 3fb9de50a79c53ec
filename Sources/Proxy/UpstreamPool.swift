import Identity
import LinuxSys
import Relay
import TLS

/// The identity an endpoint's sidecar proved on an mTLS connection, and its text as Istio's
/// principal labels and the access log write it, made once per connection rather than per request.
struct UpstreamPeer {
    let id: SPIFFEID
    let principal: String

    init(_ id: SPIFFEID) {
        self.id = id
        principal = id.description
    }
}

/// One connection to an endpoint, owned by a worker's `UpstreamPools`: connecting, shaking hands,
/// carrying a routed request for one client connection at a time, or idle in the pool between
/// requests (HTTP/1 keep-alive reuse, one request at a time, as Envoy's HTTP/1 pools).
final class UpstreamConnection {
    enum State {
        case connecting
        /// mTLS to a meshed endpoint is being established.
        case handshaking
        case ready
    }

    let slot: Int
    let generation: UInt32
    /// The pool of its target, where it idles between requests and is counted.
    let pool: TargetPool
    var target: UpstreamTarget { pool.target }
    let descriptor: Descriptor
    var state: State = .connecting
    var tls: TLSStream?
    /// What the session reads and writes once ready.
    private(set) var relayEndpoint: RelayEndpoint
    /// The client connection it works for (leased, or being connected for); nil while idle.
    var owner: Connection?
    /// When the current state began (connect and handshake timeouts; idle time in the pool).
    var since: UInt64
    /// The endpoint sent FIN or was reset.
    var hungUp = false
    /// Requests it has carried.
    var requests = 0
    /// Who the endpoint proved to be, once mTLS is established (nil without mTLS).
    private(set) var peer: UpstreamPeer?

    init(slot: Int, generation: UInt32, pool: TargetPool, descriptor: Descriptor, now: UInt64) {
        self.slot = slot
        self.generation = generation
        self.pool = pool
        self.descriptor = descriptor
        relayEndpoint = .socket(descriptor)
        since = now
    }

    /// The connection is established (and mTLS, if any, is done).
    func becomeReady(now: UInt64) {
        state = .ready
        since = now
        if let tls {
            relayEndpoint = .secure(TLSChannel(tls), over: descriptor)
            peer = tls.peerIdentity.map(UpstreamPeer.init)
        }
    }
}

/// One target's part of a worker's pools: its idle connections (most recently used last, so a
/// quiet pool lets its oldest time out), how many are open for `maxConnections`, and the client
/// connections waiting for a slot. Its connections point at it, so giving one back, closing one or
/// handing a freed slot to a waiter needs no lookup by target.
final class TargetPool {
    let target: UpstreamTarget
    fileprivate(set) var idle: [UpstreamConnection] = []
    /// Connections open or opening to the target (the idle ones included).
    fileprivate(set) var live = 0
    /// Client connections waiting for a connection to the target at its `maxConnections`.
    fileprivate(set) var waiters: [Connection] = []
    /// The pools no longer hold it (it had no connection left): whoever kept a reference to find
    /// the target's pool again must look it up.
    fileprivate(set) var isForgotten = false

    init(target: UpstreamTarget) {
        self.target = target
    }
}

/// A worker's upstream connections: slots for their epoll tokens, and a `TargetPool` per target
/// while it has connections or waiters. Finding a request's pool is one dictionary probe; the rest
/// of a request's trip through the pool goes by reference.
final class UpstreamPools {
    private var slots: [UpstreamConnection?] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int] = []
    private(set) var pools: [UpstreamTarget: TargetPool] = [:]
    private(set) var count = 0

    /// The pool of `target`, if it has connections or waiters.
    func existingPool(_ target: UpstreamTarget) -> TargetPool? { pools[target] }

    /// Connections open or opening to `target`.
    func live(_ target: UpstreamTarget) -> Int { pools[target]?.live ?? 0 }

    /// Idle connections, over all targets.
    var idleCount: Int { pools.values.reduce(0) { $0 + $1.idle.count } }

    /// A new connection's bookkeeping (the caller connects the descriptor).
    func add(target: UpstreamTarget, descriptor: Descriptor, now: UInt64) -> UpstreamConnection {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = slots.count
            slots.append(nil)
            generations.append(0)
        }
        let pool: TargetPool
        if let existing = pools[target] {
            pool = existing
        } else {
            pool = TargetPool(target: target)
            pools[target] = pool
        }
        let connection = UpstreamConnection(slot: slot, generation: generations[slot], pool: pool, descriptor: descriptor, now: now)
        slots[slot] = connection
        pool.live += 1
        count += 1
        return connection
    }

    /// The connection an epoll token names, if it is still the one the token was made for.
    func connection(slot: Int, generation: UInt32) -> UpstreamConnection? {
        guard slot < slots.count, let connection = slots[slot], connection.generation == generation else { return nil }
        return connection
    }

    /// The most recently idled connection of `pool` that is still usable; idle ones older than
    /// `idleTimeout` or hung up are closed on the way.
    func takeIdle(from pool: TargetPool, now: UInt64, idleTimeout: UInt64) -> UpstreamConnection? {
        while let candidate = pool.idle.popLast() {
            if candidate.hungUp || now &- candidate.since >= idleTimeout {
                close(candidate)
                continue
            }
            return candidate
        }
        return nil
    }

    /// `takeIdle(from:)` by target.
    func takeIdle(_ target: UpstreamTarget, now: UInt64, idleTimeout: UInt64) -> UpstreamConnection? {
        guard let pool = pools[target] else { return nil }
        return takeIdle(from: pool, now: now, idleTimeout: idleTimeout)
    }

    /// Puts a ready connection back for the next request to its target.
    func putIdle(_ connection: UpstreamConnection, now: UInt64) {
        connection.owner = nil
        connection.since = now
        connection.pool.idle.append(connection)
    }

    /// Closes a connection (idle or not) and frees its slot.
    func close(_ connection: UpstreamConnection, reset: Bool = false) {
        guard slots.indices.contains(connection.slot), slots[connection.slot] === connection else { return }
        let pool = connection.pool
        if let index = pool.idle.firstIndex(where: { $0 === connection }) { pool.idle.remove(at: index) }
        connection.owner = nil
        if reset {
            try? Socket.setResetOnClose(connection.descriptor)
        } else if let tls = connection.tls, tls.isEstablished {
            // A clean end says so in TLS too (best effort), so the endpoint's sidecar sees an
            // end and not a truncation.
            _ = tls.closeWrite()
        }
        connection.descriptor.close()
        slots[connection.slot] = nil
        generations[connection.slot] = (generations[connection.slot] &+ 1) & 0xff_ffff
        freeSlots.append(connection.slot)
        pool.live -= 1
        forgetIfUnused(pool)
        count -= 1
    }

    /// Closes idle connections that are older than `idleTimeout` (all of them with 0).
    func closeIdle(now: UInt64, olderThan idleTimeout: UInt64) {
        for pool in Array(pools.values) {
            for connection in pool.idle where idleTimeout == 0 || now &- connection.since >= idleTimeout { close(connection) }
        }
    }

    /// Queues a client connection for a slot of `pool`.
    func addWaiter(_ connection: Connection, to pool: TargetPool) {
        pool.waiters.append(connection)
    }

    /// Takes the first client connection waiting for a slot of `pool`.
    func popWaiter(_ pool: TargetPool) -> Connection? {
        guard !pool.waiters.isEmpty else { return nil }
        let first = pool.waiters.removeFirst()
        forgetIfUnused(pool)
        return first
    }

    func removeWaiter(_ connection: Connection, from pool: TargetPool) {
        guard let index = pool.waiters.firstIndex(where: { $0 === connection }) else { return }
        pool.waiters.remove(at: index)
        forgetIfUnused(pool)
    }

    /// A pool with no connection and no waiter is dropped (a new connection to its target makes
    /// another), so endpoints that come and go leave nothing behind.
    private func forgetIfUnused(_ pool: TargetPool) {
        guard pool.live == 0, pool.waiters.isEmpty, pools[pool.target] === pool else { return }
        pools[pool.target] = nil
        pool.isForgotten = true
    }
}
