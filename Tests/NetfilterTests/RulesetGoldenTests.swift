import Addresses
import Foundation
@testable import Netfilter
import Testing

/// The golden files in Golden/: `NAME.nft` is the plan as nft text (what `weft init --dry-run`
/// prints after its comment lines); `NAME.netlink` is what nft 1.0.6 itself printed for that file
/// with `nft --debug=netlink -c -f NAME.nft` (minus its chain lines), run in a scratch network
/// namespace. The .netlink files are nft's word, not ours: regenerate them only with nft.
struct GoldenCase: Sendable, CustomTestStringConvertible {
    let name: String
    let options: @Sendable () throws -> InterceptionOptions
    var testDescription: String { name }

    static let all: [GoldenCase] = [
        GoldenCase(name: "default") { try InterceptionOptions() },
        GoldenCase(name: "custom") {
            try InterceptionOptions(
                proxyUID: 2000,
                proxyGID: 3000,
                outboundPort: 15101,
                inboundPort: 15106,
                excludedInboundPorts: parsePortList("22,15021,8080"),
                excludedOutboundPorts: parsePortList("53,853"),
                includedOutboundCIDRs: parseCIDRList("0.0.0.0/0,2001:db8::/33,fd00:1::/64,192.168.0.0/16,10.1.2.3"),
                excludedOutboundCIDRs: parseCIDRList("10.0.0.0/8,10.16.0.0/12,172.16.5.0/24,100.64.0.1/32,fd00::/8,2001:db8:1::/127,fe80::1,::/0")
            )
        },
    ]
}

func golden(_ file: String) throws -> String {
    let url = try #require(Bundle.module.url(forResource: file, withExtension: nil, subdirectory: "Golden"), "Golden/\(file) is missing")
    return try String(contentsOf: url, encoding: .utf8)
}

@Suite("Ruleset against golden files")
struct RulesetGoldenTests {
    @Test("the plan renders as the golden nft text", arguments: GoldenCase.all)
    func nftText(_ goldenCase: GoldenCase) throws {
        let ruleset = Ruleset(planning: try goldenCase.options())
        #expect(ruleset.nftReplaceScript == (try golden("\(goldenCase.name).nft")))
    }

    @Test("the pure lowering equals nft's own bytecode for the same text", arguments: GoldenCase.all)
    func lowering(_ goldenCase: GoldenCase) throws {
        let ruleset = Ruleset(planning: try goldenCase.options())
        let expected = try golden("\(goldenCase.name).netlink")
        let actual = ruleset.netlinkDebugText
        #expect(actual == expected, "first difference at line \(firstDifferentLine(actual, expected))")
    }

    @Test("libnftnl objects built from the lowering print as nft's bytecode", arguments: GoldenCase.all)
    func encoding(_ goldenCase: GoldenCase) throws {
        let ruleset = Ruleset(planning: try goldenCase.options())
        let expected = try golden("\(goldenCase.name).netlink")
        let actual = try Nftables.encodedDebugText(ruleset)
        #expect(actual == expected, "first difference at line \(firstDifferentLine(actual, expected))")
    }

    @Test("the default plan has the rule counts of DESIGN.md")
    func defaultShape() throws {
        let ruleset = Ruleset(planning: try InterceptionOptions())
        #expect(ruleset.chains.map(\.name) == ["prerouting", "output"])
        #expect(ruleset.chains.map(\.rules.count) == [4, 12])
        #expect(ruleset.chains.allSatisfy { $0.type == .nat && $0.priority == -100 && $0.policy == .accept })
        #expect(ruleset.chains.allSatisfy { $0.rules.allSatisfy(\.counter) })
    }
}

func firstDifferentLine(_ a: String, _ b: String) -> String {
    let left = a.split(separator: "\n", omittingEmptySubsequences: false)
    let right = b.split(separator: "\n", omittingEmptySubsequences: false)
    for index in 0..<max(left.count, right.count) {
        let l = index < left.count ? String(left[index]) : "<end>"
        let r = index < right.count ? String(right[index]) : "<end>"
        if l != r { return "\(index + 1): got `\(l)`, golden `\(r)`" }
    }
    return "none"
}
