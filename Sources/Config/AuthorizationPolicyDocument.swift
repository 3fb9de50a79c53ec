import Addresses
import Policy
import YAML

/// Reads `kind: AuthorizationPolicy` (security.istio.io/v1 or v1beta1) into a
/// `Policy.AuthorizationPolicy`: `selector.matchLabels`, `action` (ALLOW, DENY, AUDIT) and
/// `rules` of `from[].source`, `to[].operation` and `when`, validated as Istio's
/// `ValidateAuthorizationPolicy` does, plus the checks that catch a policy that could never
/// match. Istio fields Weft does not enforce are reported by name rather than ignored, because
/// ignoring part of a policy changes what it allows.
enum AuthorizationPolicyDocument: DocumentKind {
    static let apiVersions = ["security.istio.io/v1", "security.istio.io/v1beta1"]
    static let kind = "AuthorizationPolicy"

    /// The spellings of `action`; CUSTOM is read so that it can be refused by name.
    private enum ActionName: String, CaseIterable {
        case allow = "ALLOW", deny = "DENY", audit = "AUDIT", custom = "CUSTOM"
    }

    private static let specFields = ["selector", "action", "rules"]
    private static let unsupportedSpecFields = [
        "provider": "it configures the CUSTOM action's external authorizer, which Weft does not have",
        "targetRef": "it attaches the policy to a Gateway or Service; a Weft sidecar applies policies by namespace and selector",
        "targetRefs": "it attaches the policy to Gateways or Services; a Weft sidecar applies policies by namespace and selector",
    ]
    private static let sourceFields = ["principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks"]
    private static let unsupportedSourceFields = [
        "requestPrincipals": "it needs JWT authentication (RequestAuthentication), which Weft does not do",
        "notRequestPrincipals": "it needs JWT authentication (RequestAuthentication), which Weft does not do",
        "remoteIpBlocks": "it trusts X-Forwarded-For or the PROXY protocol, which a sidecar does not read; use ipBlocks",
        "notRemoteIpBlocks": "it trusts X-Forwarded-For or the PROXY protocol, which a sidecar does not read; use notIpBlocks",
        "serviceAccounts": "write the service account as a principal instead, such as cluster.local/ns/<namespace>/sa/<name>",
        "notServiceAccounts": "write the service account as a notPrincipals entry instead, such as cluster.local/ns/<namespace>/sa/<name>",
    ]
    private static let operationFields = ["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"]
    /// The `when` keys Weft reads.
    private static let conditionKeys = ["request.headers[<name>]", "source.principal", "source.namespace", "source.ip", "destination.port"]
    /// Istio's other `when` keys, refused by name.
    private static let unsupportedConditionKeys = [
        "remote.ip", "request.auth.principal", "request.auth.audiences", "request.auth.presenter", "destination.ip", "connection.sni",
    ]

    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader) {
        let namespace = document.namespace ?? "default"
        if document.name == nil {
            reader.report("an AuthorizationPolicy needs `metadata.name`: the access log and the metrics name the policy that allowed or denied each request", at: document.kindNode)
        } else if let name = document.name, let first = configuration.authorizationPolicies.first(where: { $0.name == name && $0.namespace == namespace }) {
            reader.report("a second AuthorizationPolicy \(namespace)/\(name) (the first is at \(first.origin)); Kubernetes holds one object per name and namespace, so rename or merge them", at: document.kindNode)
        }
        var policy = AuthorizationPolicy(name: document.name ?? "", namespace: namespace, origin: document.position.description)
        // Without a spec the policy is Istio's `spec: {}`: an ALLOW policy that matches nothing.
        if let spec = document.spec {
            readSpec(spec, into: &policy, reader: &reader)
        }
        // A policy with mistakes (the reader holds this document's only) is left out: half of a
        // rule can allow more, or deny less, than the whole one was meant to.
        if reader.diagnostics.isEmpty {
            configuration.authorizationPolicies.append(policy)
        }
    }

    private static func readSpec(_ spec: Field, into policy: inout AuthorizationPolicy, reader: inout DocumentReader) {
        let known = specFields + unsupportedSpecFields.keys.sorted()
        guard let fields = reader.mapping(spec.value, path: spec.path, known: known) else { return }
        for name in unsupportedSpecFields.keys.sorted() {
            if let field = fields[name] {
                reader.report("`\(field.path)` is not supported by Weft: \(unsupportedSpecFields[name]!)", at: field.key)
            }
        }
        if let selector = fields["selector"],
           let selectorFields = reader.mapping(selector.value, path: selector.path, known: ["matchLabels"]),
           let matchLabels = selectorFields["matchLabels"], let labels = reader.labels(matchLabels) {
            policy.selector = labels
        }
        if let field = fields["action"], let action = reader.choice(field, of: ActionName.self) {
            switch action {
            case .allow: policy.action = .allow
            case .deny: policy.action = .deny
            case .audit: policy.action = .audit
            case .custom:
                reader.report("`\(field.path)` is CUSTOM, which is not supported: it delegates the decision to an external authorizer (ext_authz), which Weft does not have; use ALLOW or DENY", at: field.value)
            }
        }
        var rules: [AuthorizationRule] = []
        var rulesWritten = false
        if let field = fields["rules"], let items = reader.list(field, of: "rules, each with from, to and when") {
            rulesWritten = !items.isEmpty
            for item in items {
                if let rule = readRule(item, reader: &reader) { rules.append(rule) }
            }
        }
        policy.rules = rules
        // Istio refuses this too: a DENY policy without rules matches nothing, so it could only
        // be a policy meant to deny everything that denies nothing.
        if policy.action == .deny, !rulesWritten, let field = fields["action"] {
            reader.report("a DENY policy without `rules` never matches, so it denies nothing; to deny every request, write `rules: [{}]` (one rule that matches everything)", at: field.value)
        }
    }

    private static func readRule(_ item: Field, reader: inout DocumentReader) -> AuthorizationRule? {
        // `- ` with every field commented out is null; reading it as `{}` would make a rule that
        // matches everything, the opposite of what the deleted lines said (Istio refuses it too).
        if isNull(item.value) {
            reader.report("`\(item.path)` is empty; write `{}` for a rule that matches every request, or give it from, to or when", at: item.key)
            return nil
        }
        guard let fields = reader.mapping(item.value, path: item.path, known: ["from", "to", "when"]) else { return nil }
        var rule = AuthorizationRule()
        var valid = true
        if let from = fields["from"] {
            let entries = readEntries(from, element: "source", reader: &reader) { field, reader in readSource(field, reader: &reader) }
            valid = valid && entries != nil
            rule.from = entries ?? []
        }
        if let to = fields["to"] {
            let entries = readEntries(to, element: "operation", reader: &reader) { field, reader in readOperation(field, reader: &reader) }
            valid = valid && entries != nil
            rule.to = entries ?? []
        }
        if let when = fields["when"], let items = reader.list(when, of: "conditions, each with key and values or notValues") {
            for condition in items {
                if let value = readCondition(condition, reader: &reader) { rule.when.append(value) } else { valid = false }
            }
        }
        return valid ? rule : nil
    }

    /// `from` or `to`: a non-empty list of `{source: ...}` or `{operation: ...}` entries. Nil
    /// after reporting a problem.
    private static func readEntries<Entry>(
        _ field: Field, element: String, reader: inout DocumentReader, read: (Field, inout DocumentReader) -> Entry?
    ) -> [Entry]? {
        guard let items = reader.list(field, of: "entries such as {\(element): {...}}") else { return nil }
        if items.isEmpty, !isNull(field.value) {
            reader.report("`\(field.path)` is an empty list; Istio requires at least one entry when it is given, so remove it to match every \(element) or list one", at: field.value)
            return nil
        }
        var entries: [Entry] = []
        var valid = true
        for item in items {
            guard let fields = reader.mapping(item.value, path: item.path, known: [element]) else {
                valid = false
                continue
            }
            guard let inner = fields[element], !isNull(inner.value) else {
                reader.report("`\(item.path)` has no `\(element)`; each entry is {\(element): {...}} with at least one field", at: fields[element]?.key ?? item.value)
                valid = false
                continue
            }
            if let entry = read(inner, &reader) { entries.append(entry) } else { valid = false }
        }
        return valid ? entries : nil
    }

    private static func readSource(_ field: Field, reader: inout DocumentReader) -> SourceMatch? {
        let known = sourceFields + unsupportedSourceFields.keys.sorted()
        guard let fields = reader.mapping(field.value, path: field.path, known: known) else { return nil }
        var valid = true
        for name in unsupportedSourceFields.keys.sorted() {
            if let unsupported = fields[name] {
                reader.report("`\(unsupported.path)` is not supported by Weft: \(unsupportedSourceFields[name]!)", at: unsupported.key)
                valid = false
            }
        }
        var source = SourceMatch()
        var written = false
        func strings(_ name: String) -> [StringMatch] {
            guard let list = fields[name] else { return [] }
            written = true
            guard let values = readPatterns(list, kind: .principalOrNamespace(principal: name.hasSuffix("rincipals")), reader: &reader) else {
                valid = false
                return []
            }
            return values
        }
        func blocks(_ name: String) -> [CIDR] {
            guard let list = fields[name] else { return [] }
            written = true
            guard let values = readCIDRs(list, reader: &reader) else {
                valid = false
                return []
            }
            return values
        }
        source.principals = strings("principals")
        source.notPrincipals = strings("notPrincipals")
        source.namespaces = strings("namespaces")
        source.notNamespaces = strings("notNamespaces")
        source.ipBlocks = blocks("ipBlocks")
        source.notIpBlocks = blocks("notIpBlocks")
        if !written, valid, isEmptyMapping(field.value) {
            reader.report("`\(field.path)` has no field; Istio requires at least one of \(sourceFields.joined(separator: ", ")) (remove the `from` entry to match every source)", at: field.value)
            valid = false
        }
        return valid ? source : nil
    }

    private static func readOperation(_ field: Field, reader: inout DocumentReader) -> OperationMatch? {
        guard let fields = reader.mapping(field.value, path: field.path, known: operationFields) else { return nil }
        var operation = OperationMatch()
        var valid = true
        var written = false
        func strings(_ name: String, _ kind: PatternKind) -> [StringMatch] {
            guard let list = fields[name] else { return [] }
            written = true
            guard let values = readPatterns(list, kind: kind, reader: &reader) else {
                valid = false
                return []
            }
            return values
        }
        func ports(_ name: String) -> [UInt16] {
            guard let list = fields[name] else { return [] }
            written = true
            guard let values = readPorts(list, reader: &reader) else {
                valid = false
                return []
            }
            return values
        }
        operation.hosts = strings("hosts", .host)
        operation.notHosts = strings("notHosts", .host)
        operation.ports = ports("ports")
        operation.notPorts = ports("notPorts")
        operation.methods = strings("methods", .method)
        operation.notMethods = strings("notMethods", .method)
        operation.paths = strings("paths", .path)
        operation.notPaths = strings("notPaths", .path)
        if !written, valid, isEmptyMapping(field.value) {
            reader.report("`\(field.path)` has no field; Istio requires at least one of \(operationFields.joined(separator: ", ")) (remove the `to` entry to match every operation)", at: field.value)
            valid = false
        }
        return valid ? operation : nil
    }

    private static func readCondition(_ item: Field, reader: inout DocumentReader) -> Condition? {
        guard let fields = reader.mapping(item.value, path: item.path, known: ["key", "values", "notValues"]) else { return nil }
        guard let keyField = fields["key"] else {
            reader.report("`\(item.path)` has no `key`; a condition names an attribute, one of \(conditionKeys.joined(separator: ", "))", at: item.value)
            return nil
        }
        guard let key = reader.string(keyField, expecting: "an attribute such as source.ip") else { return nil }
        let valuesField = fields["values"]
        let notValuesField = fields["notValues"]
        func isEmptyList(_ field: Field?) -> Bool {
            guard let field else { return true }
            if isNull(field.value) { return true }
            if case .sequence(let sequence) = field.value { return sequence.isEmpty }
            return false
        }
        if isEmptyList(valuesField), isEmptyList(notValuesField) {
            reader.report("`\(item.path)` (key \(quoted(key))) has no values and no notValues; Istio requires at least one of them, non-empty", at: keyField.key)
            return nil
        }
        // Each list is read even when the other has a problem, so one pass reports both.
        func both<Value>(_ read: (Field, inout DocumentReader) -> [Value]?) -> (values: [Value], notValues: [Value])? {
            let values: [Value]? = valuesField.map { read($0, &reader) } ?? []
            let notValues: [Value]? = notValuesField.map { read($0, &reader) } ?? []
            guard let values, let notValues else { return nil }
            return (values, notValues)
        }
        switch key {
        case "source.principal":
            return both { readPatterns($0, kind: .principalOrNamespace(principal: true), reader: &$1) }.map { .sourcePrincipal(values: $0.values, notValues: $0.notValues) }
        case "source.namespace":
            return both { readPatterns($0, kind: .principalOrNamespace(principal: false), reader: &$1) }.map { .sourceNamespace(values: $0.values, notValues: $0.notValues) }
        case "source.ip":
            return both { readCIDRs($0, reader: &$1) }.map { .sourceIP(values: $0.values, notValues: $0.notValues) }
        case "destination.port":
            return both { readPorts($0, reader: &$1) }.map { .destinationPort(values: $0.values, notValues: $0.notValues) }
        default:
            break
        }
        if key.hasPrefix("request.headers") {
            guard let name = headerName(in: key) else {
                reader.report("`\(keyField.path)` is \(quoted(key)); write the header's name in brackets, such as request.headers[x-user] (a name is letters, digits and !#$%&'*+-.^_`|~, RFC 9110 §5.6.2)", at: keyField.value)
                return nil
            }
            return both { readPatterns($0, kind: .headerValue, reader: &$1) }.map { .requestHeader(name: name, values: $0.values, notValues: $0.notValues) }
        }
        let supported = "Weft reads \(conditionKeys.joined(separator: ", "))"
        if unsupportedConditionKeys.contains(key) || key.hasPrefix("request.auth.claims") || key.hasPrefix("experimental.") {
            reader.report("`\(keyField.path)` is \(quoted(key)), an Istio attribute Weft does not support; \(supported)", at: keyField.value)
        } else {
            let candidates = ["request.headers", "source.principal", "source.namespace", "source.ip", "destination.port"]
            let suggestion = closestMatch(to: key, among: candidates).map { " (did you mean `\($0)`?)" } ?? ""
            reader.report("`\(keyField.path)` is \(quoted(key)), which is not an attribute\(suggestion); \(supported)", at: keyField.value)
        }
        return nil
    }

    /// The lowercase header name of `request.headers[<name>]`, or nil when the key is not of that
    /// form or the name is not an RFC 9110 token.
    private static func headerName(in key: String) -> String? {
        let prefix = "request.headers["
        guard key.hasPrefix(prefix), key.hasSuffix("]") else { return nil }
        let name = key.dropFirst(prefix.count).dropLast()
        guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else { return nil }
        return name.lowercased()
    }

    /// What a list of patterns holds, for the checks beyond Istio's pattern syntax.
    private enum PatternKind {
        case principalOrNamespace(principal: Bool)
        case host
        case method
        case path
        case headerValue
    }

    /// A list of Istio string patterns, each checked; nil after reporting any problem.
    private static func readPatterns(_ field: Field, kind: PatternKind, reader: inout DocumentReader) -> [StringMatch]? {
        guard let items = reader.list(field, of: "strings such as \(example(kind))") else { return nil }
        var patterns: [StringMatch] = []
        var valid = true
        for item in items {
            guard let text = reader.string(item, expecting: "a string such as \(example(kind))") else {
                valid = false
                continue
            }
            // Istio's path templates put `*` inside braces, which the pattern syntax would
            // misreport as a misplaced wildcard.
            if case .path = kind, text.contains("{") || text.contains("}") {
                reader.report("`\(item.path)` is \(quoted(text)): path templates ({*}, {**}) are not supported by Weft; write a prefix (/api/*) or a suffix (*.png)", at: item.value)
                valid = false
                continue
            }
            let pattern: StringMatch
            do { pattern = try StringMatch(istioPattern: text) } catch {
                reader.report("`\(item.path)` is \(quoted(text)): \(error.reason)", at: item.value)
                valid = false
                continue
            }
            if let problem = problem(with: text, pattern: pattern, kind: kind) {
                reader.report("`\(item.path)` is \(quoted(text)): \(problem)", at: item.value)
                valid = false
                continue
            }
            patterns.append(pattern)
        }
        return valid ? patterns : nil
    }

    private static func example(_ kind: PatternKind) -> String {
        switch kind {
        case .principalOrNamespace(let principal): return principal ? "cluster.local/ns/shop/sa/web" : "shop"
        case .host: return "shop.example.com or *.example.com"
        case .method: return "GET"
        case .path: return "/api/* or /health"
        case .headerValue: return "Bearer *"
        }
    }

    /// Why a pattern Istio would accept can never match what Weft compares it with, or nil.
    private static func problem(with text: String, pattern: StringMatch, kind: PatternKind) -> String? {
        let fixed: String
        switch pattern {
        case .exact(let value), .prefix(let value), .suffix(let value): fixed = value
        case .any: return nil
        }
        switch kind {
        case .principalOrNamespace(let principal):
            // Istio prepends spiffe:// itself, so a principal written with it never matches.
            if principal, text.hasPrefix("spiffe://") {
                return "write principals without `spiffe://`, as \(clip(text.dropFirst("spiffe://".count))) (Istio compares them with the peer's SPIFFE id after adding it)"
            }
        case .method:
            // Istio's normalization refuses requests whose method is not uppercase (400).
            if fixed.utf8.contains(where: { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) {
                return "methods are uppercase, such as GET; requests with other methods are refused before policies, so this never matches"
            }
        case .path:
            if text.contains("?") {
                return "policies compare the path without its query, so a `?` never matches; remove the query"
            }
            if case .suffix = pattern { return nil }
            if !text.hasPrefix("/") {
                return "a path starts with `/` (or `*` for a suffix, such as *.png), so this never matches"
            }
        case .host, .headerValue:
            break
        }
        return nil
    }

    private static func readCIDRs(_ field: Field, reader: inout DocumentReader) -> [CIDR]? {
        guard let items = reader.list(field, of: "CIDRs or addresses such as 10.0.0.0/8") else { return nil }
        var blocks: [CIDR] = []
        var valid = true
        for item in items {
            guard let text = reader.string(item, expecting: "a CIDR such as 10.0.0.0/8, or one address") else {
                valid = false
                continue
            }
            do { blocks.append(try CIDR(parsing: text)) } catch {
                reader.report("`\(item.path)` is \(quoted(text)): \(error.reason)", at: item.value)
                valid = false
            }
        }
        return valid ? blocks : nil
    }

    /// Ports written as strings, as Istio's API has them (`"8080"`).
    private static func readPorts(_ field: Field, reader: inout DocumentReader) -> [UInt16]? {
        guard let items = reader.list(field, of: "port numbers in quotes, such as [\"8080\"]") else { return nil }
        var ports: [UInt16] = []
        var valid = true
        for item in items {
            guard let text = reader.string(item, expecting: "a port number in quotes, such as \"8080\" (Istio's ports are strings)") else {
                valid = false
                continue
            }
            guard let port = decimalPort(text) else {
                reader.report("`\(item.path)` is \(quoted(text)), which is not a port; write a port number from 1 to 65535 in quotes, such as \"8080\"", at: item.value)
                valid = false
                continue
            }
            ports.append(port)
        }
        return valid ? ports : nil
    }
}

