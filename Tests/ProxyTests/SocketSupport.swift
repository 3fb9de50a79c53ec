import Glibc
import HTTP
import LinuxSys
import Policy
@testable import Proxy

/// A connected pair of non-blocking stream sockets (AF_UNIX: no network, no privileges).
struct SocketPair {
    let near: Descriptor
    let far: Descriptor

    init() {
        var fds: [Int32] = [0, 0]
        let result = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        precondition(result == 0, "socketpair: \(errno)")
        near = Descriptor(rawValue: fds[0])
        far = Descriptor(rawValue: fds[1])
    }

    func close() {
        near.close()
        far.close()
    }
}

func send(_ fd: Descriptor, _ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd.rawValue, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
        precondition(sent > 0, "send: \(errno)")
        offset += sent
    }
}

/// Everything readable now (non-blocking), "" when nothing is.
func drain(_ fd: Descriptor) -> String {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress!, $0.count, 0) }
        if count <= 0 { break }
        out += buffer[0..<count]
    }
    return String(decoding: out, as: UTF8.self)
}

/// Whether the peer of `fd` has closed its write side (a read returns 0).
func peerClosed(_ fd: Descriptor) -> Bool {
    var byte: UInt8 = 0
    return recv(fd.rawValue, &byte, 1, Int32(MSG_PEEK)) == 0
}


/// Whether `fd` has bytes (or its peer's end) to read now.
func isReadable(_ fd: Descriptor) -> Bool {
    var entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, 0) == 1
}

extension HTTPSession {
    /// What the worker does for a session's sockets after epoll_wait: a socket with something to
    /// read got a readable edge since the session last found it empty (a short read), and the
    /// worker notes every such edge, whatever the session waits for.
    func noteEdges(client: Descriptor, upstream: Descriptor?) {
        if isReadable(client) { noteClientReadable() }
        if let upstream, isReadable(upstream) { noteUpstreamReadable() }
    }

    /// `pumpRequests` as the worker runs it: after noting the edges of `client` and `upstream`.
    func pumpRequests(budget: Int, afterEdgesOf client: Descriptor, _ upstream: Descriptor?) -> Outcome {
        noteEdges(client: client, upstream: upstream)
        return pumpRequests(budget: budget)
    }

    /// `pumpResponses` as the worker runs it: after noting the edges of `client` and `upstream`.
    func pumpResponses(budget: Int, afterEdgesOf client: Descriptor, _ upstream: Descriptor?) -> Outcome {
        noteEdges(client: client, upstream: upstream)
        return pumpResponses(budget: budget)
    }
}

/// An HTTP session's host for tests: a clock, an optional policy and the exchanges it completed.
/// The session holds its host unowned: a rig keeps this alive as long as its session.
final class TestSessionHost: HTTPSessionHost {
    var clock: () -> UInt64
    var policy: ((HTTPRequestHead, HTTPExchange) -> Decision)?
    private(set) var completed: [HTTPExchange] = []

    init(clock: @escaping () -> UInt64 = { Clock.monotonicNanoseconds() }, policy: ((HTTPRequestHead, HTTPExchange) -> Decision)? = nil) {
        self.clock = clock
        self.policy = policy
    }

    var now: UInt64 { clock() }
    func authorize(_ head: HTTPRequestHead, exchange: HTTPExchange) -> Decision? { policy?(head, exchange) }
    func exchangeCompleted(_ exchange: HTTPExchange) { completed.append(exchange) }
}
