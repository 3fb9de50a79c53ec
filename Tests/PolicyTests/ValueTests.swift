import Policy
import Testing

@Suite("Policy values")
struct ValueTests {
    @Test("Istio patterns: exact, prefix, suffix, presence", arguments: [
        ("GET", StringMatch.exact("GET")),
        ("/api/*", .prefix("/api/")),
        ("*.png", .suffix(".png")),
        ("*", .any),
        ("cluster.local/ns/shop/*", .prefix("cluster.local/ns/shop/")),
    ])
    func patternsParse(text: String, expected: StringMatch) throws {
        let match = try StringMatch(istioPattern: text)
        #expect(match == expected)
        #expect(match.description == text)
    }

    @Test("a * in the middle, twice, or nothing at all is refused", arguments: ["", "/a/*/b", "**", "*a*", "a**"])
    func patternsRefused(text: String) {
        #expect(throws: PolicyValueError.self) { try StringMatch(istioPattern: text) }
    }

    @Test("BASE path normalization", arguments: [
        ("/a/b", "/a/b"),
        ("/a/b?x=/../y", "/a/b"),
        ("/a/./b", "/a/b"),
        ("/a/b/../c", "/a/c"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/..", "/"),
        ("/../../a", "/a"),
        ("/a/..b/.c", "/a/..b/.c"),
        ("/.well-known/x", "/.well-known/x"),
        ("/%2e%2E/a", "/a"),
        ("/%61%62%63/%7E%5f%2D", "/abc/~_-"),
        ("/a%2fb", "/a%2fb"),
        ("/a%5Cb", "/a%5Cb"),
        ("/a%zz", "/a%zz"),
        ("/a%4", "/a%4"),
        ("/a\\b\\..\\c", "/a/c"),
        ("/a//b", "/a//b"),
        ("/", "/"),
        ("*", "*"),
    ])
    func normalize(input: String, expected: String) {
        switch RequestPath.normalize(input[...]) {
        case .unchanged(let path):
            #expect(path == expected)
            // Unchanged means a slice of the input: nothing was allocated.
            #expect(input.hasPrefix(path))
        case .rewritten(let path):
            #expect(path == expected)
        case .rejected:
            Issue.record("\(input) was rejected")
        }
    }

    @Test("paths that need no rewriting are slices of the input", arguments: ["/a/b", "/a/b?q=%2e%2e", "/.well-known/x", "/a/..b", "*"])
    func unchanged(input: String) {
        guard case .unchanged(let path) = RequestPath.normalize(input[...]) else {
            Issue.record("\(input) was rewritten")
            return
        }
        #expect(path == input.prefix { $0 != "?" })
    }

    @Test("%00 is rejected, in either case of hex", arguments: ["/a%00", "/%00/b", "/x/../%00"])
    func nul(input: String) {
        #expect(RequestPath.normalize(input[...]) == .rejected)
    }

    @Test("header lookup ignores case, trims and joins repetitions")
    func headerFields() {
        let fields = HeaderFieldList([("Accept", " text/html\t"), ("X-A", "1"), ("x-a", "2"), ("Empty", "  ")])
        #expect(fields.authorizationValue(ofField: "accept").map { String($0) } == "text/html")
        #expect(fields.authorizationValue(ofField: "x-a").map { String($0) } == "1,2")
        #expect(fields.authorizationValue(ofField: "empty").map { String($0) } == "")
        #expect(fields.authorizationValue(ofField: "missing") == nil)
        #expect(HeaderFieldList.empty.authorizationValue(ofField: "accept") == nil)
    }

    @Test("which rules need HTTP")
    func httpFields() throws {
        #expect(!AuthorizationRule().usesHTTPFields)
        #expect(!AuthorizationRule(from: [SourceMatch(principals: [.any])], to: [OperationMatch(ports: [80], notPorts: [81])]).usesHTTPFields)
        #expect(AuthorizationRule(to: [OperationMatch(ports: [80]), OperationMatch(notHosts: [.any])]).usesHTTPFields)
        for operation in [OperationMatch(hosts: [.any]), OperationMatch(methods: [.any]), OperationMatch(notMethods: [.any]), OperationMatch(paths: [.any]), OperationMatch(notPaths: [.any])] {
            #expect(operation.usesHTTPFields)
        }
        #expect(AuthorizationRule(when: [.requestHeader(name: "a", values: [.any], notValues: [])]).usesHTTPFields)
        #expect(!AuthorizationRule(when: [.sourceIP(values: [], notValues: []), .destinationPort(values: [1], notValues: [])]).usesHTTPFields)
        #expect(Condition.requestHeader(name: "x-a", values: [], notValues: []).key == "request.headers[x-a]")
        #expect(Condition.sourceNamespace(values: [], notValues: []).key == "source.namespace")
    }
}
