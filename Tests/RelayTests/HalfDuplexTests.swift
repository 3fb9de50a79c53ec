import Glibc
import LinuxSys
import Testing
@testable import Relay

/// A client connection (app ⇄ proxy) and an upstream connection (proxy ⇄ server), with the
/// half-duplex under test moving client → server.
final class Rig {
    let client: LoopbackPair   // near: the application, far: the proxy's accepted socket
    let upstream: LoopbackPair // near: the proxy's upstream socket, far: the server
    let pipes: PipePool
    let buffers = BufferPool(bufferSize: 16 * 1024)
    var direction = HalfDuplex()
    private var closedByTest: Set<Descriptor> = []

    init(pipeLimit: Int = 4, pipeSize: Int = 64 * 1024) throws {
        // splice(2) into a reset socket raises SIGPIPE (it has no MSG_NOSIGNAL); the proxy ignores
        // the signal process-wide and so must this test process.
        ProcessInfo.ignoreBrokenPipeSignal()
        client = try LoopbackPair()
        upstream = try LoopbackPair()
        pipes = PipePool(pipeSize: pipeSize, limit: pipeLimit)
    }

    var application: Descriptor { client.near }
    var server: Descriptor { upstream.far }

    func pump(budget: Int = 16) -> HalfDuplex.Outcome {
        // As the worker does on EPOLLRDHUP: tell the direction its source has ended.
        let readHangup: Int16 = 0x2000 // POLLRDHUP, poll(2); a _GNU_SOURCE name Glibc does not export
        var entry = pollfd(fd: client.far.rawValue, events: readHangup, revents: 0)
        if poll(&entry, 1, 0) == 1, entry.revents & (readHangup | Int16(POLLHUP | POLLERR)) != 0 {
            direction.noteSourceHangup()
        }
        return direction.pump(from: client.far, to: upstream.near, pipes: pipes, buffers: buffers, budget: budget)
    }

    /// Pumps until the direction blocks on reading (everything sent so far was delivered).
    func pumpUntilIdle() -> HalfDuplex.Outcome {
        var outcome = pump()
        for _ in 0..<10_000 where outcome == .yielded || (outcome == .blocked && direction.waitingFor == .destinationWritable) {
            if outcome == .blocked { waitWritable(upstream.near) }
            outcome = pump()
        }
        return outcome
    }

    /// Pumps and reads at the server side until `total` bytes arrived there (or 10 s pass),
    /// waiting in poll(2) on both the proxy's source socket and the server.
    func relayToServer(total: Int) throws -> [UInt8] {
        var received: [UInt8] = []
        received.reserveCapacity(total)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let deadline = Clock.monotonicNanoseconds() + 10_000_000_000
        while received.count < total, Clock.monotonicNanoseconds() < deadline {
            if case .failed(let failure) = pump() { throw failure }
            while case .done(let count) = try buffer.withUnsafeMutableBytes({ try Socket.receive(server, into: $0.baseAddress!, count: $0.count) }), count > 0 {
                received += buffer[0..<count]
            }
            var entries = [pollfd(fd: client.far.rawValue, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: server.rawValue, events: Int16(POLLIN), revents: 0)]
            _ = poll(&entries, 2, 50)
        }
        return received
    }

    /// Resets one of the rig's sockets (RST to its peer); the rig will not close it again.
    func reset(_ fd: Descriptor) throws {
        try resetAndClose(fd)
        closedByTest.insert(fd)
    }

    deinit {
        direction.releaseResources(pipes: pipes, buffers: buffers)
        for fd in [client.near, client.far, upstream.near, upstream.far] where !closedByTest.contains(fd) { fd.close() }
    }
}

