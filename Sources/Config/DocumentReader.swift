import YAML

/// A field of a YAML mapping, named by its dotted path from the document root
/// (`spec.timeouts.connect`), which is how every message refers to it.
struct Field {
    let path: String
    let key: Node
    let value: Node
}

/// Reads the fields of one document into typed values. Every problem becomes a diagnostic at the
/// offending key or value, and reading carries on, so one pass finds every problem.
struct DocumentReader {
    let file: String
    private(set) var diagnostics: [ConfigDiagnostic] = []
    /// The Services this document refers to, which `Configuration.load` checks once every
    /// document is read (the Service may come later, or from another file).
    var references: [ServiceReference] = []

    init(file: String) {
        self.file = file
    }

    func position(of node: Node) -> ConfigPosition {
        // The parser gives every composed node a mark; only nodes built in code lack one.
        let mark = node.mark
        return ConfigPosition(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func report(_ message: String, at node: Node) {
        diagnostics.append(ConfigDiagnostic(at: position(of: node), message))
    }

    /// The fields of a mapping that are in `known`, by name. Unknown keys are reported (with the
    /// closest known name as a suggestion); `null` or an empty value counts as an empty mapping, as
    /// in Kubernetes, so `spec:` with everything below it commented out is valid. Returns nil, after
    /// reporting, when the node is not a mapping.
    mutating func mapping(_ node: Node, path: String, known: [String]) -> [String: Field]? {
        if isNull(node) { return [:] }
        guard case .mapping(let mapping) = node else {
            let name = path.isEmpty ? "a configuration document" : "`\(path)`"
            let example = path.isEmpty ? " (starting with `apiVersion:` and `kind:`)" : ""
            report("\(name) must be a mapping of field names to values\(example), not \(describe(node))", at: node)
            return nil
        }
        var fields: [String: Field] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                report("a key must be a field name, not \(describe(key))", at: key)
                continue
            }
            let name = scalar.string
            let fieldPath = path.isEmpty ? name : "\(path).\(name)"
            guard known.contains(name) else {
                if let suggestion = closestMatch(to: name, among: known) {
                    report("unknown field `\(clip(fieldPath))` (did you mean `\(suggestion)`?)", at: key)
                } else {
                    let owner = path.isEmpty ? "a document" : "`\(path)`"
                    report("unknown field `\(clip(fieldPath))`; \(owner) has the fields \(known.joined(separator: ", "))", at: key)
                }
                continue
            }
            fields[name] = Field(path: fieldPath, key: key, value: value)
        }
        return fields
    }

    /// The items of a list, each as a field named `path[index]` (its key is the item itself, which
    /// is where "has no value" reports point); `null` or an empty value counts as an empty list.
    /// Returns nil, after reporting, when the value is not a list. `allowed` describes an item.
    mutating func list(_ field: Field, of allowed: String) -> [Field]? {
        if isNull(field.value) { return [] }
        guard case .sequence(let sequence) = field.value else {
            report("`\(field.path)` must be a list of \(allowed), not \(describe(field.value))", at: field.value)
            return nil
        }
        return sequence.enumerated().map { index, item in Field(path: "\(field.path)[\(index)]", key: item, value: item) }
    }

