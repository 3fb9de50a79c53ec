/// Decodes the chunked transfer coding (RFC 9112 §7.1) up to the last chunk, byte by byte and
/// without buffering: chunk data is reported as ranges of the input for the proxy to forward, and
/// the framing (sizes, extensions, CRLFs) is checked and dropped.
///
/// Strictness, each closing a known disagreement between implementations:
/// - chunk-size is 1*HEXDIG: no sign, no `0x`, no leading whitespace; at most 16 digits and at most
///   2^63-1, so no size wraps around;
/// - chunk extensions follow the grammar exactly (token names, token or quoted-string values, BWS
///   only around `;` and `=`), with no CR, LF or NUL inside a quoted string, and the whole line is
///   bounded; extensions are dropped, as the serializer re-chunks the data;
/// - the data of every chunk must be followed by CRLF.
struct ChunkedDecoder: Sendable {
    /// Where in a chunk the decoder is.
    enum Phase: Sendable, Equatable {
        /// Reading hex digits of the chunk size.
        case size
        /// After the size: BWS, expecting `;` or the end of the line (RFC 9112 §7.1.1: BWS only
        /// precedes a `;`).
        case beforeSemicolon
        /// After `;`: BWS, then a chunk-ext-name.
        case beforeName
        case name
        /// After a name and BWS: `=`, `;` or nothing else.
        case afterName
        /// After `=`: BWS, then a token or a quoted-string.
        case beforeValue
        case tokenValue
        case quotedValue
        /// After a backslash inside a quoted-string.
        case quotedPair
        /// After the closing quote: BWS, `;` or the end of the line.
        case afterQuoted
        /// After the size line's CR.
        case sizeLF
        /// Inside chunk data.
        case data
        /// After chunk data: CR, then LF.
        case dataCR
        case dataLF
    }

    enum Step {
        /// `count` (> 0) data bytes at `offset`; everything before them was framing.
        case data(offset: Int, count: Int)
        /// The whole input was framing (or partial framing); give more.
        case needMore
        /// The last chunk's line ended at `consumed`; the trailer section follows.
        case lastChunk(consumed: Int)
        case failed(HTTPParseError)
    }

    // Widest first, and counters as small as their bounds allow: a parser in a chunked body
    // holds one of these per connection.
    private var size: UInt64 = 0
    private var remaining: UInt64 = 0
    /// Bytes of the current chunk-size line (bounded by `maxLineBytes`, below 4 GiB).
    private var lineLength: UInt32 = 0
    /// Hex digits of the chunk size (at most 16).
    private var digits: UInt8 = 0
    private(set) var phase: Phase = .size

    /// Consumes framing from the start of `input` until data, the end of the last chunk's line, an
    /// error, or the end of the input.
    mutating func decode(_ input: Span<UInt8>, maxLineBytes: Int) -> Step {
        var index = 0
        while index < input.count {
            if phase == .data {
                let count = Int(min(remaining, UInt64(input.count - index)))
                remaining -= UInt64(count)
                if remaining == 0 { phase = .dataCR }
                return .data(offset: index, count: count)
            }
            let byte = input[index]
            index += 1
            switch phase {
            case .dataCR:
                guard byte == ASCII.cr else {
                    return byte == ASCII.lf
                        ? fail(HTTPParseError.Reason.bareLF, "LF without CR after chunk data")
                        : fail(HTTPParseError.Reason.chunkMissingCRLF, "chunk data is longer than its size, or not followed by CRLF")
                }
                phase = .dataLF
            case .dataLF:
                guard byte == ASCII.lf else { return fail(HTTPParseError.Reason.bareCR, "CR not followed by LF after chunk data") }
                phase = .size
                size = 0
                digits = 0
                lineLength = 0
            case .sizeLF:
                guard byte == ASCII.lf else { return fail(HTTPParseError.Reason.bareCR, "CR not followed by LF in a chunk-size line") }
                if size == 0 { return .lastChunk(consumed: index) }
                remaining = size
                phase = .data
            default:
                lineLength += 1
                if Int(lineLength) > maxLineBytes {
                    return fail(HTTPParseError.Reason.chunkLineTooLong, "a chunk-size line longer than \(maxLineBytes) bytes")
                }
                if let failure = line(byte) { return failure }
            }
        }
        return .needMore
    }

