import LinuxSys

/// One direction of a relayed connection (source → destination) as a small state machine:
///
///     open ──(source EOF)──▶ readClosed ──(bytes in flight delivered, FIN sent)──▶ writeShut
///       └──────────────(reset or error on either end)──────────▶ failed (reported to caller)
///
/// Either end may be a plain socket or a secure channel (TLS) over a socket.
/// Between two plain sockets a direction starts by copying through a user-space buffer and
/// switches to splice(2) through a pooled pipe once a read fills the whole buffer (a "fast
/// streamer", HAProxy's splice-auto): for small request/response traffic splice saves nothing and
/// costs pipe bookkeeping (reference/linux-dataplane.md §3.3), for bulk it halves the proxy's CPU
/// per byte. A splice read under `streamingThreshold` bytes switches back. A secure end always
/// goes through the buffer: its bytes must pass through the TLS library. Pipes and buffers are
/// borrowed only while bytes are in flight.
/// The relay only fills an *empty* pipe or buffer: then EAGAIN from a socket→pipe splice can only
/// mean "socket empty" — with bytes still in the pipe it could also mean "pipe full"
/// (reference/linux-dataplane.md §3.1).
public struct HalfDuplex {
    public enum State: Sendable, Equatable {
        /// Reading from the source.
        case open
        /// The source sent FIN; bytes still in flight are being delivered.
        case readClosed
        /// FIN forwarded to the destination: this direction is done.
        case writeShut
    }

    /// Which readiness this direction needs before pumping again makes progress. A secure end
    /// can need the opposite readiness of the operation (a TLS read that must write, or a write
    /// that must read first).
    public enum Wait: Sendable, Equatable {
        case nothing
        /// The source must become readable.
        case sourceReadable
        /// The source must become writable (a secure source has something to send first).
        case sourceWritable
        /// The destination must become readable (a secure destination must read first).
        case destinationReadable
        /// The destination must become writable.
        case destinationWritable
    }

    /// Why a direction stopped abnormally.
    public enum Failure: Error, Sendable, Equatable {
        /// Reading the source failed: it was reset (ECONNRESET) or otherwise died.
        case source(Errno)
        /// Writing the destination failed: it was reset or closed its read side (EPIPE).
        case destination(Errno)
        /// The source's secure channel failed (a TLS alert, a truncated stream); the reason token.
        case sourceProtocol(String)
        /// The destination's secure channel failed.
        case destinationProtocol(String)
    }

    public enum Outcome: Sendable, Equatable {
        /// Waiting for the readiness in `waitingFor`.
        case blocked
        /// FIN has been forwarded; nothing more will move in this direction.
        case finished
        /// The budget ran out with more to do: pump again soon (fairness between connections).
        case yielded
        case failed(Failure)
    }

    public private(set) var state: State = .open
    public private(set) var waitingFor: Wait = .nothing
    /// Bytes delivered to the destination.
    public private(set) var bytesDelivered: UInt64 = 0
    /// Of `bytesDelivered`, how many went through a pipe (the rest were copied).
    public private(set) var bytesSpliced: UInt64 = 0
    /// Bytes read from the source but not yet delivered.
    public private(set) var bytesInFlight = 0

    private var pipe: Pipe?
    private var buffer: UnsafeMutableRawPointer?
    private var bufferOffset = 0
    /// Set after splice reported EINVAL/ENOSYS for this pair: copy from then on.
    public private(set) var spliceUnavailable = false
    /// Recent reads were large: move bytes with splice.
    public private(set) var streaming = false
    /// A read returned less than asked for, so the source socket was empty at that moment and
    /// edge-triggered epoll will report the next byte that arrives: reading again now would only
    /// return EAGAIN. (TCP returns a short read only when its receive queue is empty, tcp(7).)
    private var sourceDrained = false
    /// The source reported FIN/RST (EPOLLRDHUP/HUP/ERR). After that a short read proves nothing —
    /// the end of stream has no further edge — so reading continues until 0 or an error.
    private var sourceHungUp = false
    /// A secure source ended (close_notify) after handing over the bytes now in flight.
    private var endAfterDelivery = false

    /// Splice reads smaller than this mean the stream slowed down: go back to copying.
    public static let streamingThreshold = 16 * 1024

    public init() {}

