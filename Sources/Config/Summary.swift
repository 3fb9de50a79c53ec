extension Configuration {
    /// What the configuration means for this sidecar's connections, one line per aspect, as
    /// `weft check` prints it under its "ok" line: the identity, outbound mTLS, and the inbound
    /// mTLS modes with the PeerAuthentication documents they come from (and how many do not
    /// apply to this sidecar, so a policy written for it but never matching stands out).
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
        return lines
    }
}
