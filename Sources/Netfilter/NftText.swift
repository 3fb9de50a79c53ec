import Addresses

extension Ruleset {
    /// The table in nft syntax, laid out as `nft list table inet weft` prints it (tabs, one blank
    /// line between chains), minus the counters' current values. `nft -f` accepts it.
    public var nftText: String {
        var text = "table inet \(tableName) {\n"
        text += chains.map(\.nftText).joined(separator: "\n")
        return text + "}\n"
    }

    /// What `weft init` does, as an `nft -f` script: create the table if missing, delete it, and
    /// create it anew — the same replace-or-create the netlink batch performs, so running the
    /// script twice leaves one table, as running `weft init` twice does.
    public var nftReplaceScript: String {
        "table inet \(tableName)\ndelete table inet \(tableName)\n" + nftText
    }

    /// What `weft init --remove` does, as an `nft -f` script (succeeds whether or not the table exists).
    public static func nftRemoveScript(tableName: String) -> String {
        "table inet \(tableName)\ndelete table inet \(tableName)\n"
    }

    /// The rules as `nft --debug=netlink -f` prints them while adding `nftText`: per rule a
    /// `inet TABLE CHAIN` line, one line per expression, then a blank line.
    public var netlinkDebugText: String {
        var text = ""
        for chain in chains {
            for rule in chain.rules {
                text += "inet \(tableName) \(chain.name)\n"
                for expression in rule.expressions { text += "  \(expression)\n" }
                text += "\n"
            }
        }
        return text
    }
}

extension Chain {
    /// `\tchain NAME {` ... `\t}` with its rules, as nft lists it.
    public var nftText: String {
        var text = "\tchain \(name) {\n"
        text += "\t\t\(headerText)\n"
        for rule in rules { text += "\t\t\(rule.nftText)\n" }
        return text + "\t}\n"
    }

    /// `type nat hook output priority -100; policy accept;`
    public var headerText: String {
        "type \(type.rawValue) hook \(hook) priority \(priorityText); policy \(policy);"
    }

    /// nft prints the standard priorities by name where the name is defined for the hook
    /// (`dstnat` only on prerouting, `srcnat` only on postrouting; nft(8) "CHAINS"), else the number.
    var priorityText: String {
        switch (priority, hook) {
        case (-300, _): return "raw"
        case (-150, _): return "mangle"
        case (-100, .prerouting): return "dstnat"
        case (0, _): return "filter"
        case (50, _): return "security"
        case (100, Hook(rawValue: 4)): return "srcnat"
        default: return String(priority)
        }
    }
}

extension Rule {
    /// The rule in nft syntax, e.g. `oifname "lo" meta skuid 1337 counter return`.
    public var nftText: String {
        var words = matches.map(\.nftText)
        if counter { words.append("counter") }
        switch verdict {
        case .return: words.append("return")
        case .redirect(let port): words.append("redirect to :\(port)")
        }
        return words.joined(separator: " ")
    }
}

extension Match {
    /// The match in nft syntax.
    public var nftText: String {
        switch self {
        case .outputInterface(let name):
            return "oifname \"\(name)\""
        case let .address(field, range, negated):
            let family = range.isIPv4 ? "ip" : "ip6"
            let which = field == .source ? "saddr" : "daddr"
            // nft prints a single-host range as the bare address.
            let value = range.isHost ? range.address.description : range.description
            return "\(family) \(which) \(negated ? "!= " : "")\(value)"
        case .tcpDestinationPort(let port):
            return "tcp dport \(port)"
        case .socketUser(let uid):
            return "meta skuid \(uid)"
        case .socketGroup(let gid):
            return "meta skgid \(gid)"
        case .tcp:
            return "meta l4proto tcp"
        case .family(let family):
            return "meta nfproto \(family == .ipv4 ? "ipv4" : "ipv6")"
        }
    }
}
