import Addresses

/// A Kubernetes `Service` (v1), the part a sidecar routes by: the cluster IPs that identify
/// traffic for it and the ports it offers. Its endpoints are the `EndpointSlice`s that name it
/// (`EndpointSlice.serviceName`); `selector` is kept to show it, never used to find pods, because
/// Weft reads no pods. Values are typed and already validated (`Config` reads and checks the YAML).
public struct Service: Sendable, Equatable, CustomStringConvertible {
    /// `metadata.name`, an RFC 1035 label as Kubernetes requires of Service names.
    public var name: String
    /// `metadata.namespace`, `default` when not given (as kubectl applies it).
    public var namespace: String
    /// `spec.clusterIPs` (or `spec.clusterIP`): the virtual addresses clients connect to, at most
    /// one per address family, the primary first. Empty for a headless Service.
    public var clusterIPs: [IPAddress]
    /// `spec.ports`, in the order written.
    public var ports: [ServicePort]
    /// `spec.selector`, as written; empty when not given.
    public var selector: [String: String]
    /// Where the Service was read, such as `services.yaml:12:1`, for messages about it.
    public var origin: String

    /// A Service with the given values; `Config` validates what it reads before building one.
    public init(
        name: String, namespace: String = "default", clusterIPs: [IPAddress] = [], ports: [ServicePort] = [],
        selector: [String: String] = [:], origin: String = ""
    ) {
        self.name = name
        self.namespace = namespace
        self.clusterIPs = clusterIPs
        self.ports = ports
        self.selector = selector
        self.origin = origin
    }

    /// Whether the Service is headless (`clusterIP: None`): it has no virtual address, so clients
    /// reach its endpoints directly and a route cannot attach to it.
    public var isHeadless: Bool { clusterIPs.isEmpty }

    /// `namespace/name`.
    public var qualifiedName: String { "\(namespace)/\(name)" }

    /// The port whose `port` (the number clients connect to) is `number`, if any.
    public func port(_ number: UInt16) -> ServicePort? {
        ports.first { $0.port == number }
    }

    /// The port named `name`, or the unnamed port when `name` is nil.
    public func port(named name: String?) -> ServicePort? {
        ports.first { $0.name == name }
    }

    /// `Service shop/reviews`.
    public var description: String { "Service \(qualifiedName)" }
}

/// One entry of a Service's `spec.ports`. Only TCP is read (`protocol` UDP and SCTP are refused),
/// so the protocol is not stored.
public struct ServicePort: Sendable, Equatable {
    /// `targetPort`: where on the endpoints the traffic goes.
    public enum TargetPort: Sendable, Hashable, CustomStringConvertible {
        /// A port number.
        case number(UInt16)
        /// The name of a container port (an IANA service name such as `http`), which each
        /// EndpointSlice resolves to a number for its endpoints.
        case named(String)

        /// `8080` or `http`.
        public var description: String {
            switch self {
            case .number(let number): return "\(number)"
            case .named(let name): return name
            }
        }
    }

    /// `name`, required by Kubernetes when the Service has more than one port; nil when not
    /// given or empty. EndpointSlice ports carry the same name.
    public var name: String?
    /// `port`: the number clients connect to on the cluster IP.
    public var port: UInt16
    /// `targetPort`, `port` when not given (as Kubernetes defaults it).
    public var targetPort: TargetPort
    /// `appProtocol`, such as `http` or `kubernetes.io/h2c`, if given.
    public var appProtocol: String?

    /// A port with the given values; `targetPort` defaults to the same number as `port`.
    public init(name: String? = nil, port: UInt16, targetPort: TargetPort? = nil, appProtocol: String? = nil) {
        self.name = name
        self.port = port
        self.targetPort = targetPort ?? .number(port)
        self.appProtocol = appProtocol
    }
}