    /// Hands the direction bytes already read from its source — a protocol sniffer's first look
    /// at decrypted data, or what followed an HTTP upgrade — to be delivered before anything else.
    /// Takes `buffer` (from the same `BufferPool` later passed to `pump`) holding `count` > 0 bytes
    /// from `offset`.
    public mutating func seed(buffer: UnsafeMutableRawPointer, offset: Int = 0, count: Int) {
        precondition(count > 0 && bytesInFlight == 0 && self.buffer == nil && pipe == nil, "seeding a direction that already holds bytes")
        self.buffer = buffer
        bufferOffset = offset
        bytesInFlight = count
    }

    /// Records that the source socket reported EPOLLRDHUP, EPOLLHUP or EPOLLERR.
    public mutating func noteSourceHangup() {
        sourceHungUp = true
    }

    /// Moves bytes until an end would block, the source ends, or `budget` reads are done.
    /// The sockets must be non-blocking, and the process must ignore SIGPIPE: splice(2) into a
    /// reset socket raises it (there is no MSG_NOSIGNAL for splice).
    public mutating func pump(
        from source: RelayEndpoint, to destination: RelayEndpoint,
        pipes: PipePool, buffers: BufferPool, budget: Int
    ) -> Outcome {
        guard state != .writeShut else { return .finished }
        var reads = 0
        // Called because something changed (a new edge, or a retry): the source may have data.
        sourceDrained = false
        while true {
            if bytesInFlight > 0 {
                switch deliver(to: destination) {
                case .moved(let count):
                    bytesInFlight -= count
                    bytesDelivered &+= UInt64(count)
                    if pipe != nil { bytesSpliced &+= UInt64(count) }
                    if bytesInFlight == 0 { returnHolder(pipes: pipes, buffers: buffers) }
                    continue
                case .wait(let wait):
                    waitingFor = wait
                    return .blocked
                case .failed(let failure):
                    return .failed(failure)
                }
            }
            if endAfterDelivery {
                endAfterDelivery = false
                state = .readClosed
            }
            if state == .readClosed {
                if let wait = forwardEnd(to: destination) {
                    if case .failed(let failure) = wait { return .failed(failure) }
                    if case .wait(let readiness) = wait { waitingFor = readiness }
                    return .blocked
                }
                state = .writeShut
                waitingFor = .nothing
                return .finished
            }
            if sourceDrained {
                waitingFor = .sourceReadable
                return .blocked
            }
            if reads == budget {
                waitingFor = .nothing
                return .yielded
            }
            reads += 1
            switch fill(from: source, plainDestination: destination.isPlain, pipes: pipes, buffers: buffers) {
            case .moved(0):
                returnHolder(pipes: pipes, buffers: buffers)
                state = .readClosed
            case .moved(let count):
                bytesInFlight = count
            case .wait(let wait):
                returnHolder(pipes: pipes, buffers: buffers)
                waitingFor = wait
                return .blocked
            case .failed(let failure):
                return .failed(failure)
            }
        }
    }

    /// `pump` between two plain sockets.
    public mutating func pump(
        from source: Descriptor, to destination: Descriptor,
        pipes: PipePool, buffers: BufferPool, budget: Int
    ) -> Outcome {
        pump(from: .socket(source), to: .socket(destination), pipes: pipes, buffers: buffers, budget: budget)
    }

    /// Gives the pipe or buffer back when the connection closes. A pipe that still holds bytes
    /// (the connection was reset mid-transfer) is closed, never reused.
    public mutating func releaseResources(pipes: PipePool, buffers: BufferPool) {
        if let pipe {
            if bytesInFlight > 0 { pipes.discard(pipe) } else { pipes.release(pipe) }
            self.pipe = nil
        }
        if let buffer {
            buffers.release(buffer)
            self.buffer = nil
        }
        bytesInFlight = 0
    }

    private mutating func returnHolder(pipes: PipePool, buffers: BufferPool) {
        precondition(bytesInFlight == 0, "returning a pipe or buffer that still holds bytes")
        if let pipe {
            pipes.release(pipe)
            self.pipe = nil
        }
        if let buffer {
            buffers.release(buffer)
            self.buffer = nil
        }
        bufferOffset = 0
    }

    /// What one fill or delivery step did.
    private enum Step {
        /// Bytes read into the empty pipe/buffer (0: the source ended), or written out of it.
        case moved(Int)
        case wait(Wait)
        case failed(Failure)
    }

