import YAML

/// What the proxy accepts on an inbound connection.
public enum MTLSMode: String, Sendable, CaseIterable {
    /// Plaintext only: a TLS ClientHello is relayed to the application as it is.
    case disable = "DISABLE"
    /// mTLS or plaintext, told apart by the first bytes.
    case permissive = "PERMISSIVE"
    /// mTLS only; a plaintext connection is refused.
    case strict = "STRICT"
}

/// One Istio `PeerAuthentication` document (security.istio.io/v1 or v1beta1): the mTLS mode for
/// the workloads it selects. Weft reads the subset `selector.matchLabels`, `mtls.mode` and
/// `portLevelMtls`, with Istio's meaning.
public struct PeerAuthentication: Sendable, Equatable, CustomStringConvertible {
    /// `mtls.mode` as written; `unset` inherits the mode of the level above.
    public enum Mode: String, Sendable, CaseIterable {
        case unset = "UNSET"
        case disable = "DISABLE"
        case permissive = "PERMISSIVE"
        case strict = "STRICT"

        /// The mode it sets, or nil for `unset`.
        public var mtlsMode: MTLSMode? {
            switch self {
            case .unset: return nil
            case .disable: return .disable
            case .permissive: return .permissive
            case .strict: return .strict
            }
        }
    }

    /// How much of the mesh a policy covers; the narrowest level that sets a mode wins.
    public enum Scope: Sendable, Equatable {
        /// In the root namespace without a selector: every workload of the mesh.
        case mesh
        /// In another namespace without a selector: every workload of that namespace.
        case namespace
        /// With a selector: the workloads of its namespace whose labels include the selector's.
        case workload
    }

    /// Istio's default root namespace, whose selector-less policies cover the whole mesh.
    public static let rootNamespace = "istio-system"

    /// `metadata.name`, if given.
    public var name: String?
    /// `metadata.namespace`, `default` when not given (as kubectl applies it).
    public var namespace: String
    /// `selector.matchLabels`; empty selects every workload of the namespace, as in Istio.
    public var selector: [String: String]
    /// `mtls.mode`; `unset` when not given.
    public var mode: Mode
    /// `portLevelMtls`, by port; Istio allows it only with a selector.
    public var portModes: [UInt16: Mode]
    /// Where the document starts.
    public var position: ConfigPosition

    /// A policy with the given values; not validated here, `Configuration.load` validates what it reads.
    public init(
        name: String? = nil, namespace: String = "default", selector: [String: String] = [:],
        mode: Mode = .unset, portModes: [UInt16: Mode] = [:], position: ConfigPosition
    ) {
        self.name = name
        self.namespace = namespace
        self.selector = selector
        self.mode = mode
        self.portModes = portModes
        self.position = position
    }

    /// The level of the mesh the policy covers.
    public var scope: Scope {
        if !selector.isEmpty { return .workload }
        return namespace == Self.rootNamespace ? .mesh : .namespace
    }

    /// Whether the policy covers a workload in `namespace` with `labels`. As in Istio, a policy
    /// in the root namespace with a selector covers nothing: workload policies belong in the
    /// workload's own namespace.
    public func applies(toNamespace workloadNamespace: String, labels: [String: String]) -> Bool {
        switch scope {
        case .mesh: return true
        case .namespace: return namespace == workloadNamespace
        case .workload:
            guard namespace == workloadNamespace, namespace != Self.rootNamespace else { return false }
            return selector.allSatisfy { labels[$0.key] == $0.value }
        }
    }

    /// `PeerAuthentication shop/default`, or `PeerAuthentication shop/(unnamed)`.
    public var description: String { "PeerAuthentication \(namespace)/\(name ?? "(unnamed)")" }
}

/// The inbound mTLS mode of every port, resolved for one sidecar: a default and the ports that
/// differ from it, sorted so that `mode(port:)` is a binary search that allocates nothing.
public struct InboundMTLS: Sendable, Equatable {
    /// The mode of every port not in `portModes`.
    public let defaultMode: MTLSMode
    private let ports: [UInt16]
    private let modes: [MTLSMode]

    /// `defaultMode` everywhere except the ports of `portModes`.
    public init(defaultMode: MTLSMode, portModes: [UInt16: MTLSMode] = [:]) {
        self.defaultMode = defaultMode
        let sorted = portModes.sorted { $0.key < $1.key }
        ports = sorted.map(\.key)
        modes = sorted.map(\.value)
    }

    /// PERMISSIVE on every port: Istio's mode when no policy applies.
    public static let permissive = InboundMTLS(defaultMode: .permissive)

    /// The ports whose mode was set by a port-level policy.
    public var portModes: [UInt16: MTLSMode] { Dictionary(uniqueKeysWithValues: zip(ports, modes)) }

