import Config
import Testing

/// One invalid configuration and the diagnostics it must produce: position and the message (or the
/// part of it that matters).
struct ErrorCase: CustomTestStringConvertible, Sendable {
    let name: String
    let text: String
    let expected: [(line: Int, column: Int, message: String)]

    init(_ name: String, _ text: String, _ expected: (Int, Int, String)...) {
        self.name = name
        self.text = text
        self.expected = expected.map { (line: $0.0, column: $0.1, message: $0.2) }
    }

    var testDescription: String { name }

    /// Loads `text` as a.yaml and expects exactly these diagnostics, in file order.
    func check(sourceLocation: SourceLocation = #_sourceLocation) {
        let found = diagnostics(text)
        #expect(found.count == expected.count, "\(found)", sourceLocation: sourceLocation)
        for (diagnostic, expected) in zip(found, expected) {
            #expect(diagnostic.file == "a.yaml", sourceLocation: sourceLocation)
            #expect(diagnostic.line == expected.line && diagnostic.column == expected.column, "\(diagnostic)", sourceLocation: sourceLocation)
            #expect(diagnostic.message.contains(expected.message), "\(diagnostic)", sourceLocation: sourceLocation)
        }
    }
}

private let header = "apiVersion: weft.io/v1\nkind: Sidecar\n"

