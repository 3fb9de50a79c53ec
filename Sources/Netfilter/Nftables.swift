internal import CNetfilter
import Glibc
import LinuxSys

/// What one applied batch cost.
public struct BatchReport: Hashable, Sendable {
    /// Object messages in the batch (tables, chains, rules), without the BEGIN/END markers.
    public let messages: Int
    /// The batch's size on the wire.
    public let bytes: Int
    /// Monotonic time from sending the batch to the last ACK.
    public let nanoseconds: UInt64
}

/// nf_tables over netlink (libnftnl + libmnl): apply a `Ruleset` as one atomic batch, remove the
/// table, read it back. No `nft` or `iptables` process is involved.
public enum Nftables {
    /// Replaces table inet `ruleset.tableName` with `ruleset`, or creates it, in one batch:
    /// NEWTABLE (create) + DELTABLE empties any previous version, then NEWTABLE, NEWCHAINs and
    /// NEWRULEs build the new one. The kernel commits all of it or nothing, so running this twice
    /// leaves one table with the same rules.
    ///
    /// Throws `NetfilterError`: `.missingPrivilege` without CAP_NET_ADMIN, `.missingKernelSupport`
    /// without nf_tables, `.rejected` naming the rule or chain the kernel refused (nothing changed).
    public static func apply(_ ruleset: Ruleset) throws(NetfilterError) -> BatchReport {
        try commit(replaceBatch(ruleset), doing: "install table inet \(ruleset.tableName)")
    }

    /// The batch `apply(_:)` sends, built but not sent.
    static func replaceBatch(_ ruleset: Ruleset) throws(NetfilterError) -> NftBatch {
        let batch = try NftBatch()
        let table = try NftnlTable(inetNamed: ruleset.tableName, withFlags: true)
        let deletion = try NftnlTable(inetNamed: ruleset.tableName, withFlags: false)
        try batch.add(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, "table inet \(ruleset.tableName) (create if missing, before replacing it)") {
            nftnl_table_nlmsg_build_payload($0, table.pointer)
        }
        try batch.add(NFT_MSG_DELTABLE, flags: 0, "table inet \(ruleset.tableName) (delete the previous version)") {
            nftnl_table_nlmsg_build_payload($0, deletion.pointer)
        }
        try batch.add(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, "table inet \(ruleset.tableName)") {
            nftnl_table_nlmsg_build_payload($0, table.pointer)
        }
        for chain in ruleset.chains {
            let encoded = try NftnlChain(chain, table: ruleset.tableName)
            try batch.add(NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE, "chain \(chain.name) (`\(chain.headerText)`)") {
                nftnl_chain_nlmsg_build_payload($0, encoded.pointer)
            }
        }
        for chain in ruleset.chains {
            for (index, rule) in chain.rules.enumerated() {
                let encoded = try NftnlRule(table: ruleset.tableName, chain: chain.name, expressions: rule.expressions)
                try batch.add(NFT_MSG_NEWRULE, flags: NLM_F_CREATE | NLM_F_APPEND, "rule \(index + 1) of chain \(chain.name) (`\(rule.nftText)`)") {
                    nftnl_rule_nlmsg_build_payload($0, encoded.pointer)
                }
            }
        }
        return batch
    }

    /// Deletes table inet `name` and everything in it; succeeds when there is no such table
    /// (NEWTABLE + DELTABLE in one batch: a bare DELTABLE would fail with ENOENT).
    public static func removeTable(named name: String) throws(NetfilterError) -> BatchReport {
        let batch = try NftBatch()
        let table = try NftnlTable(inetNamed: name, withFlags: true)
        let deletion = try NftnlTable(inetNamed: name, withFlags: false)
        try batch.add(NFT_MSG_NEWTABLE, flags: NLM_F_CREATE, "table inet \(name) (create if missing, so the delete cannot fail)") {
            nftnl_table_nlmsg_build_payload($0, table.pointer)
        }
        try batch.add(NFT_MSG_DELTABLE, flags: 0, "table inet \(name) (delete)") {
            nftnl_table_nlmsg_build_payload($0, deletion.pointer)
        }
        return try commit(batch, doing: "remove table inet \(name)")
    }

