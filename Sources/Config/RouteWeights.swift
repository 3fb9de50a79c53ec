import Routing
import YAML

/// Why `RouteWeights.apply` refused a change. The message says what was wrong and what to send
/// instead; the admin API sends it as the response body.
public enum RouteWeightsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No HTTPRoute has the namespace and name asked for (the admin API answers 404); the
    /// message names the routes there are.
    case routeNotFound(String)
    /// The body is not JSON, not the object described at `RouteWeights.apply`, or names backends
    /// or a rule the route does not have (the admin API answers 400). Several problems of one
    /// body are given one per line.
    case invalid(String)

    /// The message, without the case.
    public var message: String {
        switch self {
        case .routeNotFound(let message), .invalid(let message): return message
        }
    }

    public var description: String { message }
}

/// Changes the weights of an HTTPRoute's backends, the step of a canary rollout (`PUT` of a
/// route's weights on the admin API): a pure function from the running routes and a JSON body
/// to the new routes and what changed.
public enum RouteWeights {
    /// Applies the weights in `json` to the HTTPRoute `namespace`/`name` of `routes`, returning
    /// every route (that one changed, the others as they were) and one line per backend whose
    /// weight changed, such as `shop/reviews rule 2: reviews-v1 80 → 0`. A body that changes
    /// nothing gives no lines; it is not an error.
    ///
    /// The body is a JSON object: `{"weights": {"reviews-v1": 0, "reviews-v2": 100}}`, with an
    /// optional `"rule": <index>` (from 0). The keys of `weights` are backend names (the
    /// Services of `backendRefs`), each with a whole number from 0 to 1000000; backends not
    /// named keep their weight, and every `backendRef` of a named Service takes its weight.
    /// Without `rule`, every rule whose backends include all the names is changed; with it, that
    /// rule alone, which must have them all.
    ///
    /// The body is read as YAML, since JSON is YAML's flow syntax, and then held to JSON: only
    /// `{…}` objects and `[…]` arrays, double-quoted strings and keys, numbers, `true`, `false`
    /// and `null` (a YAML block mapping or an unquoted word is refused, not read in YAML's
    /// meaning). Returns `.routeNotFound` when the route does not exist, and `.invalid` with the
    /// parser's reason for malformed JSON, or for an unknown key, a weight out of range, a rule
    /// out of range or a backend name no rule has.
    public static func apply(
        json: String, toRoute namespace: String, _ name: String, in routes: [HTTPRoute]
    ) -> Result<(routes: [HTTPRoute], changes: [String]), RouteWeightsError> {
        guard let index = routes.firstIndex(where: { $0.namespace == namespace && $0.name == name }) else {
            let known = routes.map(\.qualifiedName)
            var message = "there is no HTTPRoute \(namespace)/\(name)"
            if let near = closestMatch(to: "\(namespace)/\(name)", among: known) { message += " (did you mean \(near)?)" }
            message += known.isEmpty ? "; the configuration has no HTTPRoutes" : "; the HTTPRoutes are \(known.joined(separator: ", "))"
            return .failure(.routeNotFound(message))
        }
        let request: WeightChange
        switch WeightChange.parse(json) {
        case .success(let value): request = value
        case .failure(let problem): return .failure(.invalid(problem.message))
        }
        var route = routes[index]
        let ruleIndices: [Int]
        switch request.rules(of: route) {
        case .success(let value): ruleIndices = value
        case .failure(let problem): return .failure(.invalid(problem.message))
        }
        var changes: [String] = []
        for ruleIndex in ruleIndices {
            var rule = route.rules[ruleIndex]
            let label = "\(route.qualifiedName) rule \(ruleIndex)\(rule.name.map { " (\($0))" } ?? "")"
            for backendIndex in rule.backendRefs.indices {
                let backend = rule.backendRefs[backendIndex]
                guard let weight = request.weights.first(where: { $0.name == backend.name })?.weight, weight != backend.weight else { continue }
                // A rule may send to two ports of one Service; the port tells their lines apart.
                let repeated = rule.backendRefs.filter { $0.name == backend.name }.count > 1
                changes.append("\(label): \(backend.name)\(repeated ? " port \(backend.port)" : "") \(backend.weight) → \(weight)")
                rule.backendRefs[backendIndex].weight = weight
            }
            route.rules[ruleIndex] = rule
        }
        var result = routes
        result[index] = route
        return .success((routes: result, changes: changes))
    }
}

/// A weight change as the body asks for it.
private struct WeightChange {
    /// The backends and their new weights, in the order written.
    var weights: [(name: String, weight: Int)] = []
    /// `rule`, if given.
    var rule: Int?

    static let example = #"{"weights": {"reviews-v1": 90, "reviews-v2": 10}}"#

