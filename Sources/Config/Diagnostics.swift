/// One piece of configuration text and the name it is reported under (a file path, or a label such
/// as `<stdin>`). The text may hold several YAML documents separated by `---`.
public struct ConfigSource: Sendable, Equatable {
    /// What diagnostics call this source, usually the path it was read from.
    public let name: String
    /// The YAML text.
    public let text: String

    /// A source called `name` in diagnostics, holding `text`.
    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }
}

/// A place in a configuration source. Lines and columns start at 1; columns count Unicode scalars,
/// as libyaml does.
public struct ConfigPosition: Sendable, Hashable, CustomStringConvertible {
    /// The source's name.
    public let file: String
    /// The line, from 1.
    public let line: Int
    /// The column, from 1, in Unicode scalars.
    public let column: Int

    /// The position `file:line:column`.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, the form editors and CI annotators jump to.
    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem in the configuration: where it is and what to do about it.
public struct ConfigDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the offending key or value starts.
    public let position: ConfigPosition
    /// What is wrong and what is allowed, without the position.
    public let message: String

    /// A diagnostic at `file:line:column`.
    public init(file: String, line: Int, column: Int, message: String) {
        self.position = ConfigPosition(file: file, line: line, column: column)
        self.message = message
    }

    /// A diagnostic at `position`.
    public init(at position: ConfigPosition, _ message: String) {
        self.position = position
        self.message = message
    }

    /// The source's name.
    public var file: String { position.file }
    /// The line, from 1.
    public var line: Int { position.line }
    /// The column, from 1, in Unicode scalars.
    public var column: Int { position.column }

    /// `file:line:column: message`.
    public var description: String { "\(position): \(message)" }
}

/// Every problem found in a set of sources, in source order, then by line and column. Loading never
/// stops at the first problem, so one run of `weft check` shows them all.
public struct ConfigErrors: Error, Sendable, Equatable, CustomStringConvertible {
    /// At least one diagnostic.
    public let diagnostics: [ConfigDiagnostic]

    /// Errors made of `diagnostics`, in the order given.
    public init(_ diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = diagnostics
    }

    /// One diagnostic per line.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Why a value's text is not a duration or size; `Configuration.load` adds the field and position.
public struct ConfigValueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the text and what would be accepted.
    public let reason: String

    /// An error explaining `reason`.
    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}

/// Collects diagnostics from every source and hands them back in reading order.
struct DiagnosticLog {
    private var entries: [(source: Int, sequence: Int, diagnostic: ConfigDiagnostic)] = []

    var isEmpty: Bool { entries.isEmpty }

    mutating func add(_ diagnostic: ConfigDiagnostic, source: Int) {
        entries.append((source, entries.count, diagnostic))
    }

    /// Ordered by source, then line and column, then the order they were found in: fields are checked
    /// in the order the code knows them, but a reader wants them in the order of the file.
    var sorted: [ConfigDiagnostic] {
        entries.sorted { a, b in
            (a.source, a.diagnostic.line, a.diagnostic.column, a.sequence)
                < (b.source, b.diagnostic.line, b.diagnostic.column, b.sequence)
        }.map(\.diagnostic)
    }
}

/// User text as it appears inside a message: control characters escaped, so that a diagnostic stays
/// on one line whatever the YAML held, and anything past 60 characters cut off.
func clip(_ text: some StringProtocol) -> String {
    var result = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == 60 { return result + "…" }
        count += 1
        switch scalar {
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{2028}", "\u{2029}":
            result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result
}

/// `clip(text)` in double quotes.
func quoted(_ text: some StringProtocol) -> String { "\"\(clip(text))\"" }
