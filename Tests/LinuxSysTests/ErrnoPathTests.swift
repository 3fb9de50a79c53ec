import Glibc
import Testing
@testable import LinuxSys

/// The errno conventions every wrapper relies on, exercised with scripted "syscalls".
@Suite struct ErrnoPathTests {
    /// A fake syscall that fails with the scripted errnos, then succeeds with `result`.
    final class Script {
        var failures: [Int32]
        let result: Int
        private(set) var calls = 0
        init(failures: [Int32], result: Int = 7) {
            self.failures = failures
            self.result = result
        }
        func call() -> Int {
            calls += 1
            if failures.isEmpty { return result }
            errno = failures.removeFirst()
            return -1
        }
    }

    @Test func interruptedCallsAreRetried() throws {
        let script = Script(failures: [EINTR, EINTR])
        #expect(try retryingEINTR("fake") { script.call() } == 7)
        #expect(script.calls == 3)
    }

    @Test func otherFailuresThrowTheCallAndErrno() {
        let script = Script(failures: [ECONNREFUSED])
        do {
            _ = try retryingEINTR("connect") { script.call() }
            Issue.record("no error thrown")
        } catch {
            #expect(error.errno == .connectionRefused)
            #expect("\(error.call)" == "connect")
        }
    }

    @Test func wouldBlockIsAValueNotAnError() throws {
        for code in [EAGAIN, EWOULDBLOCK] {
            let script = Script(failures: [EINTR, code])
            #expect(try nonBlocking("recv") { script.call() } == .wouldBlock)
            #expect(script.calls == 2)
        }
        let succeeding = Script(failures: [])
        #expect(try nonBlocking("recv") { succeeding.call() } == .done(7))
    }

    @Test func nonBlockingFailuresStillThrow() {
        let script = Script(failures: [ECONNRESET])
        #expect(throws: SyscallError.self) { try nonBlocking("recv") { script.call() } }
    }

    @Test func zeroIsAResultNotAFailure() throws {
        // Only exactly -1 is a failure: 0 from read(2) is end of file.
        let script = Script(failures: [], result: 0)
        #expect(try nonBlocking("read") { script.call() } == .done(0))
    }
}
