import Testing
@testable import Config

@Suite struct AnchorTests {
    /// (YAML text, expected (line, column, indicator) of the first anchor or alias, or nil).
    static let cases: [(String, (Int, Int, Character)?)] = [
        ("a: &x 1\nb: *x\n", (1, 4, "&")),
        ("a: 1\nb: *x\n", (2, 4, "*")),
        ("- &x a\n- *x\n", (1, 3, "&")),
        ("&x key: value\n", (1, 1, "&")),
        ("? *k\n: 1\n", (1, 3, "*")),
        ("a: [1, *x]\n", (1, 8, "*")),
        ("a: {k: *x}\n", (1, 8, "*")),
        ("a: !!str &x v\n", (1, 10, "&")),
        ("--- &doc\na: 1\n", (1, 5, "&")),
        ("a:\n  - - &deep 1\n", (2, 7, "&")),
        // Plain text that only looks like one.
        ("cmd: echo a&b\n", nil),
        ("path: /x/*\n", nil),
        ("glob: '*.yaml'\n", nil),
        ("glob: \"*.yaml\"\n", nil),
        ("note: it's *fine* here\n", nil),
        ("a: 1 # &not-an-anchor\n", nil),
        ("# *comment\n", nil),
        ("url: http://h:80/&q\n", nil),
        ("text: |\n  *bullet\n  &amp\nnext: 1\n", nil),
        ("text: >-\n  - *x\n", nil),
        ("quoted: \"line one\n  *still quoted\"\nb: 2\n", nil),
        ("single: 'it''s *x'\n", nil),
        ("after: |\n  body\nb: *x\n", (3, 4, "*")),
        ("a: -5\nb: ::1\n", nil),
        ("", nil),
    ]

    @Test(arguments: 0..<cases.count)
    func findsAnchorsAndAliasesOnlyWhereTheyAre(_ index: Int) {
        let (text, expected) = Self.cases[index]
        let found = firstAnchorOrAlias(in: text)
        if let expected {
            #expect(found?.line == expected.0, "\(text.debugDescription)")
            #expect(found?.column == expected.1, "\(text.debugDescription)")
            #expect(found?.indicator == expected.2, "\(text.debugDescription)")
        } else {
            #expect(found == nil, "\(text.debugDescription) reported \(String(describing: found))")
        }
    }

    @Test func nestedAliasesInKeysAreRefusedInsteadOfExpanded() {
        // Ten levels of aliases inside keys: Yams' duplicate-key check would expand this to
        // 10^10 nodes. It must be refused at once with a position.
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...10 {
            text += "a\(level): &a\(level) {? *a\(level - 1) : 1}\n"
        }
        let found = diagnostics(text)
        #expect(found.count == 1)
        #expect(found.first?.line == 1)
        #expect(found.first?.column == 5)
        #expect(found.first?.message.contains("anchor `&a0` is not supported") == true)
    }
}
