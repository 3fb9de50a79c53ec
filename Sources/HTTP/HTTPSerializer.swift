/// Writes what the proxy forwards, in one normalized form: CRLF line endings, single spaces,
/// `Name: value` fields, and exactly one framing field chosen by the proxy (RFC 9112 §6).
///
/// The head's own Transfer-Encoding and Content-Length fields are never copied: whatever the peer
/// sent, the next hop sees only the framing passed here, so it cannot frame the message
/// differently than the proxy does. The one exception is a response that has no body by
/// definition (to HEAD, or 304) with `.none`: its Content-Length describes the representation, not
/// this message (RFC 9110 §8.6), and is kept, normalized to one value. A 1xx or 204 never carries
/// Content-Length (RFC 9110 §8.6: a server MUST NOT send it).
///
/// Appends to the caller's buffer, so a head and the first body bytes can go out in one write.
/// The serializer does not remove hop-by-hop fields by itself; see
/// `HTTPSemantics.removeHopByHop(from:upgrading:)`, or pass `HTTPSemantics.hopByHopMask(in:)` as
/// `omitting:` (bit i set: field i is not written) to forward a parsed head without copying it.
public enum HTTPSerializer {
    /// Appends `method SP target SP version CRLF`, the fields, the framing field and the empty line.
    ///
    /// Preconditions (programmer errors, not peer input): `framing` is `.none`, `.contentLength` or
    /// `.chunked` (a request is never delimited by closing, RFC 9112 §6.3); chunked only for
    /// HTTP/1.1 (RFC 9112 §6.1: not to an HTTP/1.0 recipient); the target is non-empty visible ASCII
    /// without `#` or `\`, so a rewritten target cannot inject a line.
    ///
    /// `reservingExtra` bytes more are reserved with the head, for fields the caller appends
    /// before the empty line (`RequestCorrelation.appendAddedFields(to:)`), so they cost no second
    /// allocation.
    public static func requestHead(
        _ head: HTTPRequestHead, framing: HTTPBodyFraming, omitting: UInt64 = 0, reservingExtra extra: Int = 0, into output: inout [UInt8]
    ) {
        precondition(framing != .untilClose && framing != .tunnel, "HTTPSerializer: a request is framed by none, contentLength or chunked")
        precondition(framing != .chunked || head.version == .http1_1, "HTTPSerializer: chunked needs HTTP/1.1")
        precondition(!head.target.utf8.isEmpty && head.target.utf8.allSatisfy(RequestTarget.isTargetChar),
                     "HTTPSerializer: request-target \(head.target.debugDescription) has characters a target may not have")
        // One allocation for the whole head: fields plus ": " and CRLF each, the request line
        // and the framing field.
        output.reserveCapacity(output.count + head.headers.bytes.count + 4 * head.headers.count + head.target.utf8.count + 64 + extra)
        ASCII.append(head.method.rawValue, to: &output)
        output.append(ASCII.space)
        ASCII.append(head.target, to: &output)
        output.append(ASCII.space)
        appendVersion(head.version, to: &output)
        appendCRLF(to: &output)
        appendFields(of: head.headers, omitting: omitting, to: &output)
        appendFraming(framing, to: &output)
        appendCRLF(to: &output)
    }

    /// Appends `version SP status SP reason CRLF`, the fields, the framing field and the empty line.
    ///
    /// `framing` is the forwarded message's: `.contentLength` or `.chunked` write that field (chunked
    /// only for HTTP/1.1); `.none`, `.untilClose` and `.tunnel` write none (the proxy closes the
    /// connection after an `.untilClose` body, and should say so with `Connection: close`).
    /// Preconditions: a status of 100...999; a reason without CR, LF or other controls.
    public static func responseHead(_ head: HTTPResponseHead, framing: HTTPBodyFraming, omitting: UInt64 = 0, into output: inout [UInt8]) {
        precondition((100...999).contains(head.status), "HTTPSerializer: status \(head.status) is not three digits")
        precondition(head.reason.utf8.allSatisfy(ASCII.isFieldValueChar), "HTTPSerializer: the reason phrase has control characters")
        precondition(framing != .chunked || head.version == .http1_1, "HTTPSerializer: chunked needs HTTP/1.1")
        output.reserveCapacity(output.count + head.headers.bytes.count + 4 * head.headers.count + head.reason.utf8.count + 64)
        appendVersion(head.version, to: &output)
        output.append(ASCII.space)
        ASCII.appendDecimal(UInt64(head.status), to: &output)
        output.append(ASCII.space)
        ASCII.append(head.reason, to: &output)
        appendCRLF(to: &output)
        appendFields(of: head.headers, omitting: omitting, to: &output)
        if framing == .none && head.status >= 200 && head.status != 204,
           case .contentLength(let length)? = try? HeadParser.framing(head.headers, version: .http1_1, status: 502) {
            appendFraming(.contentLength(length), to: &output)
        } else {
            appendFraming(framing, to: &output)
        }
        appendCRLF(to: &output)
    }

