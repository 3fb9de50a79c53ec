import Routing

/// The traffic documents of a configuration — Services, EndpointSlices, HTTPRoutes and
/// DestinationRules — as one value: what `PUT /config` replaces while the proxy runs, and what
/// `TrafficDump` writes back out. Each array is in reading order.
public struct TrafficSnapshotDocuments: Sendable, Equatable {
    /// The `Service` documents (v1).
    public var services: [Service]
    /// The `EndpointSlice` documents (discovery.k8s.io/v1); each names one of `services`.
    public var endpointSlices: [EndpointSlice]
    /// The `HTTPRoute` documents (gateway.networking.k8s.io/v1); each is attached to some of
    /// `services` and forwards to others.
    public var httpRoutes: [HTTPRoute]
    /// The `DestinationRule` documents (networking.istio.io/v1); each is for one of `services`,
    /// and no two are for the same one.
    public var destinationRules: [DestinationRule]

    /// Documents of the given values, taken as given: not checked against each other
    /// (`Configuration.loadTraffic` checks what it reads).
    public init(
        services: [Service] = [], endpointSlices: [EndpointSlice] = [], httpRoutes: [HTTPRoute] = [],
        destinationRules: [DestinationRule] = []
    ) {
        self.services = services
        self.endpointSlices = endpointSlices
        self.httpRoutes = httpRoutes
        self.destinationRules = destinationRules
    }
}

extension TrafficSnapshotDocuments {
    /// The same documents with every `origin` (file:line) cleared: what a comparison of two
    /// readings of the same configuration, or a dump read back, should ignore.
    public var withoutOrigins: TrafficSnapshotDocuments {
        var copy = self
        for index in copy.services.indices { copy.services[index].origin = "" }
        for index in copy.endpointSlices.indices { copy.endpointSlices[index].origin = "" }
        for index in copy.httpRoutes.indices { copy.httpRoutes[index].origin = "" }
        for index in copy.destinationRules.indices { copy.destinationRules[index].origin = "" }
        return copy
    }
}

extension Configuration {
    /// The configuration's traffic documents: `services`, `endpointSlices`, `httpRoutes` and
    /// `destinationRules`.
    public var traffic: TrafficSnapshotDocuments {
        TrafficSnapshotDocuments(
            services: services, endpointSlices: endpointSlices, httpRoutes: httpRoutes, destinationRules: destinationRules
        )
    }

    /// Reads a new set of traffic documents from `text`, the YAML documents (separated by `---`)
    /// that replace all of them while the proxy runs, as the admin API's `PUT /config` receives
    /// them. The documents are read and checked as `load` reads them, references included: every
    /// Service a route, slice or rule names must be among the documents of `text`, since they
    /// replace the running ones as a whole. No documents at all gives empty arrays.
    ///
    /// Only the kinds Service, EndpointSlice, HTTPRoute and DestinationRule are read; a document
    /// of any other kind (Sidecar, PeerAuthentication and AuthorizationPolicy need a restart of
    /// the proxy) is an error at its `kind`. Throws `ConfigErrors` with every problem, each at
    /// `origin:line:column` (such as `PUT /config:3:5`); `origin` is also the file part of each
    /// document's `origin`.
    public static func loadTraffic(text: String, origin: String) throws(ConfigErrors) -> TrafficSnapshotDocuments {
        let result = read([ConfigSource(name: origin, text: text)], kinds: .traffic)
        var log = result.log
        result.configuration.check(result.references, into: &log)
        guard log.isEmpty else { throw ConfigErrors(log.sorted) }
        return result.configuration.traffic
    }
}
