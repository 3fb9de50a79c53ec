import HTTP
import Testing

/// Returns the given values in turn (and again from the start), so generated ids are known.
struct ScriptedGenerator: RandomNumberGenerator {
    var values: [UInt64]
    var index = 0

    init(_ values: [UInt64]) { self.values = values }

    mutating func next() -> UInt64 {
        defer { index += 1 }
        return values[index % values.count]
    }
}

/// A seeded generator (SplitMix64's steps) for tests that only need ids to differ.
struct CountingGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Trace Context")
struct TraceContextTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        let value: String
        let version: UInt8
        let traceID: String
        let parentID: UInt64
        let flags: UInt8
        var testDescription: String { value.debugDescription }
    }

    // Trace Context §3.2.2.7 (examples), §3.2.4 (versioning) and the valid inputs of the W3C test
    // suite (test/test.py: version 0xcc, OWS handling).
    @Test("valid traceparent values", arguments: [
        Valid(value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", version: 0,
              traceID: "4bf92f3577b34da6a3ce929d0e0e4736", parentID: 0x00f0_67aa_0ba9_02b7, flags: 1),
        Valid(value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", version: 0,
              traceID: "4bf92f3577b34da6a3ce929d0e0e4736", parentID: 0x00f0_67aa_0ba9_02b7, flags: 0),
        Valid(value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", version: 0,
              traceID: "0af7651916cd43dd8448eb211c80319c", parentID: 0xb7ad_6b71_6920_3331, flags: 1),
        Valid(value: "00-12345678901234567890123456789012-1234567890123456-ff", version: 0,
              traceID: "12345678901234567890123456789012", parentID: 0x1234_5678_9012_3456, flags: 0xff),
        Valid(value: "00-00000000000000000000000000000001-0000000000000001-00", version: 0,
              traceID: "00000000000000000000000000000001", parentID: 1, flags: 0),
        Valid(value: "cc-12345678901234567890123456789012-1234567890123456-01", version: 0xcc,
              traceID: "12345678901234567890123456789012", parentID: 0x1234_5678_9012_3456, flags: 1),
        Valid(value: "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like", version: 0xcc,
              traceID: "12345678901234567890123456789012", parentID: 0x1234_5678_9012_3456, flags: 1),
        Valid(value: "01-12345678901234567890123456789012-1234567890123456-01-", version: 1,
              traceID: "12345678901234567890123456789012", parentID: 0x1234_5678_9012_3456, flags: 1),
        Valid(value: "fe-12345678901234567890123456789012-1234567890123456-00-xx", version: 0xfe,
              traceID: "12345678901234567890123456789012", parentID: 0x1234_5678_9012_3456, flags: 0),
        Valid(value: " 00-12345678901234567890123456789012-1234567890123456-01", version: 0,
              traceID: "12345678901234567890123456789012", parentID: 0x1234_5678_9012_3456, flags: 1),
        Valid(value: "\t 00-12345678901234567890123456789012-1234567890123456-01 \t", version: 0,
              traceID: "12345678901234567890123456789012", parentID: 0x1234_5678_9012_3456, flags: 1),
    ])
    func valid(_ test: Valid) throws {
        let context = try #require(TraceContext(parsing: test.value))
        #expect(context.version == test.version)
        #expect(context.traceID.description == test.traceID)
        #expect(context.parentID == test.parentID)
        #expect(context.flags == test.flags)
        #expect(context.sampled == (test.flags & 1 == 1))
        // Formatting gives the version-00 prefix back (OWS and later versions' extra fields aside).
        let trimmed = test.value.trimmingOWS
        #expect(context.description == String(trimmed.prefix(55)))
        #expect(TraceContext(parsing: Array(test.value.utf8)[...]) == context, "the byte and text parsers agree")
    }

    // The invalid inputs of the W3C test suite (test/test.py), each a reason to restart the trace,
    // and the ABNF's other edges (§3.2.2: HEXDIGLC, fixed lengths, version ff, all-zero ids).
    @Test("invalid traceparent values", arguments: [
        "",
        "00",
        "00-12345678901234567890123456789012-1234567890123456-01.",
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "00-12345678901234567890123456789012-1234567890123456-01-",
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-not-be-like",
        "ff-12345678901234567890123456789012-1234567890123456-01",
        "ff-12345678901234567890123456789012-1234567890123456-01-later",
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
        "00-00000000000000000000000000000000-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-12345678901234567890123456789012-0000000000000000-01",
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 x",
        "00 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-\u{e9}1",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    ])
    func invalid(_ value: String) {
        #expect(TraceContext(parsing: value) == nil)
    }

    @Test("a new context is random, version 00, not sampled, and never all zeros")
    func generation() throws {
        var scripted = ScriptedGenerator([0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210, 0x00f0_67aa_0ba9_02b7])
        let context = TraceContext.random(using: &scripted)
        #expect(context.description == "00-0123456789abcdeffedcba9876543210-00f067aa0ba902b7-00")
        var zeros = ScriptedGenerator([0])
        let fallback = TraceContext.random(using: &zeros)
        #expect(fallback.traceID.isValid && fallback.parentID != 0)
        #expect(TraceContext(parsing: fallback.description) == fallback)

        var generator = CountingGenerator(state: 42)
        var seen = Set<TraceID>()
        for _ in 0..<1000 {
            let next = TraceContext.random(using: &generator)
            #expect(TraceContext(parsing: next.description) == next, "what is generated parses back")
            seen.insert(next.traceID)
        }
        #expect(seen.count == 1000)
    }

    @Test("x-request-id is a version 4 UUID in lowercase")
    func requestID() throws {
        var scripted = ScriptedGenerator([0xffff_ffff_ffff_ffff, 0xffff_ffff_ffff_ffff])
        #expect(RequestID.random(using: &scripted).description == "ffffffff-ffff-4fff-bfff-ffffffffffff")
        var zeros = ScriptedGenerator([0])
        #expect(RequestID.random(using: &zeros).description == "00000000-0000-4000-8000-000000000000")
        var mixed = ScriptedGenerator([0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210])
        let id = RequestID.random(using: &mixed)
        #expect(id.description == "01234567-89ab-4def-bedc-ba9876543210")
        #expect(RequestID(parsing: id.description) == id)
        var generator = CountingGenerator(state: 7)
        let many = (0..<1000).map { _ in RequestID.random(using: &generator) }
        #expect(Set(many).count == 1000)
        #expect(many.allSatisfy { RequestID(parsing: $0.description) == $0 })
        for bad in ["", "01234567-89ab-4def-bedc-ba987654321", "01234567-89AB-4def-bedc-ba9876543210",
                    "01234567-89ab-1def-bedc-ba9876543210", "01234567-89ab-4def-cedc-ba9876543210", "01234567_89ab-4def-bedc-ba9876543210"] {
            #expect(RequestID(parsing: bad) == nil, "\(bad)")
        }
    }
}

