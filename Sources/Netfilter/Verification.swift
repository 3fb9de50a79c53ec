/// A table as read back from the kernel (`Nftables.readTable(named:)`): chains and the decoded
/// expressions of their rules.
public struct ObservedTable: Hashable, Sendable {
    /// The table's name (its family is inet).
    public var name: String
    /// Its chains, in the kernel's order.
    public var chains: [ObservedChain]

    /// A table as read back.
    public init(name: String, chains: [ObservedChain]) {
        self.name = name
        self.chains = chains
    }
}

/// A chain as the kernel reports it. Hook, priority, type and policy are nil for a regular
/// (non-base) chain.
public struct ObservedChain: Hashable, Sendable {
    /// The chain's name.
    public var name: String
    /// Its type (`nat`, `filter`, ...).
    public var type: ChainType?
    /// The hook it is attached to.
    public var hook: Hook?
    /// Its priority on that hook.
    public var priority: Int32?
    /// Its policy.
    public var policy: ChainPolicy?
    /// Its rules, in evaluation order.
    public var rules: [ObservedRule]

    /// A chain as read back.
    public init(name: String, type: ChainType?, hook: Hook?, priority: Int32?, policy: ChainPolicy?, rules: [ObservedRule]) {
        self.name = name
        self.type = type
        self.hook = hook
        self.priority = priority
        self.policy = policy
        self.rules = rules
    }

    /// The header in nft syntax, or a note that this is not a base chain.
    var headerText: String {
        guard let type, let hook, let priority else { return "(not a base chain)" }
        let probe = Chain(name: name, type: type, hook: hook, priority: priority, policy: policy ?? .accept, rules: [])
        return policy == nil ? "type \(type.rawValue) hook \(hook) priority \(probe.priorityText);" : probe.headerText
    }
}

/// A rule as the kernel reports it: its handle (for `nft delete rule ... handle N`) and expressions.
public struct ObservedRule: Hashable, Sendable {
    /// The kernel's handle for the rule, unique in its table.
    public var handle: UInt64
    /// The decoded expressions, in order.
    public var expressions: [NftExpression]

    /// A rule as read back.
    public init(handle: UInt64, expressions: [NftExpression]) {
        self.handle = handle
        self.expressions = expressions
    }
}

/// One way the kernel's table differs from the plan, readable on its own.
public enum RulesetDifference: Hashable, Sendable, CustomStringConvertible {
    case missingTable(String)
    case missingChain(Chain)
    case unexpectedChain(String)
    case chainHeader(chain: String, expected: String, found: String)
    /// `index` counts from 1, as the plan's `--dry-run` lists the chain's rules.
    case missingRule(chain: String, index: Int, Rule)
    case unexpectedRule(chain: String, ObservedRule)

    public var description: String {
        switch self {
        case .missingTable(let name):
            return "table inet \(name) is missing"
        case .missingChain(let chain):
            return "chain \(chain.name) is missing (\(chain.headerText) with \(chain.rules.count) rules)"
        case .unexpectedChain(let name):
            return "chain \(name) is not in the plan"
        case let .chainHeader(chain, expected, found):
            return "chain \(chain): expected `\(expected)`, found `\(found)`"
        case let .missingRule(chain, index, rule):
            return "chain \(chain): missing rule \(index): `\(rule.nftText)`"
        case let .unexpectedRule(chain, rule):
            return "chain \(chain): unexpected rule (handle \(rule.handle)): "
                + rule.expressions.map(\.description).joined(separator: " ")
        }
    }
}

extension Ruleset {
    /// How `observed` (nil: the table does not exist) differs from this plan, ignoring counter
    /// values and rule handles. Empty when they match. Rules are matched in order (a longest
    /// common subsequence), so one deleted or inserted rule is reported as exactly that.
    public func differences(from observed: ObservedTable?) -> [RulesetDifference] {
        guard let observed else { return [.missingTable(tableName)] }
        var result: [RulesetDifference] = []
        for chain in chains {
            guard let found = observed.chains.first(where: { $0.name == chain.name }) else {
                result.append(.missingChain(chain))
                continue
            }
            if found.type != chain.type || found.hook != chain.hook || found.priority != chain.priority || found.policy != chain.policy {
                result.append(.chainHeader(chain: chain.name, expected: chain.headerText, found: found.headerText))
            }
            result += ruleDifferences(chain: chain, found: found)
        }
        for found in observed.chains where !chains.contains(where: { $0.name == found.name }) {
            result.append(.unexpectedChain(found.name))
        }
        return result
    }

    private func ruleDifferences(chain: Chain, found: ObservedChain) -> [RulesetDifference] {
        let expected = chain.rules.map { $0.expressions.map(\.normalizedForComparison) }
        let actual = found.rules.map { $0.expressions.map(\.normalizedForComparison) }
        // lengths[i][j]: longest common subsequence of expected[i...] and actual[j...].
        var lengths = Array(repeating: Array(repeating: 0, count: actual.count + 1), count: expected.count + 1)
        for i in stride(from: expected.count - 1, through: 0, by: -1) {
            for j in stride(from: actual.count - 1, through: 0, by: -1) {
                lengths[i][j] = expected[i] == actual[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        var result: [RulesetDifference] = []
        var i = 0
        var j = 0
        while i < expected.count || j < actual.count {
            if i < expected.count, j < actual.count, expected[i] == actual[j] {
                i += 1
                j += 1
            } else if j < actual.count, i == expected.count || lengths[i][j + 1] >= lengths[i + 1][j] {
                result.append(.unexpectedRule(chain: chain.name, found.rules[j]))
                j += 1
            } else {
                result.append(.missingRule(chain: chain.name, index: i + 1, chain.rules[i]))
                i += 1
            }
        }
        return result
    }
}
