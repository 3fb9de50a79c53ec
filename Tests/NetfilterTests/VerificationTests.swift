import Addresses
import LinuxSys
@testable import Netfilter
import Testing

@Suite("Comparing the kernel's table with the plan")
struct VerificationTests {
    static let plan = Ruleset(planning: try! InterceptionOptions())

    /// The table as the kernel would report the plan: handles numbered, counters counting, and
    /// redirects with proto_max filled in (nft_redir_init copies proto_min).
    static func observed(_ ruleset: Ruleset) -> ObservedTable {
        var handle: UInt64 = 4
        return ObservedTable(name: ruleset.tableName, chains: ruleset.chains.map { chain in
            ObservedChain(name: chain.name, type: chain.type, hook: chain.hook, priority: chain.priority, policy: chain.policy,
                          rules: chain.rules.map { rule in
                              handle += 1
                              return ObservedRule(handle: handle, expressions: rule.expressions.map { expression in
                                  switch expression {
                                  case .counter: return .counter(packets: 7, bytes: 420)
                                  case let .redirect(protoMin, nil, flags): return .redirect(protoMin: protoMin, protoMax: protoMin, flags: flags)
                                  default: return expression
                                  }
                              })
                          })
        })
    }

    @Test("the plan matches itself as read back, counters and handles aside")
    func matches() {
        #expect(Self.plan.differences(from: Self.observed(Self.plan)).isEmpty)
    }

    @Test("a missing table is one difference")
    func missingTable() {
        #expect(Self.plan.differences(from: nil) == [.missingTable("weft")])
        #expect(Self.plan.differences(from: nil).map(\.description) == ["table inet weft is missing"])
    }

    @Test("a rule deleted by hand is named with its place and nft text", arguments: 0..<12)
    func deletedRule(_ index: Int) {
        var table = Self.observed(Self.plan)
        table.chains[1].rules.remove(at: index)
        let rule = Self.plan.chains[1].rules[index]
        #expect(Self.plan.differences(from: table) == [.missingRule(chain: "output", index: index + 1, rule)])
        #expect(Self.plan.differences(from: table).first?.description == "chain output: missing rule \(index + 1): `\(rule.nftText)`")
    }

    @Test("an extra rule is reported with its handle and decoded expressions")
    func extraRule() {
        var table = Self.observed(Self.plan)
        let extra = ObservedRule(handle: 99, expressions: [.meta(key: .l4proto, destination: .one), .compare(.equal, source: .one, data: [17]), .verdict(.return)])
        table.chains[0].rules.insert(extra, at: 1)
        let differences = Self.plan.differences(from: table)
        #expect(differences == [.unexpectedRule(chain: "prerouting", extra)])
        #expect(differences.first?.description
            == "chain prerouting: unexpected rule (handle 99): [ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000011 ] [ immediate reg 0 return ]")
    }

    @Test("a changed rule is one missing and one unexpected rule")
    func changedRule() {
        var table = Self.observed(Self.plan)
        let changed = Self.observed(Ruleset(planning: try! InterceptionOptions(proxyUID: 1000))).chains[1].rules[7]
        table.chains[1].rules[7] = changed
        #expect(Self.plan.differences(from: table).count == 2)
    }

    @Test("reordered rules differ")
    func reordered() {
        var table = Self.observed(Self.plan)
        table.chains[1].rules.swapAt(0, 1)
        #expect(!Self.plan.differences(from: table).isEmpty)
    }

    @Test("chain hook, priority, type and policy are compared")
    func chainHeader() {
        var table = Self.observed(Self.plan)
        table.chains[1].priority = 0
        table.chains[0].hook = .output
        let descriptions = Self.plan.differences(from: table).map(\.description)
        #expect(descriptions == [
            "chain prerouting: expected `type nat hook prerouting priority dstnat; policy accept;`, found `type nat hook output priority -100; policy accept;`",
            "chain output: expected `type nat hook output priority -100; policy accept;`, found `type nat hook output priority filter; policy accept;`",
        ])
    }

    @Test("missing and unexpected chains")
    func chains() {
        var table = Self.observed(Self.plan)
        table.chains.removeFirst()
        table.chains.append(ObservedChain(name: "extra", type: nil, hook: nil, priority: nil, policy: nil, rules: []))
        let differences = Self.plan.differences(from: table)
        #expect(differences == [.missingChain(Self.plan.chains[0]), .unexpectedChain("extra")])
    }
}

@Suite("Host network namespace detection")
struct NetworkNamespaceTests {
    static let unreadable = Result<UInt64, SyscallError>.failure(SyscallError("stat", .accessDenied))

    @Test("init_net's fixed inode is the host, whatever /proc/1 says")
    func fixedInode() {
        let placement = NetworkNamespace.classify(ownNetwork: .success(4_026_531_833), ownPID: .success(4_026_532_100), initNetwork: Self.unreadable)
        guard case .initial = placement else { Issue.record("got \(placement)"); return }
    }

    @Test("sharing PID 1's namespace in the initial PID namespace is the host")
    func sameAsInit() {
        let placement = NetworkNamespace.classify(ownNetwork: .success(4_026_532_000), ownPID: .success(4_026_531_836), initNetwork: .success(4_026_532_000))
        guard case .initial = placement else { Issue.record("got \(placement)"); return }
    }

    @Test("PID 1 of a container's own PID namespace is no witness")
    func containerInit() {
        #expect(NetworkNamespace.classify(ownNetwork: .success(4_026_532_000), ownPID: .success(4_026_532_500), initNetwork: .success(4_026_532_000)) == .isolated)
    }

    @Test("another namespace, /proc/1 unreadable, is isolated")
    func isolated() {
        #expect(NetworkNamespace.classify(ownNetwork: .success(4_026_532_290), ownPID: .success(4_026_531_836), initNetwork: Self.unreadable) == .isolated)
        #expect(NetworkNamespace.classify(ownNetwork: .success(4_026_532_290), ownPID: .success(4_026_531_836), initNetwork: .success(4_026_531_833)) == .isolated)
    }

    @Test("no /proc is unknown, not isolated")
    func unknown() {
        let placement = NetworkNamespace.classify(ownNetwork: .failure(SyscallError("stat", .noSuchFile)), ownPID: .failure(SyscallError("stat", .noSuchFile)), initNetwork: Self.unreadable)
        guard case .unknown(let reason) = placement else { Issue.record("got \(placement)"); return }
        #expect(reason.contains("/proc/self/ns/net"))
    }
}
