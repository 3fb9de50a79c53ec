import Policy
import Routing

extension Configuration {
    /// What the configuration means for this sidecar's connections, one line per aspect, as
    /// `weft check` prints it under its "ok" line: the identity, outbound mTLS, the inbound mTLS
    /// modes with the PeerAuthentication documents they come from, protocol detection, and the
    /// AuthorizationPolicies that apply (and how many documents of each kind do not apply to
    /// this sidecar, so a policy written for it but never matching stands out), then one line
    /// for each kind of traffic document given: Services, endpoints, HTTPRoutes, DestinationRules.
    public var summary: [String] {
        var lines: [String] = []
        if let identity = sidecar.identity {
            lines.append("identity: trust domain \(identity.trustDomain); certificate chain \(identity.certificateChain), private key \(identity.privateKey), trust bundle \(identity.trustBundle)")
        } else {
            lines.append("identity: none (no spec.identity), so no mTLS in either direction")
        }

        let mesh = sidecar.mesh
        if mesh.isEmpty {
            lines.append("outbound: plaintext to every destination (no spec.mesh)")
        } else {
            var parts: [String] = []
            if !mesh.cidrs.isEmpty { parts.append(mesh.cidrs.map(\.description).joined(separator: ", ")) }
            if !mesh.destinations.isEmpty {
                let count = mesh.destinations.count
                parts.append("\(count) destination\(count == 1 ? "" : "s") with an expected identity")
            }
            lines.append("outbound: mTLS to \(parts.joined(separator: "; ")); plaintext elsewhere")
        }
        if sidecar.outboundTrafficMode == .registryOnly {
            // Appended only when set, so that the summary of the default (ALLOW_ANY) is unchanged.
            lines[lines.count - 1] += "; REGISTRY_ONLY (spec.outboundTrafficPolicy): connections to destinations other than the configuration's Services are refused"
        }

        let inbound = inboundMTLS
        var modes = inbound.defaultMode.rawValue
        for (port, mode) in inbound.portModes.sorted(by: { $0.key < $1.key }) {
            modes += ", port \(port) \(mode.rawValue)"
        }
        let used = resolvePeerAuthentications(judgeConsequences: false).used.map { peerAuthentications[$0] }
        let source = used.isEmpty
            ? "no PeerAuthentication applies"
            : "from PeerAuthentication " + used.map { "\($0.namespace)/\($0.name ?? "(unnamed)")" }.joined(separator: ", ")
        var line = "inbound: \(modes) (\(source))"
        let others = peerAuthentications.count - used.count
        if others > 0 {
            let labels = sidecar.labels.isEmpty ? "no labels" : "labels \(formatLabels(sidecar.labels))"
            line += "; \(others) PeerAuthentication\(others == 1 ? " is" : "s are") for other workloads (this one: namespace \(sidecar.workloadNamespace), \(labels))"
        }
        lines.append(line)

        lines.append("detection: \(formatDuration(sidecar.detectionTimeout)) for the first bytes; opaque ports \(sidecar.opaquePorts)")
        lines += authorizationSummary
        lines += trafficSummary
        return lines
    }

    /// One line per kind of traffic document, for the kinds given: each Service's addresses and
    /// ports; each Service's ready endpoints; each route's parents and where its rules send
    /// requests (as shares, which is what a canary change is reviewed for) and how it retries;
    /// each DestinationRule's balancer and settings.
    var trafficSummary: [String] {
        var lines: [String] = []
        if !services.isEmpty {
            lines.append("services: " + services.map { service in
                let addresses = service.isHeadless ? "headless" : service.clusterIPs.map(\.description).joined(separator: ", ")
                let ports = service.ports.map { port in port.name.map { "\(port.port) (\($0))" } ?? "\(port.port)" }
                let portText = ports.isEmpty ? "no ports" : "port\(ports.count == 1 ? "" : "s") \(ports.joined(separator: ", "))"
                return "\(service.qualifiedName) \(addresses) \(portText)"
            }.joined(separator: "; "))
        }
        if !endpointSlices.isEmpty {
            var order: [String] = []
            var slices: [String: [EndpointSlice]] = [:]
            for slice in endpointSlices {
                let service = "\(slice.namespace)/\(slice.serviceName)"
                if slices[service] == nil { order.append(service) }
                slices[service, default: []].append(slice)
            }
            lines.append("endpoints: " + order.map { service in
                let group = slices[service]!
                let endpoints = group.flatMap(\.endpoints)
                let ready = endpoints.filter(\.ready).count
                return "\(service) \(ready) of \(endpoints.count) ready in \(group.count) EndpointSlice\(group.count == 1 ? "" : "s")"
            }.joined(separator: "; "))
        }
        if !httpRoutes.isEmpty {
            lines.append("HTTP routes: " + httpRoutes.map { route in
                let parents = route.parentRefs.map { parent in
                    var text = "\(parent.namespace)/\(parent.name)"
                    if let port = parent.port { text += " port \(port)" }
                    if let section = parent.sectionName { text += " port \(section)" }
                    return text
                }
                let rules = route.rules.enumerated().map { index, rule in
                    "rule \(rule.name ?? "\(index)") \(destination(of: rule))" + (rule.retry.map { " (\(retrySummary($0)))" } ?? "")
                }
                return "\(route.qualifiedName) (Service\(parents.count == 1 ? "" : "s") \(parents.joined(separator: ", "))): \(rules.joined(separator: ", "))"
            }.joined(separator: "; "))
        }
        if !destinationRules.isEmpty {
            lines.append("destination rules: " + destinationRules.map { rule in
                let policy = rule.trafficPolicy ?? DestinationRule.TrafficPolicy()
                // Without loadBalancer the proxy balances with Peak EWMA (Routing.EndpointPicker).
                var parts = [policy.loadBalancer.map(balancerName) ?? "Peak EWMA (default)"]
                if policy.connectionPool != nil { parts.append("connection pool") }
                if policy.outlierDetection != nil { parts.append("outlier detection") }
                if !policy.portLevelSettings.isEmpty {
                    let ports = policy.portLevelSettings.map { "\($0.port)" }.joined(separator: ", ")
                    parts.append("own settings for port\(policy.portLevelSettings.count == 1 ? "" : "s") \(ports)")
                }
                if !rule.subsets.isEmpty { parts.append("subsets \(rule.subsets.map(\.name).joined(separator: ", "))") }
                return "\(rule.qualifiedName) for Service \(rule.serviceNamespace)/\(rule.serviceName): \(parts.joined(separator: ", "))"
            }.joined(separator: "; "))
        }
        return lines
    }

