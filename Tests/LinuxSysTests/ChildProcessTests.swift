import Testing
@testable import LinuxSys

/// `ChildProcess.runForwardingSignals`, the core of `weft wait -- COMMAND`: the child's status in
/// the shell's convention. (Forwarding a termination signal needs one sent to this process, which
/// would reach the test runner: netns-tests/test_operability.py sends it to `weft wait` instead.)
@Suite struct ChildProcessTests {
    @Test func exitStatusIsReturned() {
        #expect(ChildProcess.runForwardingSignals(["sh", "-c", "exit 3"]) == 3)
        #expect(ChildProcess.runForwardingSignals(["true"]) == 0)
    }

    @Test func aChildEndedBySignalReturns128PlusTheSignal() {
        #expect(ChildProcess.runForwardingSignals(["sh", "-c", "kill -KILL $$"]) == 128 + 9)
    }

    @Test func aProgramThatCannotStartReturns127() {
        #expect(ChildProcess.runForwardingSignals(["/nonexistent/weft-test-program"]) == 127)
    }

    /// The wait sleeps on the child's pidfd: a child that exits after a while is still seen.
    @Test func aChildThatTakesAWhileIsWaitedFor() {
        #expect(ChildProcess.runForwardingSignals(["sh", "-c", "sleep 0.3; exit 5"]) == 5)
    }
}
