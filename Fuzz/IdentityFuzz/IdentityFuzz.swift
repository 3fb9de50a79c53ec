// libFuzzer entry point for the SPIFFE id and trust domain parsers (Sources/Identity). Scripts/fuzz
// compiles this file together with Sources/Identity into one module, so the parsers are called
// without an import. A peer's certificate is untrusted input, and its URI SAN reaches
// SPIFFEID(parsing:) before anything else looks at it.
//
// Properties checked on every input, besides "never crashes":
// - SPIFFEID(parsing:) and TrustDomain(parsing:) accept exactly what a second, deliberately
//   simple reading of SPIFFE-ID.md §2 (split on '/', check each part) accepts;
// - an accepted id is its own text (no normalisation), at most 2048 bytes, a member of its trust
//   domain, and rebuilds equal from its trust domain and segments;
// - the Kubernetes accessors agree with SPIFFEID.kubernetes;
// - a refusal's message is one short line, whatever the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    checkID(text)
    checkTrustDomain(text)
    return 0
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

private let lowercase = Set("abcdefghijklmnopqrstuvwxyz0123456789.-_".utf8)
private let anyCase = lowercase.union("ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

/// The reference reading of a trust domain name: 1 to 255 bytes, all of [a-z0-9._-].
private func referenceTrustDomain(_ bytes: ArraySlice<UInt8>) -> Bool {
    (1...255).contains(bytes.count) && bytes.allSatisfy(lowercase.contains)
}

/// The reference reading of an id: "spiffe://", a trust domain, then '/'-separated segments that
/// are non-empty, not "." or "..", and all of [A-Za-z0-9._-]; 2048 bytes at most.
private func referenceID(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    let scheme = Array("spiffe://".utf8)
    guard bytes.count <= 2048, bytes.count >= scheme.count, Array(bytes[0..<scheme.count]) == scheme else { return false }
    let parts = bytes[scheme.count...].split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    guard referenceTrustDomain(parts[0]) else { return false }
    for segment in parts.dropFirst() {
        let string = String(decoding: segment, as: UTF8.self)
        guard !segment.isEmpty, string != ".", string != "..", segment.allSatisfy(anyCase.contains) else { return false }
    }
    return true
}

private func checkMessage(_ error: SPIFFEIDError) {
    let message = error.description
    require(!message.contains("\n") && !message.contains("\r"), "message for \(error.input.debugDescription) spans lines")
    require(message.unicodeScalars.count < 600, "message for \(error.input.debugDescription) is \(message.unicodeScalars.count) scalars long")
}

private func checkID(_ text: String) {
    let parsed: SPIFFEID
    do {
        parsed = try SPIFFEID(parsing: text)
    } catch {
        require(!referenceID(text), "SPIFFEID refused \(text.debugDescription), which the reference accepts: \(error)")
        checkMessage(error)
        return
    }
    require(referenceID(text), "SPIFFEID accepted \(text.debugDescription), which the reference refuses")
    require(parsed.description == text, "SPIFFEID \(text.debugDescription) prints as \(parsed.description.debugDescription)")
    require(text.utf8.count <= SPIFFEID.maximumLength, "SPIFFEID accepted \(text.utf8.count) bytes")
    require(parsed.isMember(of: parsed.trustDomain), "\(text.debugDescription) is not a member of its own trust domain")
    require((try? TrustDomain(parsing: parsed.trustDomain.name)) == parsed.trustDomain, "trust domain of \(text.debugDescription) does not parse alone")
    require((try? SPIFFEID(trustDomain: parsed.trustDomain, segments: parsed.segments.map(String.init))) == parsed,
            "\(text.debugDescription) does not rebuild from its segments")
    require(parsed.isTrustDomainID == parsed.segments.isEmpty, "\(text.debugDescription): isTrustDomainID disagrees with its segments")
    if let namespace = parsed.namespace, let serviceAccount = parsed.serviceAccount {
        require((try? SPIFFEID.kubernetes(trustDomain: parsed.trustDomain, namespace: namespace, serviceAccount: serviceAccount)) == parsed,
                "\(text.debugDescription) does not rebuild from namespace \(namespace) and service account \(serviceAccount)")
    } else {
        require(parsed.namespace == nil && parsed.serviceAccount == nil, "\(text.debugDescription) has only one of namespace and service account")
    }
}

private func checkTrustDomain(_ text: String) {
    let reference = referenceTrustDomain(Array(text.utf8)[...])
    do {
        let domain = try TrustDomain(parsing: text)
        require(reference, "TrustDomain accepted \(text.debugDescription), which the reference refuses")
        require(domain.name == text && domain.id.description == "spiffe://" + text, "TrustDomain \(text.debugDescription) changed its text")
        require((try? SPIFFEID(parsing: domain.id.description)) == domain.id, "the id of trust domain \(text.debugDescription) does not parse")
    } catch {
        require(!reference, "TrustDomain refused \(text.debugDescription), which the reference accepts: \(error)")
        checkMessage(error)
    }
}
