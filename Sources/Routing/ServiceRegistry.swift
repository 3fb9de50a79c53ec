import Addresses

/// One address and port of a Service's endpoints, as a balancer takes it.
///
/// Named apart from `EndpointSlice.Endpoint` (one pod, several addresses, no resolved port) so
/// that code inside an `EndpointSlice` extension cannot take one for the other.
public struct ResolvedEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The address and the endpoint port resolved from the Service port's `targetPort`.
    public var address: SocketAddress
    /// `conditions.ready`: false for an endpoint that should get no new traffic. Such endpoints
    /// are kept so the balancer can decide (Envoy's panic mode uses them when too few are ready).
    public var ready: Bool
    /// `zone`, if the slice gives one.
    public var zone: String?

    /// An endpoint of the given values.
    public init(address: SocketAddress, ready: Bool = true, zone: String? = nil) {
        self.address = address
        self.ready = ready
        self.zone = zone
    }

    /// `10.0.0.1:8080`, with ` (not ready)` when it is not ready.
    public var description: String { ready ? address.description : "\(address) (not ready)" }
}

/// The Services, endpoints, HTTPRoutes and DestinationRules of one configuration snapshot,
/// indexed for the lookups a proxy makes per connection and per request.
///
/// Everything is computed in `init` (O(S·P + E·log E + R·P) for S services, P ports each, E
/// endpoint addresses and R routes); each lookup is then one or two dictionary probes and
/// allocates nothing (returned arrays and tables are shared, copy-on-write, with the registry).
/// A new snapshot builds a new registry; the value is immutable and can be shared by threads.
///
/// Where the input has duplicates that `Config` should have refused (two Services with the same
/// name, two with the same cluster IP and port, two DestinationRules for one Service), the first
/// given wins.
public struct ServiceRegistry: Sendable {
    /// The Services, as given.
    public let services: [Service]

    /// The DNS suffix of the cluster (`cluster.local` unless the cluster says otherwise),
    /// lowercased, without dots at either end.
    public let clusterDomain: String

    // One slot per (service, port), indexing the arrays below.
    private let slotService: [Int]
    private let slotPort: [Int]
    private let slotEndpoints: [[ResolvedEndpoint]]
    private let slotSubsetEndpoints: [[String: [ResolvedEndpoint]]]
    private let slotRouteTable: [RouteTable?]

    private let slotByDestination: [SocketAddress: Int]
    private let slotByEndpoint: [SocketAddress: Int]
    private let slotByServicePort: [ServicePortKey: Int]
    private let ruleByService: [ServiceKey: DestinationRule]

