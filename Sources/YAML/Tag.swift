/// A node's tag: what type its text stands for, such as `tag:yaml.org,2002:int`.
public struct Tag: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The full tag, such as `tag:yaml.org,2002:str`, or a local tag such as `!thing`.
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    // The types of YAML 1.1's repository (https://yaml.org/type/), which the resolver below uses.
    public static let str = Tag(rawValue: "tag:yaml.org,2002:str")
    public static let seq = Tag(rawValue: "tag:yaml.org,2002:seq")
    public static let map = Tag(rawValue: "tag:yaml.org,2002:map")
    public static let null = Tag(rawValue: "tag:yaml.org,2002:null")
    public static let bool = Tag(rawValue: "tag:yaml.org,2002:bool")
    public static let int = Tag(rawValue: "tag:yaml.org,2002:int")
    public static let float = Tag(rawValue: "tag:yaml.org,2002:float")
    public static let merge = Tag(rawValue: "tag:yaml.org,2002:merge")
    public static let timestamp = Tag(rawValue: "tag:yaml.org,2002:timestamp")
    public static let value = Tag(rawValue: "tag:yaml.org,2002:value")
}

extension Tag {
    /// The tag of a plain (unquoted, untagged) scalar with this text, by YAML 1.1's implicit
    /// resolution as Yams' `Resolver.default` applied it (the rules below are its regular
    /// expressions written out, checked in its order, first match wins):
    ///
    /// - `.bool`: `yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF`
    /// - `.int`: `[-+]?0b[0-1_]+`, `[-+]?0o?[0-7_]+`, `[-+]?(0|[1-9][0-9_]*)`,
    ///   `[-+]?0x[0-9a-fA-F_]+`, `[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+` (sexagesimal)
    /// - `.float`: `[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?`, `\.[0-9_]+([eE][-+][0-9]+)?`,
    ///   `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*`, `[-+]?\.(inf|Inf|INF)`, `\.(nan|NaN|NAN)`
    /// - `.merge`: `<<`
    /// - `.null`: `~`, `null`, `Null`, `NULL` or nothing
    /// - `.timestamp`: `YYYY-MM-DD`, or `YYYY-M-D` then `T`, `t` or blanks, `h:mm:ss`, an optional
    ///   fraction and an optional zone (`Z`, `+h`, `-hh:mm`, after optional blanks)
    /// - `.value`: `=`
    /// - `.str`: anything else.
    ///
    /// Each rule must match the whole text, except that, as ICU's `$` does, one line terminator
    /// (LF, VT, FF, CR, CR LF, NEL, LS or PS) may follow: `"true\n"` is a bool. (A plain scalar
    /// that libyaml composes never ends with one.)
    public init(resolvingPlainScalar text: String) {
        let bytes = Array(text.utf8)
        if let tag = implicitTag(bytes[...]) {
            self = tag
        } else if let trimmed = droppingFinalLineTerminator(bytes[...]), let tag = implicitTag(trimmed) {
            self = tag
        } else {
            self = .str
        }
    }
}

// The matchers work on UTF-8 bytes: every character the patterns name is ASCII, so a byte of a
// multi-byte character never matches anything, as its character would not.

/// The first rule that matches all of `text`, in Yams' order, or nil.
private func implicitTag(_ text: ArraySlice<UInt8>) -> Tag? {
    if isBool(text) { return .bool }
    if isInt(text) { return .int }
    if isFloat(text) { return .float }
    if text.elementsEqual("<<".utf8) { return .merge }
    if isNull(text) { return .null }
    if isTimestamp(text) { return .timestamp }
    if text.elementsEqual("=".utf8) { return .value }
    return nil
}

