import YAML

// Recorded from Yams 6.2.2; see ComposeTests.swift.

let documentsCases: [ComposeCase] = [
    ComposeCase(
        "an empty stream has no document",
        "",
        roots: []
    ),
    ComposeCase(
        "a comment alone has no document",
        "# nothing here\n",
        roots: []
    ),
    ComposeCase(
        "an explicit empty document is a null",
        "---\n",
        roots: [
            #"null:plain@2:1 """#,
        ]
    ),
    ComposeCase(
        "three documents, explicit and implicit",
        "a\n---\nb\n...\n--- c\n",
        roots: [
            #"str:plain@1:1 "a""#,
            #"str:plain@3:1 "b""#,
            #"str:plain@5:5 "c""#,
        ]
    ),
    ComposeCase(
        "a document end marker then another",
        "a: 1\n...\n---\nb: 2\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "1"}"#,
            #"map@4:1 {str:plain@4:1 "b" => int:plain@4:4 "2"}"#,
        ]
    ),
    ComposeCase(
        "documents of different kinds",
        "a: 1\n---\n[b, c]\n--- \n---\nplain\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "1"}"#,
            #"seq@3:1 [str:plain@3:2 "b", str:plain@3:5 "c"]"#,
            #"null:plain@5:1 """#,
            #"str:plain@6:1 "plain""#,
        ]
    ),
    ComposeCase(
        "a %YAML directive",
        "%YAML 1.1\n--- a\n",
        roots: [
            #"str:plain@2:5 "a""#,
        ]
    ),
    ComposeCase(
        "a %TAG directive names a handle",
        "%TAG !e! tag:example.com,2000:\n---\na: !e!thing x\n",
        roots: [
            #"map@3:1 {str:plain@3:1 "a" => tag:example.com,2000:thing:plain@3:4 "x"}"#,
        ]
    ),
    ComposeCase(
        "the documents before an error are returned",
        "a: 1\n---\nb: [\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "1"}"#,
        ],
        error: .parser(context: during("while parsing a flow node", 4, 1), problem: "did not find expected node content", mark: at(4, 1))
    ),
    ComposeCase(
        "text after the document end marker",
        "a\n... b\n",
        roots: [
            #"str:plain@1:1 "a""#,
        ],
        error: .parser(context: nil, problem: "did not find expected <document start>", mark: at(2, 5))
    ),
    ComposeCase(
        "a second %YAML directive",
        "%YAML 1.1\n%YAML 1.1\n--- a\n",
        roots: [],
        error: .parser(context: nil, problem: "found duplicate %YAML directive", mark: at(2, 1))
    ),
    ComposeCase(
        "an incompatible YAML version",
        "%YAML 2.0\n--- a\n",
        roots: [],
        error: .parser(context: nil, problem: "found incompatible YAML document", mark: at(1, 1))
    ),
    ComposeCase(
        "a block mapping after a document's root",
        "a\nb: c\n",
        roots: [],
        error: .scanner(context: nil, problem: "mapping values are not allowed in this context", mark: at(2, 2))
    ),
]