    /// Indexes one snapshot. `routes` must be oldest first (by `metadata.creationTimestamp`),
    /// as `RouteTable` ranks them by that order. `clusterDomain` is the suffix after `svc.` in
    /// fully qualified Service names.
    public init(
        services: [Service], endpointSlices: [EndpointSlice], routes: [HTTPRoute], destinationRules: [DestinationRule],
        clusterDomain: String = "cluster.local"
    ) {
        self.services = services
        var domain = Substring(clusterDomain.lowercased())
        while domain.hasPrefix(".") { domain = domain.dropFirst() }
        while domain.hasSuffix(".") { domain = domain.dropLast() }
        self.clusterDomain = String(domain)

        var rules: [ServiceKey: DestinationRule] = [:]
        for rule in destinationRules {
            let key = ServiceKey(name: rule.serviceName, namespace: rule.serviceNamespace)
            if rules[key] == nil { rules[key] = rule }
        }
        ruleByService = rules

        // Slices by the Service they name, in a fixed order (by name) so that merging an
        // address listed twice gives the same result whatever order the snapshot lists them in.
        var slicesByService: [ServiceKey: [EndpointSlice]] = [:]
        for slice in endpointSlices {
            slicesByService[ServiceKey(name: slice.serviceName, namespace: slice.namespace), default: []].append(slice)
        }
        for key in slicesByService.keys { slicesByService[key]!.sort { $0.name < $1.name } }

        var slotService: [Int] = []
        var slotPort: [Int] = []
        var slotEndpoints: [[ResolvedEndpoint]] = []
        var slotSubsetEndpoints: [[String: [ResolvedEndpoint]]] = []
        var slotRouteTable: [RouteTable?] = []
        var byDestination: [SocketAddress: Int] = [:]
        var byEndpoint: [SocketAddress: Int] = [:]
        var byServicePort: [ServicePortKey: Int] = [:]
        var seenServices: Set<ServiceKey> = []

        for (serviceIndex, service) in services.enumerated() {
            let serviceKey = ServiceKey(name: service.name, namespace: service.namespace)
            guard seenServices.insert(serviceKey).inserted else { continue }
            let slices = slicesByService[serviceKey] ?? []
            let rule = rules[serviceKey]
            for (portIndex, port) in service.ports.enumerated() {
                let portKey = ServicePortKey(service: serviceKey, port: port.port)
                guard byServicePort[portKey] == nil else { continue }
                let slot = slotService.count
                byServicePort[portKey] = slot
                slotService.append(serviceIndex)
                slotPort.append(portIndex)
                for ip in service.clusterIPs {
                    let destination = SocketAddress(ip: ip.unmapped, port: port.port)
                    if byDestination[destination] == nil { byDestination[destination] = slot }
                }
                let endpoints = Self.resolve(slices, port: port)
                for endpoint in endpoints {
                    let address = SocketAddress(ip: endpoint.address.ip.unmapped, port: endpoint.address.port)
                    if byEndpoint[address] == nil { byEndpoint[address] = slot }
                }
                slotEndpoints.append(endpoints)
                var subsets: [String: [ResolvedEndpoint]] = [:]
                for subset in rule?.subsets ?? [] where subsets[subset.name] == nil {
                    subsets[subset.name] = Self.resolve(slices.filter(subset.selects), port: port)
                }
                slotSubsetEndpoints.append(subsets)
                let attached = routes.filter { route in
                    route.parentRefs.contains { parent in
                        parent.name == service.name && parent.namespace == service.namespace
                            && (parent.port == nil || parent.port == port.port)
                            && (parent.sectionName == nil || parent.sectionName == port.name)
                    }
                }
                slotRouteTable.append(attached.isEmpty ? nil : RouteTable(routes: attached))
            }
        }
        self.slotService = slotService
        self.slotPort = slotPort
        self.slotEndpoints = slotEndpoints
        self.slotSubsetEndpoints = slotSubsetEndpoints
        self.slotRouteTable = slotRouteTable
        slotByDestination = byDestination
        slotByEndpoint = byEndpoint
        slotByServicePort = byServicePort
    }

    /// The Service and port an outbound connection was for, from its original destination
    /// (`SO_ORIGINAL_DST`): one of the Service's cluster IPs and ports. An IPv4-mapped IPv6
    /// destination (`::ffff:10.96.0.10`, from a dual-stack socket) matches the IPv4 cluster IP.
    /// Nil when no Service has that address and port (the connection goes where it was sent).
    /// O(1).
    public func service(forDestination destination: SocketAddress) -> (Service, ServicePort)? {
        guard let slot = slotByDestination[SocketAddress(ip: destination.ip.unmapped, port: destination.port)] else { return nil }
        return entry(slot)
    }

    /// The Service and port whose endpoints include `endpoint` (a pod's address and target
    /// port): what an inbound connection to that address serves. The first Service listed wins
    /// when several select the same pod and port. Nil when none does. O(1).
    public func service(forEndpoint endpoint: SocketAddress) -> (Service, ServicePort)? {
        guard let slot = slotByEndpoint[SocketAddress(ip: endpoint.ip.unmapped, port: endpoint.port)] else { return nil }
        return entry(slot)
    }

