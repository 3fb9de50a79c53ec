import LinuxSys

/// What a secure channel's non-blocking operation produced.
public enum SecureIO: Sendable, Equatable {
    /// This many bytes were read (plaintext) or accepted for writing.
    case bytes(Int)
    /// The peer closed its side cleanly (TLS close_notify).
    case closed
    /// Nothing can move until the channel's socket is readable.
    case wantRead
    /// Nothing can move until the channel's socket is writable.
    case wantWrite
    /// The channel failed; `reason` is a short stable token for logs (`untrusted-ca`, `protocol`…).
    case failed(reason: String)
}

/// A byte stream layered over a socket, such as a TLS session: the relay reads plaintext from it
/// and writes plaintext to it, and it does its own socket I/O. Implementations never block.
public protocol SecureChannel: AnyObject {
    /// Reads decrypted bytes. A channel that buffers decrypted data internally must keep
    /// returning it until `.wantRead` (edge-triggered epoll reports no new edge for it).
    func read(into buffer: UnsafeMutableRawPointer, count: Int) -> SecureIO
    /// Writes bytes; may accept fewer than `count`. The caller retries with the bytes not taken.
    func write(from buffer: UnsafeRawPointer, count: Int) -> SecureIO
    /// Ends the write direction cleanly (TLS close_notify); reading may continue.
    func closeWrite() -> SecureIO
    /// After a read that returned bytes: reading again could only say "would block" (the
    /// socket was found empty and nothing decrypted or undecrypted is buffered).
    var socketDrained: Bool { get }
}

extension SecureChannel {
    /// Unknown unless the channel says: read until it would block.
    public var socketDrained: Bool { false }
}

/// One end of a relayed connection: a plain socket, or a secure channel over a socket.
public enum RelayEndpoint {
    case socket(Descriptor)
    case secure(any SecureChannel, over: Descriptor)

    /// The socket underneath.
    public var descriptor: Descriptor {
        switch self {
        case .socket(let descriptor), .secure(_, over: let descriptor): return descriptor
        }
    }

    /// Whether bytes can be spliced to or from this end (only a plain socket can).
    var isPlain: Bool {
        if case .socket = self { return true }
        return false
    }
}

/// Why reading or writing an endpoint failed.
public enum EndpointFailure: Error, Sendable, Equatable {
    /// The socket failed (ECONNRESET, EPIPE, ...).
    case system(Errno)
    /// The secure channel failed; its reason token.
    case secure(String)
}

/// What one read from an endpoint produced.
public enum EndpointRead: Sendable, Equatable {
    /// This many bytes. For a plain socket, `drained` says the read was short, so the socket was
    /// empty at that moment and the next byte brings a new edge; a secure channel reports it when
    /// its socket said EAGAIN. `ended`: the peer ended its side right after these bytes.
    case bytes(Int, drained: Bool, ended: Bool)
    /// The peer ended its side (FIN, or close_notify).
    case end
    /// Nothing now; wait for the readiness named (a secure channel may need to write first).
    case wait(writable: Bool)
    case failed(EndpointFailure)
}

/// What one write to an endpoint produced.
public enum EndpointWrite: Sendable, Equatable {
    case bytes(Int)
    /// Nothing now; wait for the readiness named (a secure channel may need to read first).
    case wait(readable: Bool)
    case failed(EndpointFailure)
}

