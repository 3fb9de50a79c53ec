import Routing
import Testing

typealias Detector = OutlierDetector

/// Reports `times` identical outcomes for `endpoint` at `now`; returns the events in order.
@discardableResult
private func report(_ detector: inout Detector, _ outcome: Detector.Outcome, _ times: Int, endpoint: Int = 0, now: UInt64) -> [Detector.Event] {
    (0..<times).compactMap { _ in detector.record(outcome, endpoint: endpoint, now: now) }
}

@Suite struct OutlierDetection {
    @Test func fiveConsecutive5xxEjectForTheBaseTime() {
        var detector = Detector(count: 10)
        #expect(report(&detector, .response(status: 500), 4, now: 1 * second).isEmpty)
        #expect(!detector.isEjected(0))
        let events = report(&detector, .response(status: 500), 1, now: 1 * second)
        #expect(events == [.ejected(endpoint: 0, reason: .consecutive5xxErrors, until: 31 * second, ejections: 1)])
        #expect(detector.isEjected(0))
        #expect(!detector.availability[0])
        #expect(detector.nextReturnTime == 31 * second)
    }

    /// A success resets the count, so errors must be consecutive.
    @Test(arguments: [
        Detector.Outcome.response(status: 200), .response(status: 404), .response(status: 499), .connected,
    ])
    func aNon5xxOutcomeResetsTheCount(success: Detector.Outcome) {
        var detector = Detector(count: 10)
        for _ in 0..<10 {
            report(&detector, .response(status: 503), 4, now: 0)
            report(&detector, success, 1, now: 0)
        }
        #expect(!detector.isEjected(0))
        #expect(detector.ejectedCount == 0)
    }

    /// Istio's consecutiveGatewayErrors: 502, 503, 504 and failed connections; a 500 breaks the run.
    @Test(arguments: [
        ([Detector.Outcome.response(status: 502), .response(status: 503), .response(status: 504)], true),
        ([.connectFailure, .connectFailure, .connectFailure], true),
        ([.response(status: 503), .connectFailure, .response(status: 504)], true),
        ([.response(status: 503), .response(status: 500), .response(status: 503)], false),
        ([.response(status: 503), .response(status: 200), .response(status: 503)], false),
    ])
    func gatewayErrorsHaveTheirOwnCount(outcomes: [Detector.Outcome], ejects: Bool) {
        var detector = Detector(count: 10, settings: .init(consecutive5xxErrors: 0, consecutiveGatewayErrors: 3))
        var events: [Detector.Event] = []
        for outcome in outcomes { if let event = detector.record(outcome, endpoint: 2, now: 0) { events.append(event) } }
        #expect(events == (ejects ? [.ejected(endpoint: 2, reason: .consecutiveGatewayErrors, until: 30 * second, ejections: 1)] : []))
    }

    @Test func connectFailuresAre5xxErrorsToo() {
        var detector = Detector(count: 10)
        report(&detector, .connectFailure, 3, now: 0)
        let events = report(&detector, .response(status: 500), 2, now: 0)
        #expect(events == [.ejected(endpoint: 0, reason: .consecutive5xxErrors, until: 30 * second, ejections: 1)])
    }

    @Test func anEjectedEndpointReturnsWhenItsTimeIsUp() {
        var detector = Detector(count: 10)
        report(&detector, .response(status: 500), 5, endpoint: 4, now: 10 * second)
        #expect(detector.refresh(now: 39 * second).isEmpty)
        #expect(detector.isEjected(4))
        #expect(detector.refresh(now: 40 * second) == [4])
        #expect(!detector.isEjected(4))
        #expect(detector.availability == Availability(count: 10))
        #expect(detector.nextReturnTime == nil)
        #expect(detector.refresh(now: 41 * second).isEmpty)
    }

