import Config

/// Loads one source named `a.yaml`.
func load(_ text: String) throws(ConfigErrors) -> Configuration {
    try Configuration.load([ConfigSource(name: "a.yaml", text: text)])
}

/// The diagnostics of loading `sources`, or an empty list if it loaded.
func diagnostics(_ sources: [ConfigSource]) -> [ConfigDiagnostic] {
    do {
        _ = try Configuration.load(sources)
        return []
    } catch {
        return error.diagnostics
    }
}

func diagnostics(_ text: String) -> [ConfigDiagnostic] {
    diagnostics([ConfigSource(name: "a.yaml", text: text)])
}

/// A Sidecar document with `spec` lines appended (each already indented by two spaces), so the first
/// spec line is line 4 of the source.
func sidecar(_ specLines: String...) -> String {
    sidecar(specLines)
}

/// A `spec.identity` line (two-space indent) with valid absolute paths and the default trust domain.
let identityLine = "  identity: {certificateChain: /certs/chain.pem, privateKey: /certs/key.pem, trustBundle: /certs/root.pem}"

/// A Sidecar with an identity (line 4) and `spec.mesh` (line 5), with `meshLines` appended (each
/// already indented by four spaces), so the first mesh line is line 6 of the source.
func meshSidecar(_ meshLines: String...) -> String {
    sidecar([identityLine, "  mesh:"] + meshLines)
}

func sidecar(_ specLines: [String]) -> String {
    (["apiVersion: weft.io/v1", "kind: Sidecar", "spec:"] + specLines).joined(separator: "\n") + "\n"
}

/// A PeerAuthentication named `p` in namespace `shop` with `spec` lines appended (each already
/// indented by two spaces), so the first spec line is line 5 of the source.
func peerAuthentication(_ specLines: String...) -> String {
    (["apiVersion: security.istio.io/v1", "kind: PeerAuthentication", "metadata: {name: p, namespace: shop}", "spec:"] + specLines)
        .joined(separator: "\n") + "\n"
}

/// `plaintext`, `mtls` (no expected identity) or `mtls <SPIFFE id>`, so tables can be written as text.
func text(_ security: OutboundSecurity) -> String {
    switch security {
    case .plaintext: return "plaintext"
    case .mutualTLS(let identity?): return "mtls \(identity)"
    case .mutualTLS(nil): return "mtls"
    }
}
