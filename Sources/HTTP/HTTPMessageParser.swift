/// What `HTTPMessageParser.parse(_:)` found at the start of the input it was given. Every case that
/// consumes says how many input bytes it consumed; the caller passes the rest (plus whatever it
/// reads next) to the following call.
public enum HTTPParseEvent: Sendable, Equatable {
    /// Everything consumed was head or trailer bytes (buffered inside the parser, bounded by
    /// `HTTPLimits`) or body framing; call again with more input. `consumed` is the whole input,
    /// except when `waitingFor` is `.upgradeDecision` or `.closed`: then it is 0 and the parser
    /// takes nothing until the proxy acts.
    case needMoreInput(consumed: Int)
    /// A complete request head and how its body is framed. The body (if any) follows.
    case requestHead(HTTPRequestHead, framing: HTTPBodyFraming, consumed: Int)
    /// A complete response head and how its body is framed. Informational responses (1xx other than
    /// an accepted 101) come with `.none` and no `.messageEnd`: the next event is the next head.
    case responseHead(HTTPResponseHead, framing: HTTPBodyFraming, consumed: Int)
    /// Body bytes `input[offset..<offset + count]` (count > 0), not copied: the proxy forwards them
    /// (re-chunked with `HTTPSerializer` when the body is chunked). `consumed` includes any framing
    /// before them, so it is `offset + count`.
    case body(offset: Int, count: Int, consumed: Int)
    /// The message is complete; `trailers` holds a chunked body's trailer fields, if it had any.
    /// The bytes after `consumed` belong to the next message.
    case messageEnd(trailers: HTTPHeaders?, consumed: Int)
    /// The connection is now a byte tunnel (after an accepted upgrade or a 2xx to CONNECT): no input
    /// was consumed, and from here on the proxy relays bytes without the parser.
    case tunnel(consumed: Int)
    /// The input breaks the protocol. The parser stays failed. For a request, answer with
    /// `error.status` and `Connection: close`, then close; for a response, answer the client with
    /// 502 and close the upstream connection.
    case failure(HTTPParseError)
}

/// An incremental HTTP/1.1 parser for one direction of one connection: requests from a client, or
/// responses from an upstream (RFC 9112). It is a pure state machine over bytes: the proxy owns the
/// socket, the buffers and the timers, calls `parse(_:)` with what it has read, and acts on one
/// event at a time.
///
/// Only heads and trailers are copied, and only when they arrive over several reads; a head that
/// arrives in one read is parsed in place. Body bytes are never copied: `.body` names a range of
/// the input. The parser never consumes past the end of a message, so pipelined messages are
/// handed out one at a time, and `waitingFor` says which timeout applies.
///
/// Strictness: everything listed in `HTTPParseError.Reason` is refused with a stable token rather
/// than guessed at, so no request is forwarded that an upstream could frame differently than the
/// proxy did (the serializer then writes the proxy's own framing).
public struct HTTPMessageParser: Sendable {
    /// Which messages this parser reads.
    public enum Kind: Sendable, Equatable {
        /// Requests from a client (RFC 9112 §3).
        case request
        /// Responses from an upstream (RFC 9112 §4); see `expectResponse(to:upgradeRequested:)`.
        case response
    }

    /// What the parser waits for, so the proxy applies the matching timeout.
    public enum Waiting: Sendable, Equatable {
        /// A head. `firstByteSeen` false: for requests, the connection's first request has not
        /// started; for responses, a request was sent and no response byte came back yet. True: a
        /// head has started (the header timeout runs).
        case head(firstByteSeen: Bool)
        /// The rest of a body (or its trailers).
        case body
        /// Nothing: between messages on a persistent connection (requests), or no request is
        /// outstanding (responses). The idle timeout applies.
        case idle
        /// A CONNECT or upgrade request is complete; the parser takes no more bytes until the proxy
        /// calls `resolveUpgrade(accepted:)` with the answer of the upstream.
        case upgradeDecision
        /// The connection is a tunnel; the parser is done.
        case tunnel
        /// No further message will be read: the last one asked to close, the input ended, or the
        /// parser failed.
        case closed
    }

