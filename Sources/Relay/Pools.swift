import LinuxSys

/// A worker's pipes for splicing. A direction takes a pipe only while bytes are in flight and gives
/// it back as soon as the pipe is empty (as HAProxy does), so the number of pipes follows the
/// number of directions actually moving data, not the number of connections — which keeps a
/// thousand idle connections from costing two thousand pipes and the per-user pipe page budget
/// (pipe(7): pipe-user-pages-soft) that makes new pipes tiny once exceeded.
public final class PipePool {
    /// Requested capacity of each pipe (F_SETPIPE_SZ).
    public let pipeSize: Int
    /// At most this many pipes exist at once; beyond it, directions use a buffered copy.
    public let limit: Int
    private var idle: [Pipe] = []
    /// Pipes that exist now (idle or lent out).
    public private(set) var created = 0
    /// Times `acquire` had to say no (limit reached or descriptors exhausted).
    public private(set) var refusals: UInt64 = 0

    public init(pipeSize: Int, limit: Int) {
        self.pipeSize = pipeSize
        self.limit = limit
        idle.reserveCapacity(min(limit, 1024))
    }

    deinit {
        for pipe in idle { pipe.close() }
    }

    /// An empty pipe, or nil when the limit is reached or pipe2 fails (EMFILE/ENFILE): the caller
    /// falls back to copying through user space rather than failing the connection.
    public func acquire() -> Pipe? {
        if let pipe = idle.popLast() { return pipe }
        guard created < limit else {
            refusals &+= 1
            return nil
        }
        do {
            let pipe = try Pipe.make(capacity: pipeSize)
            created += 1
            return pipe
        } catch {
            refusals &+= 1
            return nil
        }
    }

    /// Returns an EMPTY pipe for reuse.
    public func release(_ pipe: Pipe) {
        idle.append(pipe)
    }

    /// Closes a pipe that may still hold bytes (its connection was reset): reusing it would hand
    /// those bytes to another connection.
    public func discard(_ pipe: Pipe) {
        pipe.close()
        created -= 1
    }

    /// Closes idle pipes beyond `keep` (to give descriptors back under pressure).
    public func trim(keep: Int) {
        while idle.count > keep, let pipe = idle.popLast() {
            pipe.close()
            created -= 1
        }
    }
}

/// A worker's user-space buffers for the copy path, lent like pipes: only while bytes are in flight.
public final class BufferPool {
    public let bufferSize: Int
    private var idle: [UnsafeMutableRawPointer] = []
    public private(set) var created = 0

    public init(bufferSize: Int) {
        self.bufferSize = bufferSize
    }

    deinit {
        for buffer in idle { buffer.deallocate() }
    }

    public func acquire() -> UnsafeMutableRawPointer {
        if let buffer = idle.popLast() { return buffer }
        created += 1
        return .allocate(byteCount: bufferSize, alignment: 64)
    }

    /// Buffers lent out now.
    public var lent: Int { created - idle.count }

    public func release(_ buffer: UnsafeMutableRawPointer) {
        // Keep a bounded reserve; a burst of copies should not pin its peak memory forever.
        if idle.count < 64 { idle.append(buffer) } else { buffer.deallocate(); created -= 1 }
    }
}
