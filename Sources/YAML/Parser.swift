/// Composes the documents of a YAML stream into nodes, one document at a time, with libyaml.
///
/// What it accepts and refuses, and the words and marks of its errors, are those of Yams 6.2.2
/// (`Yams.Parser` with the default resolver and UTF-8): libyaml's own problems, a mapping that
/// repeats a key, an alias to no anchor. Anchors and aliases are resolved (an alias is a copy of
/// the node its anchor names), which lets a few lines expand exponentially: refuse them before
/// parsing untrusted text.
public final class Parser {
    private let libyaml: LibYAMLParser
    /// The node each anchor names, for aliases: the latest definition wins, and the table lasts
    /// for the whole stream, as Yams kept it.
    private var anchors: [String: Node] = [:]
    /// Set once an error has been thrown; every later call throws it again.
    private var failure: YAMLError?

    /// A parser of `yaml`, read as UTF-8. Reads the start of the stream, so it throws the
    /// `YAMLError` of text that cannot even start one (such as a control character first).
    public convenience init(yaml: String) throws {
        try self.init(libyaml: LibYAMLParser(parsing: yaml.utf8, source: .text(yaml)))
    }

    /// A parser of bytes that may not be UTF-8: reader errors count their offset in the
    /// Characters of the valid bytes before the problem. (Swift strings are always valid UTF-8,
    /// so only bytes can reach libyaml's UTF-8 checks.)
    convenience init(bytes: [UInt8]) throws {
        try self.init(libyaml: LibYAMLParser(parsing: bytes, source: .bytes))
    }

    private init(libyaml: LibYAMLParser) throws {
        self.libyaml = libyaml
        try remembering { _ = try libyaml.next() } // the stream's start
    }

    /// The root node of the next document, or nil after the last one. Throws a `YAMLError`;
    /// documents before the one in error have been returned, and no more can be.
    public func nextRoot() throws -> Node? {
        try remembering {
            guard !libyaml.streamEndProduced, case .documentStart = try libyaml.next() else { return nil }
            let root = try composeNode()
            _ = try libyaml.next() // the document's end
            return root
        }
    }

    /// The root nodes of every document of `yaml`.
    public static func documents(_ yaml: String) throws -> [Node] {
        let parser = try Parser(yaml: yaml)
        var documents: [Node] = []
        while let root = try parser.nextRoot() { documents.append(root) }
        return documents
    }

    private func remembering<T>(_ body: () throws -> T) throws -> T {
        if let failure { throw failure }
        do {
            return try body()
        } catch let error as YAMLError {
            failure = error
            throw error
        }
    }

    /// A collection whose start has been read and whose end has not.
    private struct OpenCollection {
        enum Kind { case sequence, mapping }
        let kind: Kind
        let tag: Tag
        let style: CollectionStyle
        let anchor: String?
        let mark: Mark
        var items: [Node] = []
        /// For a mapping, the key read whose value is still to come.
        var key: Node?
        var pairs: [(key: Node, value: Node)] = []
    }

    /// Reads one node and everything in it. Iterative, with the open collections on a stack, so
    /// nesting (up to libyaml's limit of 1000) does not depend on the thread's stack size.
    private func composeNode() throws -> Node {
        var open: [OpenCollection] = []
        while true {
            var node: Node
            switch try libyaml.next() {
            case .scalar(let scalar, let anchor):
                node = .scalar(scalar)
                if let anchor { anchors[anchor] = node }
            case .alias(let anchor, let mark):
                guard let target = anchors[anchor] else {
                    throw YAMLError.composer(context: nil, problem: "found undefined alias", mark: mark)
                }
                node = target
            case .sequenceStart(let tag, let style, let anchor, let mark):
                open.append(OpenCollection(kind: .sequence, tag: tag, style: style, anchor: anchor, mark: mark))
                continue
            case .mappingStart(let tag, let style, let anchor, let mark):
                open.append(OpenCollection(kind: .mapping, tag: tag, style: style, anchor: anchor, mark: mark))
                continue
            case .sequenceEnd, .mappingEnd:
                let collection = open.removeLast()
                switch collection.kind {
                case .sequence:
                    node = .sequence(Node.Sequence(collection.items, tag: collection.tag, style: collection.style, mark: collection.mark))
                case .mapping:
                    try checkDuplicateKeys(collection.pairs.map(\.key))
                    node = .mapping(Node.Mapping(collection.pairs, tag: collection.tag, style: collection.style, mark: collection.mark))
                }
                // An anchor names its node once the node is complete, so an alias inside the
                // node cannot refer to it.
                if let anchor = collection.anchor { anchors[anchor] = node }
            case .streamStart, .streamEnd, .documentStart, .documentEnd:
                preconditionFailure("libyaml ended a document inside a node")
            }
            guard !open.isEmpty else { return node }
            let top = open.count - 1
            switch open[top].kind {
            case .sequence:
                open[top].items.append(node)
            case .mapping:
                if let key = open[top].key {
                    open[top].pairs.append((key, node))
                    open[top].key = nil
                } else {
                    open[top].key = node
                }
            }
        }
    }
}

/// Refuses a mapping's keys if any two are equal (see `Node`'s equality), as Yams did when it
/// completed a mapping: the error lists each repeated key once, in `Node` order, with the mark of
/// the first occurrence of the first of them.
private func checkDuplicateKeys(_ keys: [Node]) throws {
    guard keys.count > 1 else { return }
    var seen: [Node: (first: Int, count: Int)] = [:]
    seen.reserveCapacity(keys.count)
    for (index, key) in keys.enumerated() {
        seen[key, default: (index, 0)].count += 1
    }
    let repeated = seen.values.filter { $0.count > 1 }.map(\.first)
    guard !repeated.isEmpty else { return }
    // Yams sorted the keys of a Dictionary, whose order changes from run to run, so keys that
    // its order cannot tell apart (the same text with different tags, or collections of
    // different kinds) came out in any order; here they stay in the order of first appearance.
    let sorted = repeated.sorted { a, b in
        precedes(keys[a], keys[b]) || (!precedes(keys[b], keys[a]) && a < b)
    }
    throw YAMLError.duplicatedKeysInMapping(
        duplicates: sorted.map { yamsString(keys[$0]) ?? "<uncovertable>" },
        mark: keys[sorted[0]].mark ?? Mark(line: 0, column: 0)
    )
}

/// Yams' order of nodes: scalars by text; mappings by their keys, sequences by their items,
/// lexicographically, then by length; nodes of different kinds are unordered.
private func precedes(_ lhs: Node, _ rhs: Node) -> Bool {
    func lexicographic(_ lhs: [Node], _ rhs: [Node]) -> Bool {
        for (left, right) in zip(lhs, rhs) {
            if precedes(left, right) { return true }
            if precedes(right, left) { return false }
        }
        return lhs.count < rhs.count
    }
    switch (lhs, rhs) {
    case (.scalar(let left), .scalar(let right)): return left.string < right.string
    case (.mapping(let left), .mapping(let right)): return lexicographic(left.map(\.key), right.map(\.key))
    case (.sequence(let left), .sequence(let right)): return lexicographic(Array(left), Array(right))
    default: return false
    }
}

/// The text Yams gave a key in the duplicate-key error: a scalar's text; for a mapping, the text
/// of the value of its `=` key (YAML 1.1's value type), if it has one.
private func yamsString(_ node: Node) -> String? {
    switch node {
    case .scalar(let scalar): return scalar.string
    case .mapping(let mapping): return mapping.first { $0.key.tag == .value }.flatMap { yamsString($0.value) }
    case .sequence: return nil
    }
}