let stylesCases: [ComposeCase] = [
    ComposeCase(
        "every scalar style",
        "plain: text\nsingle: 'it''s'\ndouble: \"tab\\there\"\nliteral: |\n  line 1\n  line 2\nfolded: >\n  one\n  two\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "plain" => str:plain@1:8 "text", str:plain@2:1 "single" => str:single@2:9 "it's", str:plain@3:1 "double" => str:double@3:9 "tab\there", str:plain@4:1 "literal" => str:literal@4:10 "line 1\nline 2\n", str:plain@7:1 "folded" => str:folded@7:9 "one two\n"}"#,
        ]
    ),
    ComposeCase(
        "chomping and indentation indicators",
        "keep: |+\n  a\n\nstrip: >-\n  b\n\nexplicit: |2\n   c\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "keep" => str:literal@1:7 "a\n\n", str:plain@4:1 "strip" => str:folded@4:8 "b", str:plain@7:1 "explicit" => str:literal@7:11 " c\n"}"#,
        ]
    ),
    ComposeCase(
        "multi-line plain and quoted scalars fold",
        "a: one\n  two\nb: 'three\n  four'\nc: \"five\\\n  six\"\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => str:plain@1:4 "one two", str:plain@3:1 "b" => str:single@3:4 "three four", str:plain@5:1 "c" => str:double@5:4 "fivesix"}"#,
        ]
    ),
    ComposeCase(
        "flow collections",
        "{a: [1, 2], b: {c: d}, [e]: f}\n",
        roots: [
            #"map@1:1 {str:plain@1:2 "a" => seq@1:5 [int:plain@1:6 "1", int:plain@1:9 "2"], str:plain@1:13 "b" => map@1:16 {str:plain@1:17 "c" => str:plain@1:20 "d"}, seq@1:24 [str:plain@1:25 "e"] => str:plain@1:29 "f"}"#,
        ]
    ),
    ComposeCase(
        "block collections",
        "a:\n  - 1\n  - b: 2\nc:\n- x\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => seq@2:3 [int:plain@2:5 "1", map@3:5 {str:plain@3:5 "b" => int:plain@3:8 "2"}], str:plain@4:1 "c" => seq@5:1 [str:plain@5:3 "x"]}"#,
        ]
    ),
    ComposeCase(
        "complex keys",
        "? [a, b]\n: 1\n? {c: d}\n: 2\n? |\n  block key\n: 3\n",
        roots: [
            #"map@1:1 {seq@1:3 [str:plain@1:4 "a", str:plain@1:7 "b"] => int:plain@2:3 "1", map@3:3 {str:plain@3:4 "c" => str:plain@3:7 "d"} => int:plain@4:3 "2", str:literal@5:3 "block key\n" => int:plain@7:3 "3"}"#,
        ]
    ),
    ComposeCase(
        "single-pair mappings in a flow sequence",
        "[a: 1, b: 2, c]\n",
        roots: [
            #"seq@1:1 [map@1:2 {str:plain@1:2 "a" => int:plain@1:5 "1"}, map@1:8 {str:plain@1:8 "b" => int:plain@1:11 "2"}, str:plain@1:14 "c"]"#,
        ]
    ),
    ComposeCase(
        "empty values",
        "a:\nb: []\nc: {}\nd: ''\ne: !!null ''\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => null:plain@1:3 "", str:plain@2:1 "b" => seq@2:4 [], str:plain@3:1 "c" => map@3:4 {}, str:plain@4:1 "d" => str:single@4:4 "", str:plain@5:1 "e" => null:single@5:4 ""}"#,
        ]
    ),
    ComposeCase(
        "escapes in double quotes",
        "a: \"\\x41\\u00e9\\U0001F600\\0\\a\\e\\N\\_\\L\\P\"\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => str:double@1:4 "A\u{E9}\u{1F600}\u{0}\u{7}\u{1B}\u{85}\u{A0}\u{2028}\u{2029}"}"#,
        ]
    ),
    ComposeCase(
        "a byte order mark is dropped from a scalar's start, once",
        "a: \"\\uFEFFb\"\nc: \"\\uFEFF\\uFEFF\"\nd: \"x\\uFEFF\"\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => str:double@1:4 "b", str:plain@2:1 "c" => str:double@2:4 "\u{FEFF}", str:plain@3:1 "d" => str:double@3:4 "x\u{FEFF}"}"#,
        ]
    ),
    ComposeCase(
        "a byte order mark alone is an empty plain scalar, so a null",
        "- \u{FEFF}\n- \u{FEFF}x\n",
        roots: [
            #"seq@1:1 [null:plain@1:3 "", str:plain@2:3 "x"]"#,
        ]
    ),
    ComposeCase(
        "non-ASCII text and columns in scalars",
        "\u{E9}t\u{E9}: \u{65E5}\u{672C}\nnext: \u{1F600} x\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "\u{E9}t\u{E9}" => str:plain@1:6 "\u{65E5}\u{672C}", str:plain@2:1 "next" => str:plain@2:7 "\u{1F600} x"}"#,
        ]
    ),
    ComposeCase(
        "comments",
        "# top\na: b # after\n# between\nc: d#not a comment\n",
        roots: [
            #"map@2:1 {str:plain@2:1 "a" => str:plain@2:4 "b", str:plain@4:1 "c" => str:plain@4:4 "d#not a comment"}"#,
        ]
    ),
    ComposeCase(
        "CR LF line breaks",
        "a: 1\r\nb:\r\n  - c\r\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "1", str:plain@2:1 "b" => seq@3:3 [str:plain@3:5 "c"]}"#,
        ]
    ),
]

