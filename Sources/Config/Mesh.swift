import Addresses
import Identity

/// How the proxy secures one outbound connection.
public enum OutboundSecurity: Sendable, Equatable {
    /// Relay the application's bytes as they are: the destination has no sidecar.
    case plaintext
    /// Originate mTLS with the workload's certificate. With an expected identity, the peer's
    /// certificate must carry exactly that SPIFFE id; without one, any id of the sidecar's trust
    /// domain is accepted.
    case mutualTLS(expectedIdentity: SPIFFEID?)
}

/// One `spec.mesh.destinations` entry: the identity the peer at an address range (and port) must
/// prove.
public struct MeshDestination: Sendable, Equatable {
    /// The addresses the entry covers; a single host is a /32 or /128 range.
    public var range: CIDR
    /// The destination port the entry is limited to, or nil for every port.
    public var port: UInt16?
    /// The SPIFFE id the peer's certificate must carry.
    public var identity: SPIFFEID

    /// An entry expecting `identity` at `range` (and `port`, if given).
    public init(range: CIDR, port: UInt16? = nil, identity: SPIFFEID) {
        self.range = range
        self.port = port
        self.identity = identity
    }
}

/// The destinations that have sidecars (`spec.mesh`), and which identity each must prove.
///
/// The lists are kept as written; `init` also builds sorted, per-family tables from them so that
/// `security(for:)`, which runs for every outbound connection, is a few binary searches that
/// allocate nothing.
public struct MeshConfig: Sendable, Equatable {
    /// Ranges whose destinations get mTLS without a specific expected identity.
    public let cidrs: [CIDR]
    /// Ranges (and ports) whose destinations get mTLS with a specific expected identity.
    public let destinations: [MeshDestination]

    private let v4Ranges: [ClosedRange<IPv4Address>]
    private let v6Ranges: [ClosedRange<IPv6Address>]
    private let v4Destinations: DestinationTable<IPv4Address>
    private let v6Destinations: DestinationTable<IPv6Address>

    /// A mesh made of `cidrs` and `destinations`. Where two destinations have the same range and
    /// port the first is used (`Configuration.load` reports such repetitions as errors).
    public init(cidrs: [CIDR] = [], destinations: [MeshDestination] = []) {
        self.cidrs = cidrs
        self.destinations = destinations
        var v4: [ClosedRange<IPv4Address>] = []
        var v6: [ClosedRange<IPv6Address>] = []
        for cidr in cidrs {
            switch cidr.address {
            case .v4(let address): v4.append(address.range(prefixLength: cidr.prefixLength))
            case .v6(let address): v6.append(address.range(prefixLength: cidr.prefixLength))
            }
        }
        v4Ranges = mergeRanges(v4)
        v6Ranges = mergeRanges(v6)
        var v4Entries: [DestinationTable<IPv4Address>.Entry] = []
        var v6Entries: [DestinationTable<IPv6Address>.Entry] = []
        for destination in destinations {
            let port = destination.port ?? anyPort
            let length = UInt8(destination.range.prefixLength)
            switch destination.range.address {
            case .v4(let address): v4Entries.append(.init(network: address, prefixLength: length, port: port, identity: destination.identity))
            case .v6(let address): v6Entries.append(.init(network: address, prefixLength: length, port: port, identity: destination.identity))
            }
        }
        v4Destinations = DestinationTable(v4Entries)
        v6Destinations = DestinationTable(v6Entries)
    }

    /// No destination has a sidecar: every outbound connection is plaintext.
    public static let none = MeshConfig()

    /// Whether no destination gets mTLS.
    public var isEmpty: Bool { cidrs.isEmpty && destinations.isEmpty }