    /// Reads table inet `name` back from the kernel: its chains (NFT_MSG_GETCHAIN dump) and their
    /// rules (NFT_MSG_GETRULE dump) with decoded expressions. Nil when the table does not exist.
    public static func readTable(named name: String) throws(NetfilterError) -> ObservedTable? {
        let socket = try openSocket()
        var tableExists = false
        try dump(socket, NFT_MSG_GETTABLE, what: "tables", filter: { _ in }) { message in
            if let table = NftnlTable(parsing: message), table.name == name { tableExists = true }
        }
        guard tableExists else { return nil }

        var chains: [NftnlChain] = []
        // NFT_MSG_GETCHAIN dumps ignore a table filter (nf_tables_dump_chains walks every table of
        // the family), so the filtering happens here.
        try dump(socket, NFT_MSG_GETCHAIN, what: "chains", filter: { _ in }) { message in
            if let chain = NftnlChain(parsing: message), chain.table == name { chains.append(chain) }
        }
        var rulesByChain: [String: [ObservedRule]] = [:]
        let filter = try NftnlRule()
        nftnl_rule_set_str(filter.pointer, UInt16(NFTNL_RULE_TABLE.rawValue), name)
        try dump(socket, NFT_MSG_GETRULE, what: "rules", filter: { nftnl_rule_nlmsg_build_payload($0, filter.pointer) }) { message in
            guard let rule = NftnlRule(parsing: message), rule.table == name, let chain = rule.chain else { return }
            rulesByChain[chain, default: []].append(ObservedRule(handle: rule.handle, expressions: rule.expressions()))
        }
        return ObservedTable(name: name, chains: chains.map { $0.observed(rules: rulesByChain[$0.name ?? ""] ?? []) })
    }

    /// libnftnl's rendering of each rule of `ruleset` as encoded for the kernel, in the format of
    /// `nft --debug=netlink`; tests compare it with nft's own output for the same text.
    static func encodedDebugText(_ ruleset: Ruleset) throws(NetfilterError) -> String {
        var text = ""
        for chain in ruleset.chains {
            for rule in chain.rules {
                // nft prints each rule with nftnl_rule_fprintf followed by a newline.
                text += try NftnlRule(table: ruleset.tableName, chain: chain.name, expressions: rule.expressions).debugText + "\n"
            }
        }
        return text
    }

    private static func openSocket() throws(NetfilterError) -> NetlinkSocket {
        do {
            return try NetlinkSocket(bus: NETLINK_NETFILTER)
        } catch {
            switch error.errno {
            case .protocolNotSupported, .addressFamilyNotSupported, .operationNotSupported:
                throw NetfilterError.missingNFTables(error.errno, at: "\(error.call) for NETLINK_NETFILTER")
            default:
                throw NetfilterError(.failed, errno: error.errno, "cannot open a netfilter netlink socket (\(error)): check the process's file descriptor limit and memory")
            }
        }
    }

    /// Sends `batch`, then collects one reply per object message (each carries NLM_F_ACK).
    ///
    /// nfnetlink processes a batch synchronously inside sendto() and keeps going after a failed
    /// message, queueing an ACK or error for each one; it then aborts the whole batch if any
    /// failed, so the batch is committed only if every reply is 0 (reference §1.4). A refusal of
    /// the batch as such (no CAP_NET_ADMIN, no nf_tables subsystem) is one error answering the
    /// BEGIN marker's sequence number, and no other replies follow.
    private static func commit(_ batch: NftBatch, doing what: String) throws(NetfilterError) -> BatchReport {
        let socket = try openSocket()
        let bytes = try batch.finish()
        let started = Clock.monotonicNanoseconds()
        do { try socket.send(bytes) } catch {
            throw NetfilterError(.failed, errno: error.errno, "cannot send the nftables batch to \(what) (\(error)): nothing was changed; run weft init again")
        }
        var replies: [UInt32: Int32] = [:]
        var refusal: (errno: Int32, sequence: UInt32)?
        while replies.count < batch.objects.count, refusal == nil {
            let datagram: UnsafeRawBufferPointer
            do { datagram = try socket.receive() } catch {
                throw NetfilterError(.failed, errno: error.errno,
                                     "the kernel answered \(replies.count) of \(batch.objects.count) messages to \(what) (\(error)); run `weft init --verify` to see what the table holds now")
            }
            try NetlinkSocket.forEachMessage(in: datagram) { message in
                guard let (errno, sequence) = NetlinkSocket.decodeError(message) else { return true }
                if batch.objects.index(forKey: sequence) != nil {
                    replies[sequence] = errno
                } else if errno != 0 {
                    refusal = (errno, sequence)
                    return false
                }
                return true
            }
        }
        let elapsed = Clock.monotonicNanoseconds() - started
        if let failure = outcome(objects: batch.objects, replies: replies, refusal: refusal, doing: what) { throw failure }
        return BatchReport(messages: batch.objects.count, bytes: bytes.count, nanoseconds: elapsed)
    }

