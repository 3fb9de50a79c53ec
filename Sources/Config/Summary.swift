import Policy

extension Configuration {
    /// What the configuration means for this sidecar's connections, one line per aspect, as
    /// `weft check` prints it under its "ok" line: the identity, outbound mTLS, the inbound mTLS
    /// modes with the PeerAuthentication documents they come from, protocol detection, and the
    /// AuthorizationPolicies that apply (and how many documents of each kind do not apply to
    /// this sidecar, so a policy written for it but never matching stands out).
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
