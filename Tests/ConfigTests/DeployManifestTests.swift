import Addresses
import Config
import Foundation
import Identity
import Policy
import Testing
import YAML

// The Kubernetes example in deploy/kubernetes and the image in deploy/Containerfile, checked for
// what `kubectl apply` and the kubelet would trip over (dangling references, wrong shapes) and for
// agreement with Weft itself: the example configuration loads with Weft's own loader, and the
// ports, uid, paths and timeouts the manifests use are the ones that configuration sets.

/// The repository root: this file is Tests/ConfigTests/DeployManifestTests.swift.
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

// The conveniences of Yams' nodes these checks were written with, over the YAML module's nodes.
extension Node {
    /// A mapping's value for the plain scalar `key` (the last pair with that key); nil for other nodes.
    fileprivate subscript(key: String) -> Node? { mapping?[key] }
    /// A scalar's text; nil for collections.
    fileprivate var string: String? { scalar?.string }
    /// A sequence's items; empty for other nodes.
    fileprivate func array() -> [Node] { sequence.map(Array.init) ?? [] }

    /// A plain scalar's integer, whatever its tag, read as Yams' `Node.int` read it: `_` ignored,
    /// an optional sign, then `0x`, `0b`, `0o` or `0` for hexadecimal, binary and octal, or
    /// decimal. (Yams also read sexagesimal `1:30`, which no manifest uses.)
    fileprivate var int: Int? {
        guard let scalar, scalar.style == .plain || scalar.style == .any else { return nil }
        let text = scalar.string.filter { $0 != "_" }
        if text == "0" { return 0 }
        let sign = text.hasPrefix("-") ? "-" : ""
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where digits.hasPrefix(prefix) {
            return Int(sign + digits.dropFirst(prefix.count), radix: radix)
        }
        return Int(text)
    }

    /// A scalar's boolean unless it is a string: true/yes/on or false/no/off in any case, as Yams'
    /// `Node.bool` read it.
    fileprivate var bool: Bool? {
        guard let scalar, scalar.tag != .str else { return nil }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }
}

extension Node.Mapping {
    /// The value of the plain scalar `key`.
    fileprivate subscript(key: String) -> Node? { self[Node(key)] }
    /// The value of the last pair whose key equals `key`, as Yams looked keys up.
    fileprivate subscript(key: Node) -> Node? { last { $0.key == key }?.value }
}

/// Where the image puts the binary; the manifests run it by this path (the image has no shell).
private let binaryPath = "/usr/local/bin/weft"

/// The API group/version each kind in deploy/kubernetes must be written with.
private let knownKinds = ["Deployment": "apps/v1", "ConfigMap": "v1", "Secret": "v1", "ServiceAccount": "v1"]

/// One document of a file in deploy/kubernetes.
private struct Manifest {
    let file: String
    let node: Node

    var apiVersion: String? { node["apiVersion"]?.string }
    var kind: String? { node["kind"]?.string }
    var name: String? { node["metadata"]?["name"]?.string }
    var origin: String { "\(file) (\(kind ?? "?") \(name ?? "?"))" }
}

/// Every non-empty document of every deploy/kubernetes/*.yaml file, in name order.
private func loadManifests() throws -> [Manifest] {
    let directory = repositoryRoot.appendingPathComponent("deploy/kubernetes")
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
    var manifests: [Manifest] = []
    for name in names {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        for node in try Parser.documents(text) where node.mapping != nil {
            manifests.append(Manifest(file: name, node: node))
        }
    }
    return manifests
}

/// The object of `kind` named `name`.
private func object(_ kind: String, named name: String, in manifests: [Manifest]) -> Manifest? {
    manifests.first { $0.kind == kind && $0.name == name }
}

/// The one Deployment of the example, its pod spec, and its containers by role.
private struct Workload {
    let deployment: Manifest
    let pod: Node
    let initContainers: [Node]
    let containers: [Node]

    init(_ manifests: [Manifest]) throws {
        let deployments = manifests.filter { $0.kind == "Deployment" }
        try #require(deployments.count == 1, "deploy/kubernetes should hold one Deployment, not \(deployments.count)")
        deployment = deployments[0]
        pod = try #require(deployment.node["spec"]?["template"]?["spec"], "the Deployment has no spec.template.spec")
        initContainers = pod["initContainers"]?.array() ?? []
        containers = pod["containers"]?.array() ?? []
    }

    /// The init container that runs `weft init` and exits.
    func initializer() throws -> Node {
        try #require(initContainers.first { arguments($0).first == "init" }, "no init container runs `weft init`")
    }

    /// The init container that runs `weft proxy` (the native sidecar).
    func proxy() throws -> Node {
        try #require(initContainers.first { arguments($0).first == "proxy" }, "no init container runs `weft proxy`")
    }