    /// The authorization lines: the applicable policies by action, in evaluation order, and
    /// what happens when none matches; the policies for other workloads; and each DENY rule
    /// that would close every non-HTTP connection because it judges only HTTP fields (Istio's
    /// validation warns about the same).
    var authorizationSummary: [String] {
        let applicable = applicableAuthorizationPolicies().map { authorizationPolicies[$0] }
        var line: String
        if applicable.isEmpty {
            line = "authorization: no AuthorizationPolicy applies, so every inbound connection and request is allowed"
        } else {
            var parts: [String] = []
            for action in [AuthorizationPolicy.Action.deny, .allow, .audit] {
                let names = applicable.filter { $0.action == action }.map { policy in
                    policy.rules.isEmpty ? "\(policy.qualifiedName) (no rules: matches nothing)" : policy.qualifiedName
                }
                if !names.isEmpty { parts.append("\(action.rawValue) \(names.joined(separator: ", "))") }
            }
            let fallback = applicable.contains { $0.action == .allow }
                ? "what no ALLOW policy matches is denied"
                : "no ALLOW policy, so what no DENY policy matches is allowed"
            line = "authorization: \(parts.joined(separator: "; ")); \(fallback)"
        }
        let others = authorizationPolicies.count - applicable.count
        if others > 0 {
            let labels = sidecar.labels.isEmpty ? "no labels" : "labels \(formatLabels(sidecar.labels))"
            line += "; \(others) AuthorizationPolic\(others == 1 ? "y is" : "ies are") for other workloads (this one: namespace \(sidecar.workloadNamespace), \(labels))"
        }
        var lines = [line]
        for policy in applicable where policy.action == .deny {
            for (index, rule) in policy.rules.enumerated() where rule.usesHTTPFields && !rule.limitsPorts {
                lines.append("note: \(policy.qualifiedName) rule \(index) judges HTTP fields without `ports`, so it also closes every non-HTTP connection it otherwise matches (as in Istio); add ports to limit it")
            }
        }
        return lines
    }
}

extension AuthorizationRule {
    /// Whether the rule, judged without its HTTP fields, still holds only for some destination
    /// ports: every `to` entry names ports, or a condition does.
    fileprivate var limitsPorts: Bool {
        let byOperation = !to.isEmpty && to.allSatisfy { !$0.ports.isEmpty || !$0.notPorts.isEmpty }
        let byCondition = when.contains { if case .destinationPort = $0 { return true } else { return false } }
        return byOperation || byCondition
    }
}

/// Where a rule sends requests: `to reviews-v1 80% and reviews-v2 20%`, `redirects`, or why every
/// request gets a 500 (the Gateway API's answer when no backend can take it).
private func destination(of rule: HTTPRouteRule) -> String {
    if rule.filters.contains(where: { if case .requestRedirect = $0 { return true } else { return false } }) {
        return "redirects"
    }
    guard !rule.backendRefs.isEmpty else { return "has no backends (500)" }
    let total = rule.backendRefs.reduce(0) { $0 + $1.weight }
    guard total > 0 else { return "has only backends of weight 0 (500)" }
    if rule.backendRefs.count == 1 { return "to \(rule.backendRefs[0].name)" }
    let shares = rule.backendRefs.map { backend in
        // Rounded to a whole percent; weights need not add up to 100.
        "\(backend.name) \((backend.weight * 100 + total / 2) / total)%"
    }
    return "to " + shares.dropLast().joined(separator: ", ") + " and " + shares.last!
}

/// `retry 2 times, backoff 25ms, also on 502, 503`.
private func retrySummary(_ retry: HTTPRouteRetry) -> String {
    var text = "retry \(retry.attempts) time\(retry.attempts == 1 ? "" : "s"), backoff \(formatDuration(retry.backoff))"
    if !retry.codes.isEmpty { text += ", also on \(retry.codes.map(String.init).joined(separator: ", "))" }
    return text
}

/// `LEAST_REQUEST`, or the consistent hash's key and algorithm.
private func balancerName(_ balancer: DestinationRule.LoadBalancer) -> String {
    switch balancer {
    case .roundRobin: return "ROUND_ROBIN"
    case .leastRequest: return "LEAST_REQUEST"
    case .random: return "RANDOM"
    case .consistentHash(let hash):
        let key: String
        switch hash.key {
        case .httpHeaderName(let name): key = "header \(name)"
        case .httpCookie(let name, _, _): key = "cookie \(name)"
        case .sourceIP: key = "source IP"
        case .httpQueryParameterName(let name): key = "query parameter \(name)"
        }
        switch hash.algorithm {
        case .ringHash(let size): return "consistent hash of \(key) (ring of \(size))"
        case .maglev(let size): return "consistent hash of \(key) (Maglev table of \(size))"
        }
    }
}
