import LinuxSys
import Testing
@testable import Proxy

@Suite struct TokenTests {
    @Test(arguments: [
        (Token.clientKind, UInt32(0), 0),
        (Token.upstreamKind, UInt32(0xff_ffff), Int(UInt32.max)),
        (Token.listenerKind, UInt32(12345), 1),
    ])
    func roundTrips(kind: UInt64, generation: UInt32, slot: Int) {
        let token = Token.make(kind: kind, generation: generation, slot: slot)
        #expect(Token.kind(token) == kind)
        #expect(Token.generation(token) == generation)
        #expect(Token.slot(token) == slot)
    }

    @Test func generationsWrapAtTwentyFourBits() {
        let token = Token.make(kind: Token.clientKind, generation: 0x0100_0001, slot: 7)
        #expect(Token.generation(token) == 1)
        #expect(Token.kind(token) == Token.clientKind, "the generation must not spill into the kind")
    }

    @Test func noConnectionTokenCollidesWithTheWaker() {
        let token = Token.make(kind: Token.upstreamKind, generation: 0xff_ffff, slot: Int(UInt32.max))
        #expect(token != Reactor_wakerToken)
    }
}

/// EventLoop.wakerToken, spelled out so this test does not depend on Reactor's internals.
private let Reactor_wakerToken = UInt64.max

@Suite struct LogfmtTests {
    @Test(arguments: [
        ("connection", "connection"),
        ("10.0.0.1:80", "10.0.0.1:80"),
        ("[::1]:80", "[::1]:80"),
        ("", "\"\""),
        ("two words", "\"two words\""),
        ("a=b", "\"a=b\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("line\nbreak", "\"line\\nbreak\""),
        ("bell\u{07}", "\"bell\\u{7}\""),
    ])
    func quotesOnlyWhatNeedsIt(_ input: String, _ expected: String) {
        #expect(logfmtValue(input) == expected)
    }
}

@Suite struct ConnectionEndTests {
    @Test(arguments: [
        (Errno.connectionRefused, ConnectionEnd.upstreamRefused),
        (.hostUnreachable, .upstreamUnreachable),
        (.networkUnreachable, .upstreamUnreachable),
        (.timedOut, .connectTimeout),
        (.connectionReset, .upstreamReset),
        (.permissionDenied, .error),
    ])
    func classifiesConnectFailures(_ errno: Errno, _ end: ConnectionEnd) {
        #expect(ConnectionEnd(connectFailure: errno) == end)
    }

    @Test func logNamesAreStable() {
        // netns tests and operators' log queries match on these words.
        #expect(ConnectionEnd.closed.rawValue == "closed")
        #expect(ConnectionEnd.clientReset.rawValue == "client-reset")
        #expect(ConnectionEnd.notRedirected.rawValue == "not-redirected")
        #expect(ConnectionEnd.idleTimeout.rawValue == "idle-timeout")
    }
}

@Suite struct DurationTests {
    @Test func convertsToNanoseconds() {
        #expect(Duration.seconds(5).nanoseconds == 5_000_000_000)
        #expect(Duration.milliseconds(1500).nanoseconds == 1_500_000_000)
        #expect(Duration.nanoseconds(7).nanoseconds == 7)
        #expect(Duration.seconds(-1).nanoseconds == 0)
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
    }
}

@Suite struct WorkerWaitTests {
    @Test(arguments: [
        (false, false, Int32(1000)),   // connections, timers or queued work: housekeeping every second
        (false, true, 1000),           // (a stale mark does not count while something is held)
        (true, false, 1000),           // just emptied: housekeeping has not seen it idle yet
        (true, true, 60_000),          // idle and housekept: sleep until a listener or a wake
    ])
    func anIdleWorkerSleepsLongOnlyAfterHousekeepingHasSeenItIdle(_ holdsNothing: Bool, _ housekept: Bool, _ limit: Int32) {
        #expect(Worker.waitLimitMilliseconds(holdsNothing: holdsNothing, housekeptWhileIdle: housekept) == limit)
    }
}
