import Glibc

/// A file descriptor number. It does not own the descriptor: whoever created it calls `close()`
/// exactly once (the connection state machines in Relay/Proxy track that).
public struct Descriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let standardError = Descriptor(rawValue: 2)

    public var description: String { "fd \(rawValue)" }

    /// Wraps close(2). EINTR counts as closed (Linux always releases the descriptor), so this never
    /// retries: retrying could close a descriptor another thread just received.
    @inline(never)
    public func close() {
        let result = Glibc.close(rawValue)
        if result == -1 {
            precondition(errno != EBADF, "close: EBADF on \(rawValue) — closed twice")
        }
    }

    /// Wraps read(2). Returns the byte count (0 at end of file) or `.wouldBlock`.
    @inline(never)
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws(SyscallError) -> IOOutcome<Int> {
        try nonBlocking("read") { Glibc.read(rawValue, buffer, count) }
    }

    /// Wraps write(2) for non-socket descriptors (pipes, files, eventfds).
    @inline(never)
    public func write(from buffer: UnsafeRawPointer, count: Int) throws(SyscallError) -> IOOutcome<Int> {
        try nonBlocking("write") { Glibc.write(rawValue, buffer, count) }
    }

    /// Writes all of `text` to a blocking descriptor (standard error, a log file) in as few write(2)
    /// calls as the kernel allows; lines up to PIPE_BUF bytes are never interleaved with other
    /// threads' lines on a pipe.
    public func writeAll(_ text: String) {
        var text = text
        text.withUTF8 { writeAll(UnsafeRawBufferPointer($0)) }
    }

    /// Writes all of `bytes` to a blocking descriptor, as `writeAll(_:)` for text.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(rawValue, base + offset, bytes.count - offset)
            if written > 0 { offset += written; continue }
            if written == -1, errno == EINTR { continue }
            return // Nowhere to report a failing log write; dropping the line is the only option.
        }
    }
}
