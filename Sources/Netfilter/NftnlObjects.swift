internal import CNetfilter
import Glibc
import LinuxSys

// libnftnl attribute ids are C enums; its setters take them as uint16_t.
@inline(__always) private func attribute(_ value: Int) -> UInt16 { UInt16(value) }
@inline(__always) private func attribute<T: RawRepresentable>(_ value: T) -> UInt16 where T.RawValue: BinaryInteger { UInt16(value.rawValue) }

private func outOfMemory(_ what: String) -> NetfilterError {
    NetfilterError(.failed, errno: Errno(rawValue: ENOMEM), "out of memory while building \(what): free some memory and run weft init again")
}

/// An owned `struct nftnl_table`, freed in deinit.
final class NftnlTable {
    let pointer: OpaquePointer

    /// A table of family inet named `name`. For NEWTABLE, `withFlags` adds the flags attribute
    /// (0: not dormant, not owned) as nft does; DELTABLE carries the name only.
    init(inetNamed name: String, withFlags: Bool) throws(NetfilterError) {
        guard let table = nftnl_table_alloc() else { throw outOfMemory("table inet \(name)") }
        pointer = table
        nftnl_table_set_str(pointer, attribute(NFTNL_TABLE_NAME), name)
        nftnl_table_set_u32(pointer, attribute(NFTNL_TABLE_FAMILY), UInt32(NFPROTO_INET))
        if withFlags { nftnl_table_set_u32(pointer, attribute(NFTNL_TABLE_FLAGS), 0) }
    }

    /// Parses a NEWTABLE message of a dump; nil if it is malformed.
    init?(parsing message: UnsafeMutablePointer<nlmsghdr>) {
        guard let table = nftnl_table_alloc() else { return nil }
        pointer = table
        guard nftnl_table_nlmsg_parse(message, pointer) >= 0 else { return nil }
    }

    deinit { nftnl_table_free(pointer) }

    var name: String? {
        guard nftnl_table_is_set(pointer, attribute(NFTNL_TABLE_NAME)), let name = nftnl_table_get_str(pointer, attribute(NFTNL_TABLE_NAME)) else { return nil }
        return String(cString: name)
    }
}

/// An owned `struct nftnl_chain`, freed in deinit.
final class NftnlChain {
    let pointer: OpaquePointer

    /// A base chain of table inet `table`, as `chain` describes it.
    init(_ chain: Chain, table: String) throws(NetfilterError) {
        guard let allocated = nftnl_chain_alloc() else { throw outOfMemory("chain \(chain.name)") }
        pointer = allocated
        nftnl_chain_set_str(pointer, attribute(NFTNL_CHAIN_TABLE), table)
        nftnl_chain_set_str(pointer, attribute(NFTNL_CHAIN_NAME), chain.name)
        nftnl_chain_set_u32(pointer, attribute(NFTNL_CHAIN_FAMILY), UInt32(NFPROTO_INET))
        nftnl_chain_set_str(pointer, attribute(NFTNL_CHAIN_TYPE), chain.type.rawValue)
        nftnl_chain_set_u32(pointer, attribute(NFTNL_CHAIN_HOOKNUM), chain.hook.rawValue)
        // The priority is signed (−100 is dstnat): set it as s32 (reference §1.2).
        nftnl_chain_set_s32(pointer, attribute(NFTNL_CHAIN_PRIO), chain.priority)
        nftnl_chain_set_u32(pointer, attribute(NFTNL_CHAIN_POLICY), chain.policy.rawValue)
    }

    /// An empty chain object used as a dump filter or to parse into.
    init() throws(NetfilterError) {
        guard let allocated = nftnl_chain_alloc() else { throw outOfMemory("a chain dump request") }
        pointer = allocated
    }

    /// Parses a NEWCHAIN message of a dump; nil if it is malformed.
    init?(parsing message: UnsafeMutablePointer<nlmsghdr>) {
        guard let allocated = nftnl_chain_alloc() else { return nil }
        pointer = allocated
        guard nftnl_chain_nlmsg_parse(message, pointer) >= 0 else { return nil }
    }

    deinit { nftnl_chain_free(pointer) }

