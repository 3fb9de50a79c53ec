import Glibc

/// An errno value as a type, so callers can match `.connectionRefused` instead of a bare integer.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let permissionDenied = Errno(rawValue: EPERM)
    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let interrupted = Errno(rawValue: EINTR)
    public static let badDescriptor = Errno(rawValue: EBADF)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let accessDenied = Errno(rawValue: EACCES)
    public static let busy = Errno(rawValue: EBUSY)
    public static let exists = Errno(rawValue: EEXIST)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let tooManyOpenFilesInSystem = Errno(rawValue: ENFILE)
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let notImplemented = Errno(rawValue: ENOSYS)
    public static let protocolNotSupported = Errno(rawValue: EPROTONOSUPPORT)
    public static let operationNotSupported = Errno(rawValue: EOPNOTSUPP)
    public static let addressFamilyNotSupported = Errno(rawValue: EAFNOSUPPORT)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let addressNotAvailable = Errno(rawValue: EADDRNOTAVAIL)
    public static let networkUnreachable = Errno(rawValue: ENETUNREACH)
    public static let connectionAborted = Errno(rawValue: ECONNABORTED)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    public static let outOfMemory = Errno(rawValue: ENOMEM)
    public static let notConnected = Errno(rawValue: ENOTCONN)
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let hostUnreachable = Errno(rawValue: EHOSTUNREACH)
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    public static let protocolOptionNotAvailable = Errno(rawValue: ENOPROTOOPT)

    /// The symbolic name (`ECONNREFUSED`) where known, else the number.
    public var name: String {
        switch rawValue {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case EINTR: return "EINTR"
        case EBADF: return "EBADF"
        case EAGAIN: return "EAGAIN"
        case EACCES: return "EACCES"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case EINVAL: return "EINVAL"
        case ENFILE: return "ENFILE"
        case EMFILE: return "EMFILE"
        case EPIPE: return "EPIPE"
        case ENOSYS: return "ENOSYS"
        case EPROTONOSUPPORT: return "EPROTONOSUPPORT"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        case EAFNOSUPPORT: return "EAFNOSUPPORT"
        case EADDRINUSE: return "EADDRINUSE"
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL"
        case ENETUNREACH: return "ENETUNREACH"
        case ECONNABORTED: return "ECONNABORTED"
        case ECONNRESET: return "ECONNRESET"
        case ENOBUFS: return "ENOBUFS"
        case ENOTCONN: return "ENOTCONN"
        case ETIMEDOUT: return "ETIMEDOUT"
        case ECONNREFUSED: return "ECONNREFUSED"
        case EHOSTUNREACH: return "EHOSTUNREACH"
        case EINPROGRESS: return "EINPROGRESS"
        case ENOPROTOOPT: return "ENOPROTOOPT"
        case ENOMEM: return "ENOMEM"
        case EISDIR: return "EISDIR"
        case ENOTDIR: return "ENOTDIR"
        case ELOOP: return "ELOOP"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case EFBIG: return "EFBIG"
        case EIO: return "EIO"
        case EROFS: return "EROFS"
        case ENXIO: return "ENXIO"
        case ENOSPC: return "ENOSPC"
        case EXDEV: return "EXDEV"
        case EDQUOT: return "EDQUOT"
        default: return "errno \(rawValue)"
        }
    }

    /// `ECONNREFUSED (Connection refused)`.
    public var description: String {
        guard let message = strerror(rawValue) else { return name }
        return "\(name) (\(String(cString: message)))"
    }

    /// The calling thread's current errno.
    @inline(__always)
    public static var current: Errno { Errno(rawValue: errno) }
}

/// A system call that failed: which call, and the errno it left.
public struct SyscallError: Error, Sendable, CustomStringConvertible {
    /// The name of the call, e.g. `"connect"`.
    public let call: StaticString
    public let errno: Errno

    public init(_ call: StaticString, _ errno: Errno) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(errno)" }
}

/// What a non-blocking operation produced: a value, or "try again when the descriptor is ready".
public enum IOOutcome<Value>: Sendable where Value: Sendable {
    case done(Value)
    case wouldBlock
}

extension IOOutcome: Equatable where Value: Equatable {}

/// Runs a syscall that returns -1 with errno on failure, retrying on EINTR. EBADF and EFAULT are
/// programmer errors (a closed or bogus descriptor/pointer) and stop the process with the call's
/// name rather than letting it act on someone else's descriptor.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: StaticString, _ body: () -> T) throws(SyscallError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        precondition(code != EBADF && code != EFAULT, "\(call): \(Errno(rawValue: code)) — a descriptor or pointer bug")
        throw SyscallError(call, Errno(rawValue: code))
    }
}

/// Like `retryingEINTR`, but EAGAIN/EWOULDBLOCK becomes `.wouldBlock` rather than an error.
@inline(__always)
func nonBlocking<T: BinaryInteger & Sendable>(_ call: StaticString, _ body: () -> T) throws(SyscallError) -> IOOutcome<T> {
    while true {
        let result = body()
        if result != -1 { return .done(result) }
        let code = errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        precondition(code != EBADF && code != EFAULT, "\(call): \(Errno(rawValue: code)) — a descriptor or pointer bug")
        throw SyscallError(call, Errno(rawValue: code))
    }
}
