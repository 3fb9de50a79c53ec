/// Where a YAML anchor (`&name`) or alias (`*name`) begins, found by scanning the text before
/// the YAML parser composes it.
struct AnchorOrAlias: Equatable {
    let line: Int
    let column: Int
    /// `&` or `*`.
    let indicator: Character
    let name: String
}

/// Finds the first anchor or alias in `text`, or nil.
///
/// Weft's configuration refuses both: a few nested aliases expand exponentially (the "billion
/// laughs" pattern), and the parser's duplicate-key check hashes keys with their aliases expanded,
/// so a ten-line file can keep the loader busy for minutes. Kubernetes-style resources do not need
/// them. libyaml's own events are out of reach of this pure module, so this is a small scanner of
/// the YAML 1.2 syntax that matters here (§6.6 comments, §7.3 quoted scalars, §8.1 block scalars,
/// §6.9 node properties): `&` and `*` only mean anything at the start of a node — after
/// indentation, `- `, `? `, `: `, `[`, `{`, `,`, `--- ` or a tag — so `echo a&b` or `path: /x/*`
/// are plain text and not reported.
func firstAnchorOrAlias(in text: String) -> AnchorOrAlias? {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
    /// Set while a quoted scalar continues onto following lines.
    var openQuote: Unicode.Scalar?
    /// Set after a block scalar indicator: lines indented more than this belong to the scalar.
    var blockParentIndent: Int?

    for (lineIndex, line) in lines.enumerated() {
        let indent = line.prefix { $0 == " " }.count
        let isBlank = line.dropFirst(indent).allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" }
        if let parent = blockParentIndent {
            if isBlank || indent > parent { continue }
            blockParentIndent = nil
        }
        var index = 0
        var atNodeStart = openQuote == nil
        if let quote = openQuote {
            guard let end = closingQuote(quote, in: line, from: 0) else { continue }
            openQuote = nil
            index = end + 1
            atNodeStart = false
        }
        var flowDepth = 0
        while index < line.count {
            let scalar = line[index]
            if scalar == " " || scalar == "\t" || scalar == "\r" {
                index += 1
                continue
            }
            if scalar == "#", index == 0 || line[index - 1] == " " || line[index - 1] == "\t" {
                break // comment to end of line
            }
            if atNodeStart {
                switch scalar {
                case "&", "*":
                    let name = String(String.UnicodeScalarView(line[(index + 1)...].prefix { !isSeparator($0) }))
                    if !name.isEmpty {
                        return AnchorOrAlias(line: lineIndex + 1, column: index + 1, indicator: Character(scalar), name: name)
                    }
                    index += 1
                    atNodeStart = false
                    continue
                case "!":
                    // A tag is a node property; an anchor may follow it.
                    while index < line.count, !isSeparator(line[index]) { index += 1 }
                    continue
                case "-", "?", ":":
                    if index + 1 == line.count || isSeparator(line[index + 1]) {
                        index += 1
                        continue // still at the start of a node
                    }
                    if scalar == "-", line[index...].starts(with: ["-", "-", "-"]),
                       index + 3 == line.count || isSeparator(line[index + 3]) {
                        index += 3
                        continue // document start marker
                    }
                case "|", ">":
                    if flowDepth == 0 {
                        blockParentIndent = indent
                        index = line.count
                        continue
                    }
                case "\"", "'":
                    guard let end = closingQuote(scalar, in: line, from: index + 1) else {
                        openQuote = scalar
                        index = line.count
                        continue
                    }
                    index = end + 1
                    atNodeStart = false
                    continue
                default:
                    break
                }
            }
            switch scalar {
            case "[", "{":
                flowDepth += 1
                atNodeStart = true
            case "]", "}":
                flowDepth = max(0, flowDepth - 1)
                atNodeStart = false
            case ",":
                atNodeStart = flowDepth > 0
            case ":":
                if index + 1 == line.count || isSeparator(line[index + 1]) || flowDepth > 0 {
                    atNodeStart = true
                } else {
                    atNodeStart = false
                }
            case "\"", "'":
                // Quotes inside a plain scalar (`it's`) are plain text.
                atNodeStart = false
            default:
                atNodeStart = false
            }
            index += 1
        }
    }
    return nil
}

private func isSeparator(_ scalar: Unicode.Scalar) -> Bool {
    scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "," || scalar == "[" || scalar == "]"
        || scalar == "{" || scalar == "}"
}

/// The index of the quote that closes a quoted scalar starting at `start`, or nil if it continues
/// past this line. `''` inside single quotes and `\"` inside double quotes do not close.
private func closingQuote(_ quote: Unicode.Scalar, in line: [Unicode.Scalar], from start: Int) -> Int? {
    var index = start
    while index < line.count {
        let scalar = line[index]
        if quote == "\"", scalar == "\\" {
            index += 2
            continue
        }
        if scalar == quote {
            if quote == "'", index + 1 < line.count, line[index + 1] == "'" {
                index += 2
                continue
            }
            return index
        }
        index += 1
    }
    return nil
}
