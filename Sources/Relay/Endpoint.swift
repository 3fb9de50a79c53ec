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
