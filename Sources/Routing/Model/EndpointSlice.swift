import Addresses

/// A Kubernetes `EndpointSlice` (discovery.k8s.io/v1): some of the endpoints of one Service (the
/// one named by its `kubernetes.io/service-name` label), with the ports they listen on. A Service
/// may have several slices; its endpoints are all of them together.
///
/// The slice's own `labels` are what a DestinationRule subset selects (`DestinationRule.Subset`):
/// Kubernetes endpoints carry no pod labels, and Weft reads no pods, so the endpoints of one
/// version go in a slice labelled with that version (`version: v2`), as Istio's own tests write
/// them. Values are typed and already validated (`Config` reads and checks the YAML).
public struct EndpointSlice: Sendable, Equatable, CustomStringConvertible {
    /// The label that names the slice's Service, as the EndpointSlice controller sets it.
    public static let serviceNameLabel = "kubernetes.io/service-name"

    /// `addressType`: the family of every address in the slice. Kubernetes' third type, FQDN,
    /// is refused by `Config`: Weft does not resolve names.
    public enum AddressType: String, Sendable, CaseIterable {
        case ipv4 = "IPv4"
        case ipv6 = "IPv6"
    }

    /// One entry of `ports`. Only TCP is read, so the protocol is not stored.
    public struct Port: Sendable, Equatable {
        /// `name`: the name of the Service port this is the target of; nil when not given or empty
        /// (the Service's unnamed port).
        public var name: String?
        /// `port`: the number the endpoints listen on (the Service port's resolved `targetPort`).
        public var port: UInt16
        /// `appProtocol`, if given.
        public var appProtocol: String?

        /// A port with the given values.
        public init(name: String? = nil, port: UInt16, appProtocol: String? = nil) {
            self.name = name
            self.port = port
            self.appProtocol = appProtocol
        }
    }

    /// One entry of `endpoints`: one pod (or other backend), by its addresses, and whether it
    /// takes traffic. The conditions default as Kubernetes documents them: an absent `ready`
    /// means ready, an absent `serving` means the same as `ready`, an absent `terminating`
    /// means not terminating.
    public struct Endpoint: Sendable, Equatable {
        /// `addresses`: one to a hundred addresses of the slice's family. Kubernetes treats them
        /// as interchangeable, and so may a balancer (using the first).
        public var addresses: [IPAddress]
        /// `conditions.ready`: whether the endpoint should get new traffic.
        public var ready: Bool
        /// `conditions.serving`: whether it can still answer, even while terminating (when
        /// `ready` is false).
        public var serving: Bool
        /// `conditions.terminating`: whether it is shutting down.
        public var terminating: Bool
        /// `hostname`, if given.
        public var hostname: String?
        /// `nodeName`, if given.
        public var nodeName: String?
        /// `zone`, if given.
        public var zone: String?

        /// An endpoint with the given values; `serving` defaults to `ready`.
        public init(
            addresses: [IPAddress], ready: Bool = true, serving: Bool? = nil, terminating: Bool = false,
            hostname: String? = nil, nodeName: String? = nil, zone: String? = nil
        ) {
            self.addresses = addresses
            self.ready = ready
            self.serving = serving ?? ready
            self.terminating = terminating
            self.hostname = hostname
            self.nodeName = nodeName
            self.zone = zone
        }
    }

    /// `metadata.name`.
    public var name: String
    /// `metadata.namespace`, `default` when not given; the Service is in the same namespace.
    public var namespace: String
    /// The value of the `kubernetes.io/service-name` label: the Service the endpoints belong to.
    public var serviceName: String
    /// `addressType`.
    public var addressType: AddressType
    /// `ports`, in the order written.
    public var ports: [Port]
    /// `endpoints`, in the order written.
    public var endpoints: [Endpoint]
    /// `metadata.labels`, including the service-name label; DestinationRule subsets select by them.
    public var labels: [String: String]
    /// Where the slice was read, such as `endpoints.yaml:12:1`, for messages about it.
    public var origin: String

    /// A slice with the given values; `Config` validates what it reads before building one.
    public init(
        name: String, namespace: String = "default", serviceName: String, addressType: AddressType = .ipv4,
        ports: [Port] = [], endpoints: [Endpoint] = [], labels: [String: String] = [:], origin: String = ""
    ) {
        self.name = name
        self.namespace = namespace
        self.serviceName = serviceName
        self.addressType = addressType
        self.ports = ports
        self.endpoints = endpoints
        self.labels = labels
        self.origin = origin
    }

    /// `namespace/name`.
    public var qualifiedName: String { "\(namespace)/\(name)" }

    /// Whether the slice holds endpoints of `service`: same namespace, and its service-name
    /// label names it.
    public func belongs(to service: Service) -> Bool {
        namespace == service.namespace && serviceName == service.name
    }

    /// `EndpointSlice shop/reviews-v1`.
    public var description: String { "EndpointSlice \(qualifiedName)" }
}
