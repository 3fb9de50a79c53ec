/// A position in YAML text: 1-based line and column, as libyaml reports them (plus one). Columns
/// count Unicode scalars, not bytes or Characters.
public struct Mark: Hashable, Sendable, CustomStringConvertible {
    /// The line, from 1.
    public let line: Int
    /// The column, from 1, in Unicode scalars.
    public let column: Int

    /// A mark at `line` and `column` (both 1-based).
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// `line:column`.
    public var description: String { "\(line):\(column)" }
}

/// A composed YAML node: a scalar, a mapping or a sequence. Aliases are resolved while composing
/// (an alias becomes the node its anchor names), so there is no alias case.
///
/// Two nodes are equal when they have the same kind, tag and content (for a mapping, the same
/// pairs in the same order); marks and styles do not count. This is the equality the duplicate-key
/// check uses, as Yams' did: `1` and `"1"` are different keys (an int and a string), `a` and `'a'`
/// the same.
public enum Node: Hashable, Sendable {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// A plain scalar built in code (no mark), tagged as YAML would tag `string` written without
    /// quotes: `Node("80").tag` is `.int`, `Node("web").tag` is `.str`.
    public init(_ string: String) {
        self = .scalar(Scalar(string))
    }

    /// The node's tag: the explicit one, or the one resolved from a plain scalar's text (see
    /// `Tag.init(resolvingPlainScalar:)`); quoted and block scalars are `.str`, collections
    /// `.map` and `.seq` unless tagged otherwise.
    public var tag: Tag {
        switch self {
        case .scalar(let scalar): return scalar.tag
        case .mapping(let mapping): return mapping.tag
        case .sequence(let sequence): return sequence.tag
        }
    }

    /// Where the node starts in the text (its anchor or tag, if it has one); nil for nodes built in
    /// code.
    public var mark: Mark? {
        switch self {
        case .scalar(let scalar): return scalar.mark
        case .mapping(let mapping): return mapping.mark
        case .sequence(let sequence): return sequence.mark
        }
    }

    /// The scalar, if this node is one.
    public var scalar: Scalar? {
        if case .scalar(let scalar) = self { return scalar }
        return nil
    }

    /// The mapping, if this node is one.
    public var mapping: Mapping? {
        if case .mapping(let mapping) = self { return mapping }
        return nil
    }

    /// The sequence, if this node is one.
    public var sequence: Sequence? {
        if case .sequence(let sequence) = self { return sequence }
        return nil
    }
}

/// How a collection was written: block (indented) or flow (`[...]`, `{...}`).
public enum CollectionStyle: Sendable {
    /// Built in code.
    case any
    case block
    case flow
}

extension Node {
    /// A scalar: its text after YAML's quoting, escaping and folding rules, its tag and its style.
    public struct Scalar: Hashable, Sendable {
        /// How a scalar was written. The raw values are libyaml's `yaml_scalar_style_t`.
        public enum Style: UInt32, Sendable {
            /// Built in code.
            case any = 0
            case plain
            case singleQuoted
            case doubleQuoted
            /// `|`
            case literal
            /// `>`
            case folded
        }

        /// The scalar's text.
        public let string: String
        /// Its tag (see `Node.tag`).
        public let tag: Tag
        /// How it was written.
        public let style: Style
        /// Where it starts; nil when built in code.
        public let mark: Mark?

        /// A scalar built in code; with no `tag`, it is tagged as a plain scalar of this text.
        public init(_ string: String, tag: Tag? = nil, style: Style = .any, mark: Mark? = nil) {
            self.string = string
            self.tag = tag ?? Tag(resolvingPlainScalar: string)
            self.style = style
            self.mark = mark
        }

        public static func == (lhs: Scalar, rhs: Scalar) -> Bool {
            lhs.string == rhs.string && lhs.tag == rhs.tag
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(string)
            hasher.combine(tag)
        }
    }

    /// A mapping: its key/value pairs in the order written (keys are unique: the parser refuses a
    /// mapping with a repeated key).
    public struct Mapping: RandomAccessCollection, Hashable, Sendable {
        public typealias Element = (key: Node, value: Node)

        private let pairs: [Element]
        /// Its tag: `.map` unless tagged otherwise.
        public let tag: Tag
        /// How it was written.
        public let style: CollectionStyle
        /// Where it starts; nil when built in code.
        public let mark: Mark?

        /// A mapping built in code.
        public init(_ pairs: [(key: Node, value: Node)], tag: Tag = .map, style: CollectionStyle = .any, mark: Mark? = nil) {
            self.pairs = pairs
            self.tag = tag
            self.style = style
            self.mark = mark
        }

        public var startIndex: Int { pairs.startIndex }
        public var endIndex: Int { pairs.endIndex }
        public subscript(position: Int) -> Element { pairs[position] }

        public static func == (lhs: Mapping, rhs: Mapping) -> Bool {
            lhs.tag == rhs.tag && lhs.pairs.count == rhs.pairs.count
                && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(tag)
            hasher.combine(pairs.count)
            for (key, value) in pairs {
                hasher.combine(key)
                hasher.combine(value)
            }
        }
    }

    /// A sequence: its items in order.
    public struct Sequence: RandomAccessCollection, Hashable, Sendable {
        private let items: [Node]
        /// Its tag: `.seq` unless tagged otherwise.
        public let tag: Tag
        /// How it was written.
        public let style: CollectionStyle
        /// Where it starts; nil when built in code.
        public let mark: Mark?

        /// A sequence built in code.
        public init(_ items: [Node], tag: Tag = .seq, style: CollectionStyle = .any, mark: Mark? = nil) {
            self.items = items
            self.tag = tag
            self.style = style
            self.mark = mark
        }

        public var startIndex: Int { items.startIndex }
        public var endIndex: Int { items.endIndex }
        public subscript(position: Int) -> Node { items[position] }

        public static func == (lhs: Sequence, rhs: Sequence) -> Bool {
            lhs.tag == rhs.tag && lhs.items == rhs.items
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(tag)
            hasher.combine(items)
        }
    }
}