    /// Reads the body, or every problem with it.
    static func parse(_ json: String) -> Result<WeightChange, Problem> {
        let root: Node
        switch composeJSON(json) {
        case .success(let node): root = node
        case .failure(let problem): return .failure(problem)
        }
        guard case .mapping(let top) = root else {
            return .failure(Problem("the body must be a JSON object such as \(example), not \(describeJSON(root))"))
        }
        var change = WeightChange()
        var problems: [String] = []
        var weightsGiven = false
        for (key, value) in top {
            let name = key.scalar?.string ?? ""
            switch name {
            case "weights":
                weightsGiven = true
                guard case .mapping(let entries) = value else {
                    problems.append("`weights` must be a JSON object of backend names to weights, such as {\"reviews-v1\": 90, \"reviews-v2\": 10}, not \(describeJSON(value))")
                    continue
                }
                if entries.isEmpty {
                    problems.append("`weights` is empty; name at least one backend of the route with its weight, such as {\"reviews-v1\": 90}")
                }
                for (backend, weightNode) in entries {
                    let backendName = backend.scalar?.string ?? ""
                    let path = "`weights[\(quoted(backendName))]`"
                    switch wholeNumber(weightNode, in: 0...HTTPBackendRef.maximumWeight) {
                    case .success(let weight): change.weights.append((backendName, weight))
                    case .failure(let problem): problems.append("\(path) \(problem.message) (0 sends no requests)")
                    }
                }
            case "rule":
                switch wholeNumber(value, in: 0...Int.max) {
                case .success(let index): change.rule = index
                case .failure(let problem): problems.append("`rule` \(problem.message): the index of one of the route's rules, from 0")
                }
            default:
                let suggestion = closestMatch(to: name, among: ["weights", "rule"]).map { " (did you mean \"\($0)\"?)" } ?? ""
                problems.append("unknown key \(quoted(name))\(suggestion); the body has the keys \"weights\" and, optionally, \"rule\"")
            }
        }
        if !weightsGiven {
            problems.append("the body has no \"weights\"; send the backends' new weights, such as \(example)")
        }
        return problems.isEmpty ? .success(change) : .failure(Problem(problems.joined(separator: "\n")))
    }

    /// The indices of the rules the change applies to, or why there are none.
    func rules(of route: HTTPRoute) -> Result<[Int], Problem> {
        let names = weights.map(\.name)
        func backends(of rule: HTTPRouteRule) -> String {
            rule.backendRefs.isEmpty ? "none" : unique(rule.backendRefs.map(\.name)).joined(separator: ", ")
        }
        if let rule {
            guard route.rules.indices.contains(rule) else {
                let count = route.rules.count
                let range = count == 1 ? "1 rule (index 0)" : "\(count) rules (0 to \(count - 1))"
                return .failure(Problem("`rule` is \(rule), but \(route) has \(range); give one of them, or leave `rule` out to change every rule with these backends"))
            }
            let have = Set(route.rules[rule].backendRefs.map(\.name))
            let missing = names.filter { !have.contains($0) }
            guard missing.isEmpty else {
                let list = listWithAnd(missing.map { quoted($0) })
                return .failure(Problem("rule \(rule) of \(route) has no backend named \(list); its backends are \(backends(of: route.rules[rule]))"))
            }
            return .success([rule])
        }
        let matching = route.rules.indices.filter { index in
            let have = Set(route.rules[index].backendRefs.map(\.name))
            return names.allSatisfy(have.contains)
        }
        guard !matching.isEmpty else {
            let list = route.rules.enumerated().map { index, rule in
                "rule \(index)\(rule.name.map { " (\($0))" } ?? ""): \(backends(of: rule))"
            }
            let together = names.count > 1 ? " together" : ""
            return .failure(Problem("no rule of \(route) has backends named \(listWithAnd(names.map { quoted($0) }))\(together); its rules' backends are \(list.joined(separator: "; ")). Name backends of one rule, or give its index as `rule`"))
        }
        return .success(matching)
    }
}

/// What is wrong with a body, as the message of `RouteWeightsError.invalid`.
private struct Problem: Error {
    let message: String

    init(_ message: String) {
        self.message = message
    }
}

/// `names` without repetitions, in order.
private func unique(_ names: [String]) -> [String] {
    var seen = Set<String>()
    return names.filter { seen.insert($0).inserted }
}

/// A JSON number that is a whole number in `range`, or what is wrong with it, as a phrase that
/// follows the value's name ("is 1.5; …").
private func wholeNumber(_ node: Node, in range: ClosedRange<Int>) -> Result<Int, Problem> {
    let allowed = range.upperBound == Int.max ? "a whole number from \(range.lowerBound)" : "a whole number from \(range.lowerBound) to \(range.upperBound)"
    guard case .scalar(let scalar) = node, scalar.style == .plain, isJSONNumber(scalar.string) else {
        if case .scalar(let scalar) = node, scalar.style == .doubleQuoted {
            return .failure(Problem("is the string \(quoted(scalar.string)); it must be \(allowed), written without quotes"))
        }
        return .failure(Problem("is \(describeJSON(node)); it must be \(allowed)"))
    }
    let text = scalar.string
    guard text.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
        return .failure(Problem("is \(clip(text)); it must be \(allowed), without a fraction or exponent"))
    }
    guard let value = Int(text), range.contains(value) else {
        return .failure(Problem("is \(clip(text)); it must be \(allowed)"))
    }
    return .success(value)
}

