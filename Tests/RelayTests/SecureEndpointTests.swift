import Glibc
import LinuxSys
import Testing
@testable import Relay

/// A secure channel that plays a script: each read/write/closeWrite call takes the next scripted
/// answer. Reads hand out bytes from `incoming`; writes record what they were given. It stands in
/// for TLS so the relay's handling of every answer can be checked one by one.
final class ScriptedChannel: SecureChannel {
    enum ReadStep { case bytes(Int), closed, wantRead, wantWrite, failed(String) }
    enum WriteStep { case take(Int), wantRead, wantWrite, failed(String) }

    var reads: [ReadStep]
    var writes: [WriteStep]
    var closes: [SecureIO]
    var incoming: [UInt8]
    private(set) var written: [UInt8] = []
    private(set) var closeCalls = 0

    init(reads: [ReadStep] = [], writes: [WriteStep] = [], closes: [SecureIO] = [.closed], incoming: [UInt8] = []) {
        self.reads = reads
        self.writes = writes
        self.closes = closes
        self.incoming = incoming
    }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) -> SecureIO {
        guard !reads.isEmpty else { return .wantRead }
        switch reads.removeFirst() {
        case .bytes(let wanted):
            let n = min(wanted, count, incoming.count)
            incoming.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: n) }
            incoming.removeFirst(n)
            return .bytes(n)
        case .closed: return .closed
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .failed(let reason): return .failed(reason: reason)
        }
    }

    func write(from buffer: UnsafeRawPointer, count: Int) -> SecureIO {
        guard !writes.isEmpty else { return .wantWrite }
        switch writes.removeFirst() {
        case .take(let wanted):
            let n = min(wanted, count)
            written += UnsafeRawBufferPointer(start: buffer, count: n)
            return .bytes(n)
        case .wantRead: return .wantRead
        case .wantWrite: return .wantWrite
        case .failed(let reason): return .failed(reason: reason)
        }
    }

    func closeWrite() -> SecureIO {
        closeCalls += 1
        return closes.isEmpty ? .closed : closes.removeFirst()
    }
}

@Suite struct SecureEndpointTests {
    let pipes = PipePool(pipeSize: 65536, limit: 4)
    let buffers = BufferPool(bufferSize: 64 * 1024)

    init() { ProcessInfo.ignoreBrokenPipeSignal() }

    @Test func recordsFromASecureSourceAreGatheredIntoOneWrite() throws {
        let pair = try LoopbackPair()
        defer { pair.close() }
        let payload = patternBytes(300, seed: 7)
        let channel = ScriptedChannel(reads: [.bytes(100), .bytes(150), .bytes(50), .wantRead], incoming: payload)
        var direction = HalfDuplex()
        let outcome = direction.pump(from: .secure(channel, over: pair.near), to: .socket(pair.near), pipes: pipes, buffers: buffers, budget: 4)
        #expect(outcome == .blocked)
        #expect(direction.waitingFor == .sourceReadable)
        #expect(direction.bytesDelivered == 300)
        #expect(direction.bytesSpliced == 0, "bytes from TLS cannot be spliced")
        #expect(try receiveAvailable(pair.far) == payload)
        direction.releaseResources(pipes: pipes, buffers: buffers)
    }

    @Test func closeNotifyAfterDataDeliversTheDataThenForwardsTheEnd() throws {
        let pair = try LoopbackPair()
        defer { pair.close() }
        let channel = ScriptedChannel(reads: [.bytes(5), .closed], incoming: Array("hello".utf8))
        var direction = HalfDuplex()
        let outcome = direction.pump(from: .secure(channel, over: pair.near), to: .socket(pair.near), pipes: pipes, buffers: buffers, budget: 4)
        #expect(outcome == .finished)
        #expect(direction.state == .writeShut)
        #expect(try receiveAvailable(pair.far) == Array("hello".utf8))
        #expect(try receiveAvailable(pair.far) == [], "FIN follows the data")
    }

    @Test(arguments: [
        (ScriptedChannel.ReadStep.wantWrite, HalfDuplex.Wait.sourceWritable),
        (.wantRead, .sourceReadable),
    ])
    func aSecureSourceWaitsForWhatItsSocketNeeds(_ step: ScriptedChannel.ReadStep, _ wait: HalfDuplex.Wait) throws {
        let pair = try LoopbackPair()
        defer { pair.close() }
        let channel = ScriptedChannel(reads: [step])
        var direction = HalfDuplex()
        #expect(direction.pump(from: .secure(channel, over: pair.near), to: .socket(pair.near), pipes: pipes, buffers: buffers, budget: 4) == .blocked)
        #expect(direction.waitingFor == wait)
        direction.releaseResources(pipes: pipes, buffers: buffers)
    }

    @Test func aFailingSecureSourceIsAProtocolFailure() throws {
        let pair = try LoopbackPair()
        defer { pair.close() }
        let channel = ScriptedChannel(reads: [.failed("truncated: no close_notify")])
        var direction = HalfDuplex()
        let outcome = direction.pump(from: .secure(channel, over: pair.near), to: .socket(pair.near), pipes: pipes, buffers: buffers, budget: 4)
        #expect(outcome == .failed(.sourceProtocol("truncated: no close_notify")))
    }

