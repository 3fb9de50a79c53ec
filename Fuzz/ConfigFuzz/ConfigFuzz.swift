// libFuzzer entry point for Configuration.load and the admin API's traffic inputs. Scripts/fuzz
// compiles this file together with Sources/Config into one module (and links the YAML module and
// the system's libyaml); Routing, whose model types the traffic documents use, is a module of its
// own.
//
// Loading arbitrary text must return or throw, never crash or hang, and what it returns must obey
// the documented ranges; what it throws must carry positions a reader can use. The input is split
// at the first 0xFF byte (never valid UTF-8, so never part of real text) into two sources, so
// cross-source rules such as "at most one Sidecar" are exercised too.
import Routing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let parts = bytes.split(separator: 0xFF, maxSplits: 1, omittingEmptySubsequences: false)
    let sources = parts.enumerated().map { index, part in
        ConfigSource(name: "fuzz\(index).yaml", text: String(decoding: part, as: UTF8.self))
    }
    fuzzTrafficUpdate(String(decoding: bytes, as: UTF8.self))
    do {
        let configuration = try Configuration.load(sources)
        check(configuration.sidecar)
        require(configuration.resources.filter { $0.kind == "Sidecar" }.count <= 1, "two Sidecars were accepted")
    } catch {
        require(!error.diagnostics.isEmpty, "an error without diagnostics")
        for diagnostic in error.diagnostics {
            require(diagnostic.line >= 1 && diagnostic.column >= 1, "diagnostic without a position: \(diagnostic)")
            require(sources.contains { $0.name == diagnostic.file }, "diagnostic names an unknown file: \(diagnostic)")
            require(!diagnostic.message.isEmpty, "diagnostic without a message")
        }
    }
    return 0
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

/// The ranges SidecarConfig documents.
private func check(_ sidecar: SidecarConfig) {
    require((0...1024).contains(sidecar.workers), "workers \(sidecar.workers)")
    require(sidecar.outboundPort != 0 && sidecar.inboundPort != 0, "port 0")
    require(sidecar.outboundPort != sidecar.inboundPort, "equal capture ports")
    require(sidecar.connectTimeout > .zero && sidecar.idleTimeout > .zero, "zero timeout")
    require(sidecar.drainTimeout >= .zero, "negative drain")
    require((4096...(1 << 20)).contains(sidecar.pipeSize), "pipeSize \(sidecar.pipeSize)")
    require((4096...(16 << 20)).contains(sidecar.bufferSize), "bufferSize \(sidecar.bufferSize)")
    require((0...1_000_000).contains(sidecar.maxPipesPerWorker), "maxPipesPerWorker \(sidecar.maxPipesPerWorker)")
    require((0...1_000_000).contains(sidecar.maxConnectionsPerWorker), "maxPerWorker \(sidecar.maxConnectionsPerWorker)")
}

/// The admin API's inputs: `PUT /config` bodies and `POST .../weights` bodies. What loads must
/// dump to text that loads back to the same documents; weights either apply within bounds or
/// fail with a message.
private func fuzzTrafficUpdate(_ text: String) {
    if let documents = try? Configuration.loadTraffic(text: text, origin: "fuzz") {
        let dumped = TrafficDump.yaml(documents)
        do {
            let again = try Configuration.loadTraffic(text: dumped, origin: "dump")
            require(again.withoutOrigins == documents.withoutOrigins, "the dump does not read back as the same documents:\n\(dumped)")
        } catch {
            fatalError("property violated: the dump of accepted documents does not load: \(error)\n\(dumped)")
        }
        _ = TrafficDump.json(documents, version: 1)
    }
    let route = HTTPRoute(
        name: "reviews", namespace: "default", parentRefs: [HTTPRoute.ParentRef(name: "reviews", namespace: "default")],
        rules: [HTTPRouteRule(backendRefs: [
            HTTPBackendRef(name: "reviews-v1", namespace: "default", port: 8080, weight: 80),
            HTTPBackendRef(name: "reviews-v2", namespace: "default", port: 8080, weight: 20),
        ])])
    switch RouteWeights.apply(json: text, toRoute: "default", "reviews", in: [route]) {
    case .success(let result):
        require(result.routes.count == 1, "weights changed the number of routes")
        for backend in result.routes[0].rules.flatMap(\.backendRefs) {
            require((0...HTTPBackendRef.maximumWeight).contains(backend.weight), "weight \(backend.weight) out of range")
        }
    case .failure(let error):
        require(!error.description.isEmpty, "a weights error without a message")
    }
}