let errorCases: [ErrorCase] = [
    // Fields.
    ErrorCase("unknown field with a suggestion", sidecar("  timeouts:", "    conect: 5s"),
              (5, 5, "unknown field `spec.timeouts.conect` (did you mean `connect`?)")),
    ErrorCase("unknown field differing in case", sidecar("  LogLevel: info"),
              (4, 3, "unknown field `spec.LogLevel` (did you mean `logLevel`?)")),
    ErrorCase("unknown field without a suggestion", sidecar("  frobnicate: 1"),
              (4, 3, "unknown field `spec.frobnicate`; `spec` has the fields workers, logLevel, ports, timeouts, relay, connections, identity, mesh, tls, detection")),
    ErrorCase("unknown top-level field", header + "status: {}\n",
              (3, 1, "unknown field `status`; a document has the fields apiVersion, kind, metadata, spec")),
    ErrorCase("unknown metadata field", header + "metadata:\n  nmae: web\n",
              (4, 3, "unknown field `metadata.nmae` (did you mean `name`?)")),
    ErrorCase("unknown metadata field without a suggestion", header + "metadata:\n  annotations: {}\n",
              (4, 3, "unknown field `metadata.annotations`; `metadata` has the fields name, namespace, labels")),
    ErrorCase("a key that is not a name", sidecar("  [a, b]: 1"),
              (4, 3, "a key must be a field name, not a list")),
    ErrorCase("duplicate key", sidecar("  workers: 1", "  logLevel: info", "  workers: 2"),
              (6, 3, "duplicate key `workers`, first given at line 4; a key may appear once in a mapping, so remove one of them")),
    ErrorCase("duplicate key in a flow mapping", sidecar("  ports: {inbound: 1, inbound: 2}"),
              (4, 11, "duplicate key `inbound`; a key may appear once in a mapping, so remove the repetition")),

    // Document header.
    ErrorCase("unsupported kind", "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n",
              (2, 7, "unsupported kind `Gateway`; Weft reads Sidecar (weft.io/v1), PeerAuthentication (security.istio.io/v1)")),
    ErrorCase("misspelt kind", "apiVersion: weft.io/v1\nkind: Sidecr\n",
              (2, 7, "unsupported kind `Sidecr` (did you mean `Sidecar`?); Weft reads Sidecar (weft.io/v1), PeerAuthentication (security.istio.io/v1)")),
    ErrorCase("wrong apiVersion", "apiVersion: weft.io/v2\nkind: Sidecar\n",
              (1, 13, "unsupported apiVersion `weft.io/v2` for kind Sidecar; write `apiVersion: weft.io/v1`")),
    ErrorCase("missing apiVersion", "kind: Sidecar\nspec: {}\n",
              (1, 1, "the document has no `apiVersion`")),
    ErrorCase("missing kind", "# a comment\napiVersion: weft.io/v1\n",
              (2, 1, "the document has no `kind`")),
    ErrorCase("kind is not a string", "apiVersion: weft.io/v1\nkind: 3\n",
              (2, 7, "`kind` must be a kind such as Sidecar, not `3`; if you mean the text, quote it: \"3\"")),
    ErrorCase("document is a list", "- apiVersion: weft.io/v1\n",
              (1, 1, "a configuration document must be a mapping of field names to values (starting with `apiVersion:` and `kind:`), not a list")),
    ErrorCase("document is a word", "hello\n",
              (1, 1, "a configuration document must be a mapping of field names to values (starting with `apiVersion:` and `kind:`), not `hello`")),
    ErrorCase("spec is a list", header + "spec:\n  - workers\n",
              (4, 3, "`spec` must be a mapping of field names to values, not a list")),
    ErrorCase("a section is a string", sidecar("  timeouts: 5s"),
              (4, 13, "`spec.timeouts` must be a mapping of field names to values, not `5s`")),
    ErrorCase("invalid name", header + "metadata: {name: Web_1}\n",
              (3, 18, "`metadata.name` \"Web_1\" is not a valid name")),
    ErrorCase("name is a number", header + "metadata: {name: 123}\n",
              (3, 18, "`metadata.name` must be a name such as web, not `123`; if you mean the text, quote it: \"123\"")),
    ErrorCase("namespace too long", header + "metadata: {namespace: \(String(repeating: "a", count: 64))}\n",
              (3, 23, "is not a valid namespace; use at most 63 lowercase letters")),

    // Integers.
    ErrorCase("integer is a word", sidecar("  workers: two"),
              (4, 12, "`spec.workers` must be an integer from 0 to 1024 (0 means one per CPU), not `two`")),
    ErrorCase("integer is quoted", sidecar("  workers: \"2\""),
              (4, 12, "`spec.workers` must be an integer from 0 to 1024 (0 means one per CPU), not the quoted string \"2\"; remove the quotes")),
    ErrorCase("integer too large", sidecar("  workers: 2000"),
              (4, 12, "`spec.workers` is 2000; it must be an integer from 0 to 1024 (0 means one per CPU)")),
    ErrorCase("integer negative", sidecar("  connections:", "    maxPerWorker: -5"),
              (5, 19, "`spec.connections.maxPerWorker` is -5; it must be an integer from 0 to 1000000 (0 means no limit)")),
    ErrorCase("integer beyond Int", sidecar("  workers: 99999999999999999999999"),
              (4, 12, "`spec.workers` is 99999999999999999999999; it must be an integer from 0 to 1024")),
    ErrorCase("integer is a fraction", sidecar("  workers: 1.5"), (4, 12, "not `1.5`")),
    ErrorCase("integer is a list", sidecar("  workers: [1]"), (4, 12, "not a list")),
    ErrorCase("integer is a mapping", sidecar("  workers: {a: 1}"), (4, 12, "not a mapping")),
    ErrorCase("integer has no value", sidecar("  workers:"),
              (4, 3, "`spec.workers` has no value; write an integer from 0 to 1024 (0 means one per CPU), or remove the line to use the default")),
    ErrorCase("too many pipes", sidecar("  relay:", "    maxPipesPerWorker: 1000001"),
              (5, 24, "`spec.relay.maxPipesPerWorker` is 1000001; it must be an integer from 0 to 1000000 (0 disables splice)")),

    // Choices.
    ErrorCase("log level prefix", sidecar("  logLevel: warn"),
              (4, 13, "`spec.logLevel` is \"warn\"; it must be one of trace, debug, info, notice, warning, error, critical (did you mean `warning`?)")),
    ErrorCase("log level unknown", sidecar("  logLevel: verbose"),
              (4, 13, "`spec.logLevel` is \"verbose\"; it must be one of trace, debug, info, notice, warning, error, critical")),
    ErrorCase("log level that YAML reads as a boolean", sidecar("  logLevel: off"),
              (4, 13, "`spec.logLevel` is \"off\"; it must be one of")),

    // Ports.
    ErrorCase("port zero", sidecar("  ports:", "    outbound: 0"),
              (5, 15, "`spec.ports.outbound` is 0; it must be an integer from 1 to 65535")),
    ErrorCase("port too large", sidecar("  ports:", "    inbound: 65536"),
              (5, 14, "`spec.ports.inbound` is 65536; it must be an integer from 1 to 65535")),
    ErrorCase("outbound equals the default inbound", sidecar("  ports:", "    outbound: 15006"),
              (5, 15, "`spec.ports.outbound` is 15006, the same as `spec.ports.inbound` (its default); the outbound and inbound capture ports must differ")),
    ErrorCase("both ports the same", sidecar("  ports:", "    outbound: 16000", "    inbound: 16000"),
              (6, 14, "`spec.ports.inbound` is 16000, the same as `spec.ports.outbound`; the outbound and inbound capture ports must differ")),
    ErrorCase("reserved port", sidecar("  ports:", "    inbound: 15021"),
              (5, 14, "`spec.ports.inbound` is 15021, which Weft reserves for the kubelet's health checks; choose another port")),

    // Durations.
    ErrorCase("duration without a unit", sidecar("  timeouts:", "    connect: 5"),
              (5, 14, "`spec.timeouts.connect`: \"5\" has no unit; write 5s for seconds (units: ns, us, µs, ms, s, m, h)")),
    ErrorCase("zero connect timeout", sidecar("  timeouts:", "    connect: 0s"),
              (5, 14, "`spec.timeouts.connect` is 0s; it must be longer than 0s, such as 5s")),
    ErrorCase("zero idle timeout", sidecar("  timeouts:", "    idle: 0ms"),
              (5, 11, "`spec.timeouts.idle` is 0ms; it must be longer than 0s")),
    ErrorCase("drainDuration beyond the drain deadline", sidecar("  timeouts:", "    drain: 3s", "    drainDuration: 10s"),
              (6, 20, "`spec.timeouts.drainDuration` is 10s, longer than `spec.timeouts.drain` (3s), which ends every drain; make it at most 3s")),
    ErrorCase("negative drain", sidecar("  timeouts:", "    drain: -1s"),
              (5, 12, "`spec.timeouts.drain`: \"-1s\" is negative; a duration must be 0s or more")),
    ErrorCase("unknown duration unit", sidecar("  timeouts:", "    idle: 1day"),
              (5, 11, "`spec.timeouts.idle`: \"1day\" has the unknown unit \"day\"; units are ns, us, µs, ms, s, m, h")),
    ErrorCase("duration is a list", sidecar("  timeouts:", "    idle: [1s]"),
              (5, 11, "`spec.timeouts.idle` must be a duration longer than 0s, such as 5s or 1m30s, not a list")),

    // Sizes.
    ErrorCase("pipe too large", sidecar("  relay:", "    pipeSize: 2Mi"),
              (5, 15, "`spec.relay.pipeSize` is 2Mi (2097152 bytes); it must be from 4Ki to 1Mi (1Mi is the kernel's default pipe-max-size)")),
    ErrorCase("pipe too small", sidecar("  relay:", "    pipeSize: 1000"),
              (5, 15, "`spec.relay.pipeSize` is 1000 (1000 bytes); it must be from 4Ki to 1Mi")),
    ErrorCase("decimal size suffix", sidecar("  relay:", "    bufferSize: 64KB"),
              (5, 17, "`spec.relay.bufferSize`: \"64KB\" has the unknown suffix \"KB\"; write whole bytes, or use Ki, Mi or Gi (powers of 1024)")),
    ErrorCase("buffer too large", sidecar("  relay:", "    bufferSize: 1Gi"),
              (5, 17, "`spec.relay.bufferSize` is 1Gi (1073741824 bytes); it must be from 4Ki to 16Mi")),

    // YAML itself.
    ErrorCase("unclosed flow sequence", sidecar("  workers: [1, 2", "  logLevel: info"),
              (5, 11, "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 4, column 12)")),
    ErrorCase("bad indentation", header + "spec:\n  workers: 1\n logLevel: info\n",
              (5, 2, "invalid YAML: ")),
    ErrorCase("tab indentation", header + "spec:\n\tworkers: 1\n",
              (4, 1, "this line is indented with a tab, and YAML indentation must use spaces")),
    ErrorCase("alias", sidecar("  workers: *count"),
              (4, 12, "YAML alias `*count` is not supported")),
    ErrorCase("control character", header + "metadata: {name: a\u{01}b}\n",
              (3, 19, "cannot read YAML: control characters are not allowed (U+1); configuration must be printable UTF-8 text")),
]

