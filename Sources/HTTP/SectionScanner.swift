/// Finds the end of a head (start line and header section) or of a trailer section, one byte at a
/// time and across any number of reads, while enforcing what must hold before anything is parsed:
/// every line ends in CRLF (RFC 9112 §2.2: a bare CR or LF is refused, not guessed at), no NUL,
/// and the size limits. Because it keeps its state between calls, feeding a head one byte at a
/// time reaches the same decision at the same byte as feeding it whole.
struct SectionScanner: Sendable {
    enum Mode: Sendable {
        /// A start line, field lines, an empty line. Empty lines before the start line are skipped
        /// (RFC 9112 §2.2: a server SHOULD ignore at least one) but count toward `maxHeadBytes`.
        case head
        /// Field lines and an empty line, after the last chunk (RFC 9112 §7.1.2).
        case trailers
    }

    enum Step {
        /// The section is not complete; its bytes in this input start at `contentStart` (after any
        /// skipped empty lines) and all of the input was looked at.
        case needMore(contentStart: Int)
        /// The section is `input[contentStart..<end]`, preceded by what earlier calls buffered.
        case complete(contentStart: Int, end: Int)
        case failed(HTTPParseError)
    }

    // Counters stored in 32 bits (each is bounded by a limit below 4 GiB): every parser keeps a
    // scanner, two per proxied connection. `scan` works on Int copies.
    private var storedTotal: UInt32 = 0
    private var storedLineLength: UInt32 = 0
    private var storedLines: UInt32 = 0
    private var pendingCR = false
    let mode: Mode

    /// Bytes looked at so far, skipped empty lines included.
    var total: Int { Int(storedTotal) }
    /// Non-empty lines completed so far (the start line counts as one).
    var lines: Int { Int(storedLines) }

    init(mode: Mode) { self.mode = mode }

    /// Whether a byte of the section itself (not a skipped empty line) has been seen.
    var started: Bool { storedLines > 0 || storedLineLength > 0 }

    mutating func scan(_ input: Span<UInt8>, limits: HTTPLimits) -> Step {
        // Bytes looked at so far, bytes of the current line (CR excluded), lines completed.
        var total = Int(storedTotal)
        var lineLength = Int(storedLineLength)
        var lines = Int(storedLines)
        defer {
            storedTotal = UInt32(total)
            storedLineLength = UInt32(lineLength)
            storedLines = UInt32(lines)
        }
        let maxTotal = mode == .head ? limits.maxHeadBytes : limits.maxTrailerBytes
        let maxLines = mode == .head ? limits.maxHeaderCount + 1 : limits.maxHeaderCount
        var contentStart = started || mode == .trailers ? 0 : -1
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte > ASCII.cr && !pendingCR {
                // A run of bytes that are neither CR, LF nor NUL (all three are at most 0x0D): nothing
                // to decide in it but the limits, so it is measured in one step. The limit that a
                // byte-by-byte walk would hit first is reported; at the same byte, size comes first.
                var end = index + 1
                while end < input.count && input[end] > ASCII.cr { end += 1 }
                let run = end - index
                if contentStart < 0 { contentStart = index }
                let untilTooLarge = maxTotal - total
                let untilLineTooLong = mode == .head && lines == 0 ? limits.maxStartLineBytes - lineLength : Int.max
                if run > untilTooLarge || run > untilLineTooLong {
                    return untilTooLarge <= untilLineTooLong ? tooLarge(limits) : startLineTooLong(limits)
                }
                total += run
                lineLength += run
                index = end
                continue
            }
            total += 1
            if total > maxTotal { return tooLarge(limits) }
            if pendingCR {
                guard byte == ASCII.lf else {
                    return .failed(HTTPParseError(status: 400, reason: HTTPParseError.Reason.bareCR,
                                                  detail: "CR not followed by LF at byte \(total - 1) of the \(sectionName)"))
                }
                pendingCR = false
                if lineLength == 0 {
                    if mode == .head && lines == 0 {
                        index += 1
                        continue
                    }
                    return .complete(contentStart: max(contentStart, 0), end: index + 1)
                }
                lines += 1
                lineLength = 0
                if lines > maxLines {
                    return .failed(HTTPParseError(status: 431, reason: HTTPParseError.Reason.tooManyHeaders,
                                                  detail: "more than \(limits.maxHeaderCount) field lines in the \(sectionName)"))
                }
            } else if byte == ASCII.cr {
                pendingCR = true
            } else if byte == ASCII.lf {
                return .failed(HTTPParseError(status: 400, reason: HTTPParseError.Reason.bareLF,
                                              detail: "LF without CR at byte \(total - 1) of the \(sectionName)"))
            } else if byte == 0 {
                return .failed(HTTPParseError(status: 400, reason: HTTPParseError.Reason.nulInHead,
                                              detail: "NUL at byte \(total - 1) of the \(sectionName)"))
            } else {
                if contentStart < 0 { contentStart = index }
                lineLength += 1
                if mode == .head && lines == 0 && lineLength > limits.maxStartLineBytes { return startLineTooLong(limits) }
            }
            index += 1
        }
        return .needMore(contentStart: contentStart < 0 ? input.count : contentStart)
    }

    private func tooLarge(_ limits: HTTPLimits) -> Step {
        mode == .head
            ? .failed(HTTPParseError(status: 431, reason: HTTPParseError.Reason.headTooLarge,
                                     detail: "the head is larger than \(limits.maxHeadBytes) bytes"))
            : .failed(HTTPParseError(status: 431, reason: HTTPParseError.Reason.trailersTooLarge,
                                     detail: "the trailer section is larger than \(limits.maxTrailerBytes) bytes"))
    }

    private func startLineTooLong(_ limits: HTTPLimits) -> Step {
        .failed(HTTPParseError(status: 414, reason: HTTPParseError.Reason.startLineTooLong,
                               detail: "the start line is longer than \(limits.maxStartLineBytes) bytes"))
    }

    private var sectionName: String { mode == .head ? "head" : "trailer section" }
}
