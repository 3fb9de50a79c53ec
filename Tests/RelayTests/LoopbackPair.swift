import Addresses
import Glibc
import LinuxSys

/// Two connected, non-blocking TCP sockets on 127.0.0.1 (no privileges needed).
struct LoopbackPair {
    let near: Descriptor
    let far: Descriptor

    init() throws {
        let listener = try Socket.makeTCP(.ipv4)
        defer { listener.close() }
        try Socket.bind(listener, to: SocketAddress(IPv4Address.loopback, port: 0))
        try Socket.listen(listener, backlog: 4)
        let address = try Socket.localAddress(listener)
        near = try Socket.makeTCP(.ipv4)
        _ = try Socket.connect(near, to: address)
        for _ in 0..<1000 {
            if case .done(let (accepted, _)) = try Socket.accept(listener) {
                far = accepted
                waitWritable(near)
                return
            }
            usleep(1000)
        }
        throw SyscallError("accept4", .timedOut)
    }

    func close() {
        near.close()
        far.close()
    }
}

/// Blocks (poll) until `fd` is writable or 2 s pass.
func waitWritable(_ fd: Descriptor) {
    var entry = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
    _ = poll(&entry, 1, 2000)
}

/// Blocks (poll) until `fd` is readable or 2 s pass.
func waitReadable(_ fd: Descriptor) {
    var entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
    _ = poll(&entry, 1, 2000)
}

/// Writes all of `bytes` to a non-blocking socket, waiting for room when it is full.
func sendAll(_ fd: Descriptor, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        let outcome = try bytes.withUnsafeBytes { try Socket.send(fd, from: $0.baseAddress! + offset, count: bytes.count - offset) }
        switch outcome {
        case .done(let count): offset += count
        case .wouldBlock: waitWritable(fd)
        }
    }
}

/// Reads what is available now (after waiting up to 2 s for the first byte); [] at EOF.
func receiveAvailable(_ fd: Descriptor, max: Int = 1 << 20) throws -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: max)
    waitReadable(fd)
    let outcome = try buffer.withUnsafeMutableBytes { try Socket.receive(fd, into: $0.baseAddress!, count: max) }
    switch outcome {
    case .done(let count): return Array(buffer[0..<count])
    case .wouldBlock: return nil
    }
}

/// Sets SO_LINGER {1, 0} and closes: the peer gets RST.
func resetAndClose(_ fd: Descriptor) throws {
    try Socket.setResetOnClose(fd)
    fd.close()
}

/// Deterministic pseudo-random bytes.
func patternBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}