@Suite("Configuration errors")
struct ConfigErrorTests {
    @Test("each invalid configuration gives its diagnostics", arguments: errorCases)
    func invalid(_ errorCase: ErrorCase) {
        errorCase.check()
    }

    @Test("every problem is reported, in file order")
    func collectsAll() {
        let text = sidecar(
            "  workers: many",          // 4
            "  ports:",                 // 5
            "    outbound: 99999",      // 6
            "  timeouts:",              // 7
            "    conect: 5s",           // 8
            "    idle: forever",        // 9
            "  relay: {pipeSize: 3Gi}"  // 10
        )
        let found = diagnostics(text)
        #expect(found.map { "\($0.line):\($0.column)" } == ["4:12", "6:15", "8:5", "9:11", "10:21"])
    }

    @Test("the unknown field message reads exactly as documented")
    func unknownFieldExactly() {
        let found = diagnostics(sidecar("  timeouts:", "    conect: 5s"))
        #expect(found.map(\.description) == ["a.yaml:5:5: unknown field `spec.timeouts.conect` (did you mean `connect`?)"])
    }

    @Test("values in messages stay on one line and are cut when long")
    func valuesInMessages() {
        let multiline = diagnostics(sidecar("  logLevel: \"in\\nfo\\u0000\""))
        #expect(multiline.map(\.message) == [
            "`spec.logLevel` is \"in\\nfo\\u{0}\"; it must be one of trace, debug, info, notice, warning, error, critical",
        ])
        let long = diagnostics(sidecar("  workers: " + String(repeating: "9", count: 100)))
        #expect(long.map(\.message) == [
            "`spec.workers` is \(String(repeating: "9", count: 60))…; it must be an integer from 0 to 1024 (0 means one per CPU)",
        ])
    }

    @Test("a second Sidecar is refused, in the same source or another")
    func twoSidecars() {
        let one = ConfigSource(name: "one.yaml", text: header + "spec: {workers: 1}\n---\n" + header)
        #expect(diagnostics([one]).map(\.description) == [
            "one.yaml:6:7: a second Sidecar document; a configuration has at most one (the first is at one.yaml:1:1), so merge them",
        ])
        let two = ConfigSource(name: "two.yaml", text: "# second\n" + header)
        #expect(diagnostics([ConfigSource(name: "one.yaml", text: header), two]).map(\.description) == [
            "two.yaml:3:7: a second Sidecar document; a configuration has at most one (the first is at one.yaml:1:1), so merge them",
        ])
    }

    @Test("a second Sidecar's own mistakes are reported as well")
    func secondSidecarIsChecked() {
        let text = header + "---\n" + header + "spec: {workers: -1}\n"
        #expect(diagnostics(text).map { "\($0.line):\($0.column)" } == ["5:7", "6:17"])
    }

    @Test("errors in several sources keep source order and name their files")
    func severalSources() {
        let found = diagnostics([
            ConfigSource(name: "b.yaml", text: sidecar("  workers: x")),
            ConfigSource(name: "a.yaml", text: "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"),
        ])
        #expect(found.map { "\($0.file):\($0.line)" } == ["b.yaml:4", "a.yaml:2"])
    }

    @Test("documents before a YAML error are still checked")
    func errorsBeforeSyntaxError() {
        let text = "apiVersion: weft.io/v1\nkind: Sidecr\n---\nkind: [\n"
        let found = diagnostics(text)
        #expect(found.count == 2)
        #expect(found.first?.message.hasPrefix("unsupported kind `Sidecr`") == true)
        #expect(found.last?.message.hasPrefix("invalid YAML") == true)
    }

    @Test("an unknown kind does not hide the other documents' errors")
    func unknownKindAmongOthers() {
        let text = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n---\n" + sidecar("  workers: x")
        #expect(diagnostics(text).map { "\($0.line):\($0.column)" } == ["2:7", "7:12"])
    }
}
