/// Why YAML text could not be composed. The problem and context strings are libyaml's own (such
/// as "mapping values are not allowed in this context"); marks are 1-based.
public enum YAMLError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text is not a stream of characters YAML allows: a control character, a byte order
    /// mark in the middle of the text, or (for bytes) invalid UTF-8. `offset` counts Characters
    /// before the problem, nil when the problem is inside one; `value` is the offending code point
    /// or byte, -1 if none.
    case reader(problem: String, offset: Int?, value: Int32)
    /// libyaml's scanner refused the text (a token cannot start here, a quoted scalar is not
    /// closed, a tab where indentation is expected, ...).
    case scanner(context: Context?, problem: String, mark: Mark)
    /// libyaml's parser refused the tokens (block structure, flow collections, documents), or
    /// collections are nested more than 1000 deep.
    case parser(context: Context?, problem: String, mark: Mark)
    /// An alias names no anchor defined before it ("found undefined alias").
    case composer(context: Context?, problem: String, mark: Mark)
    /// A mapping repeats a key. `duplicates` holds each repeated key once, sorted (a key that is
    /// not a scalar is "<uncovertable>", as Yams spelt it); `mark` is where the first of them
    /// first appears.
    case duplicatedKeysInMapping(duplicates: [String], mark: Mark)
    /// libyaml could not allocate memory.
    case memory

    /// What libyaml was doing when it found the problem ("while parsing a flow mapping"), and
    /// where that started.
    public struct Context: Equatable, Sendable {
        public let text: String
        public let mark: Mark

        public init(text: String, mark: Mark) {
            self.text = text
            self.mark = mark
        }
    }

    /// `line:column: problem (context at line:column)`.
    public var description: String {
        func during(_ context: Context?) -> String {
            context.map { " (\($0.text) at \($0.mark))" } ?? ""
        }
        switch self {
        case .reader(let problem, let offset, let value):
            return "\(problem) at offset \(offset.map(String.init) ?? "?")\(value >= 0 ? ", value \(value)" : "")"
        case .scanner(let context, let problem, let mark),
             .parser(let context, let problem, let mark),
             .composer(let context, let problem, let mark):
            return "\(mark): \(problem)\(during(context))"
        case .duplicatedKeysInMapping(let duplicates, let mark):
            return "\(mark): duplicated keys \(duplicates.joined(separator: ", "))"
        case .memory:
            // Yams' words: Config prints this one.
            return "Memory error"
        }
    }
}