    /// The Service and port an HTTP request names in its Host header, in any form Kubernetes
    /// DNS gives a client in `clientNamespace`: `name` (in `clientNamespace`), `name.ns`,
    /// `name.ns.svc` and `name.ns.svc.<clusterDomain>`, with or without a trailing dot,
    /// ignoring ASCII case. `host` must not carry a port: the caller strips `:port` from the
    /// Host header and passes the port (the header's, or the connection's destination port
    /// when the header has none). Nil when no Service of that name has that port. O(length of
    /// `host`), no allocation.
    public func service(forHost host: String, port: UInt16, clientNamespace: String) -> (Service, ServicePort)? {
        var text = Substring(host)
        if text.utf8.last == UInt8(ascii: ".") { text = text.dropLast() }
        guard !text.isEmpty else { return nil }
        let name: Substring
        let namespace: Substring
        if let firstDot = text.utf8.firstIndex(of: UInt8(ascii: ".")) {
            name = text[..<firstDot]
            let afterName = text[text.utf8.index(after: firstDot)...]
            if let secondDot = afterName.utf8.firstIndex(of: UInt8(ascii: ".")) {
                namespace = afterName[..<secondDot]
                let suffix = afterName[afterName.utf8.index(after: secondDot)...]
                guard Self.isServiceSuffix(suffix, clusterDomain: clusterDomain) else { return nil }
            } else {
                namespace = afterName
            }
        } else {
            name = text
            namespace = Substring(clientNamespace)
        }
        guard !name.isEmpty, !namespace.isEmpty,
            let slot = slotByServicePort[ServicePortKey(service: ServiceKey(name: name, namespace: namespace), port: port)]
        else { return nil }
        return entry(slot)
    }

    /// The Service `namespace/name` and its port numbered `port` (a route's backendRef). O(1).
    public func service(named name: String, namespace: String, port: UInt16) -> (Service, ServicePort)? {
        guard let slot = slotByServicePort[ServicePortKey(service: ServiceKey(name: name, namespace: namespace), port: port)] else { return nil }
        return entry(slot)
    }

    /// The endpoints of `port` of `service` (the registry's Service of the same namespace and
    /// name), or of its DestinationRule subset named `subset`: one per address of each endpoint
    /// of the slices that belong to it, at the endpoint port Kubernetes resolves for the
    /// Service port (the slice port of the same name, nil matching the unnamed port; failing
    /// that a numeric `targetPort`; a slice with neither gives none). Endpoints that are not
    /// ready are included, marked. An address and port listed by two slices comes once, ready
    /// if either says so. The order is by address (IPv4 first) then port, the same for equal
    /// snapshots, so balancers built from two of them agree.
    ///
    /// Empty for an unknown Service or port, and for a subset the Service's DestinationRule does
    /// not name (or when it has none). O(1): the array is shared with the registry.
    public func endpoints(of service: Service, port: ServicePort, subset: String? = nil) -> [ResolvedEndpoint] {
        guard let slot = slot(service, port) else { return [] }
        guard let subset else { return slotEndpoints[slot] }
        return slotSubsetEndpoints[slot][subset] ?? []
    }

    /// The route table of `port` of `service`: the HTTPRoutes (oldest first) with a parentRef
    /// naming the Service in its namespace, without a port or with this one (and without a
    /// `sectionName` or with this port's name). Nil when no route attaches, so the request
    /// goes to the Service itself. Consumer routes (in another namespace than the Service's)
    /// are included for every client: this registry does not filter by the client's namespace.
    /// O(1).
    public func routeTable(for service: Service, port: ServicePort) -> RouteTable? {
        guard let slot = slot(service, port) else { return nil }
        return slotRouteTable[slot]
    }

    /// The DestinationRule whose `host` names `service`, if any. O(1).
    public func destinationRule(for service: Service) -> DestinationRule? {
        ruleByService[ServiceKey(name: service.name, namespace: service.namespace)]
    }

