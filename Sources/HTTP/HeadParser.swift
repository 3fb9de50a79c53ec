// Parsing of a complete head or trailer section that SectionScanner has delimited: every line ends
// in CRLF, there is no NUL, bare CR or bare LF, and the last line is empty. What is left to check
// here is the grammar of each line (RFC 9112 §3, §4, §5) and the framing rules (§6).

enum HeadParser {
    /// Parses `head` (start line through the empty line) as a request and decides its framing.
    static func parseRequest(_ head: Span<UInt8>, lines: Int, storage: HTTPHeaderStorage? = nil) throws(HTTPParseError) -> (HTTPRequestHead, HTTPBodyFraming) {
        // request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
        var index = 0
        while ASCII.isTokenChar(head[index]) { index += 1 }
        let methodEnd = index
        guard methodEnd > 0 else {
            throw error(400, HTTPParseError.Reason.invalidMethod, "the request line does not start with a method token")
        }
        guard head[index] == ASCII.space else {
            throw error(400, HTTPParseError.Reason.invalidMethod, "byte 0x\(hex(head[index])) in the method")
        }
        let method = try method(head, 0..<methodEnd)

        index += 1
        let targetStart = index
        while head[index] != ASCII.space && head[index] != ASCII.cr {
            guard RequestTarget.isTargetChar(head[index]) else {
                throw error(400, HTTPParseError.Reason.invalidTarget, "byte 0x\(hex(head[index])) in the request-target")
            }
            index += 1
        }
        guard index > targetStart, head[index] == ASCII.space else {
            throw error(400, HTTPParseError.Reason.invalidStartLine, "the request line is not method SP target SP version")
        }
        let target = string(head, targetStart..<index)
        index += 1
        let version = try version(head, at: &index, status: 505)
        guard head[index] == ASCII.cr else {
            throw error(400, HTTPParseError.Reason.invalidStartLine, "bytes after the HTTP version in the request line")
        }
        index += 2

        let headers = try fields(head, from: index, lines: lines - 1, afterStartLine: true, storage: storage)
        let request = HTTPRequestHead(method: method, target: target, version: version, headers: headers)
        try checkTarget(request)
        try checkHost(request)
        let framing = try framing(headers, version: version, status: 400) ?? .none
        if method == .CONNECT && framing != .none && framing != .contentLength(0) {
            throw error(400, HTTPParseError.Reason.connectWithBody, "a CONNECT request has no content (RFC 9110 §9.3.6)")
        }
        return (request, framing)
    }

    /// Parses `head` as a response's status line and header section. Framing is decided by the
    /// caller, which knows the request method.
    static func parseResponse(_ head: Span<UInt8>, lines: Int, storage: HTTPHeaderStorage? = nil) throws(HTTPParseError) -> HTTPResponseHead {
        // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4)
        var index = 0
        let version = try version(head, at: &index, status: 502)
        guard head[index] == ASCII.space, ASCII.isDigit(head[index + 1]), ASCII.isDigit(head[index + 2]),
              ASCII.isDigit(head[index + 3]) else {
            throw error(502, HTTPParseError.Reason.invalidStartLine, "the status line is not version SP 3DIGIT")
        }
        let status = Int(head[index + 1] &- ASCII.zero) * 100 + Int(head[index + 2] &- ASCII.zero) * 10 + Int(head[index + 3] &- ASCII.zero)
        guard (100...599).contains(status) else {
            throw error(502, HTTPParseError.Reason.invalidStatus, "status code \(status)")
        }
        index += 4
        var reason = ""
        // The SP before an empty reason is required by the grammar but left out by enough servers
        // that refusing it would break them; a missing reason is not ambiguous.
        if head[index] == ASCII.space {
            index += 1
            let reasonStart = index
            while head[index] != ASCII.cr {
                guard ASCII.isFieldValueChar(head[index]) else {
                    throw error(502, HTTPParseError.Reason.invalidStartLine, "byte 0x\(hex(head[index])) in the reason phrase")
                }
                index += 1
            }
            reason = string(head, reasonStart..<index)
        } else if head[index] != ASCII.cr {
            throw error(502, HTTPParseError.Reason.invalidStatus, "the status code is not three digits")
        }
        index += 2
        // Field errors carry 400 here; the parser answers every response error with 502.
        let headers = try fields(head, from: index, lines: lines - 1, afterStartLine: true, storage: storage)
        return HTTPResponseHead(version: version, status: status, reason: reason, headers: headers)
    }