let tagsCases: [ComposeCase] = [
    ComposeCase(
        "explicit tags win over resolution",
        "a: !!str 5\nb: !!int '5'\nc: ! 5\nd: !local 5\ne: !!float 1\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => str:plain@1:4 "5", str:plain@2:1 "b" => int:single@2:4 "5", str:plain@3:1 "c" => str:plain@3:4 "5", str:plain@4:1 "d" => !local:plain@4:4 "5", str:plain@5:1 "e" => float:plain@5:4 "1"}"#,
        ]
    ),
    ComposeCase(
        "tags on collections",
        "a: !!map {b: c}\nd: !!seq [e]\nf: ! [g]\nh: !set {i}\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => map@1:4 {str:plain@1:11 "b" => str:plain@1:14 "c"}, str:plain@2:1 "d" => seq@2:4 [str:plain@2:11 "e"], str:plain@3:1 "f" => seq@3:4 [str:plain@3:7 "g"], str:plain@4:1 "h" => !set@4:4 {str:plain@4:10 "i" => null:plain@4:11 ""}}"#,
        ]
    ),
    ComposeCase(
        "an empty tagged scalar",
        "a: !!str\nb: !\nc: !!null\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => str:plain@1:4 "", str:plain@2:1 "b" => str:plain@2:4 "", str:plain@3:1 "c" => null:plain@3:4 ""}"#,
        ]
    ),
    ComposeCase(
        "verbatim tags",
        "a: !<tag:yaml.org,2002:int> 5\nb: !<!bar> c\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "5", str:plain@2:1 "b" => !bar:plain@2:4 "c"}"#,
        ]
    ),
    ComposeCase(
        "resolution of plain scalars in place",
        "[~, null, '', yes, On, 0x1F, 0o17, 017, 1_000, 1:30, 1.5, .inf, .NaN, 2001-12-14, <<, =, 08, 1e5, abc]\n",
        roots: [
            #"seq@1:1 [null:plain@1:2 "~", null:plain@1:5 "null", str:single@1:11 "", bool:plain@1:15 "yes", bool:plain@1:20 "On", int:plain@1:24 "0x1F", int:plain@1:30 "0o17", int:plain@1:36 "017", int:plain@1:41 "1_000", int:plain@1:48 "1:30", float:plain@1:54 "1.5", float:plain@1:59 ".inf", float:plain@1:65 ".NaN", timestamp:plain@1:71 "2001-12-14", merge:plain@1:83 "<<", value:plain@1:87 "=", float:plain@1:90 "08", float:plain@1:94 "1e5", str:plain@1:99 "abc"]"#,
        ]
    ),
    ComposeCase(
        "an undefined tag handle",
        "a: !e!thing x\n",
        roots: [],
        error: .parser(context: during("while parsing a node", 1, 4), problem: "found undefined tag handle", mark: at(1, 4))
    ),
]