/// The one JSON value of `text`, composed as YAML and held to JSON's syntax, or why it is not one.
private func composeJSON(_ text: String) -> Result<Node, Problem> {
    let notJSON = "the body is not valid JSON"
    // JSON has no anchors or aliases, and refusing them before composing keeps an alias bomb
    // from expanding (see `firstAnchorOrAlias`).
    if let found = firstAnchorOrAlias(in: text) {
        return .failure(Problem("\(notJSON): `\(found.indicator)\(clip(found.name))` at line \(found.line), column \(found.column) is a YAML anchor or alias; send a JSON object such as \(WeightChange.example)"))
    }
    let root: Node?
    do {
        let parser = try Parser(yaml: text)
        root = try parser.nextRoot()
        if root != nil, try parser.nextRoot() != nil {
            return .failure(Problem("\(notJSON): it holds more than one YAML document (separated by ---); send one JSON object such as \(WeightChange.example)"))
        }
    } catch let error as YAMLError {
        switch error {
        case .scanner(let context, let problem, let mark),
             .parser(let context, let problem, let mark),
             .composer(let context, let problem, let mark):
            let during = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return .failure(Problem("\(notJSON): \(problem) at line \(mark.line), column \(mark.column)\(during)"))
        case .duplicatedKeysInMapping(let duplicates, let mark):
            let keys = listWithAnd(duplicates.map { quoted($0) })
            return .failure(Problem("\(notJSON): the key \(keys) at line \(mark.line), column \(mark.column) appears more than once in its object; give each key once"))
        case .reader(let problem, _, _):
            return .failure(Problem("\(notJSON): \(problem); send UTF-8 text"))
        default:
            return .failure(Problem("\(notJSON): \(error)"))
        }
    } catch {
        return .failure(Problem("\(notJSON): \(error)"))
    }
    guard let root else {
        return .failure(Problem("the body is empty; send a JSON object such as \(WeightChange.example)"))
    }
    // YAML allows no block collection inside a flow one, so a body that starts with `{` or `[`
    // has flow collections only. JSON's whitespace is space, tab, LF and CR (RFC 8259 §2).
    let first = text.unicodeScalars.first { !" \t\n\r".unicodeScalars.contains($0) }
    if first == "#" {
        return .failure(Problem("\(notJSON): it starts with a YAML comment ('#'), which JSON does not have; send a JSON object such as \(WeightChange.example)"))
    }
    if first != "{", first != "[", root.scalar == nil {
        let what = root.mapping != nil ? "mapping" : "list"
        return .failure(Problem("\(notJSON): it is a YAML block \(what), not a JSON object in braces; send a JSON object such as \(WeightChange.example)"))
    }
    if let problem = jsonProblem(root) {
        return .failure(Problem("\(notJSON): \(problem); send a JSON object such as \(WeightChange.example)"))
    }
    return .success(root)
}

/// Why `node`, a flow collection or a scalar, is YAML that JSON does not have, or nil: a key or
/// string that is not double-quoted, or a plain word that is not a number, `true`, `false` or
/// `null`.
private func jsonProblem(_ node: Node) -> String? {
    func at(_ node: Node) -> String {
        node.mark.map { " at line \($0.line), column \($0.column)" } ?? ""
    }
    switch node {
    case .scalar(let scalar):
        switch scalar.style {
        case .doubleQuoted: return nil
        case .plain, .any:
            let text = scalar.string
            if ["true", "false", "null"].contains(text) || isJSONNumber(text) { return nil }
            return "`\(clip(text))`\(at(node)) is neither a number, true, false nor null; write a string in double quotes"
        case .singleQuoted: return "'\(clip(scalar.string))'\(at(node)) is in single quotes; JSON strings are in double quotes"
        case .literal, .folded: return "the block of text\(at(node)) is YAML; JSON strings are in double quotes"
        }
    case .mapping(let mapping):
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key, scalar.style == .doubleQuoted else {
                return "the key \(describeJSON(key))\(at(key)) is not a JSON string; write keys in double quotes"
            }
            if let problem = jsonProblem(value) { return problem }
        }
        return nil
    case .sequence(let sequence):
        for item in sequence {
            if let problem = jsonProblem(item) { return problem }
        }
        return nil
    }
}

/// Whether `text` is a number in JSON's grammar (RFC 8259 §6): `-`, then `0` or digits not
/// starting with `0`, then an optional fraction and exponent.
private func isJSONNumber(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    var index = 0
    func digits() -> Int {
        let start = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        return index - start
    }
    if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
    let start = index
    let whole = digits()
    guard whole > 0, whole == 1 || bytes[start] != UInt8(ascii: "0") else { return false }
    if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
        index += 1
        guard digits() > 0 else { return false }
    }
    if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
        index += 1
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard digits() > 0 else { return false }
    }
    return index == bytes.count
}

/// How a JSON value looks, for "must be X, not Y" messages.
private func describeJSON(_ node: Node) -> String {
    switch node {
    case .scalar(let scalar):
        if scalar.style == .doubleQuoted { return "the string \(quoted(scalar.string))" }
        return "`\(clip(scalar.string))`"
    case .mapping: return "an object"
    case .sequence: return "an array"
    }
}