    /// The mode for a connection whose original destination port is `port`.
    public func mode(port: UInt16) -> MTLSMode {
        var low = 0
        var high = ports.count
        while low < high {
            let middle = low + (high - low) / 2
            if ports[middle] < port { low = middle + 1 } else { high = middle }
        }
        return low < ports.count && ports[low] == port ? modes[low] : defaultMode
    }
}

/// Reads `kind: PeerAuthentication`.
enum PeerAuthenticationDocument: DocumentKind {
    static let apiVersions = ["security.istio.io/v1", "security.istio.io/v1beta1"]
    static let kind = "PeerAuthentication"

    private static let specFields = ["selector", "mtls", "portLevelMtls"]

    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader) {
        var policy = PeerAuthentication(name: document.name, namespace: document.namespace ?? "default", position: document.position)
        if let spec = document.spec, let fields = reader.mapping(spec.value, path: spec.path, known: specFields) {
            if let selector = fields["selector"],
               let selectorFields = reader.mapping(selector.value, path: selector.path, known: ["matchLabels"]),
               let matchLabels = selectorFields["matchLabels"], let labels = reader.labels(matchLabels) {
                policy.selector = labels
            }
            if let mtls = fields["mtls"] {
                policy.mode = readMode(mtls, reader: &reader) ?? .unset
            }
            if let ports = fields["portLevelMtls"] {
                policy.portModes = readPortModes(ports, reader: &reader)
                // Istio's validation refuses this too: port-level modes belong to one workload's
                // ports, and a namespace or the mesh has no ports of its own.
                if policy.selector.isEmpty, !isNull(ports.value) {
                    reader.report("`spec.portLevelMtls` needs `spec.selector.matchLabels`: Istio applies port-level modes only in a policy that selects workloads, not in a namespace-wide or mesh-wide one; add a selector, or move the ports to a policy that has one", at: ports.key)
                }
            }
        }
        // A policy with mistakes (the reader holds this document's only) is left out of the
        // resolution: half of a selector could make it namespace-wide and produce errors about
        // policies that are fine.
        if reader.diagnostics.isEmpty {
            configuration.peerAuthentications.append(policy)
        }
    }

    /// `mtls` or a `portLevelMtls` entry: `{mode: ...}`, where null or no mode means UNSET.
    private static func readMode(_ field: Field, reader: inout DocumentReader) -> PeerAuthentication.Mode? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["mode"]) else { return nil }
        guard let mode = fields["mode"] else { return .unset }
        return reader.choice(mode, of: PeerAuthentication.Mode.self)
    }

    private static func readPortModes(_ field: Field, reader: inout DocumentReader) -> [UInt16: PeerAuthentication.Mode] {
        let allowed = "a mapping of port numbers to mTLS settings, such as {8080: {mode: PERMISSIVE}}"
        guard let entries = reader.entries(field, of: allowed) else { return [:] }
        if entries.isEmpty, !isNull(field.value) {
            reader.report("`\(field.path)` is empty; when it is given Istio requires at least one port, so list one or remove the field", at: field.value)
        }
        var modes: [UInt16: PeerAuthentication.Mode] = [:]
        var firstLine: [UInt16: Int] = [:]
        for (key, entry) in entries {
            guard let port = portKey(key) else {
                reader.report("`\(field.path)` has the key \(quoted(key)), which is not a port; its keys are port numbers from 1 to 65535, such as 8080", at: entry.key)
                continue
            }
            // YAML sees `8080` and `"8080"` as different keys; they are the same port.
            if let line = firstLine[port] {
                reader.report("port \(port) appears twice in `\(field.path)` (first at line \(line)); a port may appear once, so remove one", at: entry.key)
                continue
            }
            firstLine[port] = reader.position(of: entry.key).line
            let named = Field(path: "\(field.path)[\(port)]", key: entry.key, value: entry.value)
            if let mode = readMode(named, reader: &reader) { modes[port] = mode }
        }
        return modes
    }

    /// A port written as a key, as YAML's integer or a string (Istio's map keys are numbers, but
    /// JSON and many YAML writers quote them): decimal digits without a leading zero, 1...65535.
    private static func portKey(_ text: String) -> UInt16? {
        guard let first = text.utf8.first, first != UInt8(ascii: "0"), text.utf8.count <= 5,
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = Int(text), value <= 65535 else { return nil }
        return UInt16(value)
    }
}

/// The outcome of resolving the PeerAuthentication documents for the sidecar.
struct PeerAuthenticationResolution {
    /// The mode of every inbound port.
    var inbound: InboundMTLS
    /// Ambiguous policies, and a STRICT mode the sidecar cannot serve.
    var diagnostics: [ConfigDiagnostic]
    /// The indices (in `peerAuthentications`) of the policy used at each level that has one,
    /// widest first.
    var used: [Int]
}

