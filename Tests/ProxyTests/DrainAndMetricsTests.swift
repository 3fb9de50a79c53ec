import Identity
import Relay
import Synchronization
import LinuxSys
import Testing
@testable import Proxy

/// What the drain does to an HTTP session, driven by hand as the worker drives it.
@Suite struct SessionDrainTests {
    private final class Rig {
        let client = SocketPair()
        let upstream = SocketPair()
        let buffers = BufferPool(bufferSize: 16 * 1024)
        let host = TestSessionHost()
        var session: HTTPSession!

        init() {
            session = HTTPSession(
                direction: .inbound, client: .socket(client.far), upstream: .socket(upstream.near), upstreamFailure: nil,
                buffers: buffers, host: host)
        }

        /// Pumps as the worker does after epoll_wait: the edges of whatever arrived are noted first.
        func pumpRequests(budget: Int) -> HTTPSession.Outcome { session.pumpRequests(budget: budget, afterEdgesOf: client.far, upstream.near) }
        func pumpResponses(budget: Int) -> HTTPSession.Outcome { session.pumpResponses(budget: budget, afterEdgesOf: client.far, upstream.near) }

        deinit {
            session.release()
            client.close()
            upstream.close()
        }
    }

    @Test func aRequestInProgressWhenTheDrainStartsGetsConnectionCloseAndNothingAfterItIsRead() {
        let rig = Rig()
        send(rig.client.near, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n")
        #expect(rig.pumpRequests(budget: 16) == .blocked)
        _ = drain(rig.upstream.far)
        rig.session.beginDrain()
        #expect(!rig.session.isIdle)
        send(rig.upstream.far, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        _ = rig.pumpResponses(budget: 16)
        #expect(drain(rig.client.near) == "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        #expect(rig.session.isClosing)
        // A request sent behind it is not forwarded.
        send(rig.client.near, "GET /late HTTP/1.1\r\nHost: b\r\n\r\n")
        _ = rig.pumpRequests(budget: 16)
        #expect(drain(rig.upstream.far) == "")
    }

    @Test func aRequestThatArrivesDuringTheDrainIsAnsweredWithConnectionClose() {
        let rig = Rig()
        rig.session.beginDrain()
        #expect(rig.session.isIdle)
        send(rig.client.near, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n")
        _ = rig.pumpRequests(budget: 16)
        #expect(drain(rig.upstream.far).hasPrefix("GET /a HTTP/1.1\r\n"))
        send(rig.upstream.far, "HTTP/1.1 204 No Content\r\n\r\n")
        _ = rig.pumpResponses(budget: 16)
        #expect(drain(rig.client.near) == "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    }

    @Test func anIdleKeepAliveConnectionHoldsNoBuffer() {
        let rig = Rig()
        send(rig.client.near, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n")
        _ = rig.pumpRequests(budget: 16)
        _ = drain(rig.upstream.far)
        send(rig.upstream.far, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        _ = rig.pumpResponses(budget: 16)
        #expect(drain(rig.client.near).hasSuffix("\r\n\r\nok"))
        _ = rig.pumpRequests(budget: 16)
        _ = rig.pumpResponses(budget: 16)
        #expect(rig.session.isIdle)
        #expect(rig.buffers.lent == 0, "both directions wait with empty hands")
        #expect(rig.buffers.created >= 1)
    }

    @Test func anIdleKeepAliveConnectionIsClosedWithAFinAndABusyOneIsNot() {
        let rig = Rig()
        send(rig.client.near, "GET /a HTTP/1.1\r\nHost: b\r\n\r\n")
        _ = rig.pumpRequests(budget: 16)
        _ = drain(rig.upstream.far)
        #expect(!rig.session.closeIfIdle(), "a request in flight")
        send(rig.upstream.far, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        _ = rig.pumpResponses(budget: 16)
        #expect(drain(rig.client.near).hasSuffix("\r\n\r\nok"))
        #expect(rig.session.isIdle)
        #expect(rig.session.closeIfIdle())
        #expect(rig.pumpResponses(budget: 16) == .blocked, "waits for the client's FIN after sending its own")
        #expect(peerClosed(rig.client.near), "the client sees the FIN")
    }
}

@Suite struct IstioMetricsTests {
    private func key(_ reporter: IstioReporter = .destination, code: UInt16 = 200, flags: String = "-", tcp: Bool = false,
                     peer: String = "spiffe://cluster.local/ns/shop/sa/client") -> IstioSeriesKey {
        IstioSeriesKey(reporter: reporter, peerPrincipal: peer,
                       service: ServiceLabels(service: "reviews", namespace: "shop", clusterDomain: "cluster.local"),
                       tcp: tcp, responseCode: code, responseFlags: flags, mutualTLS: reporter == .destination ? true : nil)
    }

    private let workload = IstioWorkload(name: "reviews-v1", namespace: "shop", labels: ["app": "reviews", "version": "v1"],
                                         principal: try! SPIFFEID(parsing: "spiffe://cluster.local/ns/shop/sa/reviews"))

    @Test func bucketsFollowIstiosBoundsWithTheUpperBoundInclusive() {
        #expect(IstioSeriesTable.durationBucket(microseconds: 0) == 0)
        #expect(IstioSeriesTable.durationBucket(microseconds: 500) == 0)      // le 0.5
        #expect(IstioSeriesTable.durationBucket(microseconds: 501) == 1)      // le 1
        #expect(IstioSeriesTable.durationBucket(microseconds: 3_600_000_000) == 18)
        #expect(IstioSeriesTable.durationBucket(microseconds: 3_600_000_001) == 19) // +Inf
        #expect(IstioSeriesTable.sizeBucket(0) == 0)
        #expect(IstioSeriesTable.sizeBucket(1) == 0)
        #expect(IstioSeriesTable.sizeBucket(11) == 2)
        #expect(IstioSeriesTable.sizeBucket(1_000_000_001) == 10)
    }

    @Test func workersSeriesWithEqualLabelsAreSummedIntoOneCumulativeHistogram() {
        let first = IstioSeriesTable()
        let second = IstioSeriesTable()
        let ok = first.series(key())
        #expect(first.series(key()) == ok, "the same labels find the same series")
        first.recordRequest(series: ok, durationNanoseconds: 2_000_000, requestBytes: 0, responseBytes: 30)
        first.recordRequest(series: ok, durationNanoseconds: 400_000, requestBytes: 10, responseBytes: 30)
        second.recordRequest(series: second.series(key()), durationNanoseconds: 70_000_000, requestBytes: 0, responseBytes: 5000)
        first.recordRequest(series: first.series(key(code: 403, flags: "DENIED")), durationNanoseconds: 1000, requestBytes: 0, responseBytes: 0)

        let text = IstioMetricsRenderer(tables: [first, second], workload: workload).families().map(\.text).joined()
        let labels = #"response_code="200",reporter="destination",source_workload="unknown",source_workload_namespace="shop",source_principal="spiffe://cluster.local/ns/shop/sa/client",source_app="unknown",source_version="unknown",destination_workload="reviews-v1",destination_workload_namespace="shop",destination_principal="spiffe://cluster.local/ns/shop/sa/reviews",destination_app="reviews",destination_version="v1",destination_service="reviews.shop.svc.cluster.local",destination_service_name="reviews",destination_service_namespace="shop",request_protocol="http",response_flags="-",grpc_response_status="",connection_security_policy="mutual_tls",source_canonical_service="unknown",destination_canonical_service="reviews",source_canonical_revision="latest",destination_canonical_revision="v1""#
        #expect(text.contains("istio_requests_total{\(labels)} 3\n"))
        #expect(text.contains("istio_requests_total{\(labels.replacingOccurrences(of: #"response_code="200""#, with: #"response_code="403""#).replacingOccurrences(of: #"response_flags="-""#, with: #"response_flags="DENIED""#))} 1\n"))
        #expect(text.contains("istio_request_duration_milliseconds_bucket{\(labels),le=\"0.5\"} 1\n"))
        #expect(text.contains("istio_request_duration_milliseconds_bucket{\(labels),le=\"5\"} 2\n"))
        #expect(text.contains("istio_request_duration_milliseconds_bucket{\(labels),le=\"100\"} 3\n"))
        #expect(text.contains("istio_request_duration_milliseconds_bucket{\(labels),le=\"+Inf\"} 3\n"))
        #expect(text.contains("istio_request_duration_milliseconds_sum{\(labels)} 72.400\n"))
        #expect(text.contains("istio_request_duration_milliseconds_count{\(labels)} 3\n"))
        #expect(text.contains("istio_response_bytes_sum{\(labels)} 5060\n"))
        #expect(text.contains("istio_request_bytes_bucket{\(labels),le=\"1\"} 2\n"))
        #expect(text.contains("istio_request_bytes_bucket{\(labels),le=\"10\"} 3\n"))
        #expect(text.contains("# TYPE istio_request_duration_milliseconds histogram\n"))
    }

    @Test func tcpSeriesCarryNoResponseCodeAndTheSourceSideSaysUnknownSecurity() {
        let table = IstioSeriesTable()
        let series = table.series(key(.source, code: 0, tcp: true, peer: "unknown"))
        table.recordTCPOpened(series: series)
        table.recordTCPClosed(series: series, sent: 700, received: 300)
        let text = IstioMetricsRenderer(tables: [table], workload: workload).families().map(\.text).joined()
        let line = text.split(separator: "\n").first { $0.hasPrefix("istio_tcp_sent_bytes_total{") }
        #expect(line?.hasSuffix("} 700") == true)
        #expect(line?.contains("response_code") == false)
        #expect(line?.contains(#"reporter="source""#) == true)
        #expect(line?.contains(#"source_workload="reviews-v1""#) == true)
        #expect(line?.contains(#"destination_workload_namespace="shop""#) == true, "a server without mTLS is in its Service's namespace")
        #expect(line?.contains(#"connection_security_policy="unknown""#) == true)
        #expect(text.contains("istio_tcp_connections_opened_total{"))
        #expect(!text.contains("istio_requests_total{"), "no HTTP series")
    }

    @Test func newLabelSetsBeyondTheLimitGoToOneOverflowSeries() {
        var overflows = 0
        let counted = Mutex(0)
        let table = IstioSeriesTable { counted.withLock { $0 += 1 } }
        var seen = Set<Int>()
        for code in 0..<UInt16(IstioSeriesTable.maximumSeries + 50) {
            seen.insert(table.series(key(code: code)))
        }
        overflows = counted.withLock { $0 }
        #expect(overflows == 1, "reported once")
        #expect(seen.count <= IstioSeriesTable.maximumSeries)
        let text = IstioMetricsRenderer(tables: [table], workload: workload).families().map(\.text).joined()
        #expect(text.contains(#"destination_service="overflow""#))
    }

    @Test func millisecondsKeepTheirMicroseconds() {
        #expect(IstioMetricsRenderer.milliseconds(microseconds: 0) == "0.000")
        #expect(IstioMetricsRenderer.milliseconds(microseconds: 1_005) == "1.005")
        #expect(IstioMetricsRenderer.milliseconds(microseconds: 72_400) == "72.400")
    }

    @Test func theLocalWorkloadFollowsIstiosCanonicalLabels() {
        let plain = IstioWorkload(name: "web", namespace: nil, labels: [:], principal: try! SPIFFEID(parsing: "spiffe://td/ns/prod/sa/web"))
        #expect(plain.namespace == "prod" && plain.canonicalService == "web" && plain.canonicalRevision == "latest")
        let labelled = IstioWorkload(name: "web", namespace: "shop", labels: [
            "service.istio.io/canonical-name": "storefront", "app.kubernetes.io/version": "2.1", "app": "web-app",
        ], principal: nil)
        #expect(labelled.canonicalService == "storefront" && labelled.canonicalRevision == "2.1" && labelled.app == "web-app")
        #expect(labelled.principal == "unknown")
    }
}
