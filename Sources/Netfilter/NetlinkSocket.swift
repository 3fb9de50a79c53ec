internal import CNetfilter
internal import CLinuxShims
import Glibc
import LinuxSys

/// A netlink socket (libmnl's `struct mnl_socket`), bound with a kernel-assigned port id. Owns
/// the socket and its receive buffer; both are released in deinit.
final class NetlinkSocket {
    /// Receive buffer size. MNL_SOCKET_BUFFER_SIZE is a sysconf() expression Swift cannot import
    /// (reference/linux-dataplane.md §1.4); 64 KiB holds any single reply or dump part nf_tables
    /// and rtnetlink send (they size dump skbs to at most 32 KiB).
    static let bufferSize = 65_536

    private let socket: OpaquePointer
    private let buffer: UnsafeMutableRawPointer

    /// Opens a socket on `bus` (NETLINK_NETFILTER, NETLINK_ROUTE) and binds it to a port id the
    /// kernel picks (MNL_SOCKET_AUTOPID: two processes can never collide). Receives time out
    /// after `timeoutSeconds` so a reply the kernel never sends cannot hang `weft init`.
    init(bus: Int32, timeoutSeconds: Int = 5) throws(SyscallError) {
        guard let socket = mnl_socket_open(bus) else { throw SyscallError("socket(AF_NETLINK)", Errno.current) }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let error = Errno.current
            mnl_socket_close(socket)
            throw SyscallError("bind(AF_NETLINK)", error)
        }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        guard setsockopt(mnl_socket_get_fd(socket), SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            let error = Errno.current
            mnl_socket_close(socket)
            throw SyscallError("setsockopt(SO_RCVTIMEO)", error)
        }
        self.socket = socket
        self.buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: 8)
    }

    deinit {
        mnl_socket_close(socket)
        buffer.deallocate()
    }

    /// Sends one datagram (a whole batch, or one request).
    func send(_ bytes: UnsafeRawBufferPointer) throws(SyscallError) {
        while true {
            let sent = mnl_socket_sendto(socket, bytes.baseAddress, bytes.count)
            if sent >= 0 { return }
            let error = Errno.current
            if error == .interrupted { continue }
            throw SyscallError("sendto(AF_NETLINK)", error)
        }
    }

    /// Receives one datagram into the socket's buffer; valid until the next call. EAGAIN means
    /// the receive timeout passed without a reply.
    func receive() throws(SyscallError) -> UnsafeRawBufferPointer {
        while true {
            let received = mnl_socket_recvfrom(socket, buffer, Self.bufferSize)
            if received >= 0 { return UnsafeRawBufferPointer(start: buffer, count: received) }
            let error = Errno.current
            if error == .interrupted { continue }
            throw SyscallError("recvmsg(AF_NETLINK)", error)
        }
    }

    /// Calls `body` with each well-formed netlink message of a received datagram, stopping when
    /// it returns false. Returns false if `body` stopped the walk.
    @discardableResult
    static func forEachMessage(
        in datagram: UnsafeRawBufferPointer,
        _ body: (UnsafeMutablePointer<nlmsghdr>) throws(NetfilterError) -> Bool
    ) throws(NetfilterError) -> Bool {
        guard let start = datagram.baseAddress else { return true }
        var remaining = Int32(datagram.count)
        var message: UnsafeMutablePointer<nlmsghdr>? = UnsafeMutableRawPointer(mutating: start).assumingMemoryBound(to: nlmsghdr.self)
        while let current = message, mnl_nlmsg_ok(current, remaining) {
            guard try body(current) else { return false }
            message = mnl_nlmsg_next(current, &remaining)
        }
        return true
    }

    /// Sends a dump request (NLM_F_DUMP) whose header carries `sequence`, then hands every reply
    /// message of that dump to `body` until NLMSG_DONE. `what` names what is listed, for error
    /// messages; an error reply becomes the NetfilterError `refused` makes of its errno.
    func dump(
        request: UnsafeRawBufferPointer, sequence: UInt32, what: String,
        refused: (Errno) -> NetfilterError,
        _ body: (UnsafeMutablePointer<nlmsghdr>) throws(NetfilterError) -> Void
    ) throws(NetfilterError) {
        do { try send(request) } catch {
            throw NetfilterError(.failed, errno: error.errno, "cannot ask the kernel for \(what) (\(error)); run weft init --verify again")
        }
        var done = false
        while !done {
            let datagram: UnsafeRawBufferPointer
            do { datagram = try receive() } catch {
                throw NetfilterError(.failed, errno: error.errno, "reading \(what) from the kernel failed (\(error)); run weft init --verify again")
            }
            try Self.forEachMessage(in: datagram) { message throws(NetfilterError) in
                guard message.pointee.nlmsg_seq == sequence else { return true }
                // The kernel flags a dump that changed under it (nf_tables' generation or the
                // address list moved): what was read so far may mix two versions.
                if Int32(message.pointee.nlmsg_flags) & NLM_F_DUMP_INTR != 0 {
                    throw NetfilterError(.failed, errno: nil, "\(what) changed while being read; run weft init --verify again")
                }
                switch Int32(message.pointee.nlmsg_type) {
                case NLMSG_DONE:
                    done = true
                    return false
                case NLMSG_ERROR:
                    guard let (code, _) = Self.decodeError(message), code != 0 else { return true }
                    throw refused(Errno(rawValue: code))
                default:
                    try body(message)
                    return true
                }
            }
        }
    }

    /// Decodes an NLMSG_ERROR message: the errno (0 for an ACK) and the sequence number of the
    /// request it answers; nil for any other message.
    static func decodeError(_ message: UnsafeMutablePointer<nlmsghdr>) -> (errno: Int32, sequence: UInt32)? {
        guard message.pointee.nlmsg_type == UInt16(NLMSG_ERROR) else { return nil }
        var error: Int32 = 0
        var sequence: UInt32 = 0
        guard CLinuxShims_decode_nlmsgerr(message, Int(message.pointee.nlmsg_len), &error, &sequence) == 0 else { return nil }
        return (error, sequence)
    }
}
