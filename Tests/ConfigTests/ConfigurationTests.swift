import Config
import Testing

@Suite("Loading configuration")
struct ConfigurationTests {
    @Test("no documents yields the defaults", arguments: [
        "", "\n", "# only a comment\n", "---\n", "---\n---\n", "--- ~\n", "---\n...\n",
    ])
    func emptyInputYieldsDefaults(text: String) throws {
        let configuration = try load(text)
        #expect(configuration == .defaults)
        #expect(configuration.resources.isEmpty)
    }

    @Test("no sources at all yields the defaults")
    func noSources() throws {
        #expect(try Configuration.load([]) == .defaults)
    }

    @Test("the defaults are DESIGN.md's")
    func defaults() {
        let d = SidecarConfig.defaults
        #expect(d.workers == 0)
        #expect(d.logLevel == .info)
        #expect(d.outboundPort == 15001)
        #expect(d.inboundPort == 15006)
        #expect(d.connectTimeout == .seconds(5))
        #expect(d.idleTimeout == .seconds(3600))
        #expect(d.drainTimeout == .seconds(30))
        #expect(d.pipeSize == 262_144)
        #expect(d.bufferSize == 65_536)
        #expect(d.maxPipesPerWorker == 1024)
        #expect(d.maxConnectionsPerWorker == 0)
        #expect(d.name == nil)
        #expect(d.namespace == nil)
        #expect(d.healthPort == 15021)
        #expect(d.metricsPort == 15090)
        #expect(d.tlsHandshakeTimeout == .seconds(10))
        #expect(d.detectionTimeout == .milliseconds(300))
        #expect(d.opaquePorts == SidecarConfig.defaultOpaquePorts)
        #expect(d.labels.isEmpty)
        #expect(d.identity == nil)
        #expect(d.mesh == .none)
        #expect(d.mesh.isEmpty)
        #expect(Configuration.defaults.sidecar == d)
        #expect(Configuration.defaults.peerAuthentications.isEmpty)
        #expect(Configuration.defaults.inboundMTLS == .permissive)
    }