    /// The application containers: every container not running the weft binary.
    var applications: [Node] { containers.filter { $0["command"]?.array().first?.string != binaryPath } }

    /// The declared volumes by name.
    var volumes: [String: Node] {
        var volumes: [String: Node] = [:]
        for volume in pod["volumes"]?.array() ?? [] {
            if let name = volume["name"]?.string { volumes[name] = volume }
        }
        return volumes
    }

    /// The mount path of the volume (in `container`) whose ConfigMap or Secret is `name`.
    func mountPath(of container: Node, source kind: String, named name: String) -> String? {
        let volume = volumes.first { _, volume in
            kind == "ConfigMap" ? volume["configMap"]?["name"]?.string == name : volume["secret"]?["secretName"]?.string == name
        }
        guard let volume else { return nil }
        return (container["volumeMounts"]?.array() ?? []).first { $0["name"]?.string == volume.key }?["mountPath"]?.string
    }
}

/// The container's `args`, as strings.
private func arguments(_ container: Node) -> [String] {
    (container["args"]?.array() ?? []).compactMap(\.string)
}

/// The value of `--flag` in `arguments`, written `--flag value` or `--flag=value`.
private func flag(_ name: String, in arguments: [String]) -> String? {
    for (index, argument) in arguments.enumerated() {
        if argument == name, index + 1 < arguments.count { return arguments[index + 1] }
        if argument.hasPrefix(name + "=") { return String(argument.dropFirst(name.count + 1)) }
    }
    return nil
}

/// A probe's or hook's port as a number: an integer, or the name of one of `container`'s ports.
private func resolvePort(_ port: Node?, in container: Node) -> Int? {
    guard let port else { return nil }
    if let number = port.int { return number }
    let named = (container["ports"]?.array() ?? []).first { $0["name"]?.string == port.string }
    return named?["containerPort"]?.int
}

/// A file mode as Kubernetes reads it from YAML 1.1: a leading 0 (or 0o) means octal.
private func fileMode(_ node: Node?) -> Int? {
    guard let text = node?.scalar?.string else { return nil }
    if text.hasPrefix("0o") { return Int(text.dropFirst(2), radix: 8) }
    if text.count > 1, text.hasPrefix("0") { return Int(text.dropFirst(), radix: 8) }
    return Int(text)
}

/// The keys of a ConfigMap's or Secret's data (`data`, `stringData`, `binaryData`).
private func dataKeys(_ manifest: Manifest) -> Set<String> {
    var keys: Set<String> = []
    for field in ["data", "stringData", "binaryData"] {
        for (key, _) in manifest.node[field]?.mapping.map(Array.init) ?? [] {
            if let key = key.string { keys.insert(key) }
        }
    }
    return keys
}