    /// The entries of a mapping whose keys are data (label names, port numbers) rather than field
    /// names, in the order written, each named `path[key]`. `null` or an empty value counts as an
    /// empty mapping; keys that are not scalars are reported and left out. Returns nil, after
    /// reporting, when the value is not a mapping. `allowed` describes the mapping.
    mutating func entries(_ field: Field, of allowed: String) -> [(key: String, field: Field)]? {
        if isNull(field.value) { return [] }
        guard case .mapping(let mapping) = field.value else {
            report("`\(field.path)` must be \(allowed), not \(describe(field.value))", at: field.value)
            return nil
        }
        var entries: [(key: String, field: Field)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                report("a key of `\(field.path)` must be a scalar, not \(describe(key))", at: key)
                continue
            }
            entries.append((scalar.string, Field(path: "\(field.path)[\(clip(scalar.string))]", key: key, value: value)))
        }
        return entries
    }

    /// Kubernetes labels (`metadata.labels`, `matchLabels`): a mapping of label keys to label
    /// values, both checked against Kubernetes' syntax. Values must be YAML strings, as the API
    /// server requires, so `version: 2` is refused with a hint to quote it. Returns the valid
    /// labels (possibly after reporting others), or nil when the value is not a mapping.
    mutating func labels(_ field: Field) -> [String: String]? {
        guard let entries = entries(field, of: "a mapping of label keys to values, such as {app: web}") else { return nil }
        var labels: [String: String] = [:]
        for (key, entry) in entries {
            if let problem = labelKeyProblem(key) {
                report("`\(field.path)` has the key \(quoted(key)), which is not a label key: \(problem)", at: entry.key)
                continue
            }
            guard labels[key] == nil else {
                report("the label key \(quoted(key)) appears twice in `\(field.path)`; a key may appear once, so remove one", at: entry.key)
                continue
            }
            guard let value = string(entry, expecting: "a label value such as v1") else { continue }
            if let problem = labelValueProblem(value) {
                report("`\(entry.path)` is \(quoted(value)), which is not a label value: \(problem)", at: entry.value)
                continue
            }
            labels[key] = value
        }
        return labels
    }

    /// An absolute file path, such as `/var/run/weft/certs/key.pem`; `what` names the file and
    /// `example` is a path to suggest. The proxy opens it from wherever it was started, so a
    /// relative path would depend on the working directory.
    mutating func absolutePath(_ field: Field, of what: String, example: String) -> String? {
        guard let text = string(field, expecting: "the absolute path of \(what), such as \(example)") else { return nil }
        guard text.hasPrefix("/") else {
            report("`\(field.path)` is \(quoted(text)), which is not an absolute path; write the absolute path of \(what), such as \(example)", at: field.value)
            return nil
        }
        // open(2) reads a path up to its first NUL, so the file opened would not be the one named.
        guard !text.utf8.contains(0) else {
            report("`\(field.path)` contains a NUL character, which no file path can; write the path without it", at: field.value)
            return nil
        }
        // PATH_MAX is 4096 bytes including the terminating NUL; open(2) fails with ENAMETOOLONG beyond.
        guard text.utf8.count < 4096 else {
            report("`\(field.path)` is \(text.utf8.count) bytes long; a Linux path is at most 4095 bytes", at: field.value)
            return nil
        }
        return text
    }

    /// A decimal integer in `range`, written without quotes. `meaning` explains special values
    /// (such as "0 means one per CPU") in the messages.
    mutating func integer(_ field: Field, in range: ClosedRange<Int>, meaning: String = "") -> Int? {
        let allowed = "an integer from \(range.lowerBound) to \(range.upperBound)\(meaning.isEmpty ? "" : " (\(meaning))")"
        guard let text = scalarText(field, expecting: allowed) else { return nil }
        guard case .scalar(let scalar) = field.value, scalar.style == .plain || scalar.style == .any else {
            report("`\(field.path)` must be \(allowed), not the quoted string \(quoted(text)); remove the quotes", at: field.value)
            return nil
        }
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            report("`\(field.path)` must be \(allowed), not \(describe(field.value))", at: field.value)
            return nil
        }
        guard let value = Int(text), range.contains(value) else {
            report("`\(field.path)` is \(clip(text)); it must be \(allowed)", at: field.value)
            return nil
        }
        return value
    }

    /// A boolean: `true` or `false` as plain YAML scalars (YAML 1.2's core schema; the YAML 1.1
    /// spellings `yes`/`no`/`on`/`off` are refused, as Kubernetes does, to avoid the "Norway
    /// problem").
    mutating func boolean(_ field: Field) -> Bool? {
        let allowed = "true or false"
        guard let text = scalarText(field, expecting: allowed) else { return nil }
        guard case .scalar(let scalar) = field.value, scalar.style == .plain || scalar.style == .any else {
            report("`\(field.path)` must be \(allowed), not the quoted string \(quoted(text)); remove the quotes", at: field.value)
            return nil
        }
        switch text {
        case "true": return true
        case "false": return false
        default:
            report("`\(field.path)` is \(clip(text)); it must be \(allowed)", at: field.value)
            return nil
        }
    }

    /// A string. Plain scalars that YAML reads as another type (`123`, `true`, `no`, `~`) are
    /// refused with a hint to quote them, rather than silently turned into text.
    mutating func string(_ field: Field, expecting allowed: String = "a string") -> String? {
        guard let text = scalarText(field, expecting: allowed) else { return nil }
        guard field.value.tag == .str else {
            report("`\(field.path)` must be \(allowed), not \(describe(field.value)); if you mean the text, quote it: \(quoted(text))", at: field.value)
            return nil
        }
        return text
    }

    /// One of a fixed set of words, such as a log level. The scalar's text is compared whatever
    /// YAML would read it as, so `logLevel: off` gets "must be one of ..." rather than a type error.
    mutating func choice<Choice: RawRepresentable & CaseIterable>(_ field: Field, of _: Choice.Type) -> Choice?
    where Choice.RawValue == String {
        let names = Choice.allCases.map(\.rawValue)
        let allowed = "one of \(names.joined(separator: ", "))"
        guard let text = scalarText(field, expecting: allowed) else { return nil }
        if let value = Choice(rawValue: text) { return value }
        var message = "`\(field.path)` is \(quoted(text)); it must be \(allowed)"
        if let suggestion = closestMatch(to: text, among: names) { message += " (did you mean `\(suggestion)`?)" }
        report(message, at: field.value)
        return nil
    }

    /// A Go-style duration (`5s`, `1m30s`); with `zeroAllowed` false it must be longer than zero.
    mutating func duration(_ field: Field, zeroAllowed: Bool) -> Duration? {
        let allowed = zeroAllowed ? "a duration such as 30s or 1m30s (0s or more)" : "a duration longer than 0s, such as 5s or 1m30s"
        guard let text = scalarText(field, expecting: allowed) else { return nil }
        let value: Duration
        do { value = try parseDuration(text) } catch {
            report("`\(field.path)`: \(error.reason)", at: field.value)
            return nil
        }
        guard zeroAllowed || value > .zero else {
            report("`\(field.path)` is \(clip(text)); it must be longer than 0s, such as 5s", at: field.value)
            return nil
        }
        return value
    }

    /// A byte count (`65536`, `64Ki`, `1Mi`) in `range`. `limit` names where the bounds come from.
    mutating func byteSize(_ field: Field, in range: ClosedRange<Int>, limit: String = "") -> Int? {
        let bounds = "from \(formatByteSize(range.lowerBound)) to \(formatByteSize(range.upperBound))"
        let allowed = "a size in bytes \(bounds), such as 65536 or 64Ki"
        guard let text = scalarText(field, expecting: allowed) else { return nil }
        let value: Int
        do { value = try parseByteSize(text) } catch {
            report("`\(field.path)`: \(error.reason)", at: field.value)
            return nil
        }
        guard range.contains(value) else {
            let why = limit.isEmpty ? "" : " (\(limit))"
            report("`\(field.path)` is \(clip(text)) (\(value) bytes); it must be \(bounds)\(why)", at: field.value)
            return nil
        }
        return value
    }

    /// The text of a scalar field, or nil after reporting that it is empty or not a scalar.
    private mutating func scalarText(_ field: Field, expecting allowed: String) -> String? {
        if isNull(field.value) {
            report("`\(field.path)` has no value; write \(allowed), or remove the line to use the default", at: field.key)
            return nil
        }
        guard case .scalar(let scalar) = field.value else {
            report("`\(field.path)` must be \(allowed), not \(describe(field.value))", at: field.value)
            return nil
        }
        return scalar.string
    }
}

