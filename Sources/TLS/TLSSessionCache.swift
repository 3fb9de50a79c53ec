/// A worker's client-side store of TLS session tickets, so the next connection to the same
/// destination resumes instead of doing a full handshake (one round trip and no certificate
/// signatures saved).
///
/// Not thread-safe and takes no lock: each worker owns one and uses it only from its own thread
/// (pass it to `TLSStream.client`). The newest ticket of a key is offered to every new
/// connection until a newer one arrives (each resumption brings one), as HAProxy does: RFC 8446
/// §C.4 advises against reusing tickets because a passive observer could link the connections,
/// but between two sidecars the addresses already link them, and single use would make a burst
/// of N parallel connections fall back to N full handshakes (signatures on both sides) once the
/// few tickets of the last handshake are spent. Stateless tickets carry no early data here, so
/// reuse opens no replay. A ticket is only offered with the credentials it was issued under:
/// after a rotation the old ones are dropped, so resumption never outlives a certificate.
public final class TLSSessionCache {
    private struct Entry {
        var credentialsID: UInt64
        /// Newest last.
        var sessions: [SSLSession]
        var lastUsed: UInt64
    }

    /// How many destination keys are kept; the least recently used goes first.
    public let capacity: Int
    /// How many tickets one key keeps (a full handshake delivers two in OpenSSL 3).
    public let ticketsPerKey: Int
    private var entries: [String: Entry] = [:]
    private var clock: UInt64 = 0

    /// `capacity` keys, `ticketsPerKey` tickets each (both at least 1).
    public init(capacity: Int = 1024, ticketsPerKey: Int = 2) {
        self.capacity = max(1, capacity)
        self.ticketsPerKey = max(1, ticketsPerKey)
    }

    /// How many tickets are held, over all keys.
    public var count: Int { entries.values.reduce(0) { $0 + $1.sessions.count } }

    /// Drops every ticket (e.g. when the worker stops).
    public func removeAll() {
        entries.removeAll()
    }

    /// A copy of the newest unexpired ticket for `key` issued under `credentials` (the original
    /// stays in the cache for the next connection; expired ones are dropped).
    func take(key: String, credentials: TLSCredentials) -> SSLSession? {
        guard var entry = entries[key] else { return nil }
        guard entry.credentialsID == credentials.loadID else {
            entries[key] = nil
            return nil
        }
        let now = WallClock.now()
        while let newest = entry.sessions.last, newest.isExpired(now: now) { entry.sessions.removeLast() }
        clock &+= 1
        entry.lastUsed = clock
        entries[key] = entry.sessions.isEmpty ? nil : entry
        return entry.sessions.last?.copy()
    }

    /// Stores a ticket that arrived on a connection made with `credentials` to `key`.
    func insert(_ session: SSLSession, key: String, credentials: TLSCredentials) {
        clock &+= 1
        var entry = entries[key] ?? Entry(credentialsID: credentials.loadID, sessions: [], lastUsed: clock)
        if entry.credentialsID != credentials.loadID {
            entry = Entry(credentialsID: credentials.loadID, sessions: [], lastUsed: clock)
        }
        entry.sessions.append(session)
        if entry.sessions.count > ticketsPerKey { entry.sessions.removeFirst(entry.sessions.count - ticketsPerKey) }
        entry.lastUsed = clock
        if entries[key] == nil, entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })?.key {
            // A linear scan, only when a new key arrives at a full cache.
            entries[oldest] = nil
        }
        entries[key] = entry
    }
}
