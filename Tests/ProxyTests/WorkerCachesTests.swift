import Addresses
import Identity
import Routing
import Testing
@testable import Proxy

/// The per-worker memos that replaced per-connection copies of labels and routing lookups.
@Suite struct WorkerCachesTests {
    private func inputs(code: UInt16 = 200, peer: String? = nil, port: UInt16 = 80, version: Int = 1) -> RequestSeriesInputs {
        RequestSeriesInputs(
            inbound: true, version: version, peer: peer.map { try! SPIFFEID(parsing: "spiffe://cluster.local/ns/default/sa/\($0)") },
            service: nil, destination: SocketAddress(IPv4Address(10, 0, 0, 2), port: port), responseCode: code, flag: nil)
    }

    @Test func requestSeriesAreFoundByTheirInputsAndTheOldestGoesFirst() {
        var recent = RecentRequestSeries()
        #expect(recent.series(for: inputs()) == nil)
        for (position, code) in [200, 404, 503, 500].enumerated() { recent.remember(inputs(code: UInt16(code)), series: position) }
        #expect(recent.series(for: inputs(code: 404)) == 1)
        // Equal identities and addresses built separately are the same inputs.
        recent.remember(inputs(code: 200, peer: "a"), series: 7)
        #expect(recent.series(for: inputs(code: 200, peer: "a")) == 7)
        #expect(recent.series(for: inputs(code: 200)) == nil, "the oldest entry made room")
        #expect(recent.series(for: inputs(code: 200, peer: "b")) == nil)
        #expect(recent.series(for: inputs(code: 404, version: 2)) == nil, "another snapshot is another label set")
        #expect(recent.series(for: inputs(code: 404, port: 81)) == nil)
    }

    @Test func servicesAreFoundByHostDestinationAndSnapshot() {
        var recent = RecentServices()
        let destination = SocketAddress(IPv4Address(10, 96, 0, 10), port: 9080)
        let service = Service(name: "reviews", namespace: "default", clusterIPs: [.v4(IPv4Address(10, 96, 0, 10))], ports: [ServicePort(port: 9080)])
        let position = recent.remember(RecentServices.Entry(
            authority: "reviews:9080", destination: destination, version: 3, service: (service, service.ports[0]), balancer: nil))
        #expect(recent.index(authority: "reviews:9080", destination: destination, version: 3) == position)
        #expect(recent.entries[position].service?.0.name == "reviews")
        #expect(recent.index(authority: "reviews:9080", destination: destination, version: 4) == nil)
        #expect(recent.index(authority: "ratings:9080", destination: destination, version: 3) == nil)
        #expect(recent.index(authority: "reviews:9080", destination: SocketAddress(IPv4Address(10, 96, 0, 11), port: 9080), version: 3) == nil)
        // Full: each new entry replaces the oldest.
        for version in 4...7 {
            _ = recent.remember(RecentServices.Entry(authority: "x", destination: destination, version: version, service: nil, balancer: nil))
        }
        #expect(recent.entries.count == RecentServices.capacity)
        #expect(recent.index(authority: "reviews:9080", destination: destination, version: 3) == nil)
        #expect(recent.index(authority: "x", destination: destination, version: 7) != nil)
    }
}