    private func string(_ attr: nftnl_chain_attr) -> String? {
        guard nftnl_chain_is_set(pointer, attribute(attr)), let value = nftnl_chain_get_str(pointer, attribute(attr)) else { return nil }
        return String(cString: value)
    }

    private func number(_ attr: nftnl_chain_attr) -> UInt32? {
        nftnl_chain_is_set(pointer, attribute(attr)) ? nftnl_chain_get_u32(pointer, attribute(attr)) : nil
    }

    var table: String? { string(NFTNL_CHAIN_TABLE) }
    var name: String? { string(NFTNL_CHAIN_NAME) }

    /// The chain as `Verification` compares it, with `rules` attached.
    func observed(rules: [ObservedRule]) -> ObservedChain {
        ObservedChain(
            name: string(NFTNL_CHAIN_NAME) ?? "",
            type: string(NFTNL_CHAIN_TYPE).map(ChainType.init(rawValue:)),
            hook: number(NFTNL_CHAIN_HOOKNUM).map(Hook.init(rawValue:)),
            priority: nftnl_chain_is_set(pointer, attribute(NFTNL_CHAIN_PRIO)) ? nftnl_chain_get_s32(pointer, attribute(NFTNL_CHAIN_PRIO)) : nil,
            policy: number(NFTNL_CHAIN_POLICY).map(ChainPolicy.init(rawValue:)),
            rules: rules
        )
    }
}

/// An owned `struct nftnl_rule` with its expressions (which the rule owns and frees), freed in deinit.
final class NftnlRule {
    let pointer: OpaquePointer

    /// A rule for chain `chain` of table inet `table`, holding `expressions` in order.
    init(table: String, chain: String, expressions: [NftExpression]) throws(NetfilterError) {
        guard let allocated = nftnl_rule_alloc() else { throw outOfMemory("a rule of chain \(chain)") }
        pointer = allocated
        nftnl_rule_set_u32(pointer, attribute(NFTNL_RULE_FAMILY), UInt32(NFPROTO_INET))
        nftnl_rule_set_str(pointer, attribute(NFTNL_RULE_TABLE), table)
        nftnl_rule_set_str(pointer, attribute(NFTNL_RULE_CHAIN), chain)
        for expression in expressions {
            guard let encoded = try Self.encode(expression) else { throw outOfMemory("a rule of chain \(chain)") }
            // From here the rule owns the expression (nftnl_rule_free frees its list).
            nftnl_rule_add_expr(pointer, encoded)
        }
    }

    /// An empty rule object used as a dump filter.
    init() throws(NetfilterError) {
        guard let allocated = nftnl_rule_alloc() else { throw outOfMemory("a rule dump request") }
        pointer = allocated
    }

    /// Parses a NEWRULE message of a dump; nil if it is malformed.
    init?(parsing message: UnsafeMutablePointer<nlmsghdr>) {
        guard let allocated = nftnl_rule_alloc() else { return nil }
        pointer = allocated
        guard nftnl_rule_nlmsg_parse(message, pointer) >= 0 else { return nil }
    }

    deinit { nftnl_rule_free(pointer) }

    var table: String? { string(NFTNL_RULE_TABLE) }
    var chain: String? { string(NFTNL_RULE_CHAIN) }
    var handle: UInt64 { nftnl_rule_get_u64(pointer, attribute(NFTNL_RULE_HANDLE)) }

    private func string(_ attr: nftnl_rule_attr) -> String? {
        guard nftnl_rule_is_set(pointer, attribute(attr)), let value = nftnl_rule_get_str(pointer, attribute(attr)) else { return nil }
        return String(cString: value)
    }

