import Addresses

/// What `weft init` intercepts, validated: the inputs of `Ruleset(planning:)`.
///
/// Defaults are Istio's conventions (DESIGN.md): proxy uid/gid 1337, outbound capture port 15001,
/// inbound capture port 15006, every outbound address of both families captured.
public struct InterceptionOptions: Hashable, Sendable {
    /// The proxy's own uid: its connections are never captured (else it would capture itself).
    public let proxyUID: UInt32
    /// The proxy's own gid, excluded like the uid (a proxy may run with a shared uid but its own gid).
    public let proxyGID: UInt32
    /// Where outbound TCP is redirected (the proxy's outbound listener).
    public let outboundPort: UInt16
    /// Where inbound TCP is redirected (the proxy's inbound listener).
    public let inboundPort: UInt16
    /// Inbound destination ports left alone, in addition to `alwaysExcludedInboundPorts`.
    public let excludedInboundPorts: [UInt16]
    /// Outbound destination ports left alone.
    public let excludedOutboundPorts: [UInt16]
    /// Outbound destinations that are captured; `CIDR.everything` captures all of both families,
    /// an empty list captures nothing outbound.
    public let includedOutboundCIDRs: [CIDR]
    /// Outbound destinations that are never captured (checked before the included ones).
    public let excludedOutboundCIDRs: [CIDR]

    /// Inbound ports that are never redirected: Prometheus metrics (15090), the kubelet's health
    /// checks (15021) and the merged-metrics port (15020) are served by the proxy itself, and a
    /// health check must reach it even when the inbound listener is broken.
    public static let alwaysExcludedInboundPorts: [UInt16] = [15090, 15021, 15020]

    /// Validates and stores the options.
    ///
    /// Throws `InvalidInterceptionOptions` when a port is 0, when the inbound and outbound
    /// capture ports are the same, or when the uid or gid is 4294967295 (`(uid_t)-1`, which the
    /// kernel uses for "no id").
    public init(
        proxyUID: UInt32 = 1337,
        proxyGID: UInt32 = 1337,
        outboundPort: UInt16 = 15001,
        inboundPort: UInt16 = 15006,
        excludedInboundPorts: [UInt16] = [],
        excludedOutboundPorts: [UInt16] = [],
        includedOutboundCIDRs: [CIDR] = CIDR.everything,
        excludedOutboundCIDRs: [CIDR] = []
    ) throws(InvalidInterceptionOptions) {
        guard proxyUID != UInt32.max else {
            throw InvalidInterceptionOptions("--proxy-uid", "4294967295 is (uid_t)-1, which the kernel reads as \"no user\"; use the proxy's real uid")
        }
        guard proxyGID != UInt32.max else {
            throw InvalidInterceptionOptions("--proxy-gid", "4294967295 is (gid_t)-1, which the kernel reads as \"no group\"; use the proxy's real gid")
        }
        for (flag, port) in [("--outbound-port", outboundPort), ("--inbound-port", inboundPort)] where port == 0 {
            throw InvalidInterceptionOptions(flag, "port 0 cannot be listened on; use a port from 1 to 65535")
        }
        for (flag, ports) in [("--exclude-inbound-ports", excludedInboundPorts), ("--exclude-outbound-ports", excludedOutboundPorts)]
        where ports.contains(0) {
            throw InvalidInterceptionOptions(flag, "port 0 never appears in a TCP header; use ports from 1 to 65535")
        }
        guard inboundPort != outboundPort else {
            throw InvalidInterceptionOptions(
                "--inbound-port",
                "the inbound and outbound capture ports are both \(inboundPort); the proxy tells the two directions apart by the port a connection was redirected to, so give them different ports"
            )
        }
        self.proxyUID = proxyUID
        self.proxyGID = proxyGID
        self.outboundPort = outboundPort
        self.inboundPort = inboundPort
        self.excludedInboundPorts = excludedInboundPorts.uniqued()
        self.excludedOutboundPorts = excludedOutboundPorts.uniqued()
        self.includedOutboundCIDRs = includedOutboundCIDRs.uniqued()
        self.excludedOutboundCIDRs = excludedOutboundCIDRs.uniqued()
    }
}

/// Why a set of interception options cannot be planned: the flag at fault and the reason.
public struct InvalidInterceptionOptions: Error, Equatable, Sendable, CustomStringConvertible {
    /// The command-line flag the value came from, e.g. `--inbound-port`.
    public let flag: String
    /// What is wrong and what to do instead.
    public let reason: String

    /// An error for `flag`, explained by `reason`.
    public init(_ flag: String, _ reason: String) {
        self.flag = flag
        self.reason = reason
    }

    public var description: String { "\(flag): \(reason)" }
}

extension Array where Element: Hashable {
    /// The elements without repeats, first occurrence kept, order otherwise unchanged.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
