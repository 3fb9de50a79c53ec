import Testing
@testable import YAML

/// A 1-based mark, for the tables.
func at(_ line: Int, _ column: Int) -> Mark {
    Mark(line: line, column: column)
}

/// An error's context, for the tables.
func during(_ text: String, _ line: Int, _ column: Int) -> YAMLError.Context {
    YAMLError.Context(text: text, mark: Mark(line: line, column: column))
}

/// YAML text and what composing it gives: the roots of the documents before any error, outlined
/// (see `outline`), and the error, if any.
struct ComposeCase: CustomTestStringConvertible, Sendable {
    let name: String
    let yaml: String
    let roots: [String]
    let error: YAMLError?

    init(_ name: String, _ yaml: String, roots: [String], error: YAMLError? = nil) {
        self.name = name
        self.yaml = yaml
        self.roots = roots
        self.error = error
    }

    var testDescription: String { name }

    func check(sourceLocation: SourceLocation = #_sourceLocation) {
        let found = compose(yaml)
        #expect(found.roots == roots, sourceLocation: sourceLocation)
        #expect(found.error == error, sourceLocation: sourceLocation)
    }
}

/// Every document of `yaml` (outlined) until the end or an error, and the error.
func compose(_ yaml: String) -> (roots: [String], error: YAMLError?) {
    var roots: [String] = []
    do {
        let parser = try Parser(yaml: yaml)
        while let root = try parser.nextRoot() { roots.append(outline(root)) }
        return (roots, nil)
    } catch {
        return (roots, error as? YAMLError)
    }
}

/// A node on one line, with every tag, style and mark:
/// `map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "1"}`, `seq@1:1 [...]`. Tags of YAML's repository
/// are shortened to their last part; text is quoted, with `\n`, `\t`, `\r`, `\"`, `\\` and `\u{…}`
/// for anything outside printable ASCII.
func outline(_ node: Node) -> String {
    let at = node.mark.map { "@\($0.line):\($0.column)" } ?? ""
    let prefix = "tag:yaml.org,2002:"
    let tag = node.tag.rawValue.hasPrefix(prefix) ? String(node.tag.rawValue.dropFirst(prefix.count)) : node.tag.rawValue
    switch node {
    case .scalar(let scalar):
        let style = ["any", "plain", "single", "double", "literal", "folded"][Int(scalar.style.rawValue)]
        return "\(tag):\(style)\(at) \(quote(scalar.string))"
    case .mapping(let mapping):
        return "\(tag)\(at) {" + mapping.map { "\(outline($0.key)) => \(outline($0.value))" }.joined(separator: ", ") + "}"
    case .sequence(let sequence):
        return "\(tag)\(at) [" + sequence.map(outline).joined(separator: ", ") + "]"
    }
}

private func quote(_ text: String) -> String {
    var quoted = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": quoted += "\\\""
        case "\\": quoted += "\\\\"
        case "\n": quoted += "\\n"
        case "\t": quoted += "\\t"
        case "\r": quoted += "\\r"
        case " "..."~": quoted.unicodeScalars.append(scalar)
        default: quoted += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        }
    }
    return quoted + "\""
}