    @Test("every Sidecar field is read")
    func everyField() throws {
        let text = """
            apiVersion: weft.io/v1
            kind: Sidecar
            metadata:
              name: web
              namespace: shop
            spec:
              workers: 3
              logLevel: debug
              ports:
                outbound: 16001
                inbound: 16006
              timeouts:
                connect: 300ms
                idle: 2h45m
                drain: 0s
              relay:
                pipeSize: 1Mi
                bufferSize: 16Mi
                maxPipesPerWorker: 0
              connections:
                maxPerWorker: 5000

            """
        let configuration = try load(text)
        let expected = SidecarConfig(
            workers: 3, logLevel: .debug, outboundPort: 16001, inboundPort: 16006,
            connectTimeout: .milliseconds(300), idleTimeout: .seconds(2 * 3600 + 45 * 60), drainTimeout: .zero, drainDuration: .zero,
            pipeSize: 1 << 20, bufferSize: 16 << 20, maxPipesPerWorker: 0, maxConnectionsPerWorker: 5000,
            name: "web", namespace: "shop"
        )
        #expect(configuration.sidecar == expected)
        #expect(configuration.resources == [
            ConfigResource(apiVersion: "weft.io/v1", kind: "Sidecar", name: "web", namespace: "shop",
                           position: ConfigPosition(file: "a.yaml", line: 1, column: 1)),
        ])
        #expect(configuration.resources.first?.description == "Sidecar shop/web")
    }

    @Test("fields left out keep their defaults")
    func partialSpec() throws {
        let configuration = try load(sidecar("  timeouts:", "    idle: 90s", "  relay:", "    pipeSize: 65536"))
        var expected = SidecarConfig.defaults
        expected.idleTimeout = .seconds(90)
        expected.pipeSize = 65536
        #expect(configuration.sidecar == expected)
    }

    @Test("drainDuration: explicit, clamped to a shorter drain deadline when left out")
    func drainDuration() throws {
        #expect(SidecarConfig.defaults.drainDuration == .seconds(5))
        let explicit = try load(sidecar("  timeouts: {drain: 20s, drainDuration: 2s}")).sidecar
        #expect(explicit.drainTimeout == .seconds(20) && explicit.drainDuration == .seconds(2))
        let clamped = try load(sidecar("  timeouts: {drain: 1s}")).sidecar
        #expect(clamped.drainTimeout == .seconds(1) && clamped.drainDuration == .seconds(1))
    }

    @Test("a null or empty section counts as empty", arguments: ["spec:\n", "spec: ~\n", "spec: {}\n", "spec:\n  ports:\n  timeouts: null\n"])
    func emptySections(tail: String) throws {
        let configuration = try load("apiVersion: weft.io/v1\nkind: Sidecar\n" + tail)
        #expect(configuration.sidecar == .defaults)
        #expect(configuration.resources.map(\.description) == ["Sidecar (unnamed)"])
    }

    @Test("every log level is accepted", arguments: LogLevel.allCases)
    func logLevels(level: LogLevel) throws {
        #expect(try load(sidecar("  logLevel: \(level.rawValue)")).sidecar.logLevel == level)
    }

    @Test("log levels are ordered from trace to critical")
    func logLevelOrder() {
        #expect(LogLevel.allCases.sorted() == [.trace, .debug, .info, .notice, .warning, .error, .critical])
        #expect(LogLevel.debug < .warning)
    }

    @Test("boundary values are accepted")
    func boundaries() throws {
        let low = try load(sidecar(
            "  workers: 0", "  ports: {outbound: 1, inbound: 65535}",
            "  timeouts: {connect: 1ns, idle: 1ns, drain: 0s}",
            "  relay: {pipeSize: 4096, bufferSize: 4Ki, maxPipesPerWorker: 0}", "  connections: {maxPerWorker: 0}"
        )).sidecar
        #expect(low == SidecarConfig(
            workers: 0, outboundPort: 1, inboundPort: 65535, connectTimeout: .nanoseconds(1), idleTimeout: .nanoseconds(1),
            drainTimeout: .zero, drainDuration: .zero, pipeSize: 4096, bufferSize: 4096, maxPipesPerWorker: 0, maxConnectionsPerWorker: 0
        ))
        let high = try load(sidecar(
            "  workers: 1024", "  relay: {pipeSize: 1048576, bufferSize: 16777216, maxPipesPerWorker: 1000000}",
            "  connections: {maxPerWorker: 1000000}"
        )).sidecar
        #expect(high.workers == 1024)
        #expect(high.pipeSize == 1_048_576)
        #expect(high.bufferSize == 16_777_216)
        #expect(high.maxPipesPerWorker == 1_000_000)
        #expect(high.maxConnectionsPerWorker == 1_000_000)
    }

    @Test("documents across sources and `---` are all read")
    func multipleDocuments() throws {
        let first = ConfigSource(name: "00-empty.yaml", text: "# nothing yet\n---\n")
        let second = ConfigSource(name: "10-sidecar.yaml", text: """
            ---
            # the proxy
            apiVersion: weft.io/v1
            kind: Sidecar
            metadata: {name: web}
            spec: {workers: 4}
            ---

            """)
        let configuration = try Configuration.load([first, second])
        #expect(configuration.sidecar.workers == 4)
        #expect(configuration.sidecar.name == "web")
        #expect(configuration.resources == [
            ConfigResource(apiVersion: "weft.io/v1", kind: "Sidecar", name: "web", namespace: nil,
                           position: ConfigPosition(file: "10-sidecar.yaml", line: 3, column: 1)),
        ])
    }

    @Test("quoted values are accepted where the value is text")
    func quotedText() throws {
        let text = """
            "apiVersion": 'weft.io/v1'
            kind: "Sidecar"
            metadata: {name: "123", namespace: 'no'}
            spec: {logLevel: "error", timeouts: {connect: "5s"}, relay: {pipeSize: "64Ki"}}

            """
        let sidecar = try load(text).sidecar
        #expect(sidecar.name == "123")
        #expect(sidecar.namespace == "no")
        #expect(sidecar.logLevel == .error)
        #expect(sidecar.pipeSize == 65536)
    }

    @Test("diagnostics print as file:line:column: message")
    func diagnosticFormat() {
        let diagnostic = ConfigDiagnostic(file: "x.yaml", line: 3, column: 7, message: "something")
        #expect(diagnostic.description == "x.yaml:3:7: something")
        let errors = ConfigErrors([diagnostic, ConfigDiagnostic(file: "y.yaml", line: 1, column: 1, message: "else")])
        #expect(errors.description == "x.yaml:3:7: something\ny.yaml:1:1: else")
    }
}
