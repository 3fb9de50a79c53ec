import LinuxSys

/// One direction of a relayed connection (source socket → destination socket) as a small state
/// machine:
///
///     open ──(source EOF)──▶ readClosed ──(bytes in flight delivered, FIN sent)──▶ writeShut
///       └──────────────(reset or error on either socket)──────────▶ failed (reported to caller)
///
/// A direction starts by copying through a user-space buffer and switches to splice(2) through a
/// pooled pipe once a read fills the whole buffer (a "fast streamer", HAProxy's splice-auto): for
/// small request/response traffic splice saves nothing and costs pipe bookkeeping
/// (reference/linux-dataplane.md §3.3), for bulk it halves the proxy's CPU per byte. A splice
/// read under `streamingThreshold` bytes switches back. Pipes and buffers are borrowed only while
/// bytes are in flight.
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

    /// Which readiness this direction needs before pumping again makes progress.
    public enum Wait: Sendable, Equatable {
        case nothing
        /// The source must become readable.
        case sourceReadable
        /// The destination must become writable.
        case destinationWritable
    }

    /// Why a direction stopped abnormally.
    public enum Failure: Error, Sendable, Equatable {
        /// Reading the source failed: it was reset (ECONNRESET) or otherwise died.
        case source(Errno)
        /// Writing the destination failed: it was reset or closed its read side (EPIPE).
        case destination(Errno)
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

    /// Splice reads smaller than this mean the stream slowed down: go back to copying.
    public static let streamingThreshold = 16 * 1024

    public init() {}

    /// Records that the source socket reported EPOLLRDHUP, EPOLLHUP or EPOLLERR.
    public mutating func noteSourceHangup() {
        sourceHungUp = true
    }

    /// Moves bytes until a socket would block, the source ends, or `budget` reads are done.
    /// `source` and `destination` must be non-blocking sockets, and the process must ignore
    /// SIGPIPE: splice(2) into a reset socket raises it (there is no MSG_NOSIGNAL for splice).
    public mutating func pump(
        from source: Descriptor, to destination: Descriptor,
        pipes: PipePool, buffers: BufferPool, budget: Int
    ) -> Outcome {
        guard state != .writeShut else { return .finished }
        var reads = 0
        // Called because something changed (a new edge, or a retry): the source may have data.
        sourceDrained = false
        while true {
            if bytesInFlight > 0 {
                switch deliver(to: destination) {
                case .success(.wouldBlock):
                    waitingFor = .destinationWritable
                    return .blocked
                case .success(.done(let count)):
                    bytesInFlight -= count
                    bytesDelivered &+= UInt64(count)
                    if pipe != nil { bytesSpliced &+= UInt64(count) }
                    if bytesInFlight == 0 { returnHolder(pipes: pipes, buffers: buffers) }
                    continue
                case .failure(let failure):
                    return .failed(failure)
                }
            }
            if state == .readClosed {
                do {
                    try Socket.shutdownWrite(destination)
                } catch {
                    return .failed(.destination(error.errno))
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
            switch fill(from: source, pipes: pipes, buffers: buffers) {
            case .success(.wouldBlock):
                returnHolder(pipes: pipes, buffers: buffers)
                waitingFor = .sourceReadable
                return .blocked
            case .success(.done(0)):
                returnHolder(pipes: pipes, buffers: buffers)
                state = .readClosed
            case .success(.done(let count)):
                bytesInFlight = count
            case .failure(let failure):
                return .failed(failure)
            }
        }
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

    /// Reads into an empty pipe (or buffer). 0 means the source sent FIN.
    private mutating func fill(from source: Descriptor, pipes: PipePool, buffers: BufferPool) -> Result<IOOutcome<Int>, Failure> {
        if streaming, pipe == nil, buffer == nil, !spliceUnavailable { pipe = pipes.acquire() }
        if let pipe {
            do {
                let outcome = try splice(from: source, to: pipe.writeEnd, count: pipes.pipeSize)
                // A pipe holds a bounded number of buffers, each possibly a partial page, so a
                // short splice read does not prove the socket is empty: no sourceDrained here.
                if case .done(let count) = outcome, count > 0, count < Self.streamingThreshold { streaming = false }
                return .success(outcome)
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
                    return .failure(.source(error.errno))
                }
            }
        }
        if buffer == nil { buffer = buffers.acquire() }
        bufferOffset = 0
        do {
            let outcome = try Socket.receive(source, into: buffer!, count: buffers.bufferSize)
            if case .done(let count) = outcome, count > 0 {
                if count == buffers.bufferSize {
                    streaming = pipes.limit > 0 && !spliceUnavailable
                } else if !sourceHungUp {
                    sourceDrained = true
                }
            }
            return .success(outcome)
        } catch {
            return .failure(.source(error.errno))
        }
    }

    /// Writes bytes in flight to the destination.
    private mutating func deliver(to destination: Descriptor) -> Result<IOOutcome<Int>, Failure> {
        do {
            if let pipe {
                return .success(try splice(from: pipe.readEnd, to: destination, count: bytesInFlight))
            }
            let outcome = try Socket.send(destination, from: buffer! + bufferOffset, count: bytesInFlight)
            if case .done(let count) = outcome { bufferOffset += count }
            return .success(outcome)
        } catch {
            return .failure(.destination(error.errno))
        }
    }
}
