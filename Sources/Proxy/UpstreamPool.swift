import LinuxSys
import Relay
import TLS

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
    let target: UpstreamTarget
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

    init(slot: Int, generation: UInt32, target: UpstreamTarget, descriptor: Descriptor, now: UInt64) {
        self.slot = slot
        self.generation = generation
        self.target = target
        self.descriptor = descriptor
        relayEndpoint = .socket(descriptor)
        since = now
    }

    /// The connection is established (and mTLS, if any, is done).
    func becomeReady(now: UInt64) {
        state = .ready
        since = now
        if let tls { relayEndpoint = .secure(TLSChannel(tls), over: descriptor) }
    }
}

/// A worker's upstream connections: slots for their epoll tokens, idle connections per target
/// (most recently used first, so a quiet pool lets its oldest time out), live counts per target
/// for `maxConnections`, and the client connections waiting for a slot.
final class UpstreamPools {
    private var slots: [UpstreamConnection?] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int] = []
    private(set) var idle: [UpstreamTarget: [UpstreamConnection]] = [:]
    private(set) var live: [UpstreamTarget: Int] = [:]
    /// Client connections waiting for a connection to a target at its `maxConnections`.
    var waiters: [UpstreamTarget: [Connection]] = [:]
    private(set) var count = 0

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
        let connection = UpstreamConnection(slot: slot, generation: generations[slot], target: target, descriptor: descriptor, now: now)
        slots[slot] = connection
        live[target, default: 0] += 1
        count += 1
        return connection
    }

    /// The connection an epoll token names, if it is still the one the token was made for.
    func connection(slot: Int, generation: UInt32) -> UpstreamConnection? {
        guard slot < slots.count, let connection = slots[slot], connection.generation == generation else { return nil }
        return connection
    }

    /// The most recently idled connection to `target` that is still usable; idle ones older than
    /// `idleTimeout` or hung up are closed on the way.
    func takeIdle(_ target: UpstreamTarget, now: UInt64, idleTimeout: UInt64) -> UpstreamConnection? {
        while var list = idle[target], let candidate = list.popLast() {
            idle[target] = list.isEmpty ? nil : list
            if candidate.hungUp || now &- candidate.since >= idleTimeout {
                close(candidate)
                continue
            }
            return candidate
        }
        return nil
    }

    /// Puts a ready connection back for the next request to its target.
    func putIdle(_ connection: UpstreamConnection, now: UInt64) {
        connection.owner = nil
        connection.since = now
        idle[connection.target, default: []].append(connection)
    }

    /// Closes a connection (idle or not) and frees its slot.
    func close(_ connection: UpstreamConnection, reset: Bool = false) {
        guard slots.indices.contains(connection.slot), slots[connection.slot] === connection else { return }
        if let list = idle[connection.target], let index = list.firstIndex(where: { $0 === connection }) {
            var remaining = list
            remaining.remove(at: index)
            idle[connection.target] = remaining.isEmpty ? nil : remaining
        }
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
        live[connection.target, default: 1] -= 1
        if live[connection.target] == 0 { live[connection.target] = nil }
        count -= 1
    }

    /// Closes idle connections that are older than `idleTimeout` (all of them with 0).
    func closeIdle(now: UInt64, olderThan idleTimeout: UInt64) {
        for list in idle.values {
            for connection in list where idleTimeout == 0 || now &- connection.since >= idleTimeout { close(connection) }
        }
    }

    /// Takes the first client connection waiting for `target`.
    func popWaiter(_ target: UpstreamTarget) -> Connection? {
        guard var list = waiters[target], !list.isEmpty else { return nil }
        let first = list.removeFirst()
        waiters[target] = list.isEmpty ? nil : list
        return first
    }

    func removeWaiter(_ connection: Connection, from target: UpstreamTarget) {
        guard var list = waiters[target], let index = list.firstIndex(where: { $0 === connection }) else { return }
        list.remove(at: index)
        waiters[target] = list.isEmpty ? nil : list
    }
}