@Suite struct HalfDuplexTests {
    @Test func smallMessagesAreCopiedAndTheDirectionWaitsForMore() throws {
        let rig = try Rig()
        let message = patternBytes(10_000, seed: 1)
        try sendAll(rig.application, message)
        waitReadable(rig.client.far)
        #expect(rig.pumpUntilIdle() == .blocked)
        #expect(rig.direction.waitingFor == .sourceReadable)
        #expect(rig.direction.state == .open)
        var received: [UInt8] = []
        while received.count < message.count, let chunk = try receiveAvailable(rig.server) { received += chunk }
        #expect(received == message)
        #expect(rig.direction.bytesDelivered == 10_000)
        #expect(rig.direction.bytesSpliced == 0, "a small message is not worth a pipe")
        #expect(!rig.direction.streaming)
        #expect(rig.pipes.created == 0)
    }

    @Test func aLargeStreamSwitchesToSplice() throws {
        let rig = try Rig()
        let total = 4 << 20
        let payload = patternBytes(total, seed: 11)
        let application = rig.application
        let writer = try OSThread.spawn(name: "writer") { try? sendAll(application, payload) }
        let received = try rig.relayToServer(total: total)
        writer.join()
        #expect(received == payload)
        #expect(rig.direction.bytesSpliced > 0, "a stream that fills the copy buffer should move by splice")
        #expect(rig.pipes.created >= 1)
    }

    @Test func endOfStreamIsForwardedAfterTheBytesInFlight() throws {
        let rig = try Rig()
        try sendAll(rig.application, Array("last words".utf8))
        try Socket.shutdownWrite(rig.application)
        waitReadable(rig.client.far)
        var outcome = rig.pumpUntilIdle()
        for _ in 0..<100 where outcome != .finished {
            waitReadable(rig.client.far)
            outcome = rig.pump()
        }
        #expect(outcome == .finished)
        #expect(rig.direction.state == .writeShut)
        #expect(try receiveAvailable(rig.server) == Array("last words".utf8))
        #expect(try receiveAvailable(rig.server) == [], "the server should see FIN after the data")
        // Pumping a finished direction is harmless.
        #expect(rig.pump() == .finished)
    }

    @Test func holdsBytesWhileTheDestinationIsFullThenDeliversThemExactly() throws {
        let rig = try Rig()
        let total = 8 << 20
        let payload = patternBytes(total, seed: 2)
        // Write from a thread: the application blocks once both socket buffers and the pipe fill.
        let application = rig.application
        let writer = try OSThread.spawn(name: "writer") {
            try? sendAll(application, payload)
            try? Socket.shutdownWrite(application)
        }
        var received: [UInt8] = []
        received.reserveCapacity(total)
        var sawBackpressure = false
        var finished = false
        while !finished {
            switch rig.pump() {
            case .blocked where rig.direction.waitingFor == .destinationWritable:
                sawBackpressure = true
                #expect(rig.direction.bytesInFlight > 0)
                if let chunk = try receiveAvailable(rig.server, max: 256 * 1024) { received += chunk }
            case .blocked:
                waitReadable(rig.client.far)
            case .yielded:
                continue
            case .finished:
                finished = true
            case .failed(let failure):
                Issue.record("unexpected failure \(failure)")
                finished = true
            }
        }
        while let chunk = try receiveAvailable(rig.server), !chunk.isEmpty { received += chunk }
        writer.join()
        #expect(sawBackpressure, "the server never read, so the relay must have waited for it")
        #expect(received.count == total)
        #expect(received == payload)
        #expect(rig.direction.bytesDelivered == UInt64(total))
    }

    @Test func copiesEverythingWhenSpliceIsDisabled() throws {
        let rig = try Rig(pipeLimit: 0)
        let message = patternBytes(1 << 20, seed: 3)
        let application = rig.application
        let writer = try OSThread.spawn(name: "writer") { try? sendAll(application, message) }
        let received = try rig.relayToServer(total: message.count)
        writer.join()
        #expect(received == message)
        #expect(rig.direction.bytesSpliced == 0)
        #expect(!rig.direction.streaming)
    }

