/// A JSON value (RFC 8259) as the admin API writes it (`/status`, `/certs`) and `weft status`
/// reads it back. Objects keep their members in order, so what is written reads in the order it
/// was built.
public enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without fraction or exponent that fits `Int`.
    case integer(Int)
    /// A number with a fraction or exponent, or an integer too large for `Int`.
    case number(Double)
    /// A string, its escapes decoded.
    case string(String)
    /// Items in order.
    case array([JSONValue])
    /// Members in order. A key written twice is kept twice; `self[key]` finds the first.
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The first member named `key` of an object; nil for a missing member or a non-object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The text of a string; nil for any other value.
    public var stringValue: String? { if case .string(let text) = self { text } else { nil } }
    /// The flag of `true` or `false`; nil for any other value.
    public var boolValue: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    /// The items of an array; nil for any other value.
    public var arrayValue: [JSONValue]? { if case .array(let items) = self { items } else { nil } }
    /// Whether this is `null`.
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// An integer, also one written with a fraction of zero (`3.0`).
    public var intValue: Int? {
        switch self {
        case .integer(let number): return number
        case .number(let number) where number.rounded() == number && abs(number) < 9.0e18: return Int(number)
        default: return nil
        }
    }
}

/// Literals build values: `["pid": 42, "identity": nil, "problems": []]`.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Members in the order written.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements.map { (key: $0.0, value: $0.1) }) }
}

// MARK: - Writing

extension JSONValue {
    /// The value as JSON text, indented by two spaces per level, ending in a newline.
    public var text: String {
        var bytes: [UInt8] = []
        write(to: &bytes, indent: 0)
        bytes.append(UInt8(ascii: "\n"))
        return String(decoding: bytes, as: UTF8.self)
    }

    private func write(to bytes: inout [UInt8], indent: Int) {
        func newline(_ level: Int) {
            bytes.append(UInt8(ascii: "\n"))
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
        }
        switch self {
        case .null: bytes += "null".utf8
        case .bool(let flag): bytes += (flag ? "true" : "false").utf8
        case .integer(let number): bytes += String(number).utf8
        // RFC 8259 §6 has no NaN or infinity.
        case .number(let number): bytes += (number.isFinite ? "\(number)" : "null").utf8
        case .string(let text): appendJSONString(text, to: &bytes)
        case .array(let items) where items.isEmpty: bytes += "[]".utf8
        case .object(let members) where members.isEmpty: bytes += "{}".utf8
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                item.write(to: &bytes, indent: indent + 1)
            }
            newline(indent)
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                appendJSONString(member.key, to: &bytes)
                bytes += ": ".utf8
                member.value.write(to: &bytes, indent: indent + 1)
            }
            newline(indent)
            bytes.append(UInt8(ascii: "}"))
        }
    }
}

/// Appends `text` as a JSON string (RFC 8259 §7): quotes, backslashes and control characters
/// escaped; everything else, including non-ASCII, as UTF-8.
func appendJSONString(_ text: String, to output: inout [UInt8]) {
    var text = text
    text.withUTF8 { appendJSONString(utf8: $0, to: &output) }
}

/// Appends valid UTF-8 as a JSON string, escaped as `appendJSONString(_:to:)` says.
func appendJSONString(utf8: some Collection<UInt8>, to output: inout [UInt8]) {
    output.append(UInt8(ascii: "\""))
    for byte in utf8 {
        switch byte {
        case UInt8(ascii: "\""): output.append(contentsOf: "\\\"".utf8)
        case UInt8(ascii: "\\"): output.append(contentsOf: "\\\\".utf8)
        case 0x0A: output.append(contentsOf: "\\n".utf8)
        case 0x0D: output.append(contentsOf: "\\r".utf8)
        case 0x09: output.append(contentsOf: "\\t".utf8)
        case 0..<0x20, 0x7F:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            output.append(contentsOf: "\\u00".utf8)
            output.append(hex[Int(byte >> 4)])
            output.append(hex[Int(byte & 0xF)])
        default:
            output.append(byte)
        }
    }
    output.append(UInt8(ascii: "\""))
}