    /// How to secure a connection to `destination` (an IPv4-mapped IPv6 address counts as the
    /// IPv4 address it carries). The `destinations` entry with the longest prefix containing the
    /// address decides, and between entries of the same range one limited to the destination's
    /// port beats one for every port: mTLS expecting that entry's identity. With no such entry,
    /// mTLS without an expected identity if a `cidrs` range contains the address, else plaintext.
    /// So an entry always keeps its identity check, even inside a longer `cidrs` range.
    public func security(for destination: SocketAddress) -> OutboundSecurity {
        switch destination.ip.unmapped {
        case .v4(let address):
            if let identity = v4Destinations.identity(for: address, port: destination.port) {
                return .mutualTLS(expectedIdentity: identity)
            }
            return rangesContain(v4Ranges, address) ? .mutualTLS(expectedIdentity: nil) : .plaintext
        case .v6(let address):
            if let identity = v6Destinations.identity(for: address, port: destination.port) {
                return .mutualTLS(expectedIdentity: identity)
            }
            return rangesContain(v6Ranges, address) ? .mutualTLS(expectedIdentity: nil) : .plaintext
        }
    }

    /// Whether `address` is in the mesh: a `cidrs` range or a `destinations` entry for every port
    /// contains it (an entry for one port says that port of those hosts has a sidecar, not that
    /// every host of the range is one). A connection from such an address comes from a sidecar,
    /// which starts with its ClientHello — unless that pod excludes the port from capture. No
    /// allocation.
    public func contains(_ address: IPAddress) -> Bool {
        switch address.unmapped {
        case .v4(let v4):
            if rangesContain(v4Ranges, v4) { return true }
        case .v6(let v6):
            if rangesContain(v6Ranges, v6) { return true }
        }
        return destinations.contains { $0.port == nil && $0.range.contains(address.unmapped) }
    }

    public static func == (lhs: MeshConfig, rhs: MeshConfig) -> Bool {
        // The tables are built from the lists, so the lists decide.
        lhs.cidrs == rhs.cidrs && lhs.destinations == rhs.destinations
    }
}

/// The port a table entry uses for "every port". Port 0 is never a connection's destination (the
/// kernel reads it as "any"), and `Configuration.load` accepts only 1...65535.
private let anyPort: UInt16 = 0

/// An address family's addresses as table keys.
protocol PrefixKey: Comparable, Sendable {
    /// The address with every bit after the first `prefixLength` cleared.
    func masked(_ prefixLength: Int) -> Self
    /// The first and last address of the range of `prefixLength` bits that starts here.
    func range(prefixLength: Int) -> ClosedRange<Self>
}

extension IPv4Address: PrefixKey {
    func masked(_ prefixLength: Int) -> IPv4Address {
        IPv4Address(value & Self.mask(prefixLength))
    }

    func range(prefixLength: Int) -> ClosedRange<IPv4Address> {
        let mask = Self.mask(prefixLength)
        return IPv4Address(value & mask)...IPv4Address(value | ~mask)
    }

    private static func mask(_ prefixLength: Int) -> UInt32 {
        // A shift by the full width would trap, so /0 is its own case.
        prefixLength <= 0 ? 0 : ~UInt32(0) << UInt32(32 - min(prefixLength, 32))
    }
}

extension IPv6Address: PrefixKey {
    func masked(_ prefixLength: Int) -> IPv6Address {
        let (highMask, lowMask) = Self.masks(prefixLength)
        return IPv6Address(high: high & highMask, low: low & lowMask)
    }

    func range(prefixLength: Int) -> ClosedRange<IPv6Address> {
        let (highMask, lowMask) = Self.masks(prefixLength)
        return IPv6Address(high: high & highMask, low: low & lowMask)...IPv6Address(high: high | ~highMask, low: low | ~lowMask)
    }

    private static func masks(_ prefixLength: Int) -> (high: UInt64, low: UInt64) {
        func mask(_ bits: Int) -> UInt64 {
            bits <= 0 ? 0 : bits >= 64 ? ~UInt64(0) : ~UInt64(0) << UInt64(64 - bits)
        }
        return (mask(prefixLength), mask(prefixLength - 64))
    }
}