let anchorsCases: [ComposeCase] = [
    ComposeCase(
        "an alias is the node its anchor names",
        "a: &x {b: 1}\nc: *x\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => map@1:4 {str:plain@1:8 "b" => int:plain@1:11 "1"}, str:plain@2:1 "c" => map@1:4 {str:plain@1:8 "b" => int:plain@1:11 "1"}}"#,
        ]
    ),
    ComposeCase(
        "the latest anchor of a name wins",
        "a: &x 1\nb: &x 2\nc: *x\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "1", str:plain@2:1 "b" => int:plain@2:4 "2", str:plain@3:1 "c" => int:plain@2:4 "2"}"#,
        ]
    ),
    ComposeCase(
        "anchors outlive their document",
        "a: &x 1\n---\nb: *x\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "1"}"#,
            #"map@3:1 {str:plain@3:1 "b" => int:plain@1:4 "1"}"#,
        ]
    ),
    ComposeCase(
        "an alias to no anchor",
        "a: *nothing\n",
        roots: [],
        error: .composer(context: nil, problem: "found undefined alias", mark: at(1, 4))
    ),
    ComposeCase(
        "an alias inside the node its anchor names",
        "a: &x [1, *x]\n",
        roots: [],
        error: .composer(context: nil, problem: "found undefined alias", mark: at(1, 11))
    ),
    ComposeCase(
        "an anchor on an alias's key",
        "&k a: 1\n*k : 2\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["a"], mark: at(1, 1))
    ),
]

let duplicatesCases: [ComposeCase] = [
    ComposeCase(
        "a repeated key in a block mapping",
        "a: 1\nb: 2\na: 3\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["a"], mark: at(1, 1))
    ),
    ComposeCase(
        "a repeated key in a flow mapping",
        "{a: 1, a: 2}\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["a"], mark: at(1, 2))
    ),
    ComposeCase(
        "several repeated keys, sorted, marked at the first of them",
        "b: 1\na: 1\nb: 2\na: 2\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["a", "b"], mark: at(2, 1))
    ),
    ComposeCase(
        "quoting does not make a key different",
        "a: 1\n'a': 2\n\"a\": 3\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["a"], mark: at(1, 1))
    ),
    ComposeCase(
        "a tag does",
        "1: x\n'1': y\n",
        roots: [
            #"map@1:1 {int:plain@1:1 "1" => str:plain@1:4 "x", str:single@2:1 "1" => str:plain@2:6 "y"}"#,
        ]
    ),
    ComposeCase(
        "nor does the spelling of a number",
        "1: x\n01: y\n",
        roots: [
            #"map@1:1 {int:plain@1:1 "1" => str:plain@1:4 "x", int:plain@2:1 "01" => str:plain@2:5 "y"}"#,
        ]
    ),
    ComposeCase(
        "nulls are equal by text, not by value",
        "~: 1\nnull: 2\n? \n: 3\n",
        roots: [
            #"map@1:1 {null:plain@1:1 "~" => int:plain@1:4 "1", null:plain@2:1 "null" => int:plain@2:7 "2", null:plain@3:2 "" => int:plain@4:3 "3"}"#,
        ]
    ),
    ComposeCase(
        "the empty key repeated",
        "? \n: 1\n? \n: 2\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: [""], mark: at(1, 2))
    ),
    ComposeCase(
        "collections as keys",
        "? [a]\n: 1\n? [a]\n: 2\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["<uncovertable>"], mark: at(1, 3))
    ),
    ComposeCase(
        "a mapping key is named by its = value",
        "? {=: k}\n: 1\n? {=: k}\n: 2\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["k"], mark: at(1, 3))
    ),
    ComposeCase(
        "an inner mapping is checked before its outer one",
        "x: {a: 1, a: 2}\nx: 3\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["a"], mark: at(1, 5))
    ),
    ComposeCase(
        "merge keys are keys like any other",
        "<<: {a: 1}\n<<: {b: 2}\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["<<"], mark: at(1, 1))
    ),
    ComposeCase(
        "a repetition in a later document",
        "a: 1\n---\nb: 1\nb: 2\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "a" => int:plain@1:4 "1"}"#,
        ],
        error: .duplicatedKeysInMapping(duplicates: ["b"], mark: at(3, 1))
    ),
    ComposeCase(
        "aliases are compared expanded",
        "a: &x [1]\n? *x\n: 2\n? [1]\n: 3\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["<uncovertable>"], mark: at(1, 4))
    ),
]

