// libFuzzer entry point for the protocol detectors (Sources/Detect): the ClientHello parser here,
// ProtocolSniffer in SnifferProperties.swift. Scripts/fuzz compiles the files of Fuzz/DetectFuzz
// together with Sources/Detect into one module, so the parsers are called without an import.
//
// Properties checked on every input, besides "never crashes":
// - a request for more bytes asks for more than it was given and never past maximumPrefixLength;
// - a verdict never changes when more bytes arrive: every prefix that is already decided (not TLS,
//   malformed, a ClientHello) is decided the same way as the whole input;
// - a ClientHello's prefixLength lies within the input, and the input cut to it parses the same;
//   its server name is printable ASCII and its ALPN names are non-empty;
// - the same handshake message cut into records of another size parses to the same ClientHello.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkSniffer(bytes)
    let whole = TLSClientHello.parse(bytes)
    checkRequest(whole, given: bytes.count)

    // Some prefixes (cheap ones: a handful of cut points derived from the size).
    for cut in Set([0, 1, 2, 3, 5, 6, 9, size / 2, size / 3, size - 1].filter { $0 >= 0 && $0 < size }) {
        let partial = TLSClientHello.parse(bytes[0..<cut])
        checkRequest(partial, given: cut)
        if case .needMoreBytes = partial { continue }
        require(partial == whole, "prefix of \(cut) bytes decided \(partial), the whole input \(whole)")
    }

    guard case .clientHello(let hello) = whole else { return 0 }
    require(hello.prefixLength >= 5 && hello.prefixLength <= bytes.count, "prefixLength \(hello.prefixLength) of \(bytes.count)")
    require(TLSClientHello.parse(bytes[0..<hello.prefixLength]) == whole, "cutting at prefixLength changed the result")
    if let name = hello.serverName {
        require(!name.isEmpty && name.utf8.allSatisfy { (0x21...0x7E).contains($0) }, "server name \(name.debugDescription)")
    }
    require(hello.alpnProtocols.allSatisfy { !$0.isEmpty }, "empty ALPN name in \(hello.alpnProtocols)")

    // Re-fragment the handshake bytes the records carried.
    var message: [UInt8] = []
    var offset = 0
    while offset < hello.prefixLength {
        let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
        message += bytes[offset + 5..<offset + 5 + length]
        offset += 5 + length
    }
    let fragment = 1 + Int(bytes[size - 1]) % 600
    var records: [UInt8] = []
    var position = 0
    while position < message.count {
        let end = min(position + fragment, message.count)
        records += [22, 3, bytes[2], UInt8((end - position) >> 8), UInt8((end - position) & 0xFF)] + message[position..<end]
        position = end
    }
    switch TLSClientHello.parse(records) {
    case .clientHello(let again):
        require(again.serverName == hello.serverName && again.alpnProtocols == hello.alpnProtocols
                && again.supportedVersions == hello.supportedVersions && again.legacyVersion == hello.legacyVersion
                && again.extensionTypes == hello.extensionTypes,
                "\(fragment)-byte records gave \(again), the input \(hello)")
    case .malformed(.tooFragmented):
        // Small records multiply the header overhead past the bound; that is the bound working.
        require(records.count > TLSClientHello.maximumPrefixLength, "tooFragmented for \(records.count) bytes")
    case let other:
        fatalError("property violated: \(fragment)-byte records gave \(other), the input a ClientHello")
    }
    return 0
}

private func checkRequest(_ outcome: TLSClientHello.Outcome, given count: Int) {
    guard case .needMoreBytes(let atLeast) = outcome else { return }
    require(atLeast > count, "asked for \(atLeast) bytes with \(count) given")
    require(atLeast <= TLSClientHello.maximumPrefixLength, "asked for \(atLeast) bytes, past the bound")
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}