    /// libnftnl's debug rendering, the text `nft --debug=netlink` prints for this rule.
    var debugText: String {
        var size = 4096
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let written = nftnl_rule_snprintf(&buffer, size, pointer, UInt32(NFTNL_OUTPUT_DEFAULT.rawValue), 0)
            if written < 0 { return "" }
            if Int(written) < size { return String(decoding: buffer[0..<Int(written)].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
            size = Int(written) + 1
        }
    }

    /// The rule's expressions, decoded (iterated with nftnl_expr_iter_*).
    func expressions() -> [NftExpression] {
        guard let iterator = NftnlExpressionIterator(rule: self) else { return [] }
        var result: [NftExpression] = []
        while let expression = iterator.next() { result.append(Self.decode(expression)) }
        return result
    }

    /// Builds the libnftnl object for one expression, with exactly the attributes nft 1.0.6 sets
    /// (compared with `nft --debug=mnl`): no bitwise op (the kernel defaults to NFT_BITWISE_BOOL),
    /// no counter values (an empty NFTA_COUNTER nest).
    private static func encode(_ expression: NftExpression) throws(NetfilterError) -> OpaquePointer? {
        func make(_ name: String) -> OpaquePointer? { nftnl_expr_alloc(name) }
        func set(_ e: OpaquePointer, _ attr: Int, _ value: UInt32) { nftnl_expr_set_u32(e, attribute(attr), value) }
        func set(_ e: OpaquePointer, _ attr: Int, _ bytes: [UInt8]) { nftnl_expr_set(e, attribute(attr), bytes, UInt32(bytes.count)) }
        switch expression {
        case let .meta(key, destination):
            guard let e = make("meta") else { return nil }
            set(e, NFTNL_EXPR_META_KEY, key.rawValue)
            set(e, NFTNL_EXPR_META_DREG, destination.rawValue)
            return e
        case let .compare(op, source, data):
            guard let e = make("cmp") else { return nil }
            set(e, NFTNL_EXPR_CMP_SREG, source.rawValue)
            set(e, NFTNL_EXPR_CMP_OP, op.rawValue)
            set(e, NFTNL_EXPR_CMP_DATA, data)
            return e
        case let .payload(base, offset, length, destination):
            guard let e = make("payload") else { return nil }
            set(e, NFTNL_EXPR_PAYLOAD_DREG, destination.rawValue)
            set(e, NFTNL_EXPR_PAYLOAD_BASE, base.rawValue)
            set(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset)
            set(e, NFTNL_EXPR_PAYLOAD_LEN, length)
            return e
        case let .bitwise(source, destination, mask, xor):
            guard let e = make("bitwise") else { return nil }
            set(e, NFTNL_EXPR_BITWISE_SREG, source.rawValue)
            set(e, NFTNL_EXPR_BITWISE_DREG, destination.rawValue)
            set(e, NFTNL_EXPR_BITWISE_LEN, UInt32(mask.count))
            set(e, NFTNL_EXPR_BITWISE_MASK, mask)
            set(e, NFTNL_EXPR_BITWISE_XOR, xor)
            return e
        case let .immediate(destination, data):
            guard let e = make("immediate") else { return nil }
            set(e, NFTNL_EXPR_IMM_DREG, destination.rawValue)
            set(e, NFTNL_EXPR_IMM_DATA, data)
            return e
        case .verdict(let code):
            guard let e = make("immediate") else { return nil }
            set(e, NFTNL_EXPR_IMM_DREG, Register.verdict.rawValue)
            set(e, NFTNL_EXPR_IMM_VERDICT, UInt32(bitPattern: code.rawValue))
            return e
        case let .redirect(protoMin, protoMax, flags):
            guard let e = make("redir") else { return nil }
            set(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, protoMin.rawValue)
            if let protoMax { set(e, NFTNL_EXPR_REDIR_REG_PROTO_MAX, protoMax.rawValue) }
            set(e, NFTNL_EXPR_REDIR_FLAGS, flags)
            return e
        case .counter:
            return make("counter")
        case let .unsupported(name, _):
            throw NetfilterError(.failed, errno: nil, "cannot encode expression \(name): Weft only writes the expressions it plans (a bug in the planner)")
        }
    }

    /// Reads one libnftnl expression back into an `NftExpression`; anything Weft never writes
    /// becomes `.unsupported` with libnftnl's own rendering of it.
    private static func decode(_ e: OpaquePointer) -> NftExpression {
        func isSet(_ attr: Int) -> Bool { nftnl_expr_is_set(e, attribute(attr)) }
        func u32(_ attr: Int) -> UInt32 { nftnl_expr_get_u32(e, attribute(attr)) }
        func bytes(_ attr: Int) -> [UInt8] {
            var length: UInt32 = 0
            guard let data = nftnl_expr_get(e, attribute(attr), &length) else { return [] }
            return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
        }
        let name = nftnl_expr_get_str(e, attribute(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? "?"
        switch name {
        case "meta" where isSet(NFTNL_EXPR_META_DREG):
            return .meta(key: MetaKey(rawValue: u32(NFTNL_EXPR_META_KEY)), destination: Register(rawValue: u32(NFTNL_EXPR_META_DREG)))
        case "cmp":
            return .compare(CompareOperator(rawValue: u32(NFTNL_EXPR_CMP_OP)), source: Register(rawValue: u32(NFTNL_EXPR_CMP_SREG)), data: bytes(NFTNL_EXPR_CMP_DATA))
        case "payload" where isSet(NFTNL_EXPR_PAYLOAD_DREG) && u32(NFTNL_EXPR_PAYLOAD_DREG) != 0:
            return .payload(
                base: PayloadBase(rawValue: u32(NFTNL_EXPR_PAYLOAD_BASE)), offset: u32(NFTNL_EXPR_PAYLOAD_OFFSET),
                length: u32(NFTNL_EXPR_PAYLOAD_LEN), destination: Register(rawValue: u32(NFTNL_EXPR_PAYLOAD_DREG))
            )
        // NFT_BITWISE_MASK_XOR is the header's newer name for NFT_BITWISE_BOOL, the kernel's default op.
        case "bitwise" where !isSet(NFTNL_EXPR_BITWISE_OP) || u32(NFTNL_EXPR_BITWISE_OP) == UInt32(NFT_BITWISE_MASK_XOR.rawValue):
            return .bitwise(
                source: Register(rawValue: u32(NFTNL_EXPR_BITWISE_SREG)), destination: Register(rawValue: u32(NFTNL_EXPR_BITWISE_DREG)),
                mask: bytes(NFTNL_EXPR_BITWISE_MASK), xor: bytes(NFTNL_EXPR_BITWISE_XOR)
            )
        case "immediate" where isSet(NFTNL_EXPR_IMM_VERDICT) && !isSet(NFTNL_EXPR_IMM_CHAIN):
            return .verdict(VerdictCode(rawValue: Int32(bitPattern: u32(NFTNL_EXPR_IMM_VERDICT))))
        case "immediate" where isSet(NFTNL_EXPR_IMM_DATA):
            return .immediate(destination: Register(rawValue: u32(NFTNL_EXPR_IMM_DREG)), data: bytes(NFTNL_EXPR_IMM_DATA))
        case "redir" where isSet(NFTNL_EXPR_REDIR_REG_PROTO_MIN):
            return .redirect(
                protoMin: Register(rawValue: u32(NFTNL_EXPR_REDIR_REG_PROTO_MIN)),
                protoMax: isSet(NFTNL_EXPR_REDIR_REG_PROTO_MAX) ? Register(rawValue: u32(NFTNL_EXPR_REDIR_REG_PROTO_MAX)) : nil,
                flags: isSet(NFTNL_EXPR_REDIR_FLAGS) ? u32(NFTNL_EXPR_REDIR_FLAGS) : 0
            )
        case "counter":
            return .counter(packets: nftnl_expr_get_u64(e, attribute(NFTNL_EXPR_CTR_PACKETS)), bytes: nftnl_expr_get_u64(e, attribute(NFTNL_EXPR_CTR_BYTES)))
        default:
            var buffer = [CChar](repeating: 0, count: 512)
            let written = nftnl_expr_snprintf(&buffer, buffer.count, e, UInt32(NFTNL_OUTPUT_DEFAULT.rawValue), 0)
            let detail = written > 0 ? String(decoding: buffer.prefix(min(Int(written), buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            return .unsupported(name: name, detail: detail.trimmingTrailingSpaces)
        }
    }
}

/// An owned `struct nftnl_expr_iter` over a rule's expressions, destroyed in deinit. It borrows
/// the rule, which it keeps alive.
final class NftnlExpressionIterator {
    private let iterator: OpaquePointer
    private let rule: NftnlRule

    init?(rule: NftnlRule) {
        guard let iterator = nftnl_expr_iter_create(rule.pointer) else { return nil }
        self.iterator = iterator
        self.rule = rule
    }

    deinit { nftnl_expr_iter_destroy(iterator) }

    /// The next expression, owned by the rule; nil at the end.
    func next() -> OpaquePointer? { nftnl_expr_iter_next(iterator) }
}

extension String {
    var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
