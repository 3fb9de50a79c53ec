import Addresses

/// The interception ruleset as a value: one `inet` table of chains of rules. Planning it is pure;
/// `Nftables.apply(_:)` installs it, `nftText` shows it as `nft list` would.
public struct Ruleset: Hashable, Sendable {
    /// The table's name. Its family is always `inet`, so one table covers IPv4 and IPv6.
    public var tableName: String
    /// The base chains, in the order they are created.
    public var chains: [Chain]

    /// A ruleset of table inet `tableName` holding `chains`.
    public init(tableName: String, chains: [Chain]) {
        self.tableName = tableName
        self.chains = chains
    }

    /// The table Weft owns in every pod's network namespace.
    public static let weftTableName = "weft"

    /// How many rules all chains hold together.
    public var ruleCount: Int { chains.reduce(0) { $0 + $1.rules.count } }
}

/// A base chain: attached to a netfilter hook, holding rules evaluated in order.
public struct Chain: Hashable, Sendable {
    /// The chain's name in the table.
    public var name: String
    /// Its type; Weft's chains are all `nat`.
    public var type: ChainType
    /// The netfilter hook it is attached to.
    public var hook: Hook
    /// Lower runs first; -100 is nft's `dstnat`, where destination NAT belongs.
    public var priority: Int32
    /// What happens to a packet no rule decided on.
    public var policy: ChainPolicy
    /// The rules, evaluated in order.
    public var rules: [Rule]

    /// A base chain with all its properties.
    public init(name: String, type: ChainType, hook: Hook, priority: Int32, policy: ChainPolicy, rules: [Rule]) {
        self.name = name
        self.type = type
        self.hook = hook
        self.priority = priority
        self.policy = policy
        self.rules = rules
    }
}

/// A chain type (`NFTA_CHAIN_TYPE`): the kernel's name for it.
public struct ChainType: RawRepresentable, Hashable, Sendable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Only `nat` chains may hold `redirect`; they see the first packet of each connection only.
    public static let nat = ChainType(rawValue: "nat")
}

/// A netfilter hook number (`enum nf_inet_hooks` in linux/netfilter.h).
public struct Hook: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// NF_INET_PRE_ROUTING: packets arriving from another host.
    public static let prerouting = Hook(rawValue: 0)
    /// NF_INET_LOCAL_OUT: packets sent by local sockets.
    public static let output = Hook(rawValue: 3)

    /// The keyword nft uses.
    public var description: String {
        switch self {
        case .prerouting: return "prerouting"
        case .output: return "output"
        case Hook(rawValue: 1): return "input"
        case Hook(rawValue: 2): return "forward"
        case Hook(rawValue: 4): return "postrouting"
        default: return "hook \(rawValue)"
        }
    }
}

/// A base chain's policy (`NFTA_CHAIN_POLICY`: NF_DROP 0, NF_ACCEPT 1).
public struct ChainPolicy: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// NF_DROP.
    public static let drop = ChainPolicy(rawValue: 0)
    /// NF_ACCEPT.
    public static let accept = ChainPolicy(rawValue: 1)
    public var description: String { self == .accept ? "accept" : self == .drop ? "drop" : "policy \(rawValue)" }
}

/// One rule: every match must hold, then the counter counts the packet and the verdict applies.
public struct Rule: Hashable, Sendable {
    /// The conditions, tested in order (nft stops at the first that fails).
    public var matches: [Match]
    /// Every Weft rule counts (DESIGN.md), so `nft list` shows which rules traffic hit.
    public var counter: Bool
    /// What happens to a matching packet.
    public var verdict: Verdict

    /// A rule testing `matches`, counting (unless `counter` is false), then applying `verdict`.
    public init(_ matches: [Match], counter: Bool = true, _ verdict: Verdict) {
        self.matches = matches
        self.counter = counter
        self.verdict = verdict
    }
}

/// A condition on a packet, in nft's terms.
public enum Match: Hashable, Sendable {
    /// `oifname "lo"`: the interface the packet leaves by.
    case outputInterface(String)
    /// `ip saddr C`, `ip6 daddr != C`, ...: the family follows from the CIDR.
    case address(AddressField, CIDR, negated: Bool)
    /// `tcp dport P`.
    case tcpDestinationPort(UInt16)
    /// `meta skuid U`: the uid owning the sending socket (output hook only).
    case socketUser(UInt32)
    /// `meta skgid G`.
    case socketGroup(UInt32)
    /// `meta l4proto tcp`.
    case tcp
    /// `meta nfproto ipv4`: all of one family (what `ip daddr 0.0.0.0/0` means, in one comparison).
    case family(NetworkFamily)
}