/// The ConfigMap holding the Sidecar document, as the proxy reads its mounted directory: every
/// key ending in .yaml or .yml, in byte order of the names, named by its path under `directory`.
/// (The directory reading itself, in the weft executable, is exercised on these same keys by
/// deploy/build-rootfs, which runs `weft check` on them; the documents are what is checked here.)
private func exampleConfiguration(_ manifests: [Manifest], mountedAt directory: String) throws -> (configMap: Manifest, sources: [ConfigSource]) {
    let candidates = manifests.filter { manifest in
        manifest.kind == "ConfigMap" && (manifest.node["data"]?.mapping.map(Array.init) ?? []).contains { $0.value.string?.contains("kind: Sidecar") == true }
    }
    let configMap = try #require(candidates.first, "no ConfigMap in deploy/kubernetes holds a Sidecar document")
    let data = try #require(configMap.node["data"]?.mapping)
    var sources: [ConfigSource] = []
    for (key, value) in data {
        let name = try #require(key.string)
        guard name.hasSuffix(".yaml") || name.hasSuffix(".yml") else {
            Issue.record("\(configMap.origin): key \(name) does not end in .yaml or .yml, so the proxy would not read it")
            continue
        }
        sources.append(ConfigSource(name: directory + "/" + name, text: try #require(value.string)))
    }
    sources.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    return (configMap, sources)
}

/// The example configuration loaded by `Configuration.load`, the loader `weft proxy` and
/// `weft check` use, from the directory the proxy container mounts it at.
private func loadExample(_ manifests: [Manifest], _ workload: Workload) throws -> Configuration {
    let proxy = try workload.proxy()
    let directory = try #require(flag("--config", in: arguments(proxy)), "weft proxy has no --config")
    let (_, sources) = try exampleConfiguration(manifests, mountedAt: directory)
    do {
        return try Configuration.load(sources)
    } catch {
        Issue.record("the example configuration does not load:\n\(error.description)")
        throw error
    }
}

@Suite("deploy/: Kubernetes manifests and the Containerfile")
struct DeployManifestTests {
    @Test("every document has apiVersion, kind and metadata.name, of a known kind, without a namespace")
    func documentHeaders() throws {
        let manifests = try loadManifests()
        #expect(Set(manifests.compactMap(\.kind)).isSuperset(of: ["Deployment", "ConfigMap", "Secret"]))
        var seen: Set<String> = []
        for manifest in manifests {
            let kind = try #require(manifest.kind, "\(manifest.file): a document without kind")
            #expect(manifest.apiVersion != nil, "\(manifest.origin): no apiVersion")
            #expect(manifest.name?.isEmpty == false, "\(manifest.origin): no metadata.name")
            #expect(knownKinds[kind] != nil, "\(manifest.origin): kind \(kind) is not one of \(knownKinds.keys.sorted())")
            if let expected = knownKinds[kind] {
                #expect(manifest.apiVersion == expected, "\(manifest.origin): \(kind) is \(expected), not \(manifest.apiVersion ?? "missing")")
            }
            // `kubectl apply -n NAMESPACE` puts them anywhere; a namespace written here would win.
            #expect(manifest.node["metadata"]?["namespace"] == nil, "\(manifest.origin): metadata.namespace makes the example namespace-bound")
            #expect(seen.insert("\(kind)/\(manifest.name ?? "")").inserted, "\(manifest.origin): a second object of that kind and name")
        }
    }

    @Test("label and annotation values are strings, as the API server requires")
    func labelsAndAnnotationsAreStrings() throws {
        let manifests = try loadManifests()
        let workload = try Workload(manifests)
        var metadata = manifests.compactMap { ($0.origin, $0.node["metadata"]) }
        metadata.append(("pod template", workload.deployment.node["spec"]?["template"]?["metadata"]))
        for (origin, node) in metadata {
            for field in ["labels", "annotations"] {
                for (key, value) in node?[field]?.mapping.map(Array.init) ?? [] {
                    // A plain `true` or `15090` resolves to bool or int, which kubectl rejects.
                    #expect(value.tag == .str, "\(origin): \(field).\(key.string ?? "?") is not a string (quote it)")
                }
            }
        }
    }

    @Test("the Deployment's selector matches its pod template, and its ServiceAccount exists")
    func selectorAndServiceAccount() throws {
        let manifests = try loadManifests()
        let workload = try Workload(manifests)
        let selector = try #require(workload.deployment.node["spec"]?["selector"]?["matchLabels"]?.mapping)
        let labels = try #require(workload.deployment.node["spec"]?["template"]?["metadata"]?["labels"]?.mapping)
        #expect(!selector.isEmpty)
        for (key, value) in selector {
            #expect(labels[key] == value, "selector \(key.string ?? "?")=\(value.string ?? "?") does not match the pod template's labels")
        }
        if let account = workload.pod["serviceAccountName"]?.string {
            #expect(object("ServiceAccount", named: account, in: manifests) != nil, "serviceAccountName \(account) is not in deploy/kubernetes")
        }
    }

    @Test("container names are unique, and weft-init and the proxy run before the application")
    func containerOrder() throws {
        let workload = try Workload(try loadManifests())
        let names = (workload.initContainers + workload.containers).compactMap { $0["name"]?.string }
        #expect(names.count == workload.initContainers.count + workload.containers.count, "a container without a name")
        #expect(Set(names).count == names.count, "container names repeat: \(names)")
        let initIndex = try #require(workload.initContainers.firstIndex(of: try workload.initializer()))
        let proxyIndex = try #require(workload.initContainers.firstIndex(of: try workload.proxy()))
        // Interception must be in place before the proxy, or any container, opens a connection.
        #expect(initIndex < proxyIndex)
        #expect(!workload.applications.isEmpty, "no application container")
        // weft init's rules and the proxy's ports must come from one release of the binary.
        let images = try [workload.initializer(), workload.proxy()].map { $0["image"]?.string }
        #expect(images[0] != nil && images[0] == images[1], "weft-init and weft-proxy run different images: \(images)")
        for container in workload.initContainers + workload.containers where container["command"]?.array().first?.string == binaryPath {
            #expect(container["command"]?.array().count == 1, "the weft command is the binary alone; the subcommand goes in args")
        }
    }

    @Test("weft-init runs to completion as root with NET_ADMIN and no other capability")
    func initContainer() throws {
        let manifests = try loadManifests()
        let workload = try Workload(manifests)
        let initializer = try workload.initializer()
        let proxy = try workload.proxy()
        #expect(initializer["command"]?.array().first?.string == binaryPath)
        #expect(initializer["restartPolicy"] == nil, "weft-init must run once and exit, not as a sidecar")
        let security = try #require(initializer["securityContext"])
        #expect(security["runAsUser"]?.int == 0)
        #expect(security["runAsNonRoot"]?.bool != true)
        #expect(security["privileged"]?.bool != true)
        #expect(security["allowPrivilegeEscalation"]?.bool == false)
        let added = (security["capabilities"]?["add"]?.array() ?? []).compactMap(\.string)
        let dropped = (security["capabilities"]?["drop"]?.array() ?? []).compactMap(\.string)
        #expect(added == ["NET_ADMIN"])
        // Dropping ALL drops NET_RAW (and everything else the runtime grants by default).
        #expect(dropped.contains("ALL"))

        // Its flags must agree with the proxy container and the Sidecar document.
        let args = arguments(initializer)
        let proxySecurity = try #require(proxy["securityContext"])
        #expect(flag("--proxy-uid", in: args).flatMap { Int($0) } ?? 1337 == proxySecurity["runAsUser"]?.int)
        #expect(flag("--proxy-gid", in: args).flatMap { Int($0) } ?? 1337 == proxySecurity["runAsGroup"]?.int)
        let sidecar = try loadExample(manifests, workload).sidecar
        #expect(flag("--outbound-port", in: args).flatMap { UInt16($0) } ?? 15001 == sidecar.outboundPort)
        #expect(flag("--inbound-port", in: args).flatMap { UInt16($0) } ?? 15006 == sidecar.inboundPort)
        let known = ["--proxy-uid", "--proxy-gid", "--outbound-port", "--inbound-port", "--exclude-inbound-ports", "--exclude-outbound-ports",
                     "--include-outbound-cidrs", "--exclude-outbound-cidrs"]
        for argument in args.dropFirst() where argument.hasPrefix("--") {
            let name = String(argument.prefix { $0 != "=" })
            #expect(known.contains(name), "weft init has no \(name) (or it must not be used in a pod: --dry-run, --remove, --verify, --allow-host-namespace)")
        }
    }

    @Test("the proxy is a native sidecar without privileges")
    func proxyContainer() throws {
        let workload = try Workload(try loadManifests())
        let proxy = try workload.proxy()
        #expect(proxy["command"]?.array().first?.string == binaryPath)
        #expect(proxy["restartPolicy"]?.string == "Always")
        let security = try #require(proxy["securityContext"])
        #expect(security["runAsUser"]?.int == 1337)
        #expect(security["runAsGroup"]?.int == 1337)
        #expect(security["runAsNonRoot"]?.bool == true)
        #expect(security["readOnlyRootFilesystem"]?.bool == true)
        #expect(security["allowPrivilegeEscalation"]?.bool == false)
        #expect(security["privileged"]?.bool != true)
        let added = security["capabilities"]?["add"]?.array() ?? []
        #expect(added.isEmpty, "the proxy needs no capability")
        let dropped = (security["capabilities"]?["drop"]?.array() ?? []).compactMap(\.string)
        #expect(dropped.contains("ALL"))
    }

    @Test("probes, ports and scrape annotations use the Sidecar's health and metrics ports")
    func probesAndPorts() throws {
        let manifests = try loadManifests()
        let workload = try Workload(manifests)
        let proxy = try workload.proxy()
        let sidecar = try loadExample(manifests, workload).sidecar
        for probe in ["readinessProbe", "startupProbe"] {
            let get = try #require(proxy[probe]?["httpGet"], "weft-proxy has no \(probe).httpGet")
            #expect(get["path"]?.string == "/healthz/ready", "\(probe)")
            #expect(resolvePort(get["port"], in: proxy) == Int(sidecar.healthPort), "\(probe) is not on the health port \(sidecar.healthPort)")
        }
        // The admin port (127.0.0.1:15000) is loopback-only: a kubelet probe there always fails.
        for container in workload.initContainers + workload.containers {
            for probe in ["readinessProbe", "startupProbe", "livenessProbe"] {
                if let get = container[probe]?["httpGet"] {
                    #expect(resolvePort(get["port"], in: container) != 15000, "\(container["name"]?.string ?? "?") \(probe) on the admin port")
                }
            }
        }
        #expect(resolvePort(Node("weft-health"), in: proxy) == Int(sidecar.healthPort))
        #expect(resolvePort(Node("weft-metrics"), in: proxy) == Int(sidecar.metricsPort))

        let annotations = try #require(workload.deployment.node["spec"]?["template"]?["metadata"]?["annotations"])
        #expect(annotations["prometheus.io/scrape"]?.string == "true")
        #expect(annotations["prometheus.io/port"]?.string == String(sidecar.metricsPort))
        #expect(annotations["prometheus.io/path"]?.string == "/stats/prometheus")

        // The postStart hold is `weft wait` on the same health port, with a valid timeout.
        let hookNode = try #require(proxy["lifecycle"]?["postStart"]?["exec"]?["command"], "weft-proxy has no postStart exec hook")
        let hook = hookNode.array().compactMap(\.string)
        #expect(Array(hook.prefix(2)) == [binaryPath, "wait"])
        let timeout = try #require(flag("--timeout", in: hook), "weft wait without --timeout waits 60s by default; say so")
        #expect(throws: Never.self) { try parseDuration(timeout) }
        #expect(flag("--port", in: hook).flatMap { UInt16($0) } ?? 15021 == sidecar.healthPort)

        // The preStop hook drains and waits for the exit, within the grace period.
        let stopNode = try #require(proxy["lifecycle"]?["preStop"]?["exec"]?["command"], "weft-proxy has no preStop exec hook")
        let stop = stopNode.array().compactMap(\.string)
        #expect(Array(stop.prefix(2)) == [binaryPath, "drain"])
        #expect(stop.contains("--wait"), "the hook returns before the proxy has drained without --wait")
        let stopTimeout = try parseDuration(try #require(flag("--timeout", in: stop), "weft drain --wait needs a --timeout"))
        let grace = try #require(workload.deployment.node["spec"]?["template"]?["spec"]?["terminationGracePeriodSeconds"]?.int)
        #expect(stopTimeout >= sidecar.drainTimeout, "the hook must outlast the drain")
        #expect(stopTimeout < .seconds(grace), "the hook must end within the grace period")
    }

    @Test("every volumeMount names a volume, and every ConfigMap and Secret volume exists here with the keys it names")
    func volumes() throws {
        let manifests = try loadManifests()
        let workload = try Workload(manifests)
        let volumes = workload.volumes
        for container in workload.initContainers + workload.containers {
            let name = container["name"]?.string ?? "?"
            for mount in container["volumeMounts"]?.array() ?? [] {
                let volume = mount["name"]?.string ?? ""
                #expect(volumes[volume] != nil, "\(name) mounts \(volume), which is not a volume of the pod")
                #expect(mount["mountPath"]?.string?.hasPrefix("/") == true, "\(name) mounts \(volume) at a relative path")
                // A subPath mount is a copy the kubelet never updates: no ConfigMap reload, no rotation.
                if let source = volumes[volume], source["configMap"] != nil || source["secret"] != nil {
                    #expect(mount["subPath"] == nil, "\(name) mounts \(volume) with subPath, which stops its updates")
                }
            }
        }
        for (name, volume) in volumes {
            let (kind, referenced): (String, String?) = volume["configMap"] != nil
                ? ("ConfigMap", volume["configMap"]?["name"]?.string)
                : ("Secret", volume["secret"]?["secretName"]?.string)
            guard volume["configMap"] != nil || volume["secret"] != nil else { continue }
            let objectName = try #require(referenced, "volume \(name) names no \(kind)")
            let source = try #require(object(kind, named: objectName, in: manifests), "volume \(name): \(kind) \(objectName) is not in deploy/kubernetes")
            let keys = dataKeys(source)
            let items = (volume["configMap"] ?? volume["secret"])?["items"]?.array() ?? []
            for item in items {
                let key = item["key"]?.string ?? ""
                #expect(keys.contains(key), "volume \(name) names key \(key), which \(kind) \(objectName) does not have (\(keys.sorted()))")
            }
        }
    }

    @Test("the proxy's --config is the ConfigMap's mount, and spec.identity names the Secret's mounted files")
    func pathsAgree() throws {
        let manifests = try loadManifests()
        let workload = try Workload(manifests)
        let proxy = try workload.proxy()
        let configDirectory = try #require(flag("--config", in: arguments(proxy)))
        let (configMap, _) = try exampleConfiguration(manifests, mountedAt: configDirectory)
        #expect(workload.mountPath(of: proxy, source: "ConfigMap", named: try #require(configMap.name)) == configDirectory,
                "weft proxy --config \(configDirectory) is not where \(configMap.origin) is mounted")

        let identity = try #require(try loadExample(manifests, workload).sidecar.identity, "the example Sidecar has no spec.identity")
        let secretVolume = try #require(workload.volumes.values.first { $0["secret"] != nil }?["secret"], "no Secret volume")
        let secretName = try #require(secretVolume["secretName"]?.string)
        let secret = try #require(object("Secret", named: secretName, in: manifests))
        let mountPath = try #require(workload.mountPath(of: proxy, source: "Secret", named: secretName), "weft-proxy does not mount \(secretName)")
        // The file names in the mount: each item's path, or every key when there are no items.
        var files: [String: String] = [:]
        if let items = secretVolume["items"]?.array() {
            for item in items {
                if let key = item["key"]?.string, let path = item["path"]?.string { files[path] = key }
            }
        } else {
            for key in dataKeys(secret) { files[key] = key }
        }
        for path in [identity.certificateChain, identity.privateKey, identity.trustBundle] {
            let slash = try #require(path.lastIndex(of: "/"))
            #expect(String(path[..<slash]) == mountPath, "\(path) is not under the Secret's mount \(mountPath)")
            let file = String(path[path.index(after: slash)...])
            let key = try #require(files[file], "\(path): the Secret volume has no file \(file)")
            #expect(dataKeys(secret).contains(key))
        }
        // The files are root's; uid 1337 reads them through the "other" bits, or through fsGroup.
        let mode = fileMode(secretVolume["defaultMode"]) ?? 0o644
        let fsGroup = workload.pod["securityContext"]?["fsGroup"]?.int
        let proxyGroup = proxy["securityContext"]?["runAsGroup"]?.int
        #expect(mode & 0o004 != 0 || (fsGroup != nil && fsGroup == proxyGroup && mode & 0o040 != 0),
                "Secret mode \(String(mode, radix: 8)) does not let the proxy (uid 1337) read its key")
    }

    @Test("the example configuration is valid for Weft and fits the pod")
    func exampleConfigurationLoads() throws {
        let manifests = try loadManifests()
        let workload = try Workload(manifests)
        let configuration = try loadExample(manifests, workload)
        #expect(Set(configuration.resources.map(\.kind)) == ["Sidecar", "PeerAuthentication", "AuthorizationPolicy"])
        let sidecar = configuration.sidecar
        #expect(sidecar.identity != nil)

        // The Sidecar's labels are what policy selectors match, so they must be the pod's.
        let podLabels = try #require(workload.deployment.node["spec"]?["template"]?["metadata"]?["labels"]?.mapping)
        #expect(!sidecar.labels.isEmpty)
        for (key, value) in sidecar.labels {
            #expect(podLabels[key]?.string == value, "the Sidecar's label \(key)=\(value) is not on the pod")
        }
        #expect(configuration.peerAuthentications.allSatisfy { $0.applies(toNamespace: "default", labels: sidecar.labels) },
                "a PeerAuthentication of the example does not select this workload")
        #expect(configuration.authorizer.policies.count == configuration.authorizationPolicies.count,
                "an AuthorizationPolicy of the example does not select this workload")

        // The kubelet probes the application in plaintext from the node: each probed port must
        // accept plaintext, and the policies must let the probe's request through.
        let node = try IPAddress(parsing: "10.244.0.1")
        for application in workload.applications {
            for probe in ["readinessProbe", "startupProbe", "livenessProbe"] {
                guard let get = application[probe]?["httpGet"] else { continue }
                let port = try #require(resolvePort(get["port"], in: application).flatMap { UInt16(exactly: $0) })
                #expect(configuration.inboundMode(port: port) != .strict, "\(probe) of port \(port) would be refused: the port is STRICT")
                let connection = ConnectionAttributes(source: node, destinationPort: port, peer: nil)
                let path = get["path"]?.string ?? "/"
                let request = RequestAttributes(connection: connection, method: "GET", path: path[...], authority: "10.244.1.5", headers: HeaderFieldList.empty)
                #expect(configuration.authorizer.evaluate(request: request).isAllowed, "\(probe) GET \(path) on \(port) would be denied")
            }
        }

        // What the example's policies promise in their comments: plaintext clients may only read
        // the application, meshed peers may do anything, every other port is STRICT.
        let plaintext = ConnectionAttributes(source: node, destinationPort: 8080, peer: nil)
        let meshed = ConnectionAttributes(source: node, destinationPort: 8080, peer: try SPIFFEID(parsing: "spiffe://cluster.local/ns/default/sa/frontend"))
        func decision(_ method: Substring, on connection: ConnectionAttributes) -> Bool {
            configuration.authorizer.evaluate(request: RequestAttributes(
                connection: connection, method: method, path: "/orders", authority: "web", headers: HeaderFieldList.empty)).isAllowed
        }
        #expect(decision("HEAD", on: plaintext))
        #expect(!decision("POST", on: plaintext))
        #expect(!decision("DELETE", on: plaintext))
        #expect(decision("POST", on: meshed))
        #expect(configuration.inboundMode(port: 8080) == .permissive)
        #expect(configuration.inboundMode(port: 9090) == .strict)
    }

    @Test("the application does not run as the proxy's uid or gid")
    func applicationIsCaptured() throws {
        let workload = try Workload(try loadManifests())
        let proxy = try workload.proxy()
        let proxyUID = try #require(proxy["securityContext"]?["runAsUser"]?.int)
        let proxyGID = try #require(proxy["securityContext"]?["runAsGroup"]?.int)
        let podSecurity = workload.pod["securityContext"]
        for application in workload.applications {
            // weft init exempts that uid and gid: the application's traffic would bypass the mesh.
            let uid = application["securityContext"]?["runAsUser"]?.int ?? podSecurity?["runAsUser"]?.int
            let gid = application["securityContext"]?["runAsGroup"]?.int ?? podSecurity?["runAsGroup"]?.int
            #expect(uid != nil, "\(application["name"]?.string ?? "?"): set runAsUser, so the image cannot pick uid \(proxyUID)")
            #expect(uid != proxyUID && gid != proxyGID)
        }
    }

    @Test("the grace period is longer than the proxy's drain timeout")
    func gracePeriod() throws {
        let manifests = try loadManifests()
        let workload = try Workload(manifests)
        let drain = try loadExample(manifests, workload).sidecar.drainTimeout
        let grace = try #require(workload.pod["terminationGracePeriodSeconds"]?.int, "set terminationGracePeriodSeconds (the default 30s is the proxy's default drain)")
        #expect(Duration.seconds(grace) > drain, "terminationGracePeriodSeconds \(grace) does not cover spec.timeouts.drain \(drain)")
    }
}

