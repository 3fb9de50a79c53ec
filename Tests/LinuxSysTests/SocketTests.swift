import Addresses
import Glibc
import Testing
@testable import LinuxSys

@Suite struct SocketTests {
    @Test(arguments: [SocketAddress(IPv4Address.loopback, port: 0), SocketAddress(IPv6Address.loopback, port: 0)])
    func bindReportsTheBoundAddressBack(_ requested: SocketAddress) throws {
        let fd = try Socket.makeTCP(requested.family)
        defer { fd.close() }
        try Socket.bind(fd, to: requested)
        let bound = try Socket.localAddress(fd)
        #expect(bound.ip == requested.ip)
        #expect(bound.port != 0, "the kernel picks a port for :0")
    }

    @Test func acceptWithNothingQueuedWouldBlock() throws {
        let listener = try Socket.makeTCP(.ipv4)
        defer { listener.close() }
        try Socket.bind(listener, to: SocketAddress(IPv4Address.loopback, port: 0))
        try Socket.listen(listener, backlog: 1)
        let outcome = try Socket.accept(listener)
        guard case .wouldBlock = outcome else {
            Issue.record("accept on an empty backlog returned a connection")
            return
        }
    }

    @Test func dualStackListenerSeesIPv4PeersAsMappedAddresses() throws {
        let listener = try Socket.makeTCP(.ipv6)
        defer { listener.close() }
        try Socket.setDualStack(listener)
        try Socket.bind(listener, to: SocketAddress(IPv6Address.any, port: 0))
        try Socket.listen(listener, backlog: 4)
        let port = try Socket.localAddress(listener).port
        let client = try Socket.makeTCP(.ipv4)
        defer { client.close() }
        _ = try Socket.connect(client, to: SocketAddress(IPv4Address.loopback, port: port))
        var accepted: (Descriptor, SocketAddress)?
        for _ in 0..<1000 where accepted == nil {
            if case .done(let pair) = try Socket.accept(listener) { accepted = pair } else { usleep(1000) }
        }
        let (server, peer) = try #require(accepted)
        defer { server.close() }
        #expect(peer.ip != .v4(.loopback), "a dual-stack socket reports ::ffff:127.0.0.1")
        #expect(peer.unmapped.ip == .v4(.loopback))
    }

    @Test func connectingToAClosedPortIsRefused() throws {
        // Find a free port by binding and closing.
        let probe = try Socket.makeTCP(.ipv4)
        try Socket.bind(probe, to: SocketAddress(IPv4Address.loopback, port: 0))
        let port = try Socket.localAddress(probe).port
        probe.close()
        let fd = try Socket.makeTCP(.ipv4)
        defer { fd.close() }
        do {
            if try Socket.connect(fd, to: SocketAddress(IPv4Address.loopback, port: port)) == .inProgress {
                var entry = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
                _ = poll(&entry, 1, 2000)
                #expect(Socket.pendingError(fd) == .connectionRefused)
            } else {
                Issue.record("connected to a port nobody listens on")
            }
        } catch {
            #expect(error.errno == .connectionRefused)
            #expect("\(error.call)" == "connect")
        }
    }

    @Test func aConnectionThatWasNotRedirectedHasNoOriginalDestination() throws {
        // No nat rule exists in the test's namespace, so conntrack has no NAT entry for this
        // connection: the kernel answers ENOENT (or, if conntrack tracks it un-NATed, the
        // listener's own address). Both mean "not redirected" to the proxy.
        let listener = try Socket.makeTCP(.ipv4)
        defer { listener.close() }
        try Socket.bind(listener, to: SocketAddress(IPv4Address.loopback, port: 0))
        try Socket.listen(listener, backlog: 4)
        let address = try Socket.localAddress(listener)
        let client = try Socket.makeTCP(.ipv4)
        defer { client.close() }
        _ = try Socket.connect(client, to: address)
        var accepted: (Descriptor, SocketAddress)?
        for _ in 0..<1000 where accepted == nil {
            if case .done(let pair) = try Socket.accept(listener) { accepted = pair } else { usleep(1000) }
        }
        let (server, peer) = try #require(accepted)
        defer { server.close() }
        do {
            let original = try Socket.originalDestination(server, peer: peer)
            #expect(original == address)
        } catch {
            #expect(error.errno == .noSuchFile)
        }
    }

    @Test func shutdownWriteDeliversEndOfStream() throws {
        let listener = try Socket.makeTCP(.ipv4)
        defer { listener.close() }
        try Socket.bind(listener, to: SocketAddress(IPv4Address.loopback, port: 0))
        try Socket.listen(listener, backlog: 4)
        let client = try Socket.makeTCP(.ipv4)
        defer { client.close() }
        _ = try Socket.connect(client, to: try Socket.localAddress(listener))
        var accepted: (Descriptor, SocketAddress)?
        for _ in 0..<1000 where accepted == nil {
            if case .done(let pair) = try Socket.accept(listener) { accepted = pair } else { usleep(1000) }
        }
        let server = try #require(accepted).0
        defer { server.close() }
        var entry = pollfd(fd: client.rawValue, events: Int16(POLLOUT), revents: 0)
        _ = poll(&entry, 1, 2000)
        try Socket.shutdownWrite(client)
        var byte: UInt8 = 0
        entry = pollfd(fd: server.rawValue, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, 2000)
        #expect(try Socket.receive(server, into: &byte, count: 1) == .done(0))
    }
}

@Suite struct SystemTests {
    @Test func errnoNamesAreSymbolic() {
        #expect(Errno.connectionRefused.name == "ECONNREFUSED")
        #expect(Errno.connectionRefused.description.hasPrefix("ECONNREFUSED ("))
        #expect(SyscallError("connect", .timedOut).description.hasPrefix("connect: ETIMEDOUT"))
    }

    @Test func pipesAreNonBlockingAndSizable() throws {
        let pipe = try Pipe.make(capacity: 128 * 1024)
        defer { pipe.close() }
        #expect(pipe.capacity == 128 * 1024)
        var byte: UInt8 = 0
        #expect(try pipe.readEnd.read(into: &byte, count: 1) == .wouldBlock)
    }

    @Test func spliceMovesBytesBetweenPipes() throws {
        let first = try Pipe.make(capacity: 0)
        let second = try Pipe.make(capacity: 0)
        defer { first.close(); second.close() }
        var bytes: [UInt8] = [1, 2, 3, 4]
        _ = try first.writeEnd.write(from: &bytes, count: 4)
        #expect(try splice(from: first.readEnd, to: second.writeEnd, count: 100) == .done(4))
        #expect(try splice(from: first.readEnd, to: second.writeEnd, count: 100) == .wouldBlock)
        var out = [UInt8](repeating: 0, count: 4)
        #expect(try second.readEnd.read(into: &out, count: 4) == .done(4))
        #expect(out == [1, 2, 3, 4])
    }

    @Test func eventCounterCountsSignals() throws {
        let counter = try EventCounter()
        defer { counter.descriptor.close() }
        #expect(counter.drain() == 0)
        counter.signal()
        counter.signal()
        #expect(counter.drain() == 2)
    }

    @Test func timestampsAreRFC3339() {
        let stamp = Clock.timestamp()
        #expect(stamp.count == 24)
        #expect(stamp.hasSuffix("Z"))
        #expect(Array(stamp)[10] == "T")
    }
}