/// IPv4 or IPv6, as netfilter numbers them (`NFPROTO_IPV4` 2, `NFPROTO_IPV6` 10).
public enum NetworkFamily: UInt8, Hashable, Sendable {
    case ipv4 = 2
    case ipv6 = 10

    /// The family of an address range.
    public init(of range: CIDR) { self = range.isIPv4 ? .ipv4 : .ipv6 }
}

/// Which address of the network header a match reads.
public enum AddressField: Hashable, Sendable {
    case source
    case destination
}

/// What a rule does with the packets it matches.
public enum Verdict: Hashable, Sendable {
    /// Leave this chain: the packet is not intercepted.
    case `return`
    /// Destination NAT to a local port (`redirect to :P`): the proxy's listener on this port sees
    /// the original destination through SO_ORIGINAL_DST.
    case redirect(port: UInt16)
}

extension Ruleset {
    /// Plans the interception ruleset of DESIGN.md ("Interception rules") from validated options.
    ///
    /// The output chain's order matters and each rule's place is explained where it is added;
    /// `Rule.nftText` of each is what the `--dry-run` and golden files show.
    public init(planning options: InterceptionOptions) {
        let ipv4Loopback = CIDR.host(.v4(.loopback))
        let ipv6Loopback = CIDR.host(.v6(.loopback))
        var prerouting: [Rule] = []
        for port in (InterceptionOptions.alwaysExcludedInboundPorts + options.excludedInboundPorts).uniqued() {
            prerouting.append(Rule([.tcpDestinationPort(port)], .return))
        }
        prerouting.append(Rule([.tcp], .redirect(port: options.inboundPort)))

        var output: [Rule] = []
        for port in options.excludedOutboundPorts {
            output.append(Rule([.tcpDestinationPort(port)], .return))
        }
        // The proxy's inbound side connects to the application from 127.0.0.6 / ::6 ("inbound
        // passthrough"); those connections were already intercepted once and must not loop back.
        for source in [CIDR.host(.v4(.inboundPassthroughSource)), CIDR.host(.v6(.inboundPassthroughSource))] {
            output.append(Rule([.outputInterface("lo"), .address(.source, source, negated: false)], .return))
        }
        // The proxy (uid/gid) connecting over lo to one of the pod's own non-loopback addresses is
        // the pod calling its own service: send it through the inbound side, as Istio does, so
        // inbound policy applies to it too.
        for owner in [Match.socketUser(options.proxyUID), .socketGroup(options.proxyGID)] {
            for loopback in [ipv4Loopback, ipv6Loopback] {
                output.append(Rule(
                    [.outputInterface("lo"), .address(.destination, loopback, negated: true), owner, .tcp],
                    .redirect(port: options.inboundPort)
                ))
            }
        }
        // Everything else on lo is pod-local (the application talking to itself, the proxy's admin
        // port): never intercepted.
        output.append(Rule([.outputInterface("lo")], .return))
        // The proxy's own connections to the rest of the world.
        output.append(Rule([.socketUser(options.proxyUID)], .return))
        output.append(Rule([.socketGroup(options.proxyGID)], .return))
        for loopback in [ipv4Loopback, ipv6Loopback] {
            output.append(Rule([.address(.destination, loopback, negated: false)], .return))
        }
        for range in options.excludedOutboundCIDRs {
            output.append(Rule([.destination(in: range)], .return))
        }
        let included = options.includedOutboundCIDRs
        if CIDR.everything.allSatisfy(included.contains) {
            // Both families entirely: no address test at all.
            output.append(Rule([.tcp], .redirect(port: options.outboundPort)))
        } else {
            for range in included {
                output.append(Rule([.destination(in: range), .tcp], .redirect(port: options.outboundPort)))
            }
        }

        self.init(tableName: Ruleset.weftTableName, chains: [
            Chain(name: "prerouting", type: .nat, hook: .prerouting, priority: -100, policy: .accept, rules: prerouting),
            Chain(name: "output", type: .nat, hook: .output, priority: -100, policy: .accept, rules: output),
        ])
    }
}

extension Match {
    /// A destination inside `range`; a whole family (/0) is a family test, which nft would
    /// otherwise compile to a load, an all-zero mask and a comparison.
    static func destination(in range: CIDR) -> Match {
        range.prefixLength == 0 ? .family(NetworkFamily(of: range)) : .address(.destination, range, negated: false)
    }
}

extension CIDR {
    /// The single-address range (/32 or /128) of `address`.
    static func host(_ address: IPAddress) -> CIDR {
        // A full-length prefix never has host bits below it, so this cannot throw.
        try! CIDR(address: address, prefixLength: address.bitWidth)
    }

    var isHost: Bool { prefixLength == address.bitWidth }
}
