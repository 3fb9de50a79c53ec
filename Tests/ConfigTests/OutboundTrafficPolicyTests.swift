import Config
import Testing

@Suite("Sidecar outbound traffic policy")
struct OutboundTrafficPolicyTests {
    @Test("spec.outboundTrafficPolicy.mode is read, ALLOW_ANY by default", arguments: [
        ([], OutboundTrafficMode.allowAny),
        (["  outboundTrafficPolicy: {mode: REGISTRY_ONLY}"], .registryOnly),
        (["  outboundTrafficPolicy:", "    mode: ALLOW_ANY"], .allowAny),
        (["  outboundTrafficPolicy: {}"], .allowAny),
        (["  outboundTrafficPolicy:"], .allowAny),
    ])
    func read(lines: [String], mode: OutboundTrafficMode) throws {
        #expect(try load(sidecar(lines)).sidecar.outboundTrafficMode == mode)
    }

    @Test("Istio's spellings")
    func names() {
        #expect(OutboundTrafficMode.allCases.map(\.rawValue) == ["ALLOW_ANY", "REGISTRY_ONLY"])
        #expect(SidecarConfig.defaults.outboundTrafficMode == .allowAny)
        #expect(SidecarConfig(outboundTrafficMode: .registryOnly).outboundTrafficMode == .registryOnly)
    }

    @Test("weft check says when only the registry can be reached")
    func summary() throws {
        #expect(try load(sidecar("  outboundTrafficPolicy: {mode: REGISTRY_ONLY}")).summary[1]
            == "outbound: plaintext to every destination (no spec.mesh); REGISTRY_ONLY (spec.outboundTrafficPolicy): connections to destinations other than the configuration's Services are refused")
        #expect(try load(sidecar("  outboundTrafficPolicy: {mode: ALLOW_ANY}")).summary == Configuration.defaults.summary)
    }

    @Test("errors in spec.outboundTrafficPolicy", arguments: outboundTrafficErrorCases)
    func invalid(_ errorCase: ErrorCase) {
        errorCase.check()
    }
}

let outboundTrafficErrorCases: [ErrorCase] = [
    ErrorCase("a mode in the wrong case", sidecar("  outboundTrafficPolicy: {mode: registry_only}"),
              (4, 33, "`spec.outboundTrafficPolicy.mode` is \"registry_only\"; it must be one of ALLOW_ANY, REGISTRY_ONLY (did you mean `REGISTRY_ONLY`?)")),
    ErrorCase("a mode Istio does not have", sidecar("  outboundTrafficPolicy: {mode: BLOCK_ALL}"),
              (4, 33, "`spec.outboundTrafficPolicy.mode` is \"BLOCK_ALL\"; it must be one of ALLOW_ANY, REGISTRY_ONLY")),
    ErrorCase("a mode without a value", sidecar("  outboundTrafficPolicy:", "    mode:"),
              (5, 5, "`spec.outboundTrafficPolicy.mode` has no value; write one of ALLOW_ANY, REGISTRY_ONLY, or remove the line to use the default")),
    ErrorCase("a misspelt field", sidecar("  outboundTrafficPolicy: {mod: REGISTRY_ONLY}"),
              (4, 27, "unknown field `spec.outboundTrafficPolicy.mod` (did you mean `mode`?)")),
    ErrorCase("Istio's egress proxy", sidecar("  outboundTrafficPolicy: {egressProxy: {host: egress}}"),
              (4, 27, "unknown field `spec.outboundTrafficPolicy.egressProxy`; `spec.outboundTrafficPolicy` has the fields mode")),
    ErrorCase("the mode without its mapping", sidecar("  outboundTrafficPolicy: REGISTRY_ONLY"),
              (4, 26, "`spec.outboundTrafficPolicy` must be a mapping of field names to values, not `REGISTRY_ONLY`")),
    ErrorCase("a misspelt section", sidecar("  outboundTraficPolicy: {mode: REGISTRY_ONLY}"),
              (4, 3, "unknown field `spec.outboundTraficPolicy` (did you mean `outboundTrafficPolicy`?)")),
]