    /// How the input ended, from `endOfInput()`.
    public enum EndOfInput: Sendable, Equatable {
        /// Between messages (or in a tunnel, or after closing): nothing was cut short.
        case clean
        /// The body of a response framed by the connection's end is complete.
        case messageEnd
        /// The input ended inside a message (or, for responses, before the response to a request
        /// that was sent). The error's status is what the proxy answers with when it still can.
        case truncated(HTTPParseError)
    }

    enum State: Sendable {
        case head
        case fixedBody(remaining: UInt64)
        case chunkedBody(ChunkedDecoder)
        case trailers
        case bodyUntilClose
        /// The body is complete; the next call reports `.messageEnd`.
        case endPending
        case upgradeDecision
        case tunnel
        case closed
        /// Boxed: an error is rare and large, and the state is kept per connection.
        indirect case failed(HTTPParseError)
    }

    /// A request the upstream is expected to answer, oldest first.
    struct Expected: Sendable {
        /// What of the request's method decides how its response is framed: only HEAD and
        /// CONNECT answers differ (RFC 9112 §6.3). Two bytes, not the method's text: the parser
        /// keeps one of these between a request and its response.
        enum Method: UInt8, Sendable {
            case head
            case connect
            case other

            init(_ method: HTTPMethod) {
                self = method == .HEAD ? .head : method == .CONNECT ? .connect : .other
            }

            /// A method that frames responses as this one does.
            var representative: HTTPMethod {
                switch self {
                case .head: return .HEAD
                case .connect: return .CONNECT
                case .other: return .GET
                }
            }
        }

        var method: Method
        var upgradeRequested: Bool
    }

    // Declared widest first: a proxy keeps two parsers per connection for as long as it lives,
    // and Swift lays stored properties out in declaration order.
    var state: State = .head
    /// Head or trailer bytes of a section that spans reads; empty otherwise.
    var buffer: [UInt8] = []
    var expected = SmallArray<Expected>()
    var messagesCompleted = 0
    var scanner = SectionScanner(mode: .head)
    /// The bounds it enforces.
    public let limits: HTTPLimits
    /// Which messages this parser reads.
    public let kind: Kind
    var closeAfterMessage = false
    var upgradeAfterMessage = false

    /// A parser for `kind` messages, enforcing `limits`.
    public init(_ kind: Kind, limits: HTTPLimits = .default) {
        self.kind = kind
        self.limits = limits
    }

    /// Response parsers: records that a request with `method` was sent upstream, so the next
    /// unanswered response is read as its answer (RFC 9112 §6.3: a response to HEAD has no body, a
    /// 2xx to CONNECT starts a tunnel). Call once per request forwarded, in order; pipelined requests
    /// queue. `upgradeRequested` says the forwarded request asked to upgrade (it kept its Upgrade
    /// field): only then is a 101 accepted, and it starts a tunnel.
    public mutating func expectResponse(to method: HTTPMethod, upgradeRequested: Bool = false) {
        precondition(kind == .response, "expectResponse(to:) is for response parsers")
        expected.append(Expected(method: Expected.Method(method), upgradeRequested: upgradeRequested))
    }

    /// Request parsers in `.upgradeDecision`: the upstream's answer to the CONNECT or upgrade request
    /// that just ended. Accepted (a 2xx to CONNECT, a 101): the connection becomes a tunnel and
    /// the bytes after the request are the tunnel's. Declined: the parser reads the next request
    /// (or closes, if the request asked to). A proxy that does not forward the upgrade (it removed
    /// Upgrade, e.g. h2c) declines at once, before forwarding. Precondition: `waitingFor` is
    /// `.upgradeDecision`.
    public mutating func resolveUpgrade(accepted: Bool) {
        guard case .upgradeDecision = state else {
            preconditionFailure("resolveUpgrade(accepted:) outside .upgradeDecision")
        }
        upgradeAfterMessage = false
        if accepted { state = .tunnel } else { state = closeAfterMessage ? .closed : .head }
    }

