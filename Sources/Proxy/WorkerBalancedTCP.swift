import Addresses
import Config
import HTTP
import LinuxSys
import Relay
import Routing
import TLS

/// Opaque TCP to a Service's cluster IP: one endpoint per connection.
extension Worker {
    // MARK: - TCP: per-connection balancing

    /// For an outbound opaque connection to a Service's cluster IP: an endpoint of the Service
    /// instead (its balancer chooses; the connect's outcome goes to outlier detection). Returns
    /// false when the connection was refused (REGISTRY_ONLY, no healthy endpoint).
    func balanceTCP(_ connection: Connection) -> Bool {
        guard connection.direction == .outbound, let destination = connection.destination?.address else { return true }
        traffic.refresh()
        guard traffic.isActive(mode: config.outboundTrafficMode) else { return true }
        let registry = traffic.snapshot.registry
        guard let (service, port) = registry.service(forDestination: destination) else {
            if config.outboundTrafficMode == .registryOnly {
                connection.failureDetail = "REGISTRY_ONLY: \(destination) is not a known Service"
                close(connection, end: .notInRegistry, reset: true)
                return false
            }
            return true
        }
        let balancer = traffic.balancer(for: service, port: port, now: loop.now)
        let hashHead = HTTPRequestHead(method: .GET, target: "/")
        guard let index = pickEndpoint(balancer, head: hashHead, connection: connection, now: loop.now) else {
            connection.failureDetail = "no healthy endpoint of Service \(balancer.serviceName) port \(port.port)"
            close(connection, end: .noHealthyUpstream, reset: true)
            return false
        }
        let address = balancer.picker.endpoints[index].address
        balancer.picker.started(index, now: loop.now)
        connection.balanced = (balancer, index, address)
        connection.metricService = balancer.serviceLabels
        connection.upstreamAddress = address
        let target = upstreamTarget(address)
        connection.originatesTLS = target.mutualTLS
        connection.expectedPeer = target.expectedPeer
        return true
    }

    /// The balanced TCP connect ended: success or failure, for the balancer and outlier detection.
    func balancedConnectEnded(_ connection: Connection, success: Bool) {
        guard let (balancer, index, address) = connection.balanced else { return }
        connection.balanced = nil
        let request = RoutedRequest(
            head: HTTPRequestHead(method: .GET, target: "/"), target: upstreamTarget(address), balancer: balancer, budgetOwner: balancer,
            endpointIndex: index, retry: nil, requestTimeout: nil, tryTimeout: nil, now: connection.openedAt, routeName: nil)
        request.attemptStartedAt = connection.openedAt
        attemptEnded(request, outcome: success ? .success : .connectFailure, now: loop.now)
    }
}