extension Configuration {
    /// The indices of the policies that apply to the sidecar, by level, in reading order.
    func applicablePeerAuthentications() -> (mesh: [Int], namespace: [Int], workload: [Int]) {
        var levels: (mesh: [Int], namespace: [Int], workload: [Int]) = ([], [], [])
        let namespace = sidecar.workloadNamespace
        for (index, policy) in peerAuthentications.enumerated()
        where policy.applies(toNamespace: namespace, labels: sidecar.labels) {
            switch policy.scope {
            case .mesh: levels.mesh.append(index)
            case .namespace: levels.namespace.append(index)
            case .workload: levels.workload.append(index)
            }
        }
        return levels
    }

    /// Resolves the inbound mode as Istio's `ComposePeerAuthentication` does: start PERMISSIVE;
    /// the mesh-level, then the namespace-level, then the workload-level policy each replace the
    /// mode unless they leave it UNSET; then the workload policy's port-level modes, where UNSET
    /// takes the mode resolved so far. Where Istio would pick the oldest of several policies at
    /// one level, files carry no creation time, so that is reported as ambiguous (the first is
    /// used to resolve). With `judgeConsequences`, a STRICT mode without `sidecar.identity` is
    /// reported as well: the proxy would have no certificate to accept mTLS with.
    func resolvePeerAuthentications(judgeConsequences: Bool) -> PeerAuthenticationResolution {
        let levels = applicablePeerAuthentications()
        var diagnostics: [ConfigDiagnostic] = []
        let scopeText = "namespace \(sidecar.workloadNamespace)" + (sidecar.labels.isEmpty ? "" : ", labels \(formatLabels(sidecar.labels))")
        let what = [
            "mesh-wide policy (namespace \(PeerAuthentication.rootNamespace), no selector)",
            "namespace-wide policy for namespace \(sidecar.workloadNamespace) (no selector)",
            "policy selecting this sidecar (\(scopeText))",
        ]
        for (level, indices) in [levels.mesh, levels.namespace, levels.workload].enumerated() {
            guard let first = indices.first else { continue }
            let firstPolicy = peerAuthentications[first]
            for index in indices.dropFirst() {
                let policy = peerAuthentications[index]
                let others = level == 2 ? ", or make their selectors select different workloads" : ""
                diagnostics.append(ConfigDiagnostic(at: policy.position, "\(policy) is a second \(what[level]), besides \(firstPolicy) at \(firstPolicy.position); Istio would apply the older of the two, which files cannot show, so keep one of them\(others)"))
            }
        }

        var mode = MTLSMode.permissive
        var decidedBy: Int?
        let used = [levels.mesh.first, levels.namespace.first, levels.workload.first].compactMap { $0 }
        for index in used {
            if let set = peerAuthentications[index].mode.mtlsMode {
                mode = set
                decidedBy = index
            }
        }
        var portModes: [UInt16: MTLSMode] = [:]
        if let workload = levels.workload.first {
            for (port, portMode) in peerAuthentications[workload].portModes {
                portModes[port] = portMode.mtlsMode ?? mode
            }
        }

        if judgeConsequences, diagnostics.isEmpty, sidecar.identity == nil {
            let sidecarText = "for this sidecar (\(scopeText)), which has no spec.identity to accept mTLS with"
            let remedy = "give the Sidecar a spec.identity, or choose PERMISSIVE or DISABLE"
            if mode == .strict, let decidedBy {
                let policy = peerAuthentications[decidedBy]
                diagnostics.append(ConfigDiagnostic(at: policy.position, "\(policy) sets mTLS mode STRICT \(sidecarText), so every inbound connection would be refused; \(remedy)"))
            }
            if let workload = levels.workload.first {
                let strictPorts = peerAuthentications[workload].portModes.filter { $0.value == .strict }.keys.sorted()
                if !strictPorts.isEmpty {
                    let policy = peerAuthentications[workload]
                    let list = strictPorts.map { "\($0)" }.joined(separator: ", ")
                    diagnostics.append(ConfigDiagnostic(at: policy.position, "\(policy) sets mTLS mode STRICT on port\(strictPorts.count == 1 ? "" : "s") \(list) \(sidecarText), so connections to \(strictPorts.count == 1 ? "it" : "them") would be refused; \(remedy)"))
                }
            }
        }
        return PeerAuthenticationResolution(
            inbound: InboundMTLS(defaultMode: mode, portModes: portModes), diagnostics: diagnostics, used: used
        )
    }
}
