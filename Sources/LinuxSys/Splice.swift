internal import CLinuxShims
import Glibc

/// A kernel pipe used as the in-kernel buffer of a splice relay: bytes move socket → pipe → socket
/// without entering user space.
public struct Pipe: Sendable {
    /// Bytes are spliced into this end.
    public let writeEnd: Descriptor
    /// Bytes are spliced out of this end.
    public let readEnd: Descriptor

    /// Wraps pipe2(2) with O_NONBLOCK|O_CLOEXEC, then asks for `capacity` bytes with F_SETPIPE_SZ.
    /// A refused resize (EPERM past /proc/sys/fs/pipe-max-size or the per-user page budget, see
    /// pipe(7)) keeps the default size instead of failing: a smaller pipe is slower, not wrong.
    /// Throws EMFILE/ENFILE when descriptors run out.
    @inline(never)
    public static func make(capacity: Int) throws(SyscallError) -> Pipe {
        var fds: (Int32, Int32) = (-1, -1)
        _ = try withUnsafeMutablePointer(to: &fds) { pointer throws(SyscallError) in
            try pointer.withMemoryRebound(to: Int32.self, capacity: 2) { fds throws(SyscallError) in
                try retryingEINTR("pipe2") { CLinuxShims_pipe2_nonblock(fds) }
            }
        }
        let pipe = Pipe(writeEnd: Descriptor(rawValue: fds.1), readEnd: Descriptor(rawValue: fds.0))
        if capacity > 0 { _ = CLinuxShims_set_pipe_size(fds.1, Int32(capacity)) }
        return pipe
    }

    /// F_GETPIPE_SZ: what the kernel actually gave (it rounds up to a power-of-two number of pages).
    public var capacity: Int { Int(CLinuxShims_get_pipe_size(writeEnd.rawValue)) }

    /// Closes both ends.
    public func close() {
        writeEnd.close()
        readEnd.close()
    }
}

/// Wraps splice(2) between a socket and a pipe with SPLICE_F_MOVE|SPLICE_F_NONBLOCK.
/// The socket side must itself be O_NONBLOCK: SPLICE_F_NONBLOCK only governs the pipe.
/// Returns the bytes moved (0: the socket reached end of stream), or `.wouldBlock`, which is
/// ambiguous when reading a socket into a non-empty pipe (socket empty *or* pipe full) — the relay
/// avoids that by only filling an empty pipe. EINVAL/ENOSYS mean splice cannot be used on this
/// pair (for instance a kTLS socket's non-data record, or a file system without splice support).
@inline(never)
public func splice(from source: Descriptor, to destination: Descriptor, count: Int) throws(SyscallError) -> IOOutcome<Int> {
    try nonBlocking("splice") {
        CLinuxShims_splice(source.rawValue, destination.rawValue, count, CLinuxShims_SPLICE_F_MOVE | CLinuxShims_SPLICE_F_NONBLOCK)
    }
}