    /// Parses the field lines of `section` from `start` up to its empty line (RFC 9112 §5):
    /// `field-name ":" OWS field-value OWS`. A line starting with whitespace is obs-fold (§5.2) and
    /// refused; whitespace between name and colon is refused (§5.1: MUST); values may hold VCHAR,
    /// obs-text, SP and HTAB, and lose their surrounding whitespace.
    static func fields(
        _ section: Span<UInt8>, from start: Int, lines: Int, afterStartLine: Bool, storage: HTTPHeaderStorage? = nil
    ) throws(HTTPParseError) -> HTTPHeaders {
        guard section[start] != ASCII.cr else { return HTTPHeaders() }
        // The arrays of a section whose message is done, when there is one: emptied in place, they
        // need no allocation unless something still holds them (copy-on-write then makes new ones).
        var fields: [HTTPHeaders.Field] = []
        var bytes: [UInt8] = []
        if var reused = storage?.take() {
            swap(&fields, &reused.fields)
            swap(&bytes, &reused.bytes)
            fields.removeAll(keepingCapacity: true)
            bytes.removeAll(keepingCapacity: true)
        }
        fields.reserveCapacity(lines)
        var index = start
        // Names and values are written through an OutputSpan into storage sized for the whole
        // section: one allocation at most, and no per-byte capacity or uniqueness checks.
        try bytes.append(addingCapacity: section.count - start) { (out: inout OutputSpan<UInt8>) throws(HTTPParseError) in
            while section[index] != ASCII.cr {
                if ASCII.isWhitespace(section[index]) {
                    if afterStartLine && fields.isEmpty {
                        throw error(400, HTTPParseError.Reason.whitespaceAfterStartLine,
                                    "whitespace between the start line and the first field (RFC 9112 §2.2)")
                    }
                    throw error(400, HTTPParseError.Reason.obsFold, "a field line starts with whitespace (obs-fold, RFC 9112 §5.2)")
                }
                let fieldStart = out.count
                let nameStart = index
                while section[index] != ASCII.colon {
                    let byte = section[index]
                    if ASCII.isTokenChar(byte) {
                        out.append(byte)
                        index += 1
                        continue
                    }
                    let name = string(section, nameStart..<index)
                    if ASCII.isWhitespace(byte) {
                        var next = index
                        while ASCII.isWhitespace(section[next]) { next += 1 }
                        if section[next] == ASCII.colon {
                            throw error(400, HTTPParseError.Reason.spaceBeforeColon, "whitespace between \(name.debugDescription) and its colon")
                        }
                    }
                    if byte == ASCII.cr {
                        throw error(400, HTTPParseError.Reason.invalidFieldName, "a field line without a colon: \(name.debugDescription)")
                    }
                    throw error(400, HTTPParseError.Reason.invalidFieldName, "byte 0x\(hex(byte)) in field name \(name.debugDescription)")
                }
                guard index > nameStart else {
                    throw error(400, HTTPParseError.Reason.invalidFieldName, "a field line with an empty name")
                }
                let nameEnd = out.count
                let nameRange = nameStart..<index
                index += 1
                while ASCII.isWhitespace(section[index]) { index += 1 }
                var valueEnd = nameEnd
                while section[index] != ASCII.cr {
                    let byte = section[index]
                    guard ASCII.isFieldValueChar(byte) else {
                        throw error(400, HTTPParseError.Reason.invalidFieldValue,
                                    "byte 0x\(hex(byte)) in the value of \(string(section, nameRange))")
                    }
                    out.append(byte)
                    if !ASCII.isWhitespace(byte) { valueEnd = out.count }
                    index += 1
                }
                out.removeLast(out.count - valueEnd)
                fields.append(HTTPHeaders.Field(start: UInt32(fieldStart), nameEnd: UInt32(nameEnd), end: UInt32(valueEnd)))
                index += 2
            }
        }
        return HTTPHeaders(bytes: bytes, fields: fields)
    }