/// Ranges sorted by their first address, overlapping ones merged, so that at most one can
/// contain an address and a binary search finds it.
private func mergeRanges<Key: PrefixKey>(_ ranges: [ClosedRange<Key>]) -> [ClosedRange<Key>] {
    var merged: [ClosedRange<Key>] = []
    for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
        if let last = merged.last, range.lowerBound <= last.upperBound {
            // CIDR ranges nest or are disjoint, so an overlapping one lies inside the last.
            merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
        } else {
            merged.append(range)
        }
    }
    return merged
}

private func rangesContain<Key: PrefixKey>(_ ranges: [ClosedRange<Key>], _ address: Key) -> Bool {
    // The first range starting after the address; the one before it is the only candidate.
    let after = firstIndex(in: ranges.indices) { ranges[$0].lowerBound > address }
    return after > 0 && ranges[after - 1].upperBound >= address
}

/// `destinations` entries of one family, sorted by prefix length (longest first), then network,
/// then port, with `anyPort` sorting before every real port. A lookup tries each prefix length
/// present, longest first; within one it binary-searches for the masked address with the
/// destination's port, then with `anyPort`.
struct DestinationTable<Key: PrefixKey>: Sendable {
    struct Entry: Sendable {
        let network: Key
        let prefixLength: UInt8
        let port: UInt16
        let identity: SPIFFEID
    }

    private let entries: [Entry]
    /// Each prefix length present, longest first, with the slice of `entries` that has it.
    private let groups: [(prefixLength: Int, range: Range<Int>)]

    /// The table of `entries`; of entries with the same network, length and port, the first wins.
    init(_ entries: [Entry]) {
        // A stable sort keeps repeated entries in their written order, so the first stays first.
        let sorted = entries.enumerated().sorted { a, b in
            let (x, y) = (a.element, b.element)
            if x.prefixLength != y.prefixLength { return x.prefixLength > y.prefixLength }
            if x.network != y.network { return x.network < y.network }
            if x.port != y.port { return x.port < y.port }
            return a.offset < b.offset
        }.map(\.element)
        var unique: [Entry] = []
        for entry in sorted {
            if let last = unique.last, last.prefixLength == entry.prefixLength, last.network == entry.network, last.port == entry.port {
                continue
            }
            unique.append(entry)
        }
        var groups: [(prefixLength: Int, range: Range<Int>)] = []
        var start = 0
        while start < unique.count {
            let length = unique[start].prefixLength
            var end = start
            while end < unique.count, unique[end].prefixLength == length { end += 1 }
            groups.append((Int(length), start..<end))
            start = end
        }
        self.entries = unique
        self.groups = groups
    }

    /// The identity of the best entry for `address` and `port`, if any entry contains the address.
    func identity(for address: Key, port: UInt16) -> SPIFFEID? {
        for group in groups {
            let network = address.masked(group.prefixLength)
            if let found = find(network, port, in: group.range) { return entries[found].identity }
            if let found = find(network, anyPort, in: group.range) { return entries[found].identity }
        }
        return nil
    }

    private func find(_ network: Key, _ port: UInt16, in range: Range<Int>) -> Int? {
        let index = firstIndex(in: range) { i in
            entries[i].network > network || (entries[i].network == network && entries[i].port >= port)
        }
        guard index < range.upperBound, entries[index].network == network, entries[index].port == port else { return nil }
        return index
    }
}

/// The first index of `range` for which `isAfter` holds, given that it holds for a suffix of the
/// range; `range.upperBound` if it holds nowhere.
private func firstIndex(in range: Range<Int>, where isAfter: (Int) -> Bool) -> Int {
    var low = range.lowerBound
    var high = range.upperBound
    while low < high {
        let middle = low + (high - low) / 2
        if isAfter(middle) { high = middle } else { low = middle + 1 }
    }
    return low
}
