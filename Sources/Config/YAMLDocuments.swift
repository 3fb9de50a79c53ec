import YAML

/// One YAML document of a source, composed into nodes that still carry their positions.
struct YAMLDocument {
    let file: String
    let root: Node
}

/// Splits a source into its documents. A YAML error ends the source (libyaml cannot resynchronise
/// after one), so it becomes a diagnostic and the documents before it are still returned.
func composeDocuments(_ source: ConfigSource) -> (documents: [YAMLDocument], error: ConfigDiagnostic?) {
    var documents: [YAMLDocument] = []
    if let found = firstAnchorOrAlias(in: source.text) {
        let what = found.indicator == "&" ? "anchor" : "alias"
        return ([], ConfigDiagnostic(
            file: source.name, line: found.line, column: found.column,
            message: "YAML \(what) `\(found.indicator)\(clip(found.name))` is not supported: anchors and aliases can expand exponentially, so Weft refuses them; write the value out in full"
        ))
    }
    do {
        let parser = try Parser(yaml: source.text)
        while let root = try parser.nextRoot() {
            documents.append(YAMLDocument(file: source.name, root: root))
        }
        return (documents, nil)
    } catch {
        return (documents, diagnostic(for: error, in: source))
    }
}

/// Turns a YAML error into a positioned diagnostic.
private func diagnostic(for error: any Error, in source: ConfigSource) -> ConfigDiagnostic {
    func at(_ mark: (line: Int, column: Int), _ message: String) -> ConfigDiagnostic {
        ConfigDiagnostic(file: source.name, line: mark.line, column: mark.column, message: message)
    }
    guard let error = error as? YAMLError else {
        return ConfigDiagnostic(file: source.name, line: 1, column: 1, message: "cannot read YAML: \(error)")
    }
    switch error {
    case .scanner(let context, let problem, let mark),
         .parser(let context, let problem, let mark),
         .composer(let context, let problem, let mark):
        var message = "invalid YAML: \(problem)"
        if let context {
            message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        if indentationHasTab(source.text, line: mark.line) {
            message += "; this line is indented with a tab, and YAML indentation must use spaces"
        }
        return at((mark.line, mark.column), message)
    case .reader(let problem, let offset, let value):
        let mark = offset.map { positionOfCharacter($0, in: source.text) } ?? (line: 1, column: 1)
        let what = value >= 0 ? " (U+\(String(value, radix: 16, uppercase: true)))" : ""
        return at(mark, "cannot read YAML: \(problem)\(what); configuration must be printable UTF-8 text")
    case .duplicatedKeysInMapping(let duplicates, let mark):
        return duplicateKeyDiagnostic(duplicates, first: mark, in: source)
    default:
        return ConfigDiagnostic(file: source.name, line: 1, column: 1, message: "cannot read YAML: \(error)")
    }
}

/// The parser refuses a mapping with a repeated key but only reports the first occurrence of the
/// (alphabetically) first repeated key. Pointing at the repetition is what the reader needs, so
/// look for it: the next line of the same block mapping (same indentation) that starts with the key.
/// Flow mappings (`{a: 1, a: 2}`) are not searched; the first occurrence is reported instead.
private func duplicateKeyDiagnostic(_ keys: [String], first: Mark, in source: ConfigSource) -> ConfigDiagnostic {
    let key = keys.first ?? ""
    let others = keys.dropFirst().map { "`\(clip($0))`" }
    let also = others.isEmpty ? "" : " (also repeated in this mapping: \(others.joined(separator: ", ")))"
    let lines = source.text.split(separator: "\n", omittingEmptySubsequences: false)
    let indent = first.column - 1
    var lineNumber = first.line + 1
    while lineNumber <= lines.count {
        let line = lines[lineNumber - 1].unicodeScalars
        let spaces = line.prefix { $0 == " " }.count
        let rest = Substring(line.dropFirst(spaces))
        if rest.isEmpty || rest.hasPrefix("#") { lineNumber += 1; continue }
        if spaces < indent { break }
        if spaces == indent, startsWithKey(rest, key) {
            return ConfigDiagnostic(
                file: source.name, line: lineNumber, column: first.column,
                message: "duplicate key `\(clip(key))`, first given at line \(first.line)\(also); a key may appear once in a mapping, so remove one of them"
            )
        }
        lineNumber += 1
    }
    return ConfigDiagnostic(
        file: source.name, line: first.line, column: first.column,
        message: "duplicate key `\(clip(key))`\(also); a key may appear once in a mapping, so remove the repetition"
    )
}

/// Whether a line's content (indentation removed) is `key:`, `"key":` or `'key':`.
private func startsWithKey(_ text: Substring, _ key: String) -> Bool {
    for spelling in [key, "\"\(key)\"", "'\(key)'"] where text.hasPrefix(spelling) {
        let after = text.dropFirst(spelling.count).drop { $0 == " " }
        if after.hasPrefix(":") { return true }
    }
    return false
}

private func indentationHasTab(_ text: String, line: Int) -> Bool {
    guard line >= 1 else { return false }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    guard line <= lines.count else { return false }
    return lines[line - 1].prefix { $0 == " " || $0 == "\t" }.contains("\t")
}

/// The 1-based line and column (in Unicode scalars, like libyaml's marks) of the character at
/// `offset` characters into `text`, which is how the parser reports reader errors.
private func positionOfCharacter(_ offset: Int, in text: String) -> (line: Int, column: Int) {
    var line = 1
    var column = 1
    for character in text.prefix(offset) {
        if character == "\n" || character == "\r\n" {
            line += 1
            column = 1
        } else {
            column += character.unicodeScalars.count
        }
    }
    return (line, column)
}