    // MARK: Framing (RFC 9112 §6)

    /// The framing the fields declare: chunked, a length, or nil when neither field is present.
    /// `status` is what errors carry (400 for requests, 502 for responses; 501 for an unsupported
    /// coding in a request).
    ///
    /// - Transfer-Encoding with Content-Length is refused (RFC 9112 §6.1 lets a server reject it;
    ///   a proxy that picked one would forward a message the next hop may frame by the other).
    /// - Transfer-Encoding must be exactly `chunked`, once, in any case and across any number of
    ///   lines: a final coding other than chunked is refused (§6.3 item 4 requires 400 for requests;
    ///   for responses reading until close would hand the client a coding it was not told about),
    ///   chunked twice is refused (§7: MUST NOT), and codings before chunked get 501 (§6.1: a coding
    ///   the proxy does not apply or remove itself).
    /// - Transfer-Encoding in HTTP/1.0 is faulty framing (§6.1).
    /// - `Transfer_Encoding` and `Content_Length` are refused (see `isFramingLookalike`).
    /// - Content-Length is 1*DIGIT; several values (lines or list elements) must all be equal and are
    ///   collapsed (RFC 9110 §8.6 allows either rejecting or collapsing identical values; the
    ///   serializer writes one Content-Length of its own, so the next hop never sees the duplicates).
    static func framing(_ headers: HTTPHeaders, version: HTTPVersion, status: Int) throws(HTTPParseError) -> HTTPBodyFraming? {
        // Which fields frame the message, by position: a head has at most a few, and usually one
        // Content-Length, so they are found without collecting positions in an array.
        var hasTransferEncoding = false
        var hasContentLength = false
        for field in headers.fields {
            let length = Int(field.nameEnd - field.start)
            guard length == 17 || length == 14 else { continue }
            if headers.matches(field, "Transfer-Encoding".utf8) { hasTransferEncoding = true }
            else if headers.matches(field, "Content-Length".utf8) { hasContentLength = true }
            else if isFramingLookalike(headers.bytes[field.name]) {
                throw error(status, HTTPParseError.Reason.invalidFieldName,
                            "\(headers.string(field.name).debugDescription) would be a framing field to a server that reads _ as -")
            }
        }
        if hasTransferEncoding {
            if hasContentLength {
                throw error(status, HTTPParseError.Reason.clAndTE, "both Content-Length and Transfer-Encoding (RFC 9112 §6.1)")
            }
            if version == .http1_0 {
                throw error(status, HTTPParseError.Reason.teInHTTP10, "Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1)")
            }
            var codings = 0
            var chunked = 0
            var last: Range<Int> = 0..<0
            var malformed = false
            for field in headers.fields where Int(field.nameEnd - field.start) == 17 && headers.matches(field, "Transfer-Encoding".utf8) {
                headers.forEachListElement(field.value) { element in
                    // transfer-coding = token *( OWS ";" OWS transfer-parameter ): parameters on
                    // chunked are not defined, and a coding name must be a token.
                    if element.isEmpty || !headers.bytes[element].allSatisfy(ASCII.isTokenChar) { malformed = true }
                    codings += 1
                    if ASCII.equalsIgnoringCase(headers.bytes[element], "chunked".utf8) { chunked += 1 }
                    last = element
                }
            }
            var value: String { headers.values(for: "Transfer-Encoding").joined(separator: ", ") }
            if malformed || !ASCII.equalsIgnoringCase(headers.bytes[last], "chunked".utf8) {
                throw error(status, HTTPParseError.Reason.teNotChunked, "Transfer-Encoding \(value.debugDescription) does not end in chunked")
            }
            if chunked > 1 {
                throw error(status, HTTPParseError.Reason.teChunkedTwice, "Transfer-Encoding \(value.debugDescription) applies chunked twice")
            }
            if codings > 1 {
                throw error(status == 400 ? 501 : status, HTTPParseError.Reason.teUnsupported,
                            "Transfer-Encoding \(value.debugDescription): only chunked alone is supported")
            }
            return .chunked
        }
        if hasContentLength {
            var length: UInt64?
            var invalid = false
            var differing = false
            for field in headers.fields where Int(field.nameEnd - field.start) == 14 && headers.matches(field, "Content-Length".utf8) {
                headers.forEachListElement(field.value) { element in
                    guard let value = ASCII.parseDecimal(headers.bytes[element]) else {
                        invalid = true
                        return
                    }
                    if let length, length != value { differing = true }
                    length = value
                }
            }
            var value: String { headers.values(for: "Content-Length").joined(separator: ", ") }
            if invalid {
                throw error(status, HTTPParseError.Reason.invalidContentLength, "Content-Length \(value.debugDescription) is not a decimal length")
            }
            if differing {
                throw error(status, HTTPParseError.Reason.duplicateContentLength, "Content-Length values differ: \(value.debugDescription)")
            }
            if let length { return .contentLength(length) }
        }
        return nil
    }