// MARK: - Reading

/// Why a text is not JSON: what was expected, and the byte offset where.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    /// Bytes (UTF-8) from the start of the text.
    public let offset: Int
    /// What was expected or is wrong there.
    public let reason: String
    public var description: String { "not JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Nesting deeper than this is refused rather than recursed into (the text comes from
    /// whatever answers on a local port).
    public static let maximumDepth = 64

    /// Reads one JSON text (RFC 8259 §2): one value, with whitespace around it and nothing else.
    /// Strict: no comments, trailing commas, single quotes, leading zeros, unescaped control
    /// characters or lone surrogates.
    public init(parsing text: String) throws(JSONParseError) {
        var reader = JSONReader(bytes: Array(text.utf8))
        reader.skipWhitespace()
        self = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.position == reader.bytes.count else { throw reader.error("text after the value") }
    }
}

private struct JSONReader {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: position, reason: reason) }

    var next: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        // RFC 8259 §2: space, horizontal tab, line feed, carriage return.
        while let byte = next, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    mutating func expect(_ literal: String) throws(JSONParseError) {
        for byte in literal.utf8 {
            guard next == byte else { throw error("expected \(literal)") }
            position += 1
        }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < JSONValue.maximumDepth else { throw error("nested deeper than \(JSONValue.maximumDepth) levels") }
        guard let first = next else { throw error("the text ends where a value should be") }
        switch first {
        case UInt8(ascii: "{"):
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            skipWhitespace()
            if next == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard next == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
                let key = try string()
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                if next == UInt8(ascii: ",") { position += 1; continue }
                try expect("}")
                return .object(members)
            }
        case UInt8(ascii: "["):
            position += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if next == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                if next == UInt8(ascii: ",") { position += 1; continue }
                try expect("]")
                return .array(items)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("expected a value")
        }
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = position
        func digits() -> Int {
            let first = position
            while let byte = next, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { position += 1 }
            return position - first
        }
        if next == UInt8(ascii: "-") { position += 1 }
        if next == UInt8(ascii: "0") {
            position += 1
        } else if digits() == 0 {
            throw error("expected a digit")
        }
        var integral = true
        if next == UInt8(ascii: ".") {
            position += 1
            integral = false
            guard digits() > 0 else { throw error("expected a digit after the decimal point") }
        }
        if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            position += 1
            integral = false
            if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw error("expected a digit in the exponent") }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if integral, let number = Int(text) { return .integer(number) }
        // Double("1e400") is infinity, which JSON cannot write back (§6 lets a reader set limits).
        guard let number = Double(text), number.isFinite else { throw error("number out of range") }
        return .number(number)
    }

    /// A string from its opening quote: escapes decoded (§7), surrogate pairs joined.
    mutating func string() throws(JSONParseError) -> String {
        position += 1
        var output: [UInt8] = []
        while true {
            guard let byte = next else { throw error("the text ends inside a string") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                // Only whole UTF-8 passes (String(validating:) refuses broken sequences).
                guard let text = String(validating: output, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = next else { throw error("the text ends inside an escape") }
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard next == UInt8(ascii: "\\") else { throw error("a high surrogate without its low half") }
                        position += 1
                        try expect("u")
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("a high surrogate without its low half") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("a low surrogate without its high half")
                    }
                    output += String(Character(Unicode.Scalar(scalar)!)).utf8
                default: throw error("unknown escape \\\(Character(Unicode.Scalar(escape)))")
                }
            case 0..<0x20: throw error("a control character inside a string (escape it)")
            default: output.append(byte)
            }
        }
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = next else { throw error("the text ends inside a \\u escape") }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("expected four hex digits after \\u")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}
