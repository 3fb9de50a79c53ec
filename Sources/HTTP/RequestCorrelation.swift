/// What a proxy does with the fields that tie a request to a trace and to its log lines, decided
/// once per request from its head as it will be forwarded. The proxy records no spans, so it is
/// not a participant in the trace (Trace Context §2): it only makes sure every request carries
/// ids, and otherwise passes them on.
///
/// - `x-request-id`: the first field with a non-empty value is the request's id and goes on
///   unchanged (several are forwarded as they came). Without one, a random UUID is added (what
///   Envoy does, `generate_request_id`), and empty fields are left out.
/// - `traceparent`: exactly one valid field goes on unchanged, byte for byte. None, several (the
///   W3C test suite's `test_traceparent_duplicated`) or an invalid one: a new trace starts, with a
///   random trace-id and parent-id and flags 00 (nothing was sampled), and every `traceparent`
///   and `tracestate` field is left out — a tracestate without a valid traceparent describes no
///   trace (§3.3: it is not parsed then; the suite's `test_tracestate_included_traceparent_missing`
///   expects it discarded).
/// - B3 (`b3`, `x-b3-*`), `tracestate` beside a valid traceparent, and every other field: untouched.
///
/// Inspection reads field bytes in place: when both ids are present and valid it allocates
/// nothing (the request id is a slice of the head's storage).
public struct RequestCorrelation: Sendable {
    /// The request's `x-request-id`.
    public enum RequestIDValue: Sendable, Equatable {
        /// The client's: the bytes of the first non-empty field value.
        case received(ArraySlice<UInt8>)
        /// Generated here, and added when forwarding.
        case generated(RequestID)
    }

    /// What the head's `traceparent` fields were.
    public enum ReceivedTraceParent: Sendable, Equatable {
        /// None (or only hop-by-hop ones): a new trace is started.
        case absent
        /// Exactly one, valid: propagated unchanged.
        case valid
        /// Several, or one that does not parse: replaced.
        case invalid
    }

    /// The request id in effect.
    public let requestID: RequestIDValue
    /// The trace context in effect: the client's, or a new one.
    public let trace: TraceContext
    /// What the head carried.
    public let received: ReceivedTraceParent
    /// The fields of the inspected head the forwarded head leaves out (bit i: field i; fields
    /// past the 64th are never in it, see `apply(to:)`): traceparent and tracestate fields when
    /// the trace is new, empty x-request-id fields when the id is.
    public let omitting: UInt64

    /// Whether the trace context is new (and added when forwarding).
    public var traceGenerated: Bool { received != .valid }

    /// Whether forwarding adds a field.
    public var addsFields: Bool {
        if case .generated = requestID { return true }
        return traceGenerated
    }

    /// Decides for a request head. Fields whose bit is set in `ignoring` (the hop-by-hop fields,
    /// `HTTPSemantics.hopByHopMask(in:)`, which are not forwarded) count as absent. New ids come
    /// from `generator`.
    public init(inspecting headers: HTTPHeaders, ignoring: UInt64 = 0, using generator: inout some RandomNumberGenerator) {
        var traceParents = 0
        var parsed: TraceContext?
        var receivedID: ArraySlice<UInt8>?
        var traceFields: UInt64 = 0
        var requestIDFields: UInt64 = 0
        for (position, field) in headers.fields.enumerated() {
            let bit: UInt64 = position < 64 ? 1 << UInt64(position) : 0
            if ignoring & bit != 0 { continue }
            // The length and first letter first: most fields are none of the three.
            let length = field.nameEnd - field.start
            guard length >= 10 && length <= 12 else { continue }
            let first = ASCII.lowercased(headers.bytes[Int(field.start)])
            guard first == UInt8(ascii: "t") || first == UInt8(ascii: "x") else { continue }
            switch length {
            case 11 where headers.matches(field, Self.traceParentName):
                traceParents += 1
                traceFields |= bit
                if traceParents == 1 { parsed = TraceContext(parsing: headers.bytes[field.value]) }
            case 10 where headers.matches(field, Self.traceStateName):
                traceFields |= bit
            case 12 where headers.matches(field, Self.requestIDName):
                requestIDFields |= bit
                if receivedID == nil, !field.value.isEmpty { receivedID = headers.bytes[field.value] }
            default:
                break
            }
        }
        if let receivedID {
            requestID = .received(receivedID)
        } else {
            requestID = .generated(RequestID.random(using: &generator))
        }
        if traceParents == 1, let parsed {
            trace = parsed
            received = .valid
        } else {
            trace = TraceContext.random(using: &generator)
            received = traceParents == 0 ? .absent : .invalid
        }
        omitting = (received == .valid ? 0 : traceFields) | (receivedID == nil ? requestIDFields : 0)
    }

    /// Ids for a request without a head (one the parser refused, or that never finished): both
    /// generated, for its log line.
    public init(generatingWith generator: inout some RandomNumberGenerator) {
        requestID = .generated(RequestID.random(using: &generator))
        trace = TraceContext.random(using: &generator)
        received = .absent
        omitting = 0
    }

    /// The bytes `appendAddedFields(to:)` writes.
    public var addedFieldsLength: Int {
        var length = 0
        if case .generated = requestID { length += Self.requestIDName.count + 4 + RequestID.length }
        if traceGenerated { length += Self.traceParentName.count + 4 + TraceContext.length }
        return length
    }

    /// Appends the field lines forwarding adds, `x-request-id: …` then `traceparent: …`, each
    /// ending in CRLF: for a head serialized with `omitting` left out, before its empty line.
    public func appendAddedFields(to output: inout [UInt8]) {
        if case .generated(let id) = requestID {
            output.append(contentsOf: Self.requestIDName)
            output.append(ASCII.colon)
            output.append(ASCII.space)
            id.append(to: &output)
            HTTPSerializer.appendCRLF(to: &output)
        }
        if traceGenerated {
            output.append(contentsOf: Self.traceParentName)
            output.append(ASCII.colon)
            output.append(ASCII.space)
            trace.append(to: &output)
            HTTPSerializer.appendCRLF(to: &output)
        }
    }

    /// Makes a copy of the head carry the decision, by name: what `omitting` leaves out is
    /// removed, the added fields appended. For heads that are not forwarded with a mask (more
    /// than 64 fields, upgrades); the fields `ignoring` named must be gone already.
    public func apply(to headers: inout HTTPHeaders) {
        if traceGenerated {
            headers.removeAll { headers, field in
                headers.matches(field, Self.traceParentName) || headers.matches(field, Self.traceStateName)
            }
        }
        if case .generated(let id) = requestID {
            headers.removeAll { headers, field in headers.matches(field, Self.requestIDName) }
            var value: [UInt8] = []
            value.reserveCapacity(RequestID.length)
            id.append(to: &value)
            headers.append(name: Self.requestIDName, value: value)
        }
        if traceGenerated {
            var value: [UInt8] = []
            value.reserveCapacity(TraceContext.length)
            trace.append(to: &value)
            headers.append(name: Self.traceParentName, value: value)
        }
    }

    // Literals rather than stored arrays: a static array is initialized lazily, and each request
    // would pay the check that it is.
    static var traceParentName: String.UTF8View { "traceparent".utf8 }
    static var traceStateName: String.UTF8View { "tracestate".utf8 }
    static var requestIDName: String.UTF8View { "x-request-id".utf8 }
}