    /// `Transfer_Encoding` or `Content_Length` in any case: a valid token, so not framing to the
    /// proxy, but servers that map `_` to `-` (CGI-style environments, some frameworks) would frame
    /// the forwarded request by it. Refused rather than forwarded.
    static func isFramingLookalike(_ name: ArraySlice<UInt8>) -> Bool {
        guard name.contains(0x5F) else { return false }
        let dashed = name.map { $0 == 0x5F ? 0x2D : $0 }
        return ASCII.equalsIgnoringCase(dashed, "Transfer-Encoding".utf8) || ASCII.equalsIgnoringCase(dashed, "Content-Length".utf8)
    }

    // MARK: Request rules

    /// The target form must suit the method (RFC 9112 §3.2): authority-form for CONNECT and only
    /// there, asterisk-form only for OPTIONS, otherwise origin-form or absolute-form.
    static func checkTarget(_ request: HTTPRequestHead) throws(HTTPParseError) {
        let bytes = request.target.utf8
        if request.method == .CONNECT {
            guard RequestTarget.isValidAuthority(Array(bytes)[...], requirePort: true) else {
                throw error(400, HTTPParseError.Reason.invalidTarget, "CONNECT needs host:port (RFC 9110 §9.3.6), not \(request.target.debugDescription)")
            }
            return
        }
        if bytes.first == ASCII.slash { return }
        if request.target == "*" {
            guard request.method == .OPTIONS else {
                throw error(400, HTTPParseError.Reason.invalidTarget, "asterisk-form is for OPTIONS only (RFC 9112 §3.2.4)")
            }
            return
        }
        guard RequestTarget.absoluteForm(Array(bytes)) != nil else {
            throw error(400, HTTPParseError.Reason.invalidTarget, "\(request.target.debugDescription) is neither origin-form nor an http(s) absolute-form")
        }
    }

    /// Host (RFC 9112 §3.2): required in HTTP/1.1, at most once, a valid authority or empty, and
    /// equal to the authority of an absolute-form target. RFC 9112 §3.2.2 has a server ignore Host
    /// in favour of the target; refusing a mismatch instead means the upstream, whichever it
    /// reads, sees the authority the proxy routed on.
    static func checkHost(_ request: HTTPRequestHead) throws(HTTPParseError) {
        let headers = request.headers
        var position: Int?
        for (index, field) in headers.fields.enumerated() where headers.matches(field, "Host".utf8) {
            if position != nil {
                throw error(400, HTTPParseError.Reason.duplicateHost, "more than one Host field")
            }
            position = index
        }
        guard let position else {
            if request.version == .http1_1 {
                throw error(400, HTTPParseError.Reason.missingHost, "an HTTP/1.1 request without Host")
            }
            return
        }
        let value = headers.bytes[headers.fields[position].value]
        if !value.isEmpty && !RequestTarget.isValidAuthority(value, requirePort: false) {
            throw error(400, HTTPParseError.Reason.invalidHost, "Host \(String(decoding: value, as: UTF8.self).debugDescription)")
        }
        // Only absolute-form carries an authority of its own; origin-form (the common case) needs no
        // copy of the target.
        guard request.method != .CONNECT, let first = request.target.utf8.first, first != ASCII.slash, request.target != "*" else { return }
        let target = Array(request.target.utf8)
        if let components = RequestTarget.absoluteForm(target), !ASCII.equalsIgnoringCase(target[components.authority], value) {
            throw error(400, HTTPParseError.Reason.hostMismatch,
                        "Host \(String(decoding: value, as: UTF8.self).debugDescription) differs from the target's authority")
        }
    }

