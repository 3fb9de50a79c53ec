/// The fields of a header or trailer section (RFC 9110 §5): ordered name/value pairs with the
/// names spelled as received, looked up case-insensitively.
///
/// Storage is one byte buffer holding each name followed by its value, plus one small record of
/// offsets per field. A parsed head therefore costs two allocations however many fields it has,
/// values are kept byte for byte (obs-text included, RFC 9110 §5.5 says to treat it as opaque),
/// and the serializer copies bytes without going through `String`. The `String` views
/// (`values(for:)`, iteration) decode on demand; obs-text that is not UTF-8 shows there as U+FFFD
/// but is forwarded unchanged.
///
/// Every field in a value satisfies the field syntax: `add` and `replace` refuse a name that is
/// not a token or a value with CR, LF, NUL or another control character (a precondition: the
/// proxy checks input it did not parse with `isValidName(_:)` / `isValidValue(_:)` first), so a
/// serialized head can never carry an injected line.
public struct HTTPHeaders: Sendable, Sequence, Equatable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One field: `bytes[start..<nameEnd]` is the name, `bytes[nameEnd..<end]` the value.
    struct Field: Sendable {
        var start: UInt32
        var nameEnd: UInt32
        var end: UInt32

        var name: Range<Int> { Int(start)..<Int(nameEnd) }
        var value: Range<Int> { Int(nameEnd)..<Int(end) }
    }

    var bytes: [UInt8]
    var fields: [Field]

    /// An empty section.
    public init() {
        bytes = []
        fields = []
    }

    /// Fields in the order given. Preconditions: as for `add(name:value:)`.
    public init(_ pairs: [(name: String, value: String)]) {
        self.init()
        fields.reserveCapacity(pairs.count)
        for (name, value) in pairs { add(name: name, value: value) }
    }

    /// Fields in the order written; repeated names are kept as separate fields.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements.map { (name: $0.0, value: $0.1) })
    }

    /// A section the parser built: already validated, offsets into `bytes`.
    init(bytes: [UInt8], fields: [Field]) {
        self.bytes = bytes
        self.fields = fields
    }

    /// The number of fields (a repeated name counts once per line).
    public var count: Int { fields.count }

    /// Whether there are no fields.
    public var isEmpty: Bool { fields.isEmpty }

    /// The name (original spelling) and value of the field at `index`, in received order.
    public subscript(index: Int) -> (name: String, value: String) {
        (string(fields[index].name), string(fields[index].value))
    }

    /// Every value of the fields named `name` (case-insensitive), in order. Values of a list field
    /// sent on several lines stay separate; see `containsToken(_:in:)` for list semantics.
    public func values(for name: String) -> [String] {
        var result: [String] = []
        for field in fields where matches(field, name.utf8) { result.append(string(field.value)) }
        return result
    }

    /// The value of the first field named `name` (case-insensitive), or nil.
    public func first(_ name: String) -> String? {
        guard let index = firstIndex(name.utf8) else { return nil }
        return string(fields[index].value)
    }

    /// Whether a field named `name` (case-insensitive) is present.
    public func contains(_ name: String) -> Bool { firstIndex(name.utf8) != nil }

    /// Whether the comma-separated list in the fields named `name` (all lines together, RFC 9110
    /// §5.3) has an element equal to `token`, ignoring case and surrounding whitespace — e.g.
    /// `containsToken("close", in: "Connection")`.
    public func containsToken(_ token: String, in name: String) -> Bool {
        for field in fields where matches(field, name.utf8) {
            var found = false
            forEachListElement(field.value) { element in
                if ASCII.equalsIgnoringCase(bytes[element], token.utf8) { found = true }
            }
            if found { return true }
        }
        return false
    }

    /// Appends a field. Precondition: `isValidName(name)` and `isValidValue(value)`.
    public mutating func add(name: String, value: String) {
        precondition(Self.isValidName(name), "HTTPHeaders: \(name.debugDescription) is not a field name (RFC 9110 §5.1 token)")
        precondition(Self.isValidValue(value), "HTTPHeaders: the value of \(name) has CR, LF, NUL or another control character")
        let start = bytes.count
        bytes.append(contentsOf: name.utf8)
        let nameEnd = bytes.count
        bytes.append(contentsOf: value.utf8)
        precondition(bytes.count <= Int(UInt32.max), "HTTPHeaders: more than 4 GiB of fields")
        fields.append(Field(start: UInt32(start), nameEnd: UInt32(nameEnd), end: UInt32(bytes.count)))
    }

    /// Removes every field named `name` (case-insensitive).
    public mutating func remove(name: String) {
        removeAll { headers, field in headers.matches(field, name.utf8) }
    }

    /// Sets the field `name` to the single value `value`: the first field of that name keeps its
    /// position (and spelling of the name) with the new value, later ones are removed; appended when
    /// absent. Preconditions as for `add(name:value:)`.
    public mutating func replace(name: String, value: String) {
        guard let index = firstIndex(name.utf8) else {
            add(name: name, value: value)
            return
        }
        precondition(Self.isValidValue(value), "HTTPHeaders: the value of \(name) has CR, LF, NUL or another control character")
        let keptName = Array(bytes[fields[index].name])
        var rebuilt = HTTPHeaders()
        rebuilt.bytes.reserveCapacity(bytes.count + value.utf8.count)
        rebuilt.fields.reserveCapacity(fields.count)
        for (position, field) in fields.enumerated() {
            if position == index {
                rebuilt.append(name: keptName, value: value.utf8)
            } else if !matches(field, name.utf8) {
                rebuilt.append(name: bytes[field.name], value: bytes[field.value])
            }
        }
        self = rebuilt
    }

    /// Whether `name` can be a field name: a non-empty token (RFC 9110 §5.1, §5.6.2).
    public static func isValidName(_ name: String) -> Bool {
        !name.utf8.isEmpty && name.utf8.allSatisfy(ASCII.isTokenChar)
    }

    /// Whether `value` can be a field value: field-vchar, SP and HTAB only, no leading or trailing
    /// whitespace (RFC 9110 §5.5). UTF-8 beyond ASCII is obs-text and allowed.
    public static func isValidValue(_ value: String) -> Bool {
        let utf8 = value.utf8
        guard utf8.allSatisfy(ASCII.isFieldValueChar) else { return false }
        if let first = utf8.first, ASCII.isWhitespace(first) { return false }
        if let last = utf8.last, ASCII.isWhitespace(last) { return false }
        return true
    }

    // MARK: Sequence

    /// Iterates `(name, value)` in received order.
    public struct Iterator: IteratorProtocol {
        let headers: HTTPHeaders
        var index = 0

        /// The next field, or nil after the last.
        public mutating func next() -> (name: String, value: String)? {
            guard index < headers.fields.count else { return nil }
            defer { index += 1 }
            return headers[index]
        }
    }

    /// An iterator over the fields in received order.
    public func makeIterator() -> Iterator { Iterator(headers: self) }

    /// Equal when the same names (same spelling) carry the same value bytes in the same order.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.fields.count == rhs.fields.count else { return false }
        for (left, right) in zip(lhs.fields, rhs.fields) {
            guard lhs.bytes[left.name].elementsEqual(rhs.bytes[right.name]),
                  lhs.bytes[left.value].elementsEqual(rhs.bytes[right.value]) else { return false }
        }
        return true
    }

    /// `Name: value` lines, for logs and test failures.
    public var description: String {
        map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    // MARK: Internal byte-level access (parser, serializer, semantics)

    func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

    func matches<Name: Collection<UInt8>>(_ field: Field, _ name: Name) -> Bool {
        Int(field.nameEnd - field.start) == name.count && ASCII.equalsIgnoringCase(bytes[field.name], name)
    }

    /// Whether a Connection field lists this field's name (so it is hop-by-hop, RFC 9110 §7.6.1).
    func isListedInConnection(_ field: Field) -> Bool {
        var listed = false
        for connection in fields where Int(connection.nameEnd - connection.start) == 10 && matches(connection, "Connection".utf8) {
            forEachListElement(connection.value) { element in
                if !listed, element.count == Int(field.nameEnd - field.start), ASCII.equalsIgnoringCase(bytes[element], bytes[field.name]) {
                    listed = true
                }
            }
            if listed { return true }
        }
        return false
    }

    func firstIndex<Name: Collection<UInt8>>(_ name: Name) -> Int? {
        fields.firstIndex { matches($0, name) }
    }

    /// Calls `body` with the range of each element of the comma-separated list in `range`, OWS
    /// trimmed (RFC 9110 §5.6.1). Empty elements are passed as empty ranges, so callers that must
    /// refuse them (Transfer-Encoding, Content-Length) can.
    func forEachListElement(_ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = range.lowerBound
        var index = range.lowerBound
        while index <= range.upperBound {
            if index == range.upperBound || bytes[index] == ASCII.comma {
                var low = start
                var high = index
                while low < high && ASCII.isWhitespace(bytes[low]) { low += 1 }
                while high > low && ASCII.isWhitespace(bytes[high - 1]) { high -= 1 }
                body(low..<high)
                start = index + 1
            }
            index += 1
        }
    }

    mutating func append<Name: Collection<UInt8>, Value: Collection<UInt8>>(name: Name, value: Value) {
        let start = bytes.count
        bytes.append(contentsOf: name)
        let nameEnd = bytes.count
        bytes.append(contentsOf: value)
        fields.append(Field(start: UInt32(start), nameEnd: UInt32(nameEnd), end: UInt32(bytes.count)))
    }

    /// Removes the fields for which `shouldRemove` holds, compacting the byte buffer once.
    mutating func removeAll(where shouldRemove: (HTTPHeaders, Field) -> Bool) {
        if fields.count <= 64 {
            // The usual head: drop field records in place and leave their bytes unreferenced (no
            // allocation; every reader goes through `fields`).
            var removed: UInt64 = 0
            for (position, field) in fields.enumerated() where shouldRemove(self, field) { removed |= 1 << UInt64(position) }
            guard removed != 0 else { return }
            var kept = 0
            for position in fields.indices where removed & (1 << UInt64(position)) == 0 {
                fields[kept] = fields[position]
                kept += 1
            }
            fields.removeLast(fields.count - kept)
            return
        }
        guard fields.contains(where: { shouldRemove(self, $0) }) else { return }
        var rebuilt = HTTPHeaders()
        rebuilt.bytes.reserveCapacity(bytes.count)
        rebuilt.fields.reserveCapacity(fields.count)
        for field in fields where !shouldRemove(self, field) {
            rebuilt.append(name: bytes[field.name], value: bytes[field.value])
        }
        self = rebuilt
    }
}