    /// What the parser waits for (see `Waiting`), for choosing a timeout.
    public var waitingFor: Waiting {
        switch state {
        case .head:
            if scanner.total > 0 { return .head(firstByteSeen: true) }
            switch kind {
            case .request: return messagesCompleted == 0 ? .head(firstByteSeen: false) : .idle
            case .response: return expected.isEmpty ? .idle : .head(firstByteSeen: false)
            }
        case .fixedBody, .chunkedBody, .trailers, .bodyUntilClose, .endPending: return .body
        case .upgradeDecision: return .upgradeDecision
        case .tunnel: return .tunnel
        case .closed, .failed: return .closed
        }
    }

    /// Whether `waitingFor` is `.upgradeDecision` (asked in a proxy's loops, without working out
    /// the rest of `waitingFor`).
    public var isAwaitingUpgradeDecision: Bool {
        if case .upgradeDecision = state { return true }
        return false
    }

    /// Parses from the start of `input` and reports the first thing found (see `HTTPParseEvent`).
    /// Consumes at most to the end of the current message.
    public mutating func parse(_ input: Span<UInt8>) -> HTTPParseEvent {
        parse(input, storage: nil)
    }

    /// `parse(_:)`, building a head's fields in storage from `storage` (a section whose message is
    /// done) rather than in newly allocated arrays.
    public mutating func parse(_ input: Span<UInt8>, storage: HTTPHeaderStorage?) -> HTTPParseEvent {
        switch state {
        case .head:
            return parseHead(input, storage: storage)
        case .fixedBody(let remaining):
            guard !input.isEmpty else { return .needMoreInput(consumed: 0) }
            let count = Int(min(remaining, UInt64(input.count)))
            state = remaining == UInt64(count) ? .endPending : .fixedBody(remaining: remaining - UInt64(count))
            return .body(offset: 0, count: count, consumed: count)
        case .chunkedBody(var decoder):
            let step = decoder.decode(input, maxLineBytes: limits.maxChunkLineBytes)
            state = .chunkedBody(decoder)
            switch step {
            case .data(let offset, let count):
                return .body(offset: offset, count: count, consumed: offset + count)
            case .needMore:
                return .needMoreInput(consumed: input.count)
            case .failed(let error):
                return fail(error)
            case .lastChunk(let consumed):
                state = .trailers
                scanner = SectionScanner(mode: .trailers)
                return parseTrailers(input.extracting(consumed...), already: consumed)
            }
        case .trailers:
            return parseTrailers(input, already: 0)
        case .bodyUntilClose:
            guard !input.isEmpty else { return .needMoreInput(consumed: 0) }
            return .body(offset: 0, count: input.count, consumed: input.count)
        case .endPending:
            return endMessage(trailers: nil, consumed: 0)
        case .upgradeDecision, .closed:
            return .needMoreInput(consumed: 0)
        case .tunnel:
            return .tunnel(consumed: 0)
        case .failed(let error):
            return .failure(error)
        }
    }

    /// `parse(_:)` over the bytes of a slice; offsets in `.body` count from the slice's start.
    public mutating func parse(_ input: ArraySlice<UInt8>) -> HTTPParseEvent {
        parse(input.span)
    }

    /// Tells the parser the input has ended (the peer closed its side). Completes a response framed
    /// by the connection's end; reports a message cut short. The parser is closed afterwards.
    public mutating func endOfInput() -> EndOfInput {
        let result: EndOfInput
        switch state {
        case .head:
            if scanner.started {
                result = .truncated(error(HTTPParseError.Reason.truncated, "the input ended inside a head"))
            } else if kind == .response && !expected.isEmpty {
                result = .truncated(error(HTTPParseError.Reason.truncated, "the upstream closed before responding"))
            } else {
                result = .clean
            }
        case .bodyUntilClose, .endPending:
            messagesCompleted += 1
            result = .messageEnd
        case .fixedBody, .chunkedBody, .trailers:
            result = .truncated(error(HTTPParseError.Reason.truncated, "the input ended inside a body"))
        case .upgradeDecision, .tunnel, .closed:
            result = .clean
        case .failed(let error):
            return .truncated(error)
        }
        state = .closed
        buffer = []
        return result
    }

