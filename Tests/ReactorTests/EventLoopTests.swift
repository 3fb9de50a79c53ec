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
}
