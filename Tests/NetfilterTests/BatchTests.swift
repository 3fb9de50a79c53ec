import Addresses
import Glibc
import LinuxSys
@testable import Netfilter
import Testing

/// The batch `Nftables.apply` sends, built without sending it, and the judgement of the replies a
/// kernel could give to it (the real kernel's answers are exercised by netns-tests/test_init.py
/// and by `KernelTests` below).
@Suite("One netlink batch")
struct BatchTests {
    static let plan = Ruleset(planning: try! InterceptionOptions())

    static func objects() throws -> [(sequence: UInt32, what: String)] {
        try Nftables.replaceBatch(plan).objects.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    @Test("replace-or-create: new table, delete it, new table, chains, then rules in order")
    func layout() throws {
        let objects = try Self.objects()
        #expect(objects.count == 3 + 2 + 16)
        #expect(objects.prefix(5).map(\.what) == [
            "table inet weft (create if missing, before replacing it)",
            "table inet weft (delete the previous version)",
            "table inet weft",
            "chain prerouting (`type nat hook prerouting priority dstnat; policy accept;`)",
            "chain output (`type nat hook output priority -100; policy accept;`)",
        ])
        #expect(objects[5].what == "rule 1 of chain prerouting (`tcp dport 15090 counter return`)")
        #expect(objects.last?.what == "rule 12 of chain output (`meta l4proto tcp counter redirect to :15001`)")
        // Sequence numbers are consecutive, one per message, after the BEGIN marker's.
        #expect(zip(objects, objects.dropFirst()).allSatisfy { $1.sequence == $0.sequence &+ 1 })
    }

    @Test("all replies zero: committed")
    func committed() throws {
        let objects = try Nftables.replaceBatch(Self.plan).objects
        let replies = objects.mapValues { _ in Int32(0) }
        #expect(Nftables.outcome(objects: objects, replies: replies, refusal: nil, doing: "install") == nil)
    }

    @Test("a rejected rule is named with its chain, place and text")
    func rejectedRule() throws {
        let objects = try Nftables.replaceBatch(Self.plan).objects
        let sorted = objects.keys.sorted()
        let rejected = sorted[5 + 4 + 7] // rule 8 of chain output
        // The kernel goes on after a failure: later messages answer too, some failing as a consequence.
        var replies = objects.mapValues { _ in Int32(0) }
        replies[rejected] = EINVAL
        replies[sorted.last!] = ENOENT
        let failure = try #require(Nftables.outcome(objects: objects, replies: replies, refusal: nil, doing: "install"))
        #expect(failure.kind == .rejected)
        #expect(failure.errno == .invalidArgument)
        #expect(failure.message.hasPrefix("kernel rejected rule 8 of chain output (`meta skuid 1337 counter return`): EINVAL (Invalid argument) (1 later messages failed too"))
        #expect(failure.message.contains("nothing was changed"))
    }

    @Test("a refused batch maps to missing privilege or missing nf_tables", arguments: [
        (EPERM, NetfilterError.Kind.missingPrivilege, "needs CAP_NET_ADMIN"),
        (EOPNOTSUPP, .missingKernelSupport, "kernel has no nf_tables"),
        (ENOMEM, .failed, "refused the whole batch"),
    ])
    func refused(_ errno: Int32, _ kind: NetfilterError.Kind, _ text: String) throws {
        let objects = try Nftables.replaceBatch(Self.plan).objects
        let begin = objects.keys.min()! &- 1
        let failure = try #require(Nftables.outcome(objects: objects, replies: [:], refusal: (errno, begin), doing: "install table inet weft"))
        #expect(failure.kind == kind)
        #expect(failure.message.contains(text))
    }

    @Test("fewer replies than messages is a failure, not success")
    func missingReplies() throws {
        let objects = try Nftables.replaceBatch(Self.plan).objects
        let replies = Dictionary(uniqueKeysWithValues: objects.keys.sorted().prefix(3).map { ($0, Int32(0)) })
        let failure = try #require(Nftables.outcome(objects: objects, replies: replies, refusal: nil, doing: "install"))
        #expect(failure.kind == .failed)
        #expect(failure.message.contains("acknowledged 3 of 21"))
    }

    @Test("a ruleset larger than one 64 KiB batch is refused before sending")
    func tooLarge() throws {
        let ranges = try (0..<400).map { try CIDR(parsing: "10.\($0 / 256).\($0 % 256).0/24") }
        let huge = Ruleset(planning: try InterceptionOptions(excludedOutboundCIDRs: ranges))
        #expect {
            _ = try Nftables.replaceBatch(huge)
        } throws: { error in
            (error as? NetfilterError)?.message.contains("does not fit one 64 KiB netlink batch") == true
        }
    }
}

/// Whether the kernel tests were asked for, by root, outside the host's network namespace.
let scratchNamespaceRequested = getenv("WEFT_NETFILTER_KERNEL_TESTS").map { String(cString: $0) } == "1"
    && geteuid() == 0
    && NetworkNamespace.current() == .isolated

/// Against the real kernel, in a throwaway network namespace only: run as
/// `ip netns exec <ns> env WEFT_NETFILTER_KERNEL_TESTS=1 swift test --filter NetfilterTests`.
/// Skipped otherwise (unit tests need no privileges), and never in the host's namespace.
@Suite("Kernel round trip", .enabled(if: scratchNamespaceRequested, "set WEFT_NETFILTER_KERNEL_TESTS=1 and run as root inside a scratch network namespace"))
struct KernelTests {
    @Test("apply, read back, verify, remove")
    func roundTrip() throws {
        let plan = Ruleset(planning: try InterceptionOptions(excludedOutboundCIDRs: [CIDR(parsing: "10.16.0.0/12"), CIDR(parsing: "fd00::/8")]))
        let report = try Nftables.apply(plan)
        #expect(report.messages == 3 + 2 + plan.ruleCount)
        #expect(plan.differences(from: try Nftables.readTable(named: plan.tableName)).isEmpty)
        _ = try Nftables.removeTable(named: plan.tableName)
        #expect(try Nftables.readTable(named: plan.tableName) == nil)
    }

    @Test("a rule the kernel refuses is named, and nothing is committed")
    func rejection() throws {
        // redir is valid only on the prerouting and output hooks (nft_redir_validate); on input the
        // kernel refuses the rule with EOPNOTSUPP after accepting the chain.
        let bad = Ruleset(tableName: "weft-kernel-test", chains: [
            Chain(name: "input", type: .nat, hook: Hook(rawValue: 1), priority: 100, policy: .accept, rules: [
                Rule([.tcpDestinationPort(22)], .return),
                Rule([.tcp], .redirect(port: 15006)),
            ]),
        ])
        #expect {
            _ = try Nftables.apply(bad)
        } throws: { error in
            guard let failure = error as? NetfilterError else { return false }
            return failure.kind == .rejected && failure.errno == .operationNotSupported
                && failure.message.hasPrefix("kernel rejected rule 2 of chain input (`meta l4proto tcp counter redirect to :15006`)")
        }
        #expect(try Nftables.readTable(named: "weft-kernel-test") == nil, "a failed batch must leave nothing behind")
    }
}