    // MARK: Heads

    private mutating func parseHead(_ input: Span<UInt8>, storage: HTTPHeaderStorage?) -> HTTPParseEvent {
        switch scanner.scan(input, limits: limits) {
        case .failed(let error):
            return fail(error)
        case .needMore(let contentStart):
            append(input, contentStart..<input.count)
            return .needMoreInput(consumed: input.count)
        case .complete(let contentStart, let end):
            let lines = scanner.lines
            let result: Result<ParsedHead, HTTPParseError>
            if buffer.isEmpty {
                // The common case: the whole head arrived in this read; parse it in place.
                result = Self.parseHead(input.extracting(contentStart..<end), kind: kind, lines: lines, storage: storage)
            } else {
                append(input, 0..<end)
                result = Self.parseHead(buffer.span, kind: kind, lines: lines, storage: storage)
                releaseBuffer()
            }
            scanner = SectionScanner(mode: .head)
            switch result {
            case .failure(let error):
                return fail(error)
            case .success(.request(let head, let framing)):
                return startRequest(head, framing: framing, consumed: end)
            case .success(.response(let head)):
                return startResponse(head, consumed: end)
            }
        }
    }

    enum ParsedHead {
        case request(HTTPRequestHead, HTTPBodyFraming)
        case response(HTTPResponseHead)
    }

    private static func parseHead(_ head: Span<UInt8>, kind: Kind, lines: Int, storage: HTTPHeaderStorage?) -> Result<ParsedHead, HTTPParseError> {
        do throws(HTTPParseError) {
            switch kind {
            case .request:
                let (request, framing) = try HeadParser.parseRequest(head, lines: lines, storage: storage)
                return .success(.request(request, framing))
            case .response:
                return .success(.response(try HeadParser.parseResponse(head, lines: lines, storage: storage)))
            }
        } catch {
            return .failure(error)
        }
    }

    private mutating func startRequest(_ head: HTTPRequestHead, framing: HTTPBodyFraming, consumed: Int) -> HTTPParseEvent {
        closeAfterMessage = !HTTPSemantics.isPersistent(version: head.version, headers: head.headers)
        upgradeAfterMessage = head.method == .CONNECT || HTTPSemantics.isUpgradeRequest(head)
        startBody(framing)
        return .requestHead(head, framing: framing, consumed: consumed)
    }

    /// Decides a response's framing from its status, its fields and the request it answers
    /// (RFC 9112 §6.3, in that order of precedence).
    private mutating func startResponse(_ head: HTTPResponseHead, consumed: Int) -> HTTPParseEvent {
        guard let request = expected.first else {
            return fail(HTTPParseError(status: 502, reason: HTTPParseError.Reason.unsolicitedResponse,
                                       detail: "a \(head.status) response with no request outstanding"))
        }
        if head.status == 101 {
            // RFC 9110 §15.2.2: only in answer to Upgrade, and it names the protocol switched to.
            guard request.upgradeRequested, head.headers.contains("Upgrade") else {
                return fail(HTTPParseError(status: 502, reason: HTTPParseError.Reason.unexpectedSwitchingProtocols,
                                           detail: request.upgradeRequested ? "101 without an Upgrade field" : "101 to a request that did not ask to upgrade"))
            }
        }
        if HTTPSemantics.responseStartsTunnel(status: head.status, to: request.method.representative, upgradeRequested: request.upgradeRequested) {
            // RFC 9110 §9.3.6: a client MUST ignore Content-Length and Transfer-Encoding in a 2xx to
            // CONNECT; a 101 has no content either. What follows is the tunnel's.
            expected.removeFirst()
            state = .tunnel
            return .responseHead(head, framing: .tunnel, consumed: consumed)
        }
        if head.status < 200 {
            // Informational: the final response to the same request follows (RFC 9110 §15.2).
            return .responseHead(head, framing: .none, consumed: consumed)
        }
        let declared: HTTPBodyFraming?
        do throws(HTTPParseError) {
            declared = try HeadParser.framing(head.headers, version: head.version, status: 502)
        } catch {
            return fail(error)
        }
        expected.removeFirst()
        let framing: HTTPBodyFraming
        if !HTTPSemantics.responseHasBody(status: head.status, to: request.method.representative) {
            framing = .none
        } else {
            framing = declared ?? .untilClose
        }
        closeAfterMessage = framing == .untilClose || !HTTPSemantics.isPersistent(version: head.version, headers: head.headers)
        upgradeAfterMessage = false
        startBody(framing)
        return .responseHead(head, framing: framing, consumed: consumed)
    }

