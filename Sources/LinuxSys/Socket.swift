import Addresses
internal import CLinuxShims
import Glibc

/// The address family of a TCP socket.
public enum AddressFamily: Sendable {
    case ipv4
    case ipv6

    var rawValue: Int32 { self == .ipv4 ? AF_INET : AF_INET6 }
}

/// How a non-blocking connect(2) began.
public enum ConnectOutcome: Sendable, Equatable {
    /// Already connected (happens on loopback).
    case connected
    /// EINPROGRESS: wait for writability, then read `Socket.pendingError`.
    case inProgress
}

/// TCP socket system calls. Every socket is created non-blocking and close-on-exec.
public enum Socket {
    /// Wraps socket(2): a non-blocking, close-on-exec TCP socket.
    @inline(never)
    public static func makeTCP(_ family: AddressFamily) throws(SyscallError) -> Descriptor {
        let type = Int32(SOCK_STREAM.rawValue) | CLinuxShims_SOCK_NONBLOCK | CLinuxShims_SOCK_CLOEXEC
        return Descriptor(rawValue: try retryingEINTR("socket") { Glibc.socket(family.rawValue, type, 0) })
    }

    /// SO_REUSEADDR: rebind a listener while old connections sit in TIME_WAIT.
    public static func setReuseAddress(_ fd: Descriptor) throws(SyscallError) {
        try setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
    }

