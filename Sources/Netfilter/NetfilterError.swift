import LinuxSys

/// A failure talking to the kernel's nf_tables or rtnetlink, with a message that says what
/// failed, where, and what to do.
public struct NetfilterError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure, which decides the exit status of DESIGN.md's contract.
    public enum Kind: Hashable, Sendable {
        /// CAP_NET_ADMIN is missing in this network namespace (exit 3).
        case missingPrivilege
        /// The kernel lacks nf_tables or netlink support (exit 3).
        case missingKernelSupport
        /// The kernel refused one object of a batch; nothing was changed (exit 1).
        case rejected
        /// Anything else: a syscall failed, a reply made no sense (exit 1).
        case failed
    }

    /// Which exit status the failure maps to.
    public let kind: Kind
    /// The errno behind the failure, when there is one.
    public let errno: Errno?
    /// One line: what failed, where, and what to do.
    public let message: String

    /// A failure of `kind`, caused by `errno` if any, described by `message`.
    public init(_ kind: Kind, errno: Errno?, _ message: String) {
        self.kind = kind
        self.errno = errno
        self.message = message
    }

    public var description: String { message }

    static func missingPrivilege(_ errno: Errno, doing what: String) -> NetfilterError {
        NetfilterError(.missingPrivilege, errno: errno,
                       "needs CAP_NET_ADMIN to \(what) (the kernel answered \(errno.name)): run as root or add NET_ADMIN to the init container's capabilities")
    }

    static func missingNFTables(_ errno: Errno, at place: String) -> NetfilterError {
        NetfilterError(.missingKernelSupport, errno: errno,
                       "kernel has no nf_tables (\(place) failed with \(errno.name)): load it with `modprobe nf_tables` or use a kernel built with CONFIG_NF_TABLES")
    }
}