    @Test func fallsBackToCopyingWhenThePoolHasNoPipeLeft() throws {
        let rig = try Rig(pipeLimit: 1)
        let taken = try #require(rig.pipes.acquire()) // another connection holds the only pipe
        defer { rig.pipes.release(taken) }
        let message = patternBytes(1 << 20, seed: 13)
        let application = rig.application
        let writer = try OSThread.spawn(name: "writer") { try? sendAll(application, message) }
        let received = try rig.relayToServer(total: message.count)
        writer.join()
        #expect(received == message)
        #expect(rig.direction.bytesSpliced == 0)
        #expect(rig.pipes.refusals > 0, "the streaming direction asked for a pipe and was told no")
    }

    @Test func dataAndEndOfStreamInOneWakeupAreBothForwarded() throws {
        // The short read of "bye" would normally mean "socket empty, wait for the next edge";
        // with FIN already queued there is no next edge, so the hangup must keep the reads going.
        let rig = try Rig()
        try sendAll(rig.application, Array("bye".utf8))
        try Socket.shutdownWrite(rig.application)
        usleep(20_000)
        #expect(rig.pump() == .finished)
        #expect(try receiveAvailable(rig.server) == Array("bye".utf8))
        #expect(try receiveAvailable(rig.server) == [])
    }

    @Test func aResetSourceIsReportedAsASourceFailure() throws {
        let rig = try Rig()
        try sendAll(rig.application, [1, 2, 3])
        waitReadable(rig.client.far)
        _ = rig.pumpUntilIdle()
        try rig.reset(rig.application)
        usleep(20_000)
        #expect(rig.pump() == .failed(.source(.connectionReset)))
    }

    @Test func aResetDestinationIsReportedAsADestinationFailure() throws {
        let rig = try Rig()
        try rig.reset(rig.server)
        usleep(20_000)
        try sendAll(rig.application, patternBytes(1000, seed: 4))
        waitReadable(rig.client.far)
        let outcome = rig.pumpUntilIdle()
        #expect(outcome == .failed(.destination(.connectionReset)) || outcome == .failed(.destination(.brokenPipe)))
    }

    @Test func aSmallBudgetYieldsToOtherConnections() throws {
        let rig = try Rig(pipeSize: 4096)
        try sendAll(rig.application, patternBytes(200_000, seed: 5))
        waitReadable(rig.client.far)
        #expect(rig.pump(budget: 1) == .yielded)
        #expect(rig.direction.waitingFor == .nothing)
        #expect(rig.direction.bytesDelivered > 0)
    }

    @Test func piecesOfEverySizeArriveInOrder() throws {
        var generator = SystemRandomNumberGenerator()
        for pipeSize in [4096, 65536, 1 << 20] {
            let rig = try Rig(pipeSize: pipeSize)
            var sent: [UInt8] = []
            var received: [UInt8] = []
            for round in 0..<200 {
                let piece = patternBytes(Int.random(in: 1...20_000, using: &generator), seed: UInt64(round))
                try sendAll(rig.application, piece)
                sent += piece
                waitReadable(rig.client.far)
                _ = rig.pumpUntilIdle()
                if Bool.random(using: &generator), let chunk = try receiveAvailable(rig.server) { received += chunk }
            }
            while received.count < sent.count, let chunk = try receiveAvailable(rig.server), !chunk.isEmpty { received += chunk }
            #expect(received == sent, "pipe size \(pipeSize)")
        }
    }
}

@Suite struct PoolTests {
    @Test func pipesAreReusedAndLimited() throws {
        let pool = PipePool(pipeSize: 65536, limit: 2)
        let first = try #require(pool.acquire())
        let second = try #require(pool.acquire())
        #expect(pool.acquire() == nil)
        #expect(pool.refusals == 1)
        pool.release(first)
        let again = try #require(pool.acquire())
        #expect(again.readEnd == first.readEnd)
        pool.discard(second)
        #expect(pool.created == 1)
        pool.release(again)
        pool.trim(keep: 0)
        #expect(pool.created == 0)
    }

    @Test func pipesGetTheRequestedCapacity() throws {
        let pool = PipePool(pipeSize: 256 * 1024, limit: 1)
        let pipe = try #require(pool.acquire())
        #expect(pipe.capacity == 256 * 1024)
        pool.release(pipe)
    }
}