    private func slot(_ service: Service, _ port: ServicePort) -> Int? {
        slotByServicePort[ServicePortKey(service: ServiceKey(name: service.name, namespace: service.namespace), port: port.port)]
    }

    private func entry(_ slot: Int) -> (Service, ServicePort) {
        let service = services[slotService[slot]]
        return (service, service.ports[slotPort[slot]])
    }

    // `svc`, `svc.<clusterDomain>`, or nothing, ignoring ASCII case.
    private static func isServiceSuffix(_ suffix: Substring, clusterDomain: String) -> Bool {
        guard let dot = suffix.utf8.firstIndex(of: UInt8(ascii: ".")) else {
            return FoldedName(suffix) == FoldedName("svc")
        }
        let rest = suffix[suffix.utf8.index(after: dot)...]
        return FoldedName(suffix[..<dot]) == FoldedName("svc") && !rest.isEmpty && FoldedName(rest) == FoldedName(Substring(clusterDomain))
    }

    // The endpoints of `slices` at the endpoint port for `port`, merged and sorted.
    private static func resolve(_ slices: [EndpointSlice], port: ServicePort) -> [ResolvedEndpoint] {
        var merged: [SocketAddress: ResolvedEndpoint] = [:]
        for slice in slices {
            let number: UInt16
            // Kubernetes writes each Service port into the slice under the Service port's name
            // (empty for the one unnamed port), with the number its targetPort resolved to.
            if let match = slice.ports.first(where: { $0.name == port.name }) {
                number = match.port
            } else if case .number(let target) = port.targetPort {
                number = target
            } else {
                continue
            }
            for endpoint in slice.endpoints {
                for ip in endpoint.addresses {
                    let address = SocketAddress(ip: ip, port: number)
                    if var known = merged[address] {
                        known.ready = known.ready || endpoint.ready
                        known.zone = known.zone ?? endpoint.zone
                        merged[address] = known
                    } else {
                        merged[address] = ResolvedEndpoint(address: address, ready: endpoint.ready, zone: endpoint.zone)
                    }
                }
            }
        }
        return merged.values.sorted { precedes($0.address, $1.address) }
    }

    private static func precedes(_ a: SocketAddress, _ b: SocketAddress) -> Bool {
        switch (a.ip, b.ip) {
        case (.v4(let x), .v4(let y)) where x != y: return x < y
        case (.v6(let x), .v6(let y)) where x != y: return x < y
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        default: return a.port < b.port
        }
    }
}

// A DNS label or dotted name compared ignoring ASCII case (RFC 4343), without copying it.
// Kubernetes names are lowercase ASCII, so ASCII folding is all a Host header needs.
private struct FoldedName: Hashable, Sendable {
    let text: Substring

    init(_ text: Substring) { self.text = text }
    init(_ text: String) { self.text = Substring(text) }

    private static func fold(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    func hash(into hasher: inout Hasher) {
        for byte in text.utf8 { hasher.combine(Self.fold(byte)) }
        // A byte no UTF-8 text contains ends the name, so (ab, c) and (a, bc) hash apart.
        hasher.combine(UInt8(0xFF))
    }

    static func == (a: FoldedName, b: FoldedName) -> Bool {
        a.text.utf8.count == b.text.utf8.count && a.text.utf8.elementsEqual(b.text.utf8) { fold($0) == fold($1) }
    }
}

private struct ServiceKey: Hashable, Sendable {
    let name: FoldedName
    let namespace: FoldedName

    init(name: Substring, namespace: Substring) {
        self.name = FoldedName(name)
        self.namespace = FoldedName(namespace)
    }

    init(name: String, namespace: String) {
        self.init(name: Substring(name), namespace: Substring(namespace))
    }
}

private struct ServicePortKey: Hashable, Sendable {
    let service: ServiceKey
    let port: UInt16
}