let errorsCases: [ComposeCase] = [
    ComposeCase(
        "an unclosed flow sequence",
        "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  workers: [1, 2\n  logLevel: info\n",
        roots: [],
        error: .parser(context: during("while parsing a flow sequence", 4, 12), problem: "did not find expected ',' or ']'", mark: at(5, 11))
    ),
    ComposeCase(
        "an unclosed flow mapping",
        "{\"weights\": {\"a\": 1}\n",
        roots: [],
        error: .parser(context: during("while parsing a flow mapping", 1, 1), problem: "did not find expected ',' or '}'", mark: at(2, 1))
    ),
    ComposeCase(
        "bad indentation",
        "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  workers: 1\n logLevel: info\n",
        roots: [],
        error: .parser(context: during("while parsing a block mapping", 1, 1), problem: "did not find expected key", mark: at(5, 2))
    ),
    ComposeCase(
        "tab indentation",
        "spec:\n\tworkers: 1\n",
        roots: [],
        error: .scanner(context: during("while scanning for the next token", 2, 1), problem: "found character that cannot start any token", mark: at(2, 1))
    ),
    ComposeCase(
        "a mapping value where none may be",
        "a: b: c\n",
        roots: [],
        error: .scanner(context: nil, problem: "mapping values are not allowed in this context", mark: at(1, 5))
    ),
    ComposeCase(
        "an unclosed single-quoted scalar",
        "a: 'b\n",
        roots: [],
        error: .scanner(context: during("while scanning a quoted scalar", 1, 4), problem: "found unexpected end of stream", mark: at(2, 1))
    ),
    ComposeCase(
        "an unclosed double-quoted scalar",
        "a: \"b\n",
        roots: [],
        error: .scanner(context: during("while scanning a quoted scalar", 1, 4), problem: "found unexpected end of stream", mark: at(2, 1))
    ),
    ComposeCase(
        "an unknown escape",
        "a: \"\\q\"\n",
        roots: [],
        error: .scanner(context: during("while parsing a quoted scalar", 1, 4), problem: "found unknown escape character", mark: at(1, 5))
    ),
    ComposeCase(
        "an escaped surrogate",
        "a: \"\\uD800\"\n",
        roots: [],
        error: .scanner(context: during("while parsing a quoted scalar", 1, 4), problem: "found invalid Unicode character escape code", mark: at(1, 7))
    ),
    ComposeCase(
        "a character that cannot start a token",
        "a: @b\n",
        roots: [],
        error: .scanner(context: during("while scanning for the next token", 1, 4), problem: "found character that cannot start any token", mark: at(1, 4))
    ),
    ComposeCase(
        "a backquote",
        "`a`\n",
        roots: [],
        error: .scanner(context: during("while scanning for the next token", 1, 1), problem: "found character that cannot start any token", mark: at(1, 1))
    ),
    ComposeCase(
        "a sequence entry in a mapping",
        "a: 1\n- b\n",
        roots: [],
        error: .parser(context: during("while parsing a block mapping", 1, 1), problem: "did not find expected key", mark: at(2, 1))
    ),
    ComposeCase(
        "a key without a colon",
        "a: 1\nb\nc: 2\n",
        roots: [],
        error: .scanner(context: during("while scanning a simple key", 2, 1), problem: "could not find expected ':'", mark: at(3, 1))
    ),
    ComposeCase(
        "an anchor without a name",
        "a: & b\n",
        roots: [],
        error: .scanner(context: during("while scanning an anchor", 1, 4), problem: "did not find expected alphabetic or numeric character", mark: at(1, 5))
    ),
    ComposeCase(
        "a flow mapping without a comma",
        "{a: 1 b: 2}\n",
        roots: [],
        error: .parser(context: during("while parsing a flow mapping", 1, 1), problem: "did not find expected ',' or '}'", mark: at(1, 8))
    ),
    ComposeCase(
        "a closing bracket alone",
        "]\n",
        roots: [],
        error: .parser(context: during("while parsing a block node", 1, 1), problem: "did not find expected node content", mark: at(1, 1))
    ),
    ComposeCase(
        "a block scalar indicator twice",
        "a: |++\n  b\n",
        roots: [],
        error: .scanner(context: during("while scanning a block scalar", 1, 4), problem: "did not find expected comment or line break", mark: at(1, 6))
    ),
]

