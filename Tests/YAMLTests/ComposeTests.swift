import Testing
import YAML

// Tables of YAML text and what the parser composes from it. Every expectation in
// ComposeCases.swift is what Yams 6.2.2 (Parser with the default resolver, UTF-8), which Weft
// used before this module, composed from the same text, recorded with a differential harness
// that ran both on the same inputs; these tables keep that agreement from drifting.

@Suite("Composing YAML as Yams did")
struct ComposeTests {
    @Test("documents and streams", arguments: documentsCases)
    func documents(_ testCase: ComposeCase) { testCase.check() }

    @Test("scalar and collection styles, marks", arguments: stylesCases)
    func styles(_ testCase: ComposeCase) { testCase.check() }

    @Test("explicit tags and resolved ones", arguments: tagsCases)
    func tags(_ testCase: ComposeCase) { testCase.check() }

    @Test("anchors and aliases", arguments: anchorsCases)
    func anchors(_ testCase: ComposeCase) { testCase.check() }

    @Test("repeated keys", arguments: duplicatesCases)
    func duplicates(_ testCase: ComposeCase) { testCase.check() }

    @Test("scanner and parser errors, with their contexts and marks", arguments: errorsCases)
    func errors(_ testCase: ComposeCase) { testCase.check() }

    @Test("where libyaml 0.2.5 differs from Yams' copy, Yams' answer", arguments: upstreamCases)
    func upstream(_ testCase: ComposeCase) { testCase.check() }

    @Test("characters libyaml's reader refuses", arguments: readerCases)
    func reader(_ testCase: ComposeCase) { testCase.check() }

    /// The YAML behind the diagnostics ConfigTests expect (the Config module turns these errors
    /// and marks into its messages): if one of these changes, a ConfigTests expectation breaks.
    @Test("the YAML that ConfigTests' expectations rest on", arguments: configCases)
    func configExpectations(_ testCase: ComposeCase) { testCase.check() }
}
