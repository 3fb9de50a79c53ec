import Testing
@testable import YAML

@Suite("Parser")
struct ParserTests {
    @Test("collections keep the style they were written in")
    func collectionStyles() throws {
        let root = try #require(try Parser(yaml: "block:\n  - 1\nflow: {a: [1]}\n").nextRoot())
        let mapping = try #require(root.mapping)
        #expect(mapping.style == .block)
        #expect(mapping[0].value.sequence?.style == .block)
        let flow = try #require(mapping[1].value.mapping)
        #expect(flow.style == .flow)
        #expect(flow[0].value.sequence?.style == .flow)
    }

    @Test("marks are 1-based and count Unicode scalars, as libyaml's columns do")
    func marks() throws {
        let root = try #require(try Parser(yaml: "\n  # comment\n  é\u{301}日: [x, {y: z}]\n").nextRoot())
        let mapping = try #require(root.mapping)
        #expect(root.mark == at(3, 3))
        #expect(mapping[0].key.mark == at(3, 3))
        let list = try #require(mapping[0].value.sequence)
        #expect(mapping[0].value.mark == at(3, 8))
        #expect(list[0].mark == at(3, 9))
        #expect(list[1].mark == at(3, 12))
        #expect(list[1].mapping?[0].value.mark == at(3, 16))
    }

    @Test("nodes built in code have no mark, the style `any` and the tag of their text")
    func nodesBuiltInCode() {
        let node = Node("8080")
        #expect(node.mark == nil)
        #expect(node.scalar?.style == .any)
        #expect(node.tag == .int)
        #expect(Node("web").tag == .str)
    }

    @Test("equality is kind, tag and content: marks and styles do not count")
    func equality() throws {
        let roots = try Parser.documents("a: 1\n---\n'a': 1\n---\n\"a\": '1'\n---\n{a: 1}\n")
        #expect(roots.count == 4)
        #expect(roots[0] == roots[1])
        #expect(roots[0] != roots[2]) // '1' is a string, 1 an int
        #expect(roots[0] == roots[3]) // block and flow
        #expect(Set(roots).count == 2)
        #expect(Node("1") != Node.scalar(Node.Scalar("1", tag: .str)))
    }

    @Test("after the last document, nextRoot keeps returning nil")
    func endOfStream() throws {
        let parser = try Parser(yaml: "a\n--- b\n")
        #expect(try parser.nextRoot() != nil)
        #expect(try parser.nextRoot() != nil)
        #expect(try parser.nextRoot() == nil)
        #expect(try parser.nextRoot() == nil)
    }

    @Test("after an error, every call throws it again")
    func errorsAreFinal() throws {
        let parser = try Parser(yaml: "a: 1\n---\n[\n---\nb: 2\n")
        #expect(try parser.nextRoot() != nil)
        let expected = YAMLError.parser(context: during("while parsing a flow node", 4, 1), problem: "did not find expected node content", mark: at(4, 1))
        #expect(throws: expected) { try parser.nextRoot() }
        #expect(throws: expected) { try parser.nextRoot() }
    }