/// Whether `node` is `{}` (or null); a mapping whose keys were all unknown has had each of
/// them reported already.
private func isEmptyMapping(_ node: Node) -> Bool {
    if case .mapping(let mapping) = node { return mapping.isEmpty }
    return isNull(node)
}

/// A port number 1...65535 written in decimal without a sign or leading zero.
func decimalPort(_ text: String) -> UInt16? {
    guard let first = text.utf8.first, first != UInt8(ascii: "0"), text.utf8.count <= 5,
          text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
          let value = Int(text), value <= 65535 else { return nil }
    return UInt16(value)
}

/// RFC 9110 §5.6.2 tchar: the bytes of a token such as a field name.
func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }
}

extension Configuration {
    /// The indices (in `authorizationPolicies`) of the policies that apply to this sidecar:
    /// those in its namespace or the root namespace whose selector its labels satisfy.
    func applicableAuthorizationPolicies() -> [Int] {
        let namespace = sidecar.workloadNamespace
        return authorizationPolicies.indices.filter {
            authorizationPolicies[$0].applies(toNamespace: namespace, labels: sidecar.labels)
        }
    }

    /// The authorizer of the applicable policies, in reading order.
    func resolveAuthorizer() -> Authorizer {
        Authorizer(policies: applicableAuthorizationPolicies().map { authorizationPolicies[$0] })
    }
}