    /// Judges a batch's replies: nil when every object message was acknowledged with 0 (the batch
    /// was committed), else the failure, naming the first object the kernel rejected. `refusal` is
    /// an error that answered no object message (the BEGIN marker's: the whole batch refused).
    static func outcome(objects: [UInt32: String], replies: [UInt32: Int32], refusal: (errno: Int32, sequence: UInt32)?, doing what: String) -> NetfilterError? {
        if let refusal {
            let errno = Errno(rawValue: refusal.errno)
            switch errno {
            case .permissionDenied: return NetfilterError.missingPrivilege(errno, doing: what)
            case .operationNotSupported, .protocolNotSupported, .addressFamilyNotSupported:
                return NetfilterError.missingNFTables(errno, at: "the nftables netlink subsystem")
            default:
                return NetfilterError(.failed, errno: errno, "the kernel refused the whole batch to \(what): \(errno); nothing was changed, run weft init again")
            }
        }
        // Later messages often fail only because an earlier one did (a rule of a chain that was
        // refused), so the first failure is the cause.
        let failures = replies.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        if let (sequence, code) = failures.first {
            let errno = Errno(rawValue: code)
            let object = objects[sequence] ?? "message \(sequence)"
            let others = failures.count > 1 ? " (\(failures.count - 1) later messages failed too, likely as a consequence)" : ""
            return NetfilterError(.rejected, errno: errno,
                                  "kernel rejected \(object): \(errno)\(others); nothing was changed (the batch is all or nothing). \(hint(for: errno))")
        }
        guard replies.count == objects.count else {
            return NetfilterError(.failed, errno: nil, "the kernel acknowledged \(replies.count) of \(objects.count) messages to \(what); run `weft init --verify` to see what the table holds now")
        }
        return nil
    }

    /// What to do about a rejected message, by errno (nf_tables_api.c's common failures).
    private static func hint(for errno: Errno) -> String {
        switch errno {
        case .noSuchFile, .operationNotSupported:
            return "The kernel may lack a module the ruleset needs (nft_chain_nat, nft_redir: CONFIG_NFT_NAT, CONFIG_NFT_REDIR); load it or use a kernel that has it."
        case .permissionDenied:
            return "The table may be owned by another process (NFT_TABLE_F_OWNER); stop that process and run weft init again."
        case .busy:
            return "Another process is using the table; run weft init again."
        default:
            return "Compare with `weft init --dry-run` and the kernel log (dmesg), and report it with both."
        }
    }