    // MARK: Pieces

    /// The method in `range`: a known method without allocating, or an extension token. A standard
    /// method in another case (`get`, `Post`) is refused: methods are case-sensitive (RFC 9110
    /// §9.1), so `get` is an unknown method to the proxy's policy while some servers treat it as
    /// GET — a request the policy and the upstream would read differently.
    static func method(_ head: Span<UInt8>, _ range: Range<Int>) throws(HTTPParseError) -> HTTPMethod {
        for known in HTTPMethod.standard where known.rawValue.utf8.count == range.count {
            var exact = true
            var caseless = true
            for (offset, byte) in known.rawValue.utf8.enumerated() {
                let sent = head[range.lowerBound + offset]
                if sent != byte { exact = false }
                if ASCII.lowercased(sent) != ASCII.lowercased(byte) { caseless = false }
            }
            if exact { return known }
            if caseless {
                throw error(400, HTTPParseError.Reason.invalidMethod,
                            "method \(string(head, range).debugDescription) is \(known.rawValue) in the wrong case (methods are case-sensitive)")
            }
        }
        guard let method = HTTPMethod(rawValue: string(head, range)) else {
            throw error(400, HTTPParseError.Reason.invalidMethod, "the method is not a token")
        }
        return method
    }

    /// HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3). Anything else is a
    /// malformed start line; a well-formed version other than 1.0 or 1.1 is refused with `status`
    /// (505 for requests, RFC 9110 §15.6.6).
    static func version(_ head: Span<UInt8>, at index: inout Int, status: Int) throws(HTTPParseError) -> HTTPVersion {
        let prefix: [UInt8] = [0x48, 0x54, 0x54, 0x50, ASCII.slash]
        let malformedStatus = status == 505 ? 400 : status
        guard index + 8 <= head.count else {
            throw error(malformedStatus, HTTPParseError.Reason.invalidStartLine, "no HTTP version")
        }
        for (offset, byte) in prefix.enumerated() where head[index + offset] != byte {
            throw error(malformedStatus, HTTPParseError.Reason.invalidStartLine, "no HTTP/ version")
        }
        let major = head[index + 5]
        let minor = head[index + 7]
        guard ASCII.isDigit(major), head[index + 6] == ASCII.period, ASCII.isDigit(minor) else {
            throw error(malformedStatus, HTTPParseError.Reason.invalidStartLine, "the HTTP version is not DIGIT.DIGIT")
        }
        let version = HTTPVersion(major: major &- ASCII.zero, minor: minor &- ASCII.zero)
        guard version == .http1_1 || version == .http1_0 else {
            throw error(status, HTTPParseError.Reason.unsupportedVersion, "\(version) is not HTTP/1.0 or HTTP/1.1")
        }
        index += 8
        return version
    }

    /// `head[range]` as a String: bulk-copied when it is UTF-8 (always, for the ASCII-validated
    /// method and target), decoded with replacement characters otherwise (a reason phrase with
    /// obs-text).
    static func string(_ head: Span<UInt8>, _ range: Range<Int>) -> String {
        if let text = try? UTF8Span(validating: head.extracting(range)) { return String(copying: text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(range.count)
        for index in range { bytes.append(head[index]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return byte < 16 ? "0" + digits : digits
    }

    static func error(_ status: Int, _ reason: String, _ detail: String) -> HTTPParseError {
        HTTPParseError(status: status, reason: reason, detail: detail)
    }
}
