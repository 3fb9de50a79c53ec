import Addresses
import ArgumentParser
import LinuxSys
import Netfilter

/// `weft init`: installs, removes or checks the interception ruleset in this network namespace
/// (the pod's init container). Exit codes follow DESIGN.md: 2 for bad flags or the host
/// namespace, 3 without CAP_NET_ADMIN or nf_tables, 1 when the kernel refuses or --verify differs.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Install traffic interception (nftables) in this network namespace.",
        discussion: """
            Replaces (or creates) table inet weft in one atomic netlink batch, so running it again \
            leaves the same single table. Refuses to run in the host's initial network namespace.
            """
    )

    @Option(help: "The proxy's uid; its connections are never intercepted.")
    var proxyUid: String = "1337"
    @Option(help: "The proxy's gid; its connections are never intercepted.")
    var proxyGid: String = "1337"
    @Option(help: "Port outbound TCP is redirected to.")
    var outboundPort: String = "15001"
    @Option(help: "Port inbound TCP is redirected to.")
    var inboundPort: String = "15006"
    @Option(help: "Inbound ports left alone (comma-separated), besides 15090, 15021 and 15020.")
    var excludeInboundPorts: String = ""
    @Option(help: "Outbound destination ports left alone (comma-separated).")
    var excludeOutboundPorts: String = ""
    @Option(help: "Outbound destinations intercepted (comma-separated CIDRs; * is every address of both families).")
    var includeOutboundCidrs: String = "*"
    @Option(help: "Outbound destinations never intercepted (comma-separated CIDRs).")
    var excludeOutboundCidrs: String = ""
    @Flag(help: "Print the plan as nft syntax; change nothing.")
    var dryRun = false
    @Flag(help: "Delete table inet weft (succeeds when there is none).")
    var remove = false
    @Flag(help: "Compare the kernel's table with the plan; exit 0 if they match, 1 if not.")
    var verify = false
    @Flag(help: "Allow changes in the host's initial network namespace (they would redirect the machine's own connections).")
    var allowHostNamespace = false

    func run() throws {
        if remove && verify {
            fail("init", .usage, "--remove and --verify cannot be combined: run them one after the other")
        }
        if dryRun && verify {
            fail("init", .usage, "--dry-run and --verify cannot be combined: --verify already changes nothing")
        }
        let tableName = Ruleset.weftTableName
        if remove {
            if dryRun {
                print(Ruleset.nftRemoveScript(tableName: tableName), terminator: "")
                return
            }
            // Removing only deletes Weft's own table, so it is allowed in the host namespace too
            // (it cleans up after a mistaken --allow-host-namespace).
            do {
                let report = try Nftables.removeTable(named: tableName)
                print("weft init: removed table inet \(tableName) (if it existed) in \(milliseconds(report.nanoseconds)) ms")
            } catch { failKernel(error) }
            return
        }

        let ruleset = Ruleset(planning: options())
        let ipv6Passthrough = PassthroughAddress.loopbackHasIPv6()
        if dryRun {
            print("# weft init plan: applied as one netlink batch (replace table inet \(tableName), or create it)")
            print(ipv6Passthrough
                ? "# also adds \(PassthroughAddress.ipv6)/128 to lo (nodad) over rtnetlink: the proxy's IPv6 inbound passthrough source"
                : "# lo has no IPv6 here, so \(PassthroughAddress.ipv6)/128 is not added; 127.0.0.6 needs nothing (127.0.0.0/8 is local)")
            print(ruleset.nftReplaceScript, terminator: "")
            return
        }
        if verify {
            // Reading changes nothing, so --verify is allowed in the host namespace.
            runVerify(ruleset, ipv6Passthrough: ipv6Passthrough)
        }

        // The check comes before any netlink socket is opened: nothing is sent to the kernel here.
        if !allowHostNamespace {
            switch NetworkNamespace.current() {
            case .isolated:
                break
            case .initial(let evidence):
                fail("init", .usage, "refusing to intercept traffic in the host's initial network namespace (\(evidence)): rules here would redirect this machine's own connections; run weft init inside the pod's network namespace (its init container), or pass --allow-host-namespace if you really mean the host")
            case .unknown(let reason):
                fail("init", .usage, "cannot tell whether this is the host's initial network namespace (\(reason)): mount /proc, or pass --allow-host-namespace if you are sure")
            }
        }
        do {
            if ipv6Passthrough { try PassthroughAddress.addToLoopback() }
            let report = try Nftables.apply(ruleset)
            let address = ipv6Passthrough ? ", \(PassthroughAddress.ipv6)/128 on lo" : ""
            print("weft init: applied table inet \(tableName) (\(ruleset.chains.count) chains, \(ruleset.ruleCount) rules\(address)) in \(milliseconds(report.nanoseconds)) ms (one batch of \(report.messages) messages, \(report.bytes) bytes)")
        } catch { failKernel(error) }
    }

    /// Compares the kernel's table (and ::6 on lo, when lo has IPv6) with the plan; exits.
    private func runVerify(_ ruleset: Ruleset, ipv6Passthrough: Bool) -> Never {
        do {
            var differences = ruleset.differences(from: try Nftables.readTable(named: ruleset.tableName)).map(\.description)
            if ipv6Passthrough, try !PassthroughAddress.isOnLoopback() {
                differences.append("address \(PassthroughAddress.ipv6)/128 is missing on lo (the proxy's IPv6 inbound passthrough source)")
            }
            guard differences.isEmpty else {
                for difference in differences { print("weft init --verify: \(difference)") }
                fail("init", .runtime, "table inet \(ruleset.tableName) differs from the plan (\(differences.count) difference\(differences.count == 1 ? "" : "s") above): run weft init with the same flags to restore it")
            }
            print("weft init: table inet \(ruleset.tableName) matches the plan (\(ruleset.chains.count) chains, \(ruleset.ruleCount) rules\(ipv6Passthrough ? ", \(PassthroughAddress.ipv6)/128 on lo" : ""))")
            Weft.exit()
        } catch { failKernel(error) }
    }

    /// Parses and validates the flags; exits 2 with the flag and the reason on any error.
    private func options() -> InterceptionOptions {
        func id(_ text: String, _ flag: String) -> UInt32 {
            guard let value = UInt32(text) else {
                fail("init", .usage, "\(flag): \"\(text)\": not a numeric id from 0 to 4294967294")
            }
            return value
        }
        func port(_ text: String, _ flag: String) -> UInt16 {
            do { return try parsePort(text) } catch { fail("init", .usage, "\(flag): \(error)") }
        }
        func ports(_ text: String, _ flag: String) -> [UInt16] {
            do { return try parsePortList(text) } catch { fail("init", .usage, "\(flag): \(error)") }
        }
        func ranges(_ text: String, _ flag: String) -> [CIDR] {
            do { return try parseCIDRList(text) } catch { fail("init", .usage, "\(flag): \(error)") }
        }
        do {
            return try InterceptionOptions(
                proxyUID: id(proxyUid, "--proxy-uid"),
                proxyGID: id(proxyGid, "--proxy-gid"),
                outboundPort: port(outboundPort, "--outbound-port"),
                inboundPort: port(inboundPort, "--inbound-port"),
                excludedInboundPorts: ports(excludeInboundPorts, "--exclude-inbound-ports"),
                excludedOutboundPorts: ports(excludeOutboundPorts, "--exclude-outbound-ports"),
                includedOutboundCIDRs: ranges(includeOutboundCidrs, "--include-outbound-cidrs"),
                excludedOutboundCIDRs: ranges(excludeOutboundCidrs, "--exclude-outbound-cidrs")
            )
        } catch {
            fail("init", .usage, error.description)
        }
    }

    private func failKernel(_ error: NetfilterError) -> Never {
        switch error.kind {
        case .missingPrivilege, .missingKernelSupport: fail("init", .unsupported, error.message)
        case .rejected, .failed: fail("init", .runtime, error.message)
        }
    }

    private func milliseconds(_ nanoseconds: UInt64) -> String {
        let hundredths = (nanoseconds + 5_000) / 10_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