@Suite("Request correlation")
struct RequestCorrelationTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    static let generatedID = "01234567-89ab-4def-bedc-ba9876543210"
    static let generatedTrace = "00-11111111111111112222222222222222-3333333333333333-00"

    /// Generates `generatedID`, then `generatedTrace` (only the trace, from the start, when the id is not generated).
    static func generator() -> ScriptedGenerator {
        ScriptedGenerator([0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210, 0x1111_1111_1111_1111, 0x2222_2222_2222_2222, 0x3333_3333_3333_3333])
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let fields: [String]
        let received: RequestCorrelation.ReceivedTraceParent
        /// The request id in effect; nil: generated.
        let requestID: String?
        /// The trace context in effect; nil: generated.
        let trace: String?
        /// Indices of the fields left out.
        let omitted: [Int]
        var testDescription: String { name }
    }

    @Test("what a head carries decides what is kept, replaced and added", arguments: [
        Case(name: "both present and valid", fields: ["Host: a", "X-Request-Id: abc", "traceparent: \(valid)", "tracestate: congo=t61rcWkgMzE"],
             received: .valid, requestID: "abc", trace: valid, omitted: []),
        Case(name: "neither", fields: ["Host: a"], received: .absent, requestID: nil, trace: nil, omitted: []),
        Case(name: "name in any case", fields: ["TRACEPARENT: \(valid)", "x-REQUEST-id: r1"], received: .valid, requestID: "r1", trace: valid, omitted: []),
        Case(name: "invalid traceparent: replaced, tracestate dropped", fields: ["Host: a", "traceparent: 00-zz", "tracestate: a=1", "x-request-id: r"],
             received: .invalid, requestID: "r", trace: nil, omitted: [1, 2]),
        Case(name: "two traceparents: a new trace", fields: ["traceparent: \(valid)", "traceparent: \(valid)", "x-request-id: r"],
             received: .invalid, requestID: "r", trace: nil, omitted: [0, 1]),
        Case(name: "tracestate without traceparent is dropped", fields: ["tracestate: foo=1", "x-request-id: r"],
             received: .absent, requestID: "r", trace: nil, omitted: [0]),
        Case(name: "empty request ids are replaced", fields: ["x-request-id: ", "traceparent: \(valid)", "x-request-id: "],
             received: .valid, requestID: nil, trace: valid, omitted: [0, 2]),
        Case(name: "the first non-empty request id counts, all are kept", fields: ["x-request-id: ", "x-request-id: second", "x-request-id: third"],
             received: .absent, requestID: "second", trace: nil, omitted: []),
        Case(name: "B3 is not W3C", fields: ["x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7", "x-b3-spanid: e457b5a2e4d86bd1",
                                             "x-b3-sampled: 1", "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"],
             received: .absent, requestID: nil, trace: nil, omitted: []),
        Case(name: "a future version is kept as sent", fields: ["traceparent: cc-12345678901234567890123456789012-1234567890123456-01-more", "x-request-id: r"],
             received: .valid, requestID: "r", trace: "cc-12345678901234567890123456789012-1234567890123456-01", omitted: []),
        Case(name: "similar names are other fields", fields: ["trace-parent: \(valid)", "traceparents: x", "x-request-ids: y"],
             received: .absent, requestID: nil, trace: nil, omitted: []),
    ])
    func decisions(_ test: Case) throws {
        let headers = Self.headers(test.fields)
        var generator = Self.generator()
        let correlation = RequestCorrelation(inspecting: headers, using: &generator)
        // What is generated comes from the generator in turn: the request id, then the trace.
        var replay = Self.generator()
        let requestID = test.requestID ?? RequestID.random(using: &replay).description
        let trace = test.trace ?? TraceContext.random(using: &replay).description
        #expect(correlation.received == test.received)
        #expect(correlation.trace.description == trace)
        #expect(Self.text(correlation.requestID) == requestID)
        #expect(correlation.omitting == test.omitted.reduce(0) { $0 | 1 << UInt64($1) })

        // The mask with the added fields, and `apply` on a copy, forward the same head.
        let head = HTTPRequestHead(method: .GET, target: "/", headers: headers)
        var masked: [UInt8] = []
        HTTPSerializer.requestHead(head, framing: .none, omitting: correlation.omitting, reservingExtra: correlation.addedFieldsLength, into: &masked)
        masked.removeLast(2)
        let before = masked.count
        correlation.appendAddedFields(to: &masked)
        #expect(masked.count - before == correlation.addedFieldsLength)
        masked += Array("\r\n".utf8)
        var copy = head
        correlation.apply(to: &copy.headers)
        var applied: [UInt8] = []
        HTTPSerializer.requestHead(copy, framing: .none, into: &applied)
        #expect(String(decoding: masked, as: UTF8.self) == String(decoding: applied, as: UTF8.self))

        // What was forwarded carries exactly the decided ids, and needs nothing more.
        var unused = ScriptedGenerator([9])
        let again = RequestCorrelation(inspecting: copy.headers, using: &unused)
        #expect(again.received == .valid && again.trace == correlation.trace && again.omitting == 0 && !again.addsFields)
        #expect(Self.text(again.requestID) == requestID)
        #expect(copy.headers.values(for: "traceparent").count == 1)
        // B3 passes whatever happens.
        for name in ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "b3"] {
            #expect(copy.headers.values(for: name) == headers.values(for: name))
        }
    }

    @Test("hop-by-hop fields count as absent")
    func ignoring() {
        let headers = Self.headers(["Connection: traceparent", "traceparent: \(Self.valid)", "x-request-id: r"])
        var generator = Self.generator()
        let correlation = RequestCorrelation(inspecting: headers, ignoring: 0b011, using: &generator)
        #expect(correlation.received == .absent && correlation.trace.description == "00-0123456789abcdeffedcba9876543210-1111111111111111-00")
        #expect(correlation.omitting == 0, "the ignored fields are the caller's to leave out")
        #expect(Self.text(correlation.requestID) == "r")
    }

    @Test("a request without a head gets generated ids")
    func withoutHead() {
        var generator = Self.generator()
        let correlation = RequestCorrelation(generatingWith: &generator)
        #expect(Self.text(correlation.requestID) == Self.generatedID)
        #expect(correlation.trace.description == Self.generatedTrace)
    }

    @Test("the added fields are lowercase lines before the empty line")
    func addedFields() {
        var generator = Self.generator()
        let correlation = RequestCorrelation(inspecting: HTTPHeaders(), using: &generator)
        var bytes: [UInt8] = []
        correlation.appendAddedFields(to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "x-request-id: \(Self.generatedID)\r\ntraceparent: \(Self.generatedTrace)\r\n")
    }

    static func headers(_ lines: [String]) -> HTTPHeaders {
        HTTPHeaders(lines.map { line in
            let colon = line.firstIndex(of: ":")!
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            return (name: String(line[..<colon]), value: String(value))
        })
    }

    static func text(_ id: RequestCorrelation.RequestIDValue) -> String {
        switch id {
        case .received(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .generated(let id): return id.description
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingOWS: Substring {
        var text = self[...]
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