/// `text` without the one line terminator it ends with, or nil if it ends with none. ICU counts
/// LF, VT, FF, CR, NEL, LS and PS, and CR LF as one (a `$` between CR and LF does not match).
private func droppingFinalLineTerminator(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
    for terminator in [[0x0D, 0x0A], [0x0A], [0x0B], [0x0C], [0x0D], [0xC2, 0x85], [0xE2, 0x80, 0xA8], [0xE2, 0x80, 0xA9]] as [[UInt8]]
    where text.count >= terminator.count && text.suffix(terminator.count).elementsEqual(terminator) {
        return text.dropLast(terminator.count)
    }
    return nil
}

private let boolWords: Set<String> = [
    "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
]

private func isBool(_ text: ArraySlice<UInt8>) -> Bool {
    text.count <= 5 && boolWords.contains(String(decoding: text, as: UTF8.self))
}

private func isNull(_ text: ArraySlice<UInt8>) -> Bool {
    text.isEmpty || ["~", "null", "Null", "NULL"].contains { text.elementsEqual($0.utf8) }
}

/// A cursor over the bytes of a scalar, for the hand-written matchers. Every pattern is a
/// sequence of steps that each consume what they match or leave the cursor where it was.
private struct Scanner {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    var atEnd: Bool { index == bytes.endIndex }
    var next: UInt8? { atEnd ? nil : bytes[index] }

    /// Consumes one byte if it satisfies `test`.
    mutating func take(_ test: (UInt8) -> Bool) -> Bool {
        guard let byte = next, test(byte) else { return false }
        index += 1
        return true
    }

    mutating func take(_ byte: UInt8) -> Bool {
        take { $0 == byte }
    }

    /// Consumes the bytes of `word` if the text continues with them.
    mutating func take(_ word: String) -> Bool {
        let word = word.utf8
        guard bytes[index...].starts(with: word) else { return false }
        index += word.count
        return true
    }

    /// Consumes the longest run of bytes satisfying `test` and returns its length.
    @discardableResult
    mutating func takeRun(_ test: (UInt8) -> Bool) -> Int {
        let start = index
        while take(test) {}
        return index - start
    }

    /// `[-+]?`
    mutating func takeSign() {
        _ = take { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }
    }

    /// `(:[0-5]?[0-9])+`: one or more sexagesimal groups. Taking two digits whenever the first is
    /// 0-5 is the only choice that can match: every group is followed by `:`, `.` or the end.
    mutating func takeSexagesimalGroups() -> Bool {
        var groups = 0
        while take(UInt8(ascii: ":")) {
            if take(isDigit0to5) {
                _ = take(isDigit)
            } else if !take(isDigit) {
                return false
            }
            groups += 1
        }
        return groups > 0
    }
}

private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
private func isDigit0to5(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "5") }
private func isDigitOrUnderscore(_ byte: UInt8) -> Bool { isDigit(byte) || byte == UInt8(ascii: "_") }

/// Runs `pattern` from the start of `text`; true if it matched and consumed everything.
private func whole(_ text: ArraySlice<UInt8>, _ pattern: (inout Scanner) -> Bool) -> Bool {
    var scanner = Scanner(text)
    return pattern(&scanner) && scanner.atEnd
}