/// The Debian package providing each shared library the release binary links besides glibc
/// (libc.so.6, libm.so.6 and the loader come with every Debian image). Compare with the `ldd`
/// list deploy/build-rootfs prints after a release build.
private let runtimePackages: [(library: String, package: String)] = [
    ("libmnl.so.0", "libmnl0"),
    // The Swift and C++ runtimes, both linked statically (Package.swift), still use the unwinder.
    ("libgcc_s.so.1", "libgcc-s1"),
]

/// How each C library that Weft's targets link (module maps' `link "…"` and Package.swift's
/// `.linkedLibrary("…")`) reaches the release binary: from its archive through Scripts/static-libs,
/// so the image needs nothing for it, or as a shared library of `runtimePackages`. A new library
/// fails the test until it is added here (and to deploy/Containerfile when it is shared).
private enum LinkedAs {
    case archive(String)
    case shared(String)
}

private let linkedLibraries: [String: LinkedAs] = [
    "ssl": .archive("libssl.a"),
    "crypto": .archive("libcrypto.a"),
    "yaml": .archive("libyaml.a"),
    "nftnl": .archive("libnftnl.a"),
    "mnl": .shared("libmnl.so.0"),  // Debian's libmnl-dev has no archive
]

/// The names in `text` after each `marker` up to the next double quote.
private func quotedNames(after marker: String, in text: String) -> [String] {
    var names: [String] = []
    var rest = text[...]
    while let start = rest.range(of: marker) {
        rest = rest[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { break }
        names.append(String(rest[..<end]))
    }
    return names
}

/// The stages of a Containerfile: each `FROM` line's image and the instructions after it, with
/// continuation lines joined and comments dropped.
private func containerfileStages(_ text: String) -> [(image: String, instructions: [String])] {
    var stages: [(image: String, instructions: [String])] = []
    var pending = ""
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("#") || (trimmed.isEmpty && pending.isEmpty) { continue }
        if trimmed.hasSuffix("\\") {
            pending += String(trimmed.dropLast()) + " "
            continue
        }
        let instruction = pending + trimmed
        pending = ""
        if instruction.isEmpty { continue }
        let words = instruction.split(separator: " ")
        if words.first?.uppercased() == "FROM", words.count > 1 {
            stages.append((String(words[1]), []))
        } else if !stages.isEmpty {
            stages[stages.count - 1].instructions.append(instruction)
        }
    }
    return stages
}