    /// SO_REUSEPORT: one listener per worker on the same port; the kernel spreads connections.
    public static func setReusePort(_ fd: Descriptor) throws(SyscallError) {
        try setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)")
    }

    /// IPV6_V6ONLY off: one AF_INET6 listener also accepts IPv4 (as v4-mapped addresses).
    public static func setDualStack(_ fd: Descriptor) throws(SyscallError) {
        try setIntOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0, "setsockopt(IPV6_V6ONLY)")
    }

    /// TCP_NODELAY: a relay must not add Nagle delay on top of the application's own writes.
    public static func setNoDelay(_ fd: Descriptor) throws(SyscallError) {
        try setIntOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)")
    }

    /// IP_BIND_ADDRESS_NO_PORT: bind a source address before connect without reserving a port at
    /// bind time, so the kernel picks the port with the full 4-tuple (no ephemeral port exhaustion
    /// when every inbound connection binds 127.0.0.6).
    public static func setBindAddressNoPort(_ fd: Descriptor) throws(SyscallError) {
        try setIntOption(fd, Int32(IPPROTO_IP), CLinuxShims_IP_BIND_ADDRESS_NO_PORT, 1, "setsockopt(IP_BIND_ADDRESS_NO_PORT)")
    }

    /// SO_LINGER {on, 0}: the next close(2) sends RST instead of FIN. Used to propagate a reset or a
    /// failed upstream to the client so it sees failure, not an orderly end of stream.
    public static func setResetOnClose(_ fd: Descriptor) throws(SyscallError) {
        var value = linger(l_onoff: 1, l_linger: 0)
        _ = try retryingEINTR("setsockopt(SO_LINGER)") {
            setsockopt(fd.rawValue, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
        }
    }

    private static func setIntOption(_ fd: Descriptor, _ level: Int32, _ name: Int32, _ value: Int32, _ call: StaticString) throws(SyscallError) {
        var value = value
        _ = try retryingEINTR(call) {
            setsockopt(fd.rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Wraps bind(2).
    @inline(never)
    public static func bind(_ fd: Descriptor, to address: SocketAddress) throws(SyscallError) {
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        _ = try retryingEINTR("bind") {
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd.rawValue, $0, length) }
            }
        }
    }

    /// Wraps listen(2).
    @inline(never)
    public static func listen(_ fd: Descriptor, backlog: Int32) throws(SyscallError) {
        _ = try retryingEINTR("listen") { Glibc.listen(fd.rawValue, backlog) }
    }

    /// Wraps accept4(2) (non-blocking, close-on-exec). ECONNABORTED — a client that reset before we
    /// accepted it — is skipped, as the next queued connection is still there. EMFILE/ENFILE are
    /// thrown: the caller must stop accepting until descriptors free up.
    @inline(never)
    public static func accept(_ fd: Descriptor) throws(SyscallError) -> IOOutcome<(Descriptor, SocketAddress)> {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let result = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    CLinuxShims_accept4_nonblock(fd.rawValue, $0, &length)
                }
            }
            if result >= 0 {
                let peer = SocketAddress(reading: storage) ?? SocketAddress(.any, port: 0)
                return .done((Descriptor(rawValue: result), peer))
            }
            let code = errno
            switch code {
            case EINTR, ECONNABORTED: continue
            case EAGAIN: return .wouldBlock
            default:
                precondition(code != EBADF && code != EFAULT, "accept4: \(Errno(rawValue: code))")
                throw SyscallError("accept4", Errno(rawValue: code))
            }
        }
    }

    /// Wraps a non-blocking connect(2).
    @inline(never)
    public static func connect(_ fd: Descriptor, to address: SocketAddress) throws(SyscallError) -> ConnectOutcome {
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd.rawValue, $0, length) }
        }
        if result == 0 { return .connected }
        let code = errno
        // EINTR on a non-blocking connect: the attempt continues in the background (connect(2)).
        if code == EINPROGRESS || code == EINTR { return .inProgress }
        precondition(code != EBADF && code != EFAULT, "connect: \(Errno(rawValue: code))")
        throw SyscallError("connect", Errno(rawValue: code))
    }

    /// SO_ERROR: the outcome of a non-blocking connect once the socket turns writable
    /// (nil when it succeeded). Reading it clears it.
    @inline(never)
    public static func pendingError(_ fd: Descriptor) -> Errno? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &value, &length) == -1 { return Errno.current }
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// Wraps getsockname(2).
    @inline(never)
    public static func localAddress(_ fd: Descriptor) throws(SyscallError) -> SocketAddress {
        try address(fd, "getsockname") { getsockname($0, $1, $2) }
    }

    /// Wraps getpeername(2).
    @inline(never)
    public static func peerAddress(_ fd: Descriptor) throws(SyscallError) -> SocketAddress {
        try address(fd, "getpeername") { getpeername($0, $1, $2) }
    }

    private static func address(
        _ fd: Descriptor, _ call: StaticString,
        _ body: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws(SyscallError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try retryingEINTR(call) {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd.rawValue, $0, &length) }
            }
        }
        guard let address = SocketAddress(reading: storage) else {
            throw SyscallError(call, .addressFamilyNotSupported)
        }
        return address
    }

    /// The destination a connection was addressed to before an nftables `redirect` rewrote it:
    /// getsockopt SO_ORIGINAL_DST for IPv4 peers (including v4-mapped peers of a dual-stack
    /// listener — the option follows the connection's family, not the socket's) and
    /// IP6T_SO_ORIGINAL_DST for IPv6 peers. ENOENT means conntrack has no entry: not redirected.
    @inline(never)
    public static func originalDestination(_ fd: Descriptor, peer: SocketAddress) throws(SyscallError) -> SocketAddress {
        if case .v4 = peer.ip.unmapped {
            var address = sockaddr_in()
            _ = try retryingEINTR("getsockopt(SO_ORIGINAL_DST)") { CLinuxShims_original_dst_v4(fd.rawValue, &address) }
            return SocketAddress(
                IPv4Address(UInt32(bigEndian: address.sin_addr.s_addr)), port: UInt16(bigEndian: address.sin_port)
            )
        }
        var address = sockaddr_in6()
        _ = try retryingEINTR("getsockopt(IP6T_SO_ORIGINAL_DST)") { CLinuxShims_original_dst_v6(fd.rawValue, &address) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            withUnsafeBytes(of: &address) { raw.copyMemory(from: $0) }
        }
        guard let result = SocketAddress(reading: storage) else {
            throw SyscallError("getsockopt(IP6T_SO_ORIGINAL_DST)", .addressFamilyNotSupported)
        }
        return result
    }

    /// Wraps shutdown(SHUT_WR): sends FIN while the other direction keeps flowing.
    /// ENOTCONN (the peer already reset) is not an error here: there is nobody left to tell.
    @inline(never)
    public static func shutdownWrite(_ fd: Descriptor) throws(SyscallError) {
        if Glibc.shutdown(fd.rawValue, Int32(SHUT_WR)) == -1 {
            let code = errno
            if code == ENOTCONN { return }
            precondition(code != EBADF, "shutdown: EBADF")
            throw SyscallError("shutdown", Errno(rawValue: code))
        }
    }

    /// Wraps send(2) with MSG_NOSIGNAL (a reset peer yields EPIPE, never SIGPIPE).
    @inline(never)
    public static func send(_ fd: Descriptor, from buffer: UnsafeRawPointer, count: Int) throws(SyscallError) -> IOOutcome<Int> {
        try nonBlocking("send") { Glibc.send(fd.rawValue, buffer, count, Int32(MSG_NOSIGNAL)) }
    }

    /// sendmsg(2) of several buffers at once (MSG_NOSIGNAL): a head and its body leave in one
    /// call, and in one segment when they fit, instead of one send per piece.
    @inline(never)
    public static func send(_ fd: Descriptor, vectors: UnsafeMutableBufferPointer<IOVector>) throws(SyscallError) -> IOOutcome<Int> {
        try vectors.withMemoryRebound(to: iovec.self) { raw throws(SyscallError) -> IOOutcome<Int> in
            var message = msghdr()
            message.msg_iov = raw.baseAddress
            message.msg_iovlen = raw.count
            return try nonBlocking("sendmsg") { Glibc.sendmsg(fd.rawValue, &message, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Wraps recv(2). 0 means the peer sent FIN.
    @inline(never)
    public static func receive(_ fd: Descriptor, into buffer: UnsafeMutableRawPointer, count: Int) throws(SyscallError) -> IOOutcome<Int> {
        try nonBlocking("recv") { Glibc.recv(fd.rawValue, buffer, count, 0) }
    }

    /// Wraps recv(2) with MSG_PEEK: look at buffered bytes without consuming them.
    @inline(never)
    public static func peek(_ fd: Descriptor, into buffer: UnsafeMutableRawPointer, count: Int) throws(SyscallError) -> IOOutcome<Int> {
        try nonBlocking("recv(MSG_PEEK)") { Glibc.recv(fd.rawValue, buffer, count, Int32(MSG_PEEK)) }
    }
}

extension SocketAddress {
    /// Reads an AF_INET or AF_INET6 socket address; nil for other families.
    init?(reading storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            self.init(IPv4Address(UInt32(bigEndian: address.sin_addr.s_addr)), port: UInt16(bigEndian: address.sin_port))
        case AF_INET6:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            let bytes = withUnsafeBytes(of: address.sin6_addr) { Array($0) }
            self.init(IPv6Address(bytes: bytes), port: UInt16(bigEndian: address.sin6_port), scopeID: address.sin6_scope_id)
        default:
            return nil
        }
    }

    /// Fills `storage` with this address; returns the length to pass to the kernel.
    func write(to storage: inout sockaddr_storage) -> socklen_t {
        switch ip {
        case .v4(let a):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = a.value.bigEndian
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: &address) { raw.copyMemory(from: $0) } }
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6(let a):
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_scope_id = scopeID
            let bytes = a.bytes
            withUnsafeMutableBytes(of: &address.sin6_addr) { $0.copyBytes(from: bytes) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: &address) { raw.copyMemory(from: $0) } }
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }

    /// The family of socket that can connect to this address.
    public var family: AddressFamily {
        if case .v4 = ip { return .ipv4 }
        return .ipv6
    }
}

