import LinuxSys

/// Which network namespace this process is in, as far as installing interception goes: rules in
/// the host's initial namespace would redirect the machine's own connections.
public enum NetworkNamespace {
    /// Where the calling process stands.
    public enum Placement: Hashable, Sendable {
        /// The host's initial network namespace; `evidence` says how that was established.
        case initial(evidence: String)
        /// A namespace created after boot (a pod's, a test's).
        case isolated
        /// Could not be established; `reason` says why, with the failing call.
        case unknown(reason: String)
    }

    /// init_net's nsfs inode number: fixed as PROC_NET_INIT_INO (0xEFFFFFF9) since Linux 3.8
    /// (include/linux/proc_ns.h); every later namespace gets a number from the dynamic range above
    /// 0xF0000000, so no other namespace can show it.
    static let initialNetworkInode: UInt64 = 0xEFFF_FFF9
    /// init_pid_ns's inode, PROC_PID_INIT_INO (0xEFFFFFFC), fixed the same way.
    static let initialPIDInode: UInt64 = 0xEFFF_FFFC

    /// Classifies the calling process's network namespace from /proc/self/ns/net, falling back
    /// to a comparison with PID 1's namespace when our PID namespace is the initial one (then PID 1
    /// is the host's init). /proc/1/ns/net is often unreadable (EACCES without CAP_SYS_PTRACE over
    /// init), so it is only a second witness.
    public static func current() -> Placement {
        classify(
            ownNetwork: ProcessInfo.namespaceInode("/proc/self/ns/net"),
            ownPID: ProcessInfo.namespaceInode("/proc/self/ns/pid"),
            initNetwork: ProcessInfo.namespaceInode("/proc/1/ns/net")
        )
    }

    /// The decision of `current()` from the three inode reads, apart so it can be tested.
    static func classify(
        ownNetwork: Result<UInt64, SyscallError>,
        ownPID: Result<UInt64, SyscallError>,
        initNetwork: Result<UInt64, SyscallError>
    ) -> Placement {
        let own: UInt64
        switch ownNetwork {
        case .success(let inode): own = inode
        case .failure(let error): return .unknown(reason: "cannot read /proc/self/ns/net (\(error))")
        }
        if own == initialNetworkInode {
            return .initial(evidence: "/proc/self/ns/net is init_net's fixed inode \(initialNetworkInode)")
        }
        if case .success(initialPIDInode) = ownPID, case .success(own) = initNetwork {
            return .initial(evidence: "this process shares PID 1's network namespace (inode \(own)) and PID 1 is the host's init")
        }
        return .isolated
    }
}
