// libFuzzer entry point for the request correlation of Sources/HTTP: the W3C `traceparent` parser
// (TraceContext), the `x-request-id` UUID parser (RequestID), and RequestCorrelation's decision
// on a header section. Scripts/fuzz compiles this file together with Sources/HTTP into one
// module, so they are called without an import. A client's traceparent is untrusted input that
// every request through the proxy carries.
//
// Input: the whole input is a traceparent value and a request id; split at '\n' into
// `name: value` lines it is also a header section (lines that are not a valid field are skipped).
//
// Properties checked on every input, besides "never crashes":
// - TraceContext(parsing:) accepts exactly what a second, deliberately simple reading of Trace
//   Context §3.2 and §3.2.4 (split on '-', check each part) accepts; an accepted value formats
//   back to its first 55 characters (without surrounding OWS), and the text and byte parsers agree;
// - an accepted request id prints back to itself;
// - RequestCorrelation: forwarding with the mask and the added fields writes the same head as
//   `apply` on a copy; the forwarded head carries exactly the decided ids (one valid traceparent,
//   the same request id) and would be forwarded again unchanged; B3 fields are never touched.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkTraceParent(bytes)
    checkRequestID(String(decoding: bytes, as: UTF8.self))
    checkCorrelation(headers(from: bytes))
    return 0
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

private func isOWS(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

/// The reference reading: OWS trimmed; at least 55 characters; the first 55 are four
/// '-'-separated parts of 2, 32, 16 and 2 lowercase hex digits; the version is not ff; the ids
/// are not all zeros; more than 55 only for a version other than 00, with '-' at 55.
private func reference(_ input: [UInt8]) -> Bool {
    var text = input[...]
    while let first = text.first, isOWS(first) { text = text.dropFirst() }
    while let last = text.last, isOWS(last) { text = text.dropLast() }
    guard text.count >= 55 else { return false }
    let prefix = Array(text.prefix(55))
    let parts = prefix.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
    guard parts.map(\.count) == [2, 32, 16, 2] else { return false }
    let hex = Set("0123456789abcdef".utf8)
    guard parts.allSatisfy({ $0.allSatisfy(hex.contains) }) else { return false }
    let version = String(decoding: parts[0], as: UTF8.self)
    guard version != "ff" else { return false }
    guard parts[1].contains(where: { $0 != UInt8(ascii: "0") }), parts[2].contains(where: { $0 != UInt8(ascii: "0") }) else { return false }
    if text.count > 55 {
        guard version != "00", text[text.startIndex + 55] == UInt8(ascii: "-") else { return false }
    }
    return true
}

private func checkTraceParent(_ bytes: [UInt8]) {
    let parsed = TraceContext(parsing: bytes[...])
    let expected = reference(bytes)
    let shown = String(decoding: bytes, as: UTF8.self).debugDescription
    require((parsed != nil) == expected, "TraceContext \(parsed == nil ? "refused" : "accepted") \(shown), the reference \(expected ? "accepts" : "refuses") it")
    guard let parsed else { return }
    var trimmed = bytes[...]
    while let first = trimmed.first, isOWS(first) { trimmed = trimmed.dropFirst() }
    var formatted: [UInt8] = []
    parsed.append(to: &formatted)
    require(formatted.count == TraceContext.length && formatted[...] == trimmed.prefix(TraceContext.length),
            "\(shown) formats as \(parsed.description.debugDescription)")
    require(parsed.version != 0xff && parsed.traceID.isValid && parsed.parentID != 0, "\(shown) parsed to a context that may not be sent")
    require(TraceContext(parsing: parsed.description) == parsed, "\(parsed) does not parse back to itself")
    if let text = String(validating: bytes, as: UTF8.self) {
        require(TraceContext(parsing: text) == parsed, "the text parser disagrees on \(shown)")
    }
}

private func checkRequestID(_ text: String) {
    guard let id = RequestID(parsing: text) else { return }
    require(id.description == text, "RequestID \(text.debugDescription) prints as \(id.description)")
    require(RequestID(high: id.high, low: id.low) == id, "\(text.debugDescription) is not version 4 / variant 10")
}

/// The `name: value` lines of the input that are valid fields, values without surrounding OWS
/// (as the head parser gives them).
private func headers(from bytes: [UInt8]) -> HTTPHeaders {
    var headers = HTTPHeaders()
    for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
        let name = String(decoding: line[..<colon], as: UTF8.self)
        var value = line[(colon + 1)...]
        while let first = value.first, isOWS(first) { value = value.dropFirst() }
        while let last = value.last, isOWS(last) { value = value.dropLast() }
        let text = String(decoding: value, as: UTF8.self)
        guard HTTPHeaders.isValidName(name), HTTPHeaders.isValidValue(text), headers.count < 80 else { continue }
        headers.add(name: name, value: text)
    }
    return headers
}

/// A fixed generator: the properties do not depend on which ids are new.
private struct Counter: RandomNumberGenerator {
    var state: UInt64 = 0
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return state
    }
}

private func checkCorrelation(_ headers: HTTPHeaders) {
    let head = HTTPRequestHead(method: .GET, target: "/", headers: headers)
    var generator = Counter()
    // As the proxy does: the hop-by-hop fields are not forwarded, so they count as absent.
    let hopByHop = HTTPSemantics.hopByHopMask(in: headers)
    var copy = head
    HTTPSemantics.removeHopByHop(from: &copy.headers)
    let correlation = hopByHop.map { RequestCorrelation(inspecting: headers, ignoring: $0, using: &generator) }
        ?? RequestCorrelation(inspecting: copy.headers, using: &generator)
    correlation.apply(to: &copy.headers)
    var applied: [UInt8] = []
    HTTPSerializer.requestHead(copy, framing: .none, into: &applied)
    if let hopByHop {
        var masked: [UInt8] = []
        HTTPSerializer.requestHead(head, framing: .none, omitting: hopByHop | correlation.omitting,
                                   reservingExtra: correlation.addedFieldsLength, into: &masked)
        masked.removeLast(2)
        correlation.appendAddedFields(to: &masked)
        masked += [0x0D, 0x0A]
        require(masked == applied, "mask and apply differ for [\(headers)]: \(String(decoding: masked, as: UTF8.self).debugDescription) "
                + "vs \(String(decoding: applied, as: UTF8.self).debugDescription)")
    }
    // Forwarded again, nothing changes: one valid traceparent, the decided ids.
    var unused = Counter(state: 1)
    let again = RequestCorrelation(inspecting: copy.headers, using: &unused)
    require(again.received == .valid && again.trace == correlation.trace && again.omitting == 0 && !again.addsFields,
            "the forwarded head [\(copy.headers)] needs another decision: \(again)")
    switch (again.requestID, correlation.requestID) {
    case (.received(let forwarded), .received(let decided)):
        require(forwarded.elementsEqual(decided), "the request id changed in [\(copy.headers)]")
    case (.received(let forwarded), .generated(let id)):
        require(String(decoding: forwarded, as: UTF8.self) == id.description, "the generated request id is not what was forwarded")
    default:
        require(false, "the forwarded head [\(copy.headers)] has no request id")
    }
    for name in ["b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags"] {
        var without = head.headers
        HTTPSemantics.removeHopByHop(from: &without)
        require(copy.headers.values(for: name) == without.values(for: name), "\(name) changed in [\(headers)]")
    }
}