let upstreamCases: [ComposeCase] = [
    ComposeCase(
        "`?` then `]` in a flow sequence: an empty key",
        "[?]\n",
        roots: [
            #"seq@1:1 [map@1:2 {null:plain@1:3 "" => null:plain@1:3 ""}]"#,
        ]
    ),
    ComposeCase(
        "`? ` then `]` after an entry",
        "[a, ? ]\n",
        roots: [
            #"seq@1:1 [str:plain@1:2 "a", map@1:5 {null:plain@1:7 "" => null:plain@1:7 ""}]"#,
        ]
    ),
    ComposeCase(
        "`?` then `]`, nested",
        "[[?]]\n",
        roots: [
            #"seq@1:1 [seq@1:2 [map@1:3 {null:plain@1:4 "" => null:plain@1:4 ""}]]"#,
        ]
    ),
    ComposeCase(
        "`?` then `]` followed by more",
        "- [?]\n- x\n",
        roots: [
            #"seq@1:1 [seq@1:3 [map@1:4 {null:plain@1:5 "" => null:plain@1:5 ""}], str:plain@2:3 "x"]"#,
        ]
    ),
    ComposeCase(
        "`?` then `]` and another `]`",
        "[?]]\n",
        roots: [
            #"seq@1:1 [map@1:2 {null:plain@1:3 "" => null:plain@1:3 ""}]"#,
        ],
        error: .parser(context: nil, problem: "did not find expected <document start>", mark: at(1, 4))
    ),
    ComposeCase(
        "`?` then `]` across lines",
        "[?\n]\n",
        roots: [
            #"seq@1:1 [map@1:2 {null:plain@2:1 "" => null:plain@2:1 ""}]"#,
        ]
    ),
    ComposeCase(
        "`? a` then `]` was always right",
        "[? a]\n",
        roots: [
            #"seq@1:1 [map@1:2 {str:plain@1:4 "a" => null:plain@1:5 ""}]"#,
        ]
    ),
]

let readerCases: [ComposeCase] = [
    ComposeCase(
        "a control character",
        "a: b\u{1}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 4, value: 1)
    ),
    ComposeCase(
        "a control character first",
        "\u{1}",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 0, value: 1)
    ),
    ComposeCase(
        "a control character in a flow mapping",
        "apiVersion: weft.io/v1\nkind: Sidecar\nmetadata: {name: a\u{1}b}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 55, value: 1)
    ),
    ComposeCase(
        "DEL",
        "a: b\u{7F}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 4, value: 127)
    ),
    ComposeCase(
        "a C1 control",
        "a: \u{80}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 3, value: 128)
    ),
    ComposeCase(
        "U+FFFE",
        "a: \u{FFFE}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 3, value: 65534)
    ),
    ComposeCase(
        "offsets count Characters, not bytes",
        "\u{E9}\u{65E5}\u{1F600}: \u{1}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 5, value: 1)
    ),
    ComposeCase(
        "a control character always starts a Character",
        "\u{600}\u{1}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 1, value: 1)
    ),
    ComposeCase(
        "inside a Character the offset is unknown",
        "\u{600}\u{FFFE}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: nil, value: 65534)
    ),
    ComposeCase(
        "an error past the first 16 KiB of text",
        "a: " + String(repeating: "b", count: 20000) + "\nc: \u{2}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 20007, value: 2)
    ),
]