    /// Reads into an empty pipe (or buffer). `.moved(0)` means the source ended.
    private mutating func fill(from source: RelayEndpoint, plainDestination: Bool, pipes: PipePool, buffers: BufferPool) -> Step {
        switch source {
        case .socket(let descriptor):
            return fill(from: descriptor, splicing: plainDestination, pipes: pipes, buffers: buffers)
        case .secure:
            return fill(from: source, buffers: buffers)
        }
    }

    private mutating func fill(from source: Descriptor, splicing: Bool, pipes: PipePool, buffers: BufferPool) -> Step {
        if streaming, splicing, pipe == nil, buffer == nil, !spliceUnavailable { pipe = pipes.acquire() }
        if let pipe {
            do {
                switch try splice(from: source, to: pipe.writeEnd, count: pipes.pipeSize) {
                case .wouldBlock:
                    return .wait(.sourceReadable)
                case .done(let count):
                    // A pipe holds a bounded number of buffers, each possibly a partial page, so a
                    // short splice read does not prove the socket is empty: no sourceDrained here.
                    if count > 0, count < Self.streamingThreshold { streaming = false }
                    return .moved(count)
                }
            } catch {
                switch error.errno {
                case .invalidArgument, .notImplemented:
                    // This socket pair cannot splice (e.g. a kTLS socket's non-data record, or a
                    // socket type without splice_read). The pipe is still empty: copy instead.
                    spliceUnavailable = true
                    streaming = false
                    pipes.release(pipe)
                    self.pipe = nil
                default:
                    return .failed(.source(error.errno))
                }
            }
        }
        if buffer == nil { buffer = buffers.acquire() }
        bufferOffset = 0
        do {
            switch try Socket.receive(source, into: buffer!, count: buffers.bufferSize) {
            case .wouldBlock:
                return .wait(.sourceReadable)
            case .done(let count):
                if count == buffers.bufferSize {
                    streaming = splicing && pipes.limit > 0 && !spliceUnavailable
                } else if count > 0, !sourceHungUp {
                    sourceDrained = true
                }
                return .moved(count)
            }
        } catch {
            return .failed(.source(error.errno))
        }
    }

    /// Reads plaintext from a secure channel until the buffer is full or the channel has nothing
    /// more: one TLS record is at most 16 KiB, so several go out in one write to the destination.
    private mutating func fill(from source: RelayEndpoint, buffers: BufferPool) -> Step {
        if buffer == nil { buffer = buffers.acquire() }
        bufferOffset = 0
        switch source.read(into: buffer!, count: buffers.bufferSize) {
        case .bytes(let count, let drained, let ended):
            // The channel's socket said EAGAIN: deliver, then wait for the next edge without a
            // read that could only say EAGAIN again.
            if drained { sourceDrained = true }
            if ended { endAfterDelivery = true }
            return .moved(count)
        case .end:
            return .moved(0)
        case .wait(let writable):
            return .wait(writable ? .sourceWritable : .sourceReadable)
        case .failed(.system(let errno)):
            return .failed(.source(errno))
        case .failed(.secure(let reason)):
            return .failed(.sourceProtocol(reason))
        }
    }

    /// Writes bytes in flight to the destination.
    private mutating func deliver(to destination: RelayEndpoint) -> Step {
        if let pipe {
            do {
                switch try splice(from: pipe.readEnd, to: destination.descriptor, count: bytesInFlight) {
                case .wouldBlock: return .wait(.destinationWritable)
                case .done(let count): return .moved(count)
                }
            } catch {
                return .failed(.destination(error.errno))
            }
        }
        switch destination.write(from: buffer! + bufferOffset, count: bytesInFlight) {
        case .bytes(let count):
            bufferOffset += count
            return .moved(count)
        case .wait(let readable):
            return .wait(readable ? .destinationReadable : .destinationWritable)
        case .failed(.system(let errno)):
            return .failed(.destination(errno))
        case .failed(.secure(let reason)):
            return .failed(.destinationProtocol(reason))
        }
    }

    /// Passes the end of the stream on: close_notify on a secure destination, then FIN.
    /// Returns nil when done, or what to wait for / how it failed.
    private mutating func forwardEnd(to destination: RelayEndpoint) -> Step? {
        switch destination.closeWrite() {
        case .bytes:
            return nil
        case .wait(let readable):
            return .wait(readable ? .destinationReadable : .destinationWritable)
        case .failed(.system(let errno)):
            return .failed(.destination(errno))
        case .failed(.secure(let reason)):
            return .failed(.destinationProtocol(reason))
        }
    }
}