/// Header sections whose messages are done, kept so that the heads parsed next
/// (`HTTPMessageParser.parse(_:storage:)`) reuse their arrays instead of allocating two per head.
/// A section given back may still be held elsewhere; the parser then gets new arrays
/// (copy-on-write), so giving one back early only costs the reuse. Bounded in count and in the
/// size of what it keeps. Not thread-safe: one per worker thread.
public final class HTTPHeaderStorage {
    private var spare: [HTTPHeaders] = []
    /// Sections kept at most.
    public static let maximumSpare = 32
    /// A section whose byte or field storage grew beyond these (a large head) is not kept: the
    /// storage holds at most about 200 KiB however large the heads were.
    static let maximumKeptBytes = 4 * 1024
    static let maximumKeptFields = 128

    public init() {}

    /// Gives back a section whose message is done.
    public func give(_ headers: HTTPHeaders) {
        guard spare.count < Self.maximumSpare, headers.bytes.capacity > 0, headers.bytes.capacity <= Self.maximumKeptBytes,
              headers.fields.capacity <= Self.maximumKeptFields else { return }
        spare.append(headers)
    }

    /// The most recently given section, if any.
    func take() -> HTTPHeaders? {
        spare.popLast()
    }

    /// Sections kept now.
    public var count: Int { spare.count }
}
