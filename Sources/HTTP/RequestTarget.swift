// The request-target forms of RFC 9112 §3.2 and the authority grammar of RFC 3986 §3.2, as far as
// the proxy routes on them. Routing and authorization read `path` and `authority`, so the parser
// refuses targets whose meaning another implementation could read differently.

enum RequestTarget {
    /// Where the parts of an absolute-form target are.
    struct Components {
        /// `host[:port]`, without userinfo (which is refused).
        var authority: Range<Int>
        /// Where path-abempty starts; equal to the query's `?` or the end when the path is empty.
        var pathStart: Int
    }

    /// Whether `byte` may appear in a request-target: visible ASCII except `#` and `\`.
    ///
    /// `#` starts a fragment, which a client never sends (RFC 9110 §4.2.5); some servers drop it and
    /// some keep it, so `/admin#/x` would be `/admin` to one and something else to a path policy.
    /// `\` is not a URI character, and some servers treat it as `/`. Controls, space, DEL and
    /// non-ASCII are not URI characters either (RFC 3986 §2). Characters RFC 3986 leaves out but that
    /// no one reads as a delimiter (`"<>^`{|}`) are accepted: clients send them unencoded in the
    /// wild, and refusing them would break applications without closing any ambiguity.
    @inline(__always)
    static func isTargetChar(_ byte: UInt8) -> Bool {
        ASCII.isVisible(byte) && byte != ASCII.hash && byte != ASCII.backslash
    }

    /// Splits absolute-form `scheme "://" authority path-abempty [ "?" query ]` (RFC 9112 §3.2.2).
    /// Only the `http` and `https` schemes are accepted, the authority must be a valid, non-empty
    /// host with an optional port, and userinfo is refused (RFC 9110 §4.2.4: a recipient SHOULD
    /// treat it as an error).
    static func absoluteForm(_ bytes: [UInt8]) -> Components? {
        var index = 0
        while index < bytes.count, ASCII.isAlpha(bytes[index]) { index += 1 }
        let scheme = bytes[0..<index]
        guard ASCII.equalsIgnoringCase(scheme, "http".utf8) || ASCII.equalsIgnoringCase(scheme, "https".utf8) else { return nil }
        guard bytes.count >= index + 3, bytes[index] == ASCII.colon, bytes[index + 1] == ASCII.slash,
              bytes[index + 2] == ASCII.slash else { return nil }
        let authorityStart = index + 3
        var authorityEnd = authorityStart
        while authorityEnd < bytes.count, bytes[authorityEnd] != ASCII.slash, bytes[authorityEnd] != ASCII.question {
            authorityEnd += 1
        }
        guard authorityEnd > authorityStart,
              isValidAuthority(bytes[authorityStart..<authorityEnd], requirePort: false) else { return nil }
        return Components(authority: authorityStart..<authorityEnd, pathStart: authorityEnd)
    }

    /// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2-3): an IP-literal in brackets or a
    /// reg-name / IPv4 address of unreserved, sub-delims and well-formed percent-encodings, then an
    /// optional port of at most 5 digits not above 65535. The host may not be empty; `requirePort`
    /// demands the port (CONNECT's authority-form, RFC 9110 §9.3.6).
    static func isValidAuthority(_ bytes: ArraySlice<UInt8>, requirePort: Bool) -> Bool {
        var index = bytes.startIndex
        let end = bytes.endIndex
        guard index < end else { return false }
        if bytes[index] == ASCII.openBracket {
            index += 1
            let literalStart = index
            while index < end, bytes[index] != ASCII.closeBracket {
                let byte = bytes[index]
                guard isUnreserved(byte) || isSubDelim(byte) || byte == ASCII.colon else { return false }
                index += 1
            }
            guard index < end, index > literalStart else { return false }
            index += 1
        } else {
            let hostStart = index
            while index < end, bytes[index] != ASCII.colon {
                let byte = bytes[index]
                if byte == ASCII.percent {
                    guard index + 2 < end, ASCII.hexValue(bytes[index + 1]) != nil, ASCII.hexValue(bytes[index + 2]) != nil else {
                        return false
                    }
                    index += 3
                    continue
                }
                guard isUnreserved(byte) || isSubDelim(byte) else { return false }
                index += 1
            }
            guard index > hostStart else { return false }
        }
        if index == end { return !requirePort }
        guard bytes[index] == ASCII.colon else { return false }
        let port = bytes[(index + 1)...]
        if port.isEmpty { return !requirePort }
        guard port.count <= 5, let value = ASCII.parseDecimal(port), value <= 65535 else { return false }
        return true
    }

    /// unreserved (RFC 3986 §2.3): ALPHA / DIGIT / "-" / "." / "_" / "~".
    static func isUnreserved(_ byte: UInt8) -> Bool {
        ASCII.isAlpha(byte) || ASCII.isDigit(byte) || byte == 0x2D || byte == ASCII.period || byte == 0x5F || byte == 0x7E
    }

    /// sub-delims (RFC 3986 §2.2): "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "=".
    static func isSubDelim(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x3B, 0x3D: return true
        default: return false
        }
    }
}