/// The package names of every `apt-get install` in `instructions`.
private func installedPackages(_ instructions: [String]) -> Set<String> {
    var packages: Set<String> = []
    for instruction in instructions where instruction.hasPrefix("RUN") {
        for command in instruction.components(separatedBy: "&&") {
            let words = command.split(separator: " ").map(String.init)
            guard let install = words.firstIndex(of: "install"), words[..<install].contains("apt-get") else { continue }
            packages.formUnion(words[(install + 1)...].filter { !$0.hasPrefix("-") })
        }
    }
    return packages
}

@Suite("deploy/Containerfile")
struct ContainerfileTests {
    let text: String
    let stages: [(image: String, instructions: [String])]

    init() throws {
        text = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/Containerfile"), encoding: .utf8)
        stages = containerfileStages(text)
    }

    @Test("the runtime stage installs a package for every library the binary links besides glibc")
    func runtimeLibraries() throws {
        let runtime = try #require(stages.last, "no FROM in deploy/Containerfile")
        let installed = installedPackages(runtime.instructions)
        for (library, package) in runtimePackages {
            #expect(installed.contains(package), "the runtime stage does not install \(package), which provides \(library)")
        }
        // Nothing beyond them: the image carries what the binary needs and no more.
        #expect(installed == Set(runtimePackages.map(\.package)), "unexpected packages: \(installed.subtracting(runtimePackages.map(\.package)).sorted())")
    }