    /// One byte of the chunk-size line: `chunk-size [ chunk-ext ] CRLF` with
    /// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`.
    private mutating func line(_ byte: UInt8) -> Step? {
        if byte == ASCII.lf { return fail(HTTPParseError.Reason.bareLF, "LF without CR in a chunk-size line") }
        switch phase {
        case .size:
            if let value = ASCII.hexValue(byte) {
                digits += 1
                // 16 digits fit in 64 bits; the value must also fit in Int64 so that lengths and
                // offsets stay representable everywhere the size travels.
                guard digits <= 16 else { return fail(HTTPParseError.Reason.chunkSizeOverflow, "a chunk size with more than 16 hex digits") }
                size = size << 4 | UInt64(value)
                guard size <= UInt64(Int64.max) else { return fail(HTTPParseError.Reason.chunkSizeOverflow, "a chunk size above 2^63-1") }
                return nil
            }
            guard digits > 0 else { return fail(HTTPParseError.Reason.chunkSizeNotHex, "byte 0x\(HeadParser.hex(byte)) where a chunk size starts") }
            switch byte {
            case ASCII.cr: phase = .sizeLF
            case ASCII.semicolon: phase = .beforeName
            case ASCII.space, ASCII.tab: phase = .beforeSemicolon
            default: return fail(HTTPParseError.Reason.chunkSizeNotHex, "byte 0x\(HeadParser.hex(byte)) in a chunk size")
            }
        case .beforeSemicolon:
            switch byte {
            case ASCII.space, ASCII.tab: break
            case ASCII.semicolon: phase = .beforeName
            default: return extensionError(byte)
            }
        case .beforeName:
            if ASCII.isWhitespace(byte) { break }
            guard ASCII.isTokenChar(byte) else { return extensionError(byte) }
            phase = .name
        case .name:
            switch byte {
            case ASCII.cr: phase = .sizeLF
            case ASCII.semicolon: phase = .beforeName
            case ASCII.equals: phase = .beforeValue
            case ASCII.space, ASCII.tab: phase = .afterName
            default: guard ASCII.isTokenChar(byte) else { return extensionError(byte) }
            }
        case .afterName:
            switch byte {
            case ASCII.space, ASCII.tab: break
            case ASCII.semicolon: phase = .beforeName
            case ASCII.equals: phase = .beforeValue
            default: return extensionError(byte)
            }
        case .beforeValue:
            if ASCII.isWhitespace(byte) { break }
            if byte == ASCII.quote { phase = .quotedValue; break }
            guard ASCII.isTokenChar(byte) else { return extensionError(byte) }
            phase = .tokenValue
        case .tokenValue:
            switch byte {
            case ASCII.cr: phase = .sizeLF
            case ASCII.semicolon: phase = .beforeName
            case ASCII.space, ASCII.tab: phase = .beforeSemicolon
            default: guard ASCII.isTokenChar(byte) else { return extensionError(byte) }
            }
        case .quotedValue:
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4)
            switch byte {
            case ASCII.quote: phase = .afterQuoted
            case ASCII.backslash: phase = .quotedPair
            default: guard ASCII.isFieldValueChar(byte) else { return extensionError(byte) }
            }
        case .afterQuoted:
            switch byte {
            case ASCII.cr: phase = .sizeLF
            case ASCII.semicolon: phase = .beforeName
            case ASCII.space, ASCII.tab: phase = .beforeSemicolon
            default: return extensionError(byte)
            }
        case .quotedPair:
            // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
            guard ASCII.isFieldValueChar(byte) else { return extensionError(byte) }
            phase = .quotedValue
        case .sizeLF, .data, .dataCR, .dataLF:
            preconditionFailure("ChunkedDecoder.line called outside the chunk-size line")
        }
        return nil
    }

    private func extensionError(_ byte: UInt8) -> Step {
        fail(HTTPParseError.Reason.invalidChunkExtension, "byte 0x\(HeadParser.hex(byte)) in a chunk extension (RFC 9112 §7.1.1)")
    }

    private func fail(_ reason: String, _ detail: String) -> Step {
        .failed(HTTPParseError(status: 400, reason: reason, detail: detail))
    }
}