let configCases: [ComposeCase] = [
    ComposeCase(
        "ConfigErrorTests: unclosed flow sequence",
        "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  workers: [1, 2\n  logLevel: info\n",
        roots: [],
        error: .parser(context: during("while parsing a flow sequence", 4, 12), problem: "did not find expected ',' or ']'", mark: at(5, 11))
    ),
    ComposeCase(
        "ConfigErrorTests: bad indentation",
        "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  workers: 1\n logLevel: info\n",
        roots: [],
        error: .parser(context: during("while parsing a block mapping", 1, 1), problem: "did not find expected key", mark: at(5, 2))
    ),
    ComposeCase(
        "ConfigErrorTests: tab indentation",
        "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n\tworkers: 1\n",
        roots: [],
        error: .scanner(context: during("while scanning for the next token", 4, 1), problem: "found character that cannot start any token", mark: at(4, 1))
    ),
    ComposeCase(
        "ConfigErrorTests: control character",
        "apiVersion: weft.io/v1\nkind: Sidecar\nmetadata: {name: a\u{1}b}\n",
        roots: [],
        error: .reader(problem: "control characters are not allowed", offset: 55, value: 1)
    ),
    ComposeCase(
        "ConfigErrorTests: duplicate key",
        "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  workers: 1\n  logLevel: info\n  workers: 2\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["workers"], mark: at(4, 3))
    ),
    ComposeCase(
        "ConfigErrorTests: duplicate key in a flow mapping",
        "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  ports: {inbound: 1, inbound: 2}\n",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["inbound"], mark: at(4, 11))
    ),
    ComposeCase(
        "ConfigErrorTests: documents before a YAML error",
        "apiVersion: weft.io/v1\nkind: Sidecr\n---\nkind: [\n",
        roots: [
            #"map@1:1 {str:plain@1:1 "apiVersion" => str:plain@1:13 "weft.io/v1", str:plain@2:1 "kind" => str:plain@2:7 "Sidecr"}"#,
        ],
        error: .parser(context: during("while parsing a flow node", 5, 1), problem: "did not find expected node content", mark: at(5, 1))
    ),
    ComposeCase(
        "RouteWeightsTests: malformed JSON",
        "{\"weights\": {\"reviews-v1\": 0}",
        roots: [],
        error: .parser(context: during("while parsing a flow mapping", 1, 1), problem: "did not find expected ',' or '}'", mark: at(2, 1))
    ),
    ComposeCase(
        "RouteWeightsTests: YAML flow with plain keys",
        "{weights: {reviews-v1: 0}}",
        roots: [
            #"map@1:1 {str:plain@1:2 "weights" => map@1:11 {str:plain@1:12 "reviews-v1" => int:plain@1:24 "0"}}"#,
        ]
    ),
    ComposeCase(
        "RouteWeightsTests: single quotes",
        "{\"weights\": {'reviews-v1': 0}}",
        roots: [
            #"map@1:1 {str:double@1:2 "weights" => map@1:13 {str:single@1:14 "reviews-v1" => int:plain@1:28 "0"}}"#,
        ]
    ),
    ComposeCase(
        "RouteWeightsTests: a number with a leading zero",
        "{\"weights\": {\"reviews-v1\": 010}}",
        roots: [
            #"map@1:1 {str:double@1:2 "weights" => map@1:13 {str:double@1:14 "reviews-v1" => int:plain@1:28 "010"}}"#,
        ]
    ),
    ComposeCase(
        "RouteWeightsTests: two documents",
        "{\"weights\": {\"reviews-v1\": 0}}\n---\n{}\n",
        roots: [
            #"map@1:1 {str:double@1:2 "weights" => map@1:13 {str:double@1:14 "reviews-v1" => int:plain@1:28 "0"}}"#,
            #"map@3:1 {}"#,
        ]
    ),
    ComposeCase(
        "RouteWeightsTests: a key twice",
        "{\"weights\": {\"reviews-v1\": 0, \"reviews-v1\": 10}}",
        roots: [],
        error: .duplicatedKeysInMapping(duplicates: ["reviews-v1"], mark: at(1, 14))
    ),
    ComposeCase(
        "RouteWeightsTests: a weight in quotes",
        "{\"weights\": {\"reviews-v1\": \"10\"}}",
        roots: [
            #"map@1:1 {str:double@1:2 "weights" => map@1:13 {str:double@1:14 "reviews-v1" => str:double@1:28 "10"}}"#,
        ]
    ),
]
