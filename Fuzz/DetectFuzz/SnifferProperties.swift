// ProtocolSniffer's properties, checked on every DetectFuzz input besides "never crashes":
// - a request for more bytes asks for more than it was given and never past maximumPrefixLength;
// - a verdict never changes when more bytes arrive (every decided prefix is decided the same way);
// - `.http1(method)` means the input starts with a token of at most maximumMethodLength bytes and a
//   space, and holds "HTTP/1." within maximumRequestLineLength bytes; `.http2` means it starts with
//   the preface;
// - TLS verdicts agree with TLSClientHello.parse, and only inputs starting with 0x16 get them;
// - the same input behind a request-line start ("GET /") is HTTP/1, opaque or undecided, never
//   anything else, which steers the fuzzer into the target and version states.
func checkSniffer(_ bytes: [UInt8]) {
    let whole = ProtocolSniffer.classify(bytes)
    checkVerdict(whole, for: bytes[...])
    let size = bytes.count
    for cut in Set([0, 1, 2, 3, 4, 5, 8, 16, 23, 24, 25, size / 2, size / 3, size - 1].filter { $0 >= 0 && $0 < size }) {
        let partial = ProtocolSniffer.classify(bytes[0..<cut])
        checkVerdict(partial, for: bytes[0..<cut])
        if case .needMoreBytes = partial { continue }
        require(partial == whole, "prefix of \(cut) bytes was \(partial), the whole input \(whole)")
    }

    let request = Array("GET /".utf8) + bytes
    let asRequest = ProtocolSniffer.classify(request)
    checkVerdict(asRequest, for: request[...])
    switch asRequest {
    case .http1(let method): require(method == "GET", "method \(method) for a GET request line")
    case .opaque, .needMoreBytes: break
    default: fatalError("property violated: a request line classified as \(asRequest)")
    }
}

private func checkVerdict(_ verdict: Sniffed, for bytes: ArraySlice<UInt8>) {
    switch verdict {
    case .needMoreBytes(let atLeast):
        require(atLeast > bytes.count, "asked for \(atLeast) bytes with \(bytes.count) given")
        require(atLeast <= ProtocolSniffer.maximumPrefixLength, "asked for \(atLeast) bytes, past the bound")
    case .http1(let method):
        let methodBytes = Array(method.utf8)
        require(!methodBytes.isEmpty && methodBytes.count <= ProtocolSniffer.maximumMethodLength, "method \(method.debugDescription)")
        require(bytes.starts(with: methodBytes + [UInt8(ascii: " ")]), "http1 \(method.debugDescription) for input not starting with it")
        let line = Array(bytes.prefix(ProtocolSniffer.maximumRequestLineLength))
        let version = Array("HTTP/1.".utf8)
        require(line.indices.contains { line[$0...].starts(with: version) }, "http1 without HTTP/1. in the request line")
    case .http2:
        require(bytes.starts(with: ProtocolSniffer.http2Preface), "http2 without the preface")
    case .tls(let hello):
        require(TLSClientHello.parse(bytes) == .clientHello(hello), "tls verdict differs from the ClientHello parser")
    case .malformedTLS(let reason):
        require(TLSClientHello.parse(bytes) == .malformed(reason), "malformed-tls verdict differs from the ClientHello parser")
    case .opaque:
        if bytes.first == 0x16 { require(TLSClientHello.parse(bytes) == .notTLS, "opaque for a TLS-looking input") }
    }
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}