    @Test("a reader error in the first bytes read is thrown by init")
    func readerErrorAtInit() {
        #expect(throws: YAMLError.reader(problem: "control characters are not allowed", offset: 3, value: 0)) {
            try Parser(yaml: "a: \u{0}")
        }
    }

    /// Nesting as deep as Yams' libyaml allowed (it refused a collection once the scanner's
    /// block indentation levels reached 1000 minus its flow level), and the first that it refused.
    @Test("collections nest up to libyaml's limit and no deeper", arguments: [
        ("flow, one per line", 998, nil),
        ("flow, one per line", 1000, YAMLError.parser(context: during("while parsing", 999, 1), problem: nestingProblem, mark: at(999, 1))),
        ("block mappings", 999, nil),
        ("block mappings", 1000, YAMLError.parser(context: during("while parsing", 1000, 1999), problem: nestingProblem, mark: at(1000, 1999))),
        ("block sequences", 999, nil),
        ("block sequences", 1000, YAMLError.parser(context: during("while parsing", 1000, 1999), problem: nestingProblem, mark: at(1000, 1999))),
        // On one line the scanner reads up to 1024 characters ahead of the parser (a `[` may
        // start a key), so its flow level is far ahead when the first `[` is checked.
        ("flow, on one line", 1001, nil),
        ("flow, on one line", 2000, YAMLError.parser(context: during("while parsing", 1, 1), problem: nestingProblem, mark: at(1, 1))),
    ] as [(String, Int, YAMLError?)])
    func nestingLimit(_ shape: String, _ depth: Int, _ error: YAMLError?) throws {
        let text: String
        switch shape {
        case "flow, one per line": text = String(repeating: "[\n", count: depth) + String(repeating: "]", count: depth)
        case "block mappings": text = (0..<depth).map { String(repeating: "  ", count: $0) + "k:\n" }.joined() + String(repeating: "  ", count: depth) + "v\n"
        case "block sequences": text = (0..<depth).map { String(repeating: "  ", count: $0) + "-\n" }.joined() + String(repeating: "  ", count: depth) + "v\n"
        default: text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        }
        let parser = try Parser(yaml: text)
        guard let error else {
            var node = try #require(try parser.nextRoot())
            var levels = 1
            while let inner = node.sequence?.first ?? node.mapping?.first?.value, inner.scalar == nil || inner.sequence != nil {
                node = inner
                levels += 1
            }
            #expect(levels == depth)
            return
        }
        #expect(throws: error) { try parser.nextRoot() }
    }

    /// Swift strings are valid UTF-8, so these go through the parser of bytes: libyaml's reader
    /// reports each problem at its byte offset, which becomes a Character offset, or nil when the
    /// bytes before it are not valid UTF-8.
    @Test("invalid UTF-8 is refused by libyaml's reader", arguments: [
        ([0x61, 0x3A, 0x20, 0xFF, 0x0A], YAMLError.reader(problem: "invalid leading UTF-8 octet", offset: 3, value: 0xFF)),
        (Array("é日: ".utf8) + [0x80], .reader(problem: "invalid leading UTF-8 octet", offset: 4, value: 0x80)),
        (Array("é: ".utf8) + [0xC3, 0x28], .reader(problem: "invalid trailing UTF-8 octet", offset: nil, value: 0x28)),
        ([0x61, 0xE2, 0x82], .reader(problem: "incomplete UTF-8 octet sequence", offset: 1, value: -1)),
        ([0xC0, 0x80], .reader(problem: "invalid length of a UTF-8 sequence", offset: 0, value: -1)),
        ([0x2D, 0x20, 0xED, 0xA0, 0x80], .reader(problem: "invalid Unicode character", offset: 2, value: 0xD800)),
        ([0xF4, 0x90, 0x80, 0x80], .reader(problem: "invalid Unicode character", offset: 0, value: 0x110000)),
    ] as [([UInt8], YAMLError)])
    func invalidUTF8(_ bytes: [UInt8], _ error: YAMLError) {
        #expect(throws: error) {
            let parser = try Parser(bytes: bytes)
            while try parser.nextRoot() != nil {}
        }
    }

    @Test("valid bytes compose as the same text does")
    func validBytes() throws {
        let text = "é: [1, 'two']\n---\n- x\n"
        let fromBytes = try Parser(bytes: Array(text.utf8))
        let fromText = try Parser(yaml: text)
        while let root = try fromText.nextRoot() {
            let other = try #require(try fromBytes.nextRoot())
            #expect(outline(other) == outline(root))
        }
        #expect(try fromBytes.nextRoot() == nil)
    }

    @Test("an error reads as its mark, problem and context")
    func errorDescription() {
        let error = YAMLError.parser(context: during("while parsing a flow sequence", 4, 12), problem: "did not find expected ',' or ']'", mark: at(5, 11))
        #expect(error.description == "5:11: did not find expected ',' or ']' (while parsing a flow sequence at 4:12)")
        #expect(YAMLError.memory.description == "Memory error")
    }
}

private let nestingProblem = "Maximum nesting level reached, set with yaml_set_max_nest_level())"
