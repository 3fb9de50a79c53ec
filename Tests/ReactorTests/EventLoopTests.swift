import LinuxSys
import Testing
@testable import Reactor

@Suite struct EventLoopTests {
    @Test func wakeFromAnotherThreadEndsTheWait() throws {
        let loop = try EventLoop()
        let thread = try OSThread.spawn(name: "waker") { loop.wake() }
        var sawWaker = false
        for _ in 0..<50 where !sawWaker {
            let count = loop.wait(maximumMilliseconds: 100)
            for index in 0..<count where loop.epoll.token(at: index) == EventLoop.wakerToken {
                sawWaker = true
                loop.acknowledgeWake()
            }
        }
        thread.join()
        #expect(sawWaker)
        // Acknowledged: nothing is pending any more.
        #expect(loop.wait(immediately: true) == 0)
    }

    @Test func waitReturnsByTheNextTimerDeadline() throws {
        let loop = try EventLoop()
        let start = Clock.monotonicNanoseconds()
        loop.timers.schedule(1, at: start + 20_000_000)
        _ = loop.wait(maximumMilliseconds: 5000)
        #expect(loop.now >= start + 20_000_000, "returned before the deadline")
        #expect(loop.timers.popExpired(now: loop.now) == 1)
    }

    @Test func aWaitWithoutLimitEndsAtTheNextTimerDeadline() throws {
        let loop = try EventLoop()
        let start = Clock.monotonicNanoseconds()
        loop.timers.schedule(1, at: start + 20_000_000)
        _ = loop.wait(maximumMilliseconds: -1)
        #expect(loop.now >= start + 20_000_000, "returned before the deadline")
        #expect(loop.now < start + 2_000_000_000, "waited far past the deadline")
        #expect(loop.timers.popExpired(now: loop.now) == 1)
    }

    @Test func aWaitWithoutLimitOrTimersEndsWithAWake() throws {
        let loop = try EventLoop()
        let thread = try OSThread.spawn(name: "waker") {
            Clock.sleep(milliseconds: 50)
            loop.wake()
        }
        let start = Clock.monotonicNanoseconds()
        let count = loop.wait(maximumMilliseconds: -1)
        thread.join()
        #expect(count == 1 && loop.epoll.token(at: 0) == EventLoop.wakerToken)
        #expect(loop.now - start >= 50_000_000 && loop.now - start < 2_000_000_000)
    }
}