    /// Bit `position` of `mask` is set (fields past the 64th are never omitted by a mask).
    @inline(__always)
    private static func isOmitted(_ position: Int, _ mask: UInt64) -> Bool {
        position < 64 && mask & (1 << UInt64(position)) != 0
    }

    /// Appends a chunk-size line, `hex CRLF` (RFC 9112 §7.1), for `size` (> 0) bytes of data that
    /// the caller appends next, followed by `chunkEnd(into:)`.
    public static func chunkHeader(size: Int, into output: inout [UInt8]) {
        precondition(size > 0, "HTTPSerializer: a chunk of 0 bytes is the last chunk; use lastChunk(trailers:into:)")
        ASCII.appendHex(UInt64(size), to: &output)
        appendCRLF(to: &output)
    }

    /// Appends the CRLF that ends a chunk's data.
    public static func chunkEnd(into output: inout [UInt8]) {
        appendCRLF(to: &output)
    }

    /// Appends the last chunk, the trailer fields and the empty line that end a chunked body
    /// (RFC 9112 §7.1.2). Fields that frame or route a message (Transfer-Encoding, Content-Length,
    /// Host, Trailer, Connection) are left out: RFC 9110 §6.5.1 forbids them as trailers, and a
    /// recipient that merged them into the head would act on them.
    public static func lastChunk(trailers: HTTPHeaders?, into output: inout [UInt8]) {
        output.append(ASCII.zero)
        appendCRLF(to: &output)
        if let trailers {
            for field in trailers.fields where !isForbiddenTrailer(field, in: trailers) {
                appendField(field, of: trailers, to: &output)
            }
        }
        appendCRLF(to: &output)
    }

    // MARK: Pieces

    static func appendVersion(_ version: HTTPVersion, to output: inout [UInt8]) {
        ASCII.append("HTTP/", to: &output)
        ASCII.appendDecimal(UInt64(version.major), to: &output)
        output.append(ASCII.period)
        ASCII.appendDecimal(UInt64(version.minor), to: &output)
    }

    /// Appends `name: value` CRLF for each field of `headers` that is neither in `omitting` nor a
    /// framing field, in one step into capacity made for all of them: appending each name and
    /// value as a slice retained the fields' storage and checked the output's uniqueness and
    /// capacity several times per field.
    static func appendFields(of headers: HTTPHeaders, omitting: UInt64, to output: inout [UInt8]) {
        var length = 0
        for (position, field) in headers.fields.enumerated() where !isOmitted(position, omitting) && !isFraming(field, in: headers) {
            length += Int(field.end - field.start) + 4
        }
        guard length > 0 else { return }
        output.append(addingCapacity: length) { out in
            for (position, field) in headers.fields.enumerated() where !isOmitted(position, omitting) && !isFraming(field, in: headers) {
                for index in field.name { out.append(headers.bytes[index]) }
                out.append(ASCII.colon)
                out.append(ASCII.space)
                for index in field.value { out.append(headers.bytes[index]) }
                out.append(ASCII.cr)
                out.append(ASCII.lf)
            }
        }
    }

    static func appendField(_ field: HTTPHeaders.Field, of headers: HTTPHeaders, to output: inout [UInt8]) {
        output.append(contentsOf: headers.bytes[field.name])
        output.append(ASCII.colon)
        output.append(ASCII.space)
        output.append(contentsOf: headers.bytes[field.value])
        appendCRLF(to: &output)
    }

    static func appendFraming(_ framing: HTTPBodyFraming, to output: inout [UInt8]) {
        switch framing {
        case .contentLength(let length):
            ASCII.append("Content-Length: ", to: &output)
            ASCII.appendDecimal(length, to: &output)
            appendCRLF(to: &output)
        case .chunked:
            ASCII.append("Transfer-Encoding: chunked", to: &output)
            appendCRLF(to: &output)
        case .none, .untilClose, .tunnel:
            break
        }
    }

    @inline(__always)
    static func appendCRLF(to output: inout [UInt8]) {
        output.append(ASCII.cr)
        output.append(ASCII.lf)
    }

    static func isFraming(_ field: HTTPHeaders.Field, in headers: HTTPHeaders) -> Bool {
        headers.matches(field, "Content-Length".utf8) || headers.matches(field, "Transfer-Encoding".utf8)
    }

    static func isForbiddenTrailer(_ field: HTTPHeaders.Field, in headers: HTTPHeaders) -> Bool {
        isFraming(field, in: headers) || headers.matches(field, "Host".utf8) || headers.matches(field, "Trailer".utf8)
            || headers.matches(field, "Connection".utf8)
    }
}