    @Test("every C library the targets link is linked from its archive or installed in the runtime stage")
    func packageLinksAreKnown() throws {
        var names = quotedNames(after: ".linkedLibrary(\"", in: try String(contentsOf: repositoryRoot.appendingPathComponent("Package.swift"), encoding: .utf8))
        let sources = repositoryRoot.appendingPathComponent("Sources")
        for target in try FileManager.default.contentsOfDirectory(atPath: sources.path) {
            let map = sources.appendingPathComponent(target).appendingPathComponent("module.modulemap")
            guard let text = try? String(contentsOf: map, encoding: .utf8) else { continue }
            names += quotedNames(after: "link \"", in: text)
        }
        #expect(Set(names).isSuperset(of: ["ssl", "crypto", "nftnl", "mnl", "yaml"]), "the system libraries were not found: \(names)")
        let staticLibs = repositoryRoot.appendingPathComponent("Scripts/static-libs")
        for name in Set(names) {
            switch try #require(linkedLibraries[name], "the targets link \(name); say here how the release binary gets it") {
            case .archive(let archive):
                // A link to the archive Debian's -dev package installs (Scripts/build-release fails
                // the build when it does not resolve).
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: staticLibs.appendingPathComponent(archive).path)
                #expect(target.hasSuffix("/" + archive), "Scripts/static-libs/\(archive) points at \(target)")
            case .shared(let library):
                #expect(runtimePackages.contains { $0.library == library }, "\(library) has no runtime package in the table")
            }
        }
    }

    @Test("the build context lets in every file the builder copies from Scripts")
    func ignoreFileLetsCopiesIn() throws {
        let ignore = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/Containerfile.dockerignore"), encoding: .utf8)
        let allowed = Set(ignore.split(separator: "\n").filter { $0.hasPrefix("!") }.map { String($0.dropFirst()) })
        let builder = try #require(stages.first)
        var copied: [String] = []
        for instruction in builder.instructions where instruction.hasPrefix("COPY ") && !instruction.contains("--from") {
            copied += instruction.split(separator: " ").dropFirst().dropLast().map(String.init)
        }
        #expect(copied.contains("Scripts/build-release"))
        for path in copied {
            #expect(allowed.contains(path) || allowed.contains(String(path.split(separator: "/").first ?? "")),
                    "deploy/Containerfile copies \(path), which deploy/Containerfile.dockerignore keeps out")
            #expect(FileManager.default.fileExists(atPath: repositoryRoot.appendingPathComponent(path).path), "\(path) does not exist")
        }
    }

    @Test("builder and runtime are the same Debian release, and the binary lands where the manifests run it")
    func stagesAgree() throws {
        try #require(stages.count >= 2, "a builder stage and a runtime stage")
        let builder = stages[0]
        let runtime = stages[stages.count - 1]
        // Same release, same sonames: what the binary was linked against is what gets installed.
        #expect(builder.image.hasPrefix("swift:6.3-bookworm"))
        #expect(runtime.image == "debian:12-slim" || runtime.image.hasPrefix("debian:bookworm"))
        let builderPackages = installedPackages(builder.instructions)
        #expect(builderPackages.isSuperset(of: ["libmnl-dev", "libnftnl-dev", "libssl-dev", "libyaml-dev"]))
        #expect(builder.instructions.contains { $0.hasPrefix("RUN") && $0.contains("Scripts/build-release") })
        let script = try String(contentsOf: repositoryRoot.appendingPathComponent("Scripts/build-release"), encoding: .utf8)
        let build = try #require(script.split(separator: "\n").first { $0.hasPrefix("flags=(") })
        for option in ["-c release", "--static-swift-stdlib", "--product weft"] {
            #expect(build.contains(option), "Scripts/build-release's swift build lacks \(option)")
        }
        #expect(runtime.instructions.contains { $0.hasPrefix("COPY --from=") && $0.hasSuffix(" " + binaryPath) })
        #expect(runtime.instructions.contains("USER 1337:1337") || runtime.instructions.contains("USER 1337"))
        #expect(runtime.instructions.contains { $0.hasPrefix("ENTRYPOINT") && $0.contains("\"\(binaryPath)\"") })
    }
}