extension RelayEndpoint {
    /// One read of at most `count` bytes. Plain sockets use recv(2); a short read reports
    /// `drained`. Secure channels are read until their socket would block, up to `count`.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) -> EndpointRead {
        switch self {
        case .socket(let descriptor):
            do {
                switch try Socket.receive(descriptor, into: buffer, count: count) {
                case .wouldBlock: return .wait(writable: false)
                case .done(0): return .end
                case .done(let received): return .bytes(received, drained: received < count, ended: false)
                }
            } catch {
                return .failed(.system(error.errno))
            }
        case .secure(let channel, _):
            var filled = 0
            while filled < count {
                switch channel.read(into: buffer + filled, count: count - filled) {
                case .bytes(let received):
                    filled += received
                    // Like a short recv(2): the next bytes bring a new edge, so stop here rather
                    // than pay a read that can only say EAGAIN.
                    if channel.socketDrained { return .bytes(filled, drained: true, ended: false) }
                case .closed:
                    return filled > 0 ? .bytes(filled, drained: false, ended: true) : .end
                case .wantRead:
                    // SSL_MODE_AUTO_RETRY: want-read means the socket said EAGAIN.
                    return filled > 0 ? .bytes(filled, drained: true, ended: false) : .wait(writable: false)
                case .wantWrite:
                    return filled > 0 ? .bytes(filled, drained: false, ended: false) : .wait(writable: true)
                case .failed(let reason):
                    return .failed(.secure(reason))
                }
            }
            return .bytes(filled, drained: false, ended: false)
        }
    }

    /// One write of up to `count` bytes (partial writes are normal).
    public func write(from buffer: UnsafeRawPointer, count: Int) -> EndpointWrite {
        switch self {
        case .socket(let descriptor):
            do {
                switch try Socket.send(descriptor, from: buffer, count: count) {
                case .wouldBlock: return .wait(readable: false)
                case .done(let sent): return .bytes(sent)
                }
            } catch {
                return .failed(.system(error.errno))
            }
        case .secure(let channel, _):
            switch channel.write(from: buffer, count: count) {
            case .bytes(let sent): return .bytes(sent)
            case .wantWrite: return .wait(readable: false)
            case .wantRead: return .wait(readable: true)
            case .closed: return .failed(.secure("closed"))
            case .failed(let reason): return .failed(.secure(reason))
            }
        }
    }

    /// Writes several buffers in order with one call where the end allows it (a plain socket:
    /// sendmsg(2)); a secure channel takes the first buffer only, as TLS records are written
    /// one at a time. May accept fewer bytes than offered.
    public func write(vectors: UnsafeMutableBufferPointer<IOVector>) -> EndpointWrite {
        switch self {
        case .socket(let descriptor):
            if vectors.count == 1 { return write(from: vectors[0].base, count: vectors[0].count) }
            do {
                switch try Socket.send(descriptor, vectors: vectors) {
                case .wouldBlock: return .wait(readable: false)
                case .done(let sent): return .bytes(sent)
                }
            } catch {
                return .failed(.system(error.errno))
            }
        case .secure:
            guard let first = vectors.first else { return .bytes(0) }
            guard vectors.count > 1, first.count < Self.coalescedRecordBytes else { return write(from: first.base, count: first.count) }
            // Several small pieces (a response head and its body) become one TLS record and one
            // write(2) rather than a record and a syscall each: copied, up to a record's worth.
            // A retry after wantWrite copies the same bytes again (the contexts accept a moving
            // write buffer).
            return withUnsafeTemporaryAllocation(byteCount: Self.coalescedRecordBytes, alignment: 16) { scratch in
                var filled = 0
                for vector in vectors where filled < scratch.count {
                    let take = min(vector.count, scratch.count - filled)
                    scratch.baseAddress!.advanced(by: filled).copyMemory(from: vector.base, byteCount: take)
                    filled += take
                }
                return write(from: scratch.baseAddress!, count: filled)
            }
        }
    }

    /// The most that is copied together into one TLS record (the largest TLS plaintext record).
    static let coalescedRecordBytes = 16384

    /// Ends the write side: close_notify on a secure channel, then FIN. `.bytes(0)` when done.
    public func closeWrite() -> EndpointWrite {
        if case .secure(let channel, _) = self {
            switch channel.closeWrite() {
            case .bytes, .closed: break
            case .wantWrite: return .wait(readable: false)
            case .wantRead: return .wait(readable: true)
            case .failed(let reason): return .failed(.secure(reason))
            }
        }
        do {
            try Socket.shutdownWrite(descriptor)
        } catch {
            return .failed(.system(error.errno))
        }
        return .bytes(0)
    }
}