    private mutating func startBody(_ framing: HTTPBodyFraming) {
        switch framing {
        case .none, .contentLength(0): state = .endPending
        case .contentLength(let length): state = .fixedBody(remaining: length)
        case .chunked: state = .chunkedBody(ChunkedDecoder())
        case .untilClose: state = .bodyUntilClose
        case .tunnel: state = .tunnel
        }
    }

    // MARK: Trailers and the end of a message

    /// The trailer section after the last chunk (RFC 9112 §7.1.2), with the same field rules as a
    /// header section. `already` is what this call consumed before `input`.
    private mutating func parseTrailers(_ input: Span<UInt8>, already: Int) -> HTTPParseEvent {
        switch scanner.scan(input, limits: limits) {
        case .failed(let error):
            return fail(error)
        case .needMore:
            append(input, 0..<input.count)
            return .needMoreInput(consumed: already + input.count)
        case .complete(_, let end):
            let lines = scanner.lines
            var trailers: HTTPHeaders
            do throws(HTTPParseError) {
                if buffer.isEmpty {
                    trailers = try HeadParser.fields(input.extracting(0..<end), from: 0, lines: lines, afterStartLine: false)
                } else {
                    append(input, 0..<end)
                    trailers = try HeadParser.fields(buffer.span, from: 0, lines: lines, afterStartLine: false)
                }
            } catch {
                return fail(error)
            }
            releaseBuffer()
            scanner = SectionScanner(mode: .head)
            return endMessage(trailers: trailers.isEmpty ? nil : trailers, consumed: already + end)
        }
    }

    private mutating func endMessage(trailers: HTTPHeaders?, consumed: Int) -> HTTPParseEvent {
        messagesCompleted += 1
        if upgradeAfterMessage {
            state = .upgradeDecision
        } else if closeAfterMessage {
            state = .closed
        } else {
            state = .head
        }
        return .messageEnd(trailers: trailers, consumed: consumed)
    }

    // MARK: Helpers

    /// Copies `input[range]` into the section buffer (a head or trailers spanning reads).
    private mutating func append(_ input: Span<UInt8>, _ range: Range<Int>) {
        for index in range { buffer.append(input[index]) }
    }

    /// Empties the section buffer and gives its storage back: a connection between messages
    /// holds none (kept, it stayed with every connection that once had a head span reads, up to
    /// 4 KiB each). A later head that spans reads allocates again, once, beside copying itself.
    private mutating func releaseBuffer() {
        buffer = []
    }

    /// Gives back storage kept for pipelined requests once none is outstanding (for a connection
    /// going idle).
    public mutating func releaseSpareCapacity() {
        expected.releaseSpareCapacity()
    }

    /// Whether the parser holds storage beyond its own fields (a partial section's bytes, room
    /// for pipelined requests).
    public var holdsStorage: Bool { buffer.capacity > 0 || expected.hasSpareStorage }

    /// Enters the failed state. Response errors always carry 502: the proxy's client gets a Bad
    /// Gateway whatever the upstream did wrong.
    private mutating func fail(_ error: HTTPParseError) -> HTTPParseEvent {
        var error = error
        if kind == .response { error.status = 502 }
        state = .failed(error)
        buffer = []
        return .failure(error)
    }

    private func error(_ reason: String, _ detail: String) -> HTTPParseError {
        HTTPParseError(status: kind == .response ? 502 : 400, reason: reason, detail: detail)
    }
}