/// `~`, `null` or nothing at all, written without quotes.
func isNull(_ node: Node) -> Bool {
    guard case .scalar = node else { return false }
    return node.tag == .null
}

/// How a value looks to the person who wrote it, for "must be X, not Y" messages.
func describe(_ node: Node) -> String {
    switch node {
    case .scalar(let scalar):
        switch scalar.style {
        case .singleQuoted, .doubleQuoted: return "the quoted string \(quoted(scalar.string))"
        case .literal, .folded: return "a block of text"
        case .plain, .any: return "`\(clip(scalar.string))`"
        }
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    }
}

/// `4Ki`, `16Mi`, or the plain number when it is not a whole multiple.
func formatByteSize(_ bytes: Int) -> String {
    if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30)Gi" }
    if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20)Mi" }
    if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10)Ki" }
    return "\(bytes)"
}

/// The candidate nearest to `word` by edit distance, ignoring case, if it is near enough to be a
/// plausible typo: at most one edit per three letters of the candidate (at least one). A word of
/// three or more letters that begins a candidate (`warn` for `warning`) also counts as near.
func closestMatch(to word: String, among candidates: [String]) -> String? {
    let lowered = Array(word.lowercased().unicodeScalars)
    // Long inputs cannot be a typo of a short field name; skipping them also keeps the quadratic
    // distance computation small for hostile input.
    guard lowered.count <= 64 else { return nil }
    var best: (name: String, distance: Int)?
    for candidate in candidates {
        let target = Array(candidate.lowercased().unicodeScalars)
        let isPrefix = lowered.count >= 3 && target.starts(with: lowered)
        // A word that differs only in case (`HTTPS` for `https`) beats one that it begins.
        let distance = lowered == target ? 0 : isPrefix ? 1 : editDistance(lowered, target)
        guard distance <= max(1, target.count / 3) else { continue }
        if let best, best.distance <= distance { continue }
        best = (candidate, distance)
    }
    return best?.name
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two neighbouring
/// letters as one edit each (optimal string alignment), so `nmae` is one edit from `name`.
func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    // Three rows of the dynamic-programming table: two back is needed for swaps.
    var beforePrevious = Array(repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = Array(repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                current[j] = min(current[j], beforePrevious[j - 2] + 1)
            }
        }
        (beforePrevious, previous, current) = (previous, current, beforePrevious)
    }
    return previous[b.count]
}