    /// Sends a dump request of `type` for family inet and hands each reply message of the dump to
    /// `body` until NLMSG_DONE.
    private static func dump(
        _ socket: NetlinkSocket,
        _ type: nf_tables_msg_types,
        what: String,
        filter: (UnsafeMutablePointer<nlmsghdr>) -> Void,
        _ body: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) throws(NetfilterError) {
        let request = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 8)
        defer { request.deallocate() }
        let sequence = UInt32(truncatingIfNeeded: time(nil))
        let header = nftnl_nlmsg_build_hdr(request.assumingMemoryBound(to: CChar.self), UInt16(type.rawValue), UInt16(NFPROTO_INET), UInt16(NLM_F_DUMP), sequence)!
        filter(header)
        // Dump replies are NFT_MSG_NEW* (the GET type minus one) in the nftables subsystem.
        let replyType = UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(type.rawValue - 1)
        try socket.dump(
            request: UnsafeRawBufferPointer(start: request, count: Int(header.pointee.nlmsg_len)),
            sequence: sequence, what: "the nftables \(what)",
            refused: { errno in
                if errno == .permissionDenied { return NetfilterError.missingPrivilege(errno, doing: "read the nftables \(what)") }
                if errno == .operationNotSupported { return NetfilterError.missingNFTables(errno, at: "dumping nftables \(what)") }
                return NetfilterError(.failed, errno: errno, "the kernel refused to list its nftables \(what): \(errno); run weft init --verify again")
            }
        ) { message in
            if message.pointee.nlmsg_type == replyType { body(message) }
        }
    }
}

/// One nf_tables batch under construction (libmnl's `struct mnl_nlmsg_batch`): BEGIN marker,
/// object messages each with its own sequence number and NLM_F_ACK, END marker. Owns its buffer
/// and the libmnl batch, released in deinit.
final class NftBatch {
    /// The largest batch this builds. mnl_nlmsg_batch_start wants a buffer twice the limit: a
    /// message is written before the batch learns it went past the limit.
    private static let limit = 65_536
    private let storage: UnsafeMutableRawPointer
    private let batch: OpaquePointer
    private var nextSequence: UInt32
    /// Each object message's sequence number and what it is, for error messages.
    private(set) var objects: [UInt32: String] = [:]

    init() throws(NetfilterError) {
        storage = UnsafeMutableRawPointer.allocate(byteCount: 2 * Self.limit, alignment: 8)
        guard let batch = mnl_nlmsg_batch_start(storage, Self.limit) else {
            storage.deallocate()
            throw NetfilterError(.failed, errno: Errno(rawValue: ENOMEM), "out of memory starting an nftables batch: free some memory and run weft init again")
        }
        self.batch = batch
        // Like nft, number the batch from the clock so replies to an earlier run on a reused
        // port id cannot be mistaken for ours.
        nextSequence = UInt32(truncatingIfNeeded: time(nil))
        nftnl_batch_begin(current, nextSequence)
        nextSequence &+= 1
        _ = mnl_nlmsg_batch_next(batch)
    }

    deinit {
        mnl_nlmsg_batch_stop(batch)
        storage.deallocate()
    }

    private var current: UnsafeMutablePointer<CChar> { mnl_nlmsg_batch_current(batch).assumingMemoryBound(to: CChar.self) }

    /// Appends one object message of `type` for family inet; `payload` fills in its attributes.
    func add(_ type: nf_tables_msg_types, flags: Int32, _ what: String, payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) throws(NetfilterError) {
        let sequence = nextSequence
        let header = nftnl_nlmsg_build_hdr(current, UInt16(type.rawValue), UInt16(NFPROTO_INET), UInt16(flags | NLM_F_ACK), sequence)!
        payload(header)
        guard mnl_nlmsg_batch_next(batch) else {
            throw NetfilterError(.failed, errno: nil, "the ruleset does not fit one \(Self.limit / 1024) KiB netlink batch (at \(what)): exclude fewer CIDRs or ports")
        }
        objects[sequence] = what
        nextSequence &+= 1
    }

    /// Appends the END marker and returns the whole batch, ready to send.
    func finish() throws(NetfilterError) -> UnsafeRawBufferPointer {
        nftnl_batch_end(current, nextSequence)
        guard mnl_nlmsg_batch_next(batch) else {
            throw NetfilterError(.failed, errno: nil, "the ruleset does not fit one \(Self.limit / 1024) KiB netlink batch: exclude fewer CIDRs or ports")
        }
        return UnsafeRawBufferPointer(start: mnl_nlmsg_batch_head(batch), count: mnl_nlmsg_batch_size(batch))
    }
}