extension Socket {
    /// recv(2) into the array's storage, for code off the data path that should not handle
    /// pointers (the admin server). Returns the byte count (0 at end of stream) or `.wouldBlock`.
    public static func receive(_ fd: Descriptor, into bytes: inout [UInt8]) throws(SyscallError) -> IOOutcome<Int> {
        // withUnsafeMutableBytes rethrows untyped errors, so carry the typed one out in a Result.
        let result = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(SyscallError) in try receive(fd, into: buffer.baseAddress!, count: buffer.count) }
        }
        return try result.get()
    }

    /// recv(2) with MSG_PEEK into the array's storage: look at the first bytes a client sent
    /// without consuming them (protocol detection).
    public static func peek(_ fd: Descriptor, into bytes: inout [UInt8]) throws(SyscallError) -> IOOutcome<Int> {
        let result = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(SyscallError) in try peek(fd, into: buffer.baseAddress!, count: buffer.count) }
        }
        return try result.get()
    }

    /// send(2) of the slice's bytes (MSG_NOSIGNAL), for code off the data path.
    public static func send(_ fd: Descriptor, bytes: ArraySlice<UInt8>) throws(SyscallError) -> IOOutcome<Int> {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(SyscallError) in try send(fd, from: buffer.baseAddress!, count: buffer.count) }
        }
        return try result.get()
    }
}

/// One buffer of a vectored write (a struct iovec).
public struct IOVector {
    var raw: iovec

    /// `count` bytes at `base`.
    public init(base: UnsafeRawPointer, count: Int) {
        raw = iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: count)
    }

    /// Where the bytes start.
    public var base: UnsafeRawPointer { UnsafeRawPointer(raw.iov_base!) }
    /// How many bytes.
    public var count: Int { raw.iov_len }
}
