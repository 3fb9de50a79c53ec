internal import CLinuxShims
import Glibc

/// Running another program as a child (`weft wait -- COMMAND`).
public enum ChildProcess {
    /// Runs `arguments` (the program looked up in PATH, as `execvp` does) with this process's
    /// standard streams and environment, and waits for it. Termination signals sent to this
    /// process (SIGTERM, SIGINT, SIGQUIT) are passed on to the child, which starts with no
    /// signal blocked. Returns the child's exit status, 128+N when signal N ended it, or 127
    /// (with the reason on standard error) when it could not be started — the shell's codes.
    public static func runForwardingSignals(_ arguments: [String]) -> Int32 {
        precondition(!arguments.isEmpty, "a command needs at least its program")
        TerminationSignals.block()
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))

        var pid: pid_t = 0
        let cArguments = arguments.map { strdup($0) }
        defer { cArguments.forEach { free($0) } }
        let result = (cArguments + [nil]).withUnsafeBufferPointer { argv in
            posix_spawnp(&pid, arguments[0], nil, &attributes, argv.baseAddress!, environ)
        }
        guard result == 0 else {
            Descriptor.standardError.writeAll("cannot run \(arguments[0]): \(String(cString: strerror(result)))\n")
            return 127
        }
        // Sleep until the child exits or a termination signal arrives: a pidfd turns readable at
        // the exit, a signalfd at the signal. Kernels before 5.3 have no pidfd: there the wait
        // looks again every 100 ms.
        let exited = CLinuxShims_pidfd_open(pid)
        defer { if exited >= 0 { close(exited) } }
        let signals = exited >= 0 ? try? TerminationSignals.Receiver() : nil
        while true {
            var status: Int32 = 0
            let ended = waitpid(pid, &status, WNOHANG)
            if ended == pid {
                // <sys/wait.h>: the low 7 bits are the terminating signal (0: exited normally,
                // with the status in bits 8-15).
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : 128 + signal
            }
            if ended < 0, errno != EINTR {
                Descriptor.standardError.writeAll("waiting for \(arguments[0]): \(String(cString: strerror(errno)))\n")
                return 1
            }
            if let signals {
                _ = Poll.waitReadable([Descriptor(rawValue: exited), signals.descriptor], timeoutMilliseconds: -1)
                while let signal = signals.take() { kill(pid, signal) }
            } else if let signal = TerminationSignals.wait(timeoutMilliseconds: 100) {
                kill(pid, signal)
            }
        }
    }
}