    @Test func eachEjectionInARowLastsOneBaseTimeLonger() {
        var detector = Detector(count: 10)
        var now: UInt64 = 0
        var lengths: [UInt64] = []
        for _ in 0..<12 {
            guard case .ejected(_, _, let until, _) = report(&detector, .response(status: 503), 5, now: now).last else {
                Issue.record("no ejection")
                return
            }
            lengths.append((until - now) / second)
            now = until
            #expect(detector.refresh(now: now) == [0])
        }
        // 30 s, 60 s, 90 s, … up to Envoy's 300 s cap.
        #expect(lengths == [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300])
    }

    @Test func timeInServiceWorksOffPastEjections() {
        var detector = Detector(count: 10)
        report(&detector, .response(status: 500), 5, now: 0)
        _ = detector.refresh(now: 30 * second)
        report(&detector, .response(status: 500), 5, now: 30 * second)
        _ = detector.refresh(now: 90 * second)
        // Back at 90 s with two ejections behind it; 25 s in service (two intervals) sheds two.
        let events = report(&detector, .response(status: 500), 5, now: 115 * second)
        #expect(events == [.ejected(endpoint: 0, reason: .consecutive5xxErrors, until: 145 * second, ejections: 1)])
    }

    /// maxEjectionPercent, with Envoy's "at least one" and the pool-of-one exception.
    @Test(arguments: [(10, 10, 1), (20, 10, 2), (2, 10, 1), (3, 50, 1), (4, 50, 2), (1, 10, 0), (1, 100, 1), (5, 100, 5), (10, 0, 1)])
    func ejectionsStopAtTheMaximumPercent(count: Int, percent: Int, allowed: Int) {
        var detector = Detector(count: count, settings: .init(maxEjectionPercent: percent))
        for endpoint in 0..<count {
            let events = report(&detector, .response(status: 500), 5, endpoint: endpoint, now: 0)
            if endpoint < allowed {
                #expect(events.count == 1 && detector.isEjected(endpoint))
            } else {
                #expect(events == [.ejectionRefused(endpoint: endpoint, reason: .consecutive5xxErrors)])
                #expect(!detector.isEjected(endpoint))
            }
        }
        #expect(detector.ejectedCount == allowed)
        #expect(detector.availability.availableCount == count - allowed)
    }

    @Test func aRefusedEndpointIsEjectedOnceRoomIsMade() {
        var detector = Detector(count: 10)
        report(&detector, .response(status: 500), 5, endpoint: 0, now: 0)
        #expect(report(&detector, .response(status: 500), 5, endpoint: 1, now: 0) == [.ejectionRefused(endpoint: 1, reason: .consecutive5xxErrors)])
        _ = detector.refresh(now: 30 * second)
        // Still failing: the next error ejects it.
        #expect(report(&detector, .response(status: 500), 1, endpoint: 1, now: 31 * second)
            == [.ejected(endpoint: 1, reason: .consecutive5xxErrors, until: 61 * second, ejections: 1)])
    }

    @Test func outcomesForAnEjectedEndpointAreIgnored() {
        var detector = Detector(count: 10)
        report(&detector, .response(status: 500), 5, endpoint: 6, now: 0)
        #expect(report(&detector, .response(status: 500), 50, endpoint: 6, now: 1 * second).isEmpty)
        #expect(detector.refresh(now: 30 * second) == [6])
        // The errors while out did not carry over.
        #expect(report(&detector, .response(status: 500), 4, endpoint: 6, now: 31 * second).isEmpty)
    }

    @Test func balancersNeverPickAnEjectedEndpoint() {
        var detector = Detector(count: 10, settings: .init(maxEjectionPercent: 30))
        for endpoint in [2, 5, 8] { report(&detector, .connectFailure, 5, endpoint: endpoint, now: 0) }
        #expect(detector.ejectedCount == 3)
        let balancer = RandomBalancer(count: 10)
        var rng = SplitMix64(seed: 51)
        var histogram = Histogram(count: 10)
        for _ in 0..<5000 { histogram.add(balancer.pick(available: detector.availability, using: &rng)) }
        #expect(histogram.picked == Set(0..<10).subtracting([2, 5, 8]))
    }
}