private func isInt(_ text: ArraySlice<UInt8>) -> Bool {
    // [-+]?0b[0-1_]+
    whole(text) { s in
        s.takeSign()
        return s.take("0b") && s.takeRun { $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") || $0 == UInt8(ascii: "_") } > 0
    }
    // [-+]?0o?[0-7_]+ — the `o` is optional, so `0` then octal digits also counts ("017", "00").
    // After `0o`, not taking the `o` cannot help: `o` is not an octal digit.
    || whole(text) { s in
        s.takeSign()
        guard s.take(UInt8(ascii: "0")) else { return false }
        _ = s.take(UInt8(ascii: "o"))
        return s.takeRun { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7")) || $0 == UInt8(ascii: "_") } > 0
    }
    // [-+]?(0|[1-9][0-9_]*)
    || whole(text) { s in
        s.takeSign()
        if s.take(UInt8(ascii: "0")) { return true }
        guard s.take({ $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }) else { return false }
        s.takeRun(isDigitOrUnderscore)
        return true
    }
    // [-+]?0x[0-9a-fA-F_]+
    || whole(text) { s in
        s.takeSign()
        return s.take("0x") && s.takeRun { isDigitOrUnderscore($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0 | 0x20) } > 0
    }
    // [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+
    || whole(text) { s in
        s.takeSign()
        guard s.take({ $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }) else { return false }
        s.takeRun(isDigitOrUnderscore)
        return s.takeSexagesimalGroups()
    }
}

private func isFloat(_ text: ArraySlice<UInt8>) -> Bool {
    // [-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)? — each part stops at a byte the next part
    // starts with (`.`, `e`/`E`) or at the end, so taking each part greedily is exact.
    whole(text) { s in
        s.takeSign()
        guard s.take(isDigit) else { return false }
        s.takeRun(isDigitOrUnderscore)
        if s.take(UInt8(ascii: ".")) { s.takeRun(isDigitOrUnderscore) }
        if s.take({ $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            s.takeSign()
            return s.takeRun(isDigit) > 0
        }
        return true
    }
    // \.[0-9_]+([eE][-+][0-9]+)? — no sign before the point, and the exponent's sign is required.
    || whole(text) { s in
        guard s.take(UInt8(ascii: ".")), s.takeRun(isDigitOrUnderscore) > 0 else { return false }
        if s.take({ $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            guard s.take({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }) else { return false }
            return s.takeRun(isDigit) > 0
        }
        return true
    }
    // [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
    || whole(text) { s in
        s.takeSign()
        guard s.take(isDigit) else { return false }
        s.takeRun(isDigitOrUnderscore)
        guard s.takeSexagesimalGroups(), s.take(UInt8(ascii: ".")) else { return false }
        s.takeRun(isDigitOrUnderscore)
        return true
    }
    // [-+]?\.(inf|Inf|INF)
    || whole(text) { s in
        s.takeSign()
        return s.take(".inf") || s.take(".Inf") || s.take(".INF")
    }
    // \.(nan|NaN|NAN)
    || ["nan", "NaN", "NAN"].contains { text.elementsEqual(".\($0)".utf8) }
}

private func isTimestamp(_ text: ArraySlice<UInt8>) -> Bool {
    func digits(_ s: inout Scanner, _ count: Int) -> Bool {
        (0..<count).allSatisfy { _ in s.take(isDigit) }
    }
    /// `[0-9][0-9]?`
    func oneOrTwoDigits(_ s: inout Scanner) -> Bool {
        guard s.take(isDigit) else { return false }
        _ = s.take(isDigit)
        return true
    }
    func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
    let dash = UInt8(ascii: "-")
    let colon = UInt8(ascii: ":")
    // [0-9]{4}-[0-9]{2}-[0-9]{2}
    return whole(text) { s in
        digits(&s, 4) && s.take(dash) && digits(&s, 2) && s.take(dash) && digits(&s, 2)
    }
    // [0-9]{4}-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)[0-9][0-9]?:[0-9]{2}:[0-9]{2}(\.[0-9]*)?
    //     ([ \t]*(Z|[-+][0-9][0-9]?(:[0-9]{2})?))?
    || whole(text) { s in
        guard digits(&s, 4), s.take(dash), oneOrTwoDigits(&s), s.take(dash), oneOrTwoDigits(&s) else { return false }
        guard s.take({ $0 == UInt8(ascii: "T") || $0 == UInt8(ascii: "t") }) || s.takeRun(isBlank) > 0 else { return false }
        guard oneOrTwoDigits(&s), s.take(colon), digits(&s, 2), s.take(colon), digits(&s, 2) else { return false }
        if s.take(UInt8(ascii: ".")) { s.takeRun(isDigit) }
        if s.atEnd { return true }
        // The zone is optional, but blanks alone cannot end the text.
        s.takeRun(isBlank)
        if s.take(UInt8(ascii: "Z")) { return true }
        guard s.take({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }), oneOrTwoDigits(&s) else { return false }
        if s.take(colon) { return digits(&s, 2) }
        return true
    }
}