    @Test func partialSecureWritesResumeWhereTheyStopped() throws {
        let pair = try LoopbackPair()
        defer { pair.close() }
        let payload = patternBytes(1000, seed: 9)
        try sendAll(pair.near, payload)
        waitReadable(pair.far)
        let channel = ScriptedChannel(writes: [.take(400), .wantWrite])
        var direction = HalfDuplex()
        #expect(direction.pump(from: .socket(pair.far), to: .secure(channel, over: pair.far), pipes: pipes, buffers: buffers, budget: 4) == .blocked)
        #expect(direction.waitingFor == .destinationWritable)
        #expect(direction.bytesInFlight == 600)
        channel.writes = [.wantRead]
        #expect(direction.pump(from: .socket(pair.far), to: .secure(channel, over: pair.far), pipes: pipes, buffers: buffers, budget: 4) == .blocked)
        #expect(direction.waitingFor == .destinationReadable, "a TLS write that must read first waits for readability")
        channel.writes = [.take(600)]
        #expect(direction.pump(from: .socket(pair.far), to: .secure(channel, over: pair.far), pipes: pipes, buffers: buffers, budget: 4) == .blocked)
        #expect(channel.written == payload)
        #expect(direction.bytesDelivered == 1000)
        direction.releaseResources(pipes: pipes, buffers: buffers)
    }

    @Test func theEndReachesASecureDestinationAsCloseNotifyThenFIN() throws {
        let client = try LoopbackPair()
        let upstream = try LoopbackPair()
        defer { client.close(); upstream.close() }
        try Socket.shutdownWrite(client.near)
        waitReadable(client.far)
        let channel = ScriptedChannel(closes: [.wantWrite, .closed])
        var direction = HalfDuplex()
        direction.noteSourceHangup()
        let destination = RelayEndpoint.secure(channel, over: upstream.near)
        #expect(direction.pump(from: .socket(client.far), to: destination, pipes: pipes, buffers: buffers, budget: 4) == .blocked)
        #expect(direction.waitingFor == .destinationWritable, "close_notify could not be written yet")
        #expect(direction.pump(from: .socket(client.far), to: destination, pipes: pipes, buffers: buffers, budget: 4) == .finished)
        #expect(channel.closeCalls == 2)
        #expect(try receiveAvailable(upstream.far) == [], "the TCP FIN follows close_notify")
    }

    @Test func aSplicingCandidateNeverSplicesIntoASecureDestination() throws {
        let pair = try LoopbackPair()
        defer { pair.close() }
        let payload = patternBytes(256 * 1024, seed: 11)
        let writer = try OSThread.spawn(name: "writer") { try? sendAll(pair.near, payload) }
        let channel = ScriptedChannel()
        var taken: [UInt8] = []
        var direction = HalfDuplex()
        while taken.count < payload.count {
            waitReadable(pair.far)
            channel.writes = Array(repeating: .take(1 << 20), count: 64)
            _ = direction.pump(from: .socket(pair.far), to: .secure(channel, over: pair.far), pipes: pipes, buffers: buffers, budget: 4)
            taken = channel.written
        }
        writer.join()
        #expect(taken == payload)
        #expect(direction.bytesSpliced == 0)
        #expect(!direction.streaming)
        direction.releaseResources(pipes: pipes, buffers: buffers)
    }

    @Test func smallPiecesGoOutAsOneRecordAndLargeOnesAsTheyAre() {
        let channel = ScriptedChannel(writes: [.take(1 << 20), .take(1 << 20), .wantWrite, .take(1 << 20)])
        let endpoint = RelayEndpoint.secure(channel, over: Descriptor(rawValue: -1))
        let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".utf8)
        let body = Array("hello".utf8)
        func write(_ pieces: [[UInt8]]) -> EndpointWrite {
            // Pinned for the call, as the Outbox pins its pieces.
            pieces[0].withUnsafeBytes { first in
                pieces[1].withUnsafeBytes { second in
                    withUnsafeTemporaryAllocation(of: IOVector.self, capacity: 2) { vectors in
                        vectors[0] = IOVector(base: first.baseAddress!, count: first.count)
                        vectors[1] = IOVector(base: second.baseAddress!, count: second.count)
                        return endpoint.write(vectors: vectors)
                    }
                }
            }
        }
        #expect(write([head, body]) == .bytes(head.count + body.count), "one write of both pieces")
        #expect(channel.written == head + body)
        // A first piece of a record's size or more is written alone, without a copy.
        let large = [UInt8](repeating: 7, count: 20_000)
        #expect(write([large, body]) == .bytes(large.count))
        // wantWrite, then the same bytes again.
        #expect(write([head, body]) == .wait(readable: false))
        #expect(write([head, body]) == .bytes(head.count + body.count))
        #expect(channel.written == head + body + large + head + body)
    }
}
