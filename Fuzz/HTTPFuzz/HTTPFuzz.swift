// libFuzzer entry point for the HTTP/1.1 codec (Sources/HTTP). Scripts/fuzz compiles this file
// together with Sources/HTTP into one module, so the parser is called without an import.
//
// Input layout: byte 0 chooses the parser and its context, byte 1 where to split the input, the
// rest is what the peer sends.
//   bit 0     request parser (0) or response parser (1)
//   bit 1     requests: accept upgrades and CONNECT (1) or decline them; responses: the requests sent
//             asked to upgrade
//   bits 2-4  responses: the method of the first request sent (later ones rotate through the list)
//   bits 5-6  limits: the defaults, or small ones that the input can reach
//
// Properties checked on every input, besides "never crashes":
// - no event consumes more than it was given, a body range lies inside the input and ends where
//   the consumed bytes end, and `.needMoreInput` consumes everything unless the parser is waiting
//   for an upgrade decision or closed;
// - the parser always makes progress (no loop without consuming or changing state);
// - the same bytes split at another point (and one byte at a time, for short inputs) give the same
//   heads, body bytes, trailers, tunnels and errors — the split run parsing with an
//   HTTPHeaderStorage that every head's section (a copy) is given back to, so later heads are
//   built in reused arrays;
// - every head the parser accepts, serialized with the framing the parser chose and parsed again,
//   gives the same head and framing (the framing fields being the serializer's).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let flags = data[0]
    let context = Context(
        kind: flags & 1 == 0 ? .request : .response,
        upgrade: flags & 2 != 0,
        firstMethod: Int(flags >> 2) & 7,
        limits: limitChoices[Int(flags >> 5) & 3]
    )
    let input = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))

    let whole = drive(context, [input])
    let cut = Int(data[1]) * input.count / 255
    let split = drive(context, [Array(input[..<cut]), Array(input[cut...])], storage: HTTPHeaderStorage())
    require(split.items == whole.items, "split at \(cut) gave \(split.items), whole \(whole.items)")
    if input.count <= 512 {
        let bytewise = drive(context, input.map { [$0] })
        require(bytewise.items == whole.items, "one byte at a time gave \(bytewise.items), whole \(whole.items)")
    }
    for (head, framing, method) in whole.heads { checkRoundTrip(head, framing: framing, method: method, context: context) }
    return 0
}

private let limitChoices: [HTTPLimits] = [
    .default,
    HTTPLimits(maxHeadBytes: 256, maxHeaderCount: 4, maxStartLineBytes: 64, maxChunkLineBytes: 16, maxTrailerBytes: 64),
    HTTPLimits(maxHeadBytes: 1024, maxHeaderCount: 0, maxStartLineBytes: 1024, maxChunkLineBytes: 4, maxTrailerBytes: 8),
    HTTPLimits(maxHeadBytes: 96, maxHeaderCount: 100, maxStartLineBytes: 32, maxChunkLineBytes: 64, maxTrailerBytes: 1024),
]

private let methods: [HTTPMethod] = [.GET, .HEAD, .CONNECT, .POST, .PUT, .OPTIONS, .DELETE, .PATCH]

private struct Context {
    let kind: HTTPMessageParser.Kind
    let upgrade: Bool
    let firstMethod: Int
    let limits: HTTPLimits

    /// The method of the `index`th request a response parser answers.
    func method(_ index: Int) -> HTTPMethod { methods[(firstMethod + index) % methods.count] }
}

/// What a run reported, without consumed counts or body splits.
private enum Item: Equatable {
    case request(HTTPRequestHead, HTTPBodyFraming)
    case response(HTTPResponseHead, HTTPBodyFraming)
    case body([UInt8])
    case end(HTTPHeaders?)
    case tunnel
    case failure(HTTPParseError)
    case endOfInput(HTTPMessageParser.EndOfInput)
}

private enum Head {
    case request(HTTPRequestHead)
    case response(HTTPResponseHead)
}

private struct Outcome {
    var items: [Item] = []
    /// Accepted heads, their framing and (for responses) the method of the request they answer.
    var heads: [(Head, HTTPBodyFraming, HTTPMethod)] = []
}

/// Feeds `pieces` as consecutive reads, the way the proxy does, checking every event.
private func drive(_ context: Context, _ pieces: [[UInt8]], storage: HTTPHeaderStorage? = nil) -> Outcome {
    var parser = HTTPMessageParser(context.kind, limits: context.limits)
    let total = pieces.reduce(0) { $0 + $1.count }
    // Enough requests for every response a short input can hold.
    let expectedCount = context.kind == .response ? total / 8 + 2 : 0
    for index in 0..<expectedCount { parser.expectResponse(to: context.method(index), upgradeRequested: context.upgrade) }
    var answered = 0
    var outcome = Outcome()
    var pending: [UInt8] = []
    var steps = 0
    func add(_ item: Item) {
        if case .body(let more) = item, case .body(let earlier)? = outcome.items.last {
            outcome.items[outcome.items.count - 1] = .body(earlier + more)
        } else {
            outcome.items.append(item)
        }
    }
    reads: for piece in pieces {
        pending += piece
        while true {
            steps += 1
            require(steps <= 4 * total + 64, "no progress after \(steps) calls")
            let given = pending.count
            let event = storage.map { parser.parse(pending.span, storage: $0) } ?? parser.parse(pending[...])
            switch event {
            case .needMoreInput(let consumed):
                let waiting = parser.waitingFor
                if waiting == .upgradeDecision || waiting == .closed {
                    require(consumed == 0, "consumed \(consumed) while \(waiting)")
                    if waiting == .upgradeDecision {
                        parser.resolveUpgrade(accepted: context.upgrade)
                        continue
                    }
                    break reads
                }
                require(consumed == given, "needMoreInput consumed \(consumed) of \(given)")
                pending.removeAll()
                continue reads
            case .requestHead(let head, let framing, let consumed):
                require(consumed > 0 && consumed <= given, "a head consumed \(consumed) of \(given)")
                add(.request(head, framing))
                outcome.heads.append((.request(head), framing, head.method))
                recycle(head.headers, into: storage)
                pending.removeFirst(consumed)
            case .responseHead(let head, let framing, let consumed):
                require(consumed > 0 && consumed <= given, "a head consumed \(consumed) of \(given)")
                add(.response(head, framing))
                outcome.heads.append((.response(head), framing, context.method(answered)))
                if head.status >= 200 || framing == .tunnel { answered += 1 }
                recycle(head.headers, into: storage)
                pending.removeFirst(consumed)
            case .body(let offset, let count, let consumed):
                require(count > 0 && offset >= 0 && offset + count == consumed && consumed <= given,
                        "body \(offset)+\(count), consumed \(consumed) of \(given)")
                add(.body(Array(pending[offset..<offset + count])))
                pending.removeFirst(consumed)
            case .messageEnd(let trailers, let consumed):
                require(consumed <= given, "messageEnd consumed \(consumed) of \(given)")
                add(.end(trailers))
                pending.removeFirst(consumed)
            case .tunnel(let consumed):
                require(consumed == 0 && parser.waitingFor == .tunnel, "tunnel consumed \(consumed)")
                add(.tunnel)
                break reads
            case .failure(let error):
                require(parser.waitingFor == .closed, "failed but waiting for \(parser.waitingFor)")
                require(!error.reason.isEmpty && (400...599).contains(error.status), "error \(error)")
                require(context.kind == .request || error.status == 502, "a response error with \(error.status)")
                add(.failure(error))
                return outcome
            }
        }
    }
    add(.endOfInput(parser.endOfInput()))
    return outcome
}

/// Gives `storage` a copy of a section in arrays of their own (the outcome keeps the original), so
/// the next head is built in them in place.
private func recycle(_ headers: HTTPHeaders, into storage: HTTPHeaderStorage?) {
    guard let storage else { return }
    storage.give(HTTPHeaders(bytes: headers.bytes.map { $0 }, fields: headers.fields.map { $0 }))
}

/// Serializes an accepted head with the framing the parser chose and parses it again.
private func checkRoundTrip(_ head: Head, framing: HTTPBodyFraming, method: HTTPMethod, context: Context) {
    var out: [UInt8] = []
    var parser = HTTPMessageParser(context.kind, limits: .default)
    switch head {
    case .request(let request):
        HTTPSerializer.requestHead(request, framing: framing, into: &out)
        guard case .requestHead(let again, let againFraming, let consumed) = parser.parse(out[...]) else {
            fatalError("property violated: \(String(decoding: out, as: UTF8.self).debugDescription) did not parse back")
        }
        require(consumed == out.count, "the serialized head parsed to \(consumed) of \(out.count) bytes")
        require(againFraming == framing, "framing \(framing) came back as \(againFraming)")
        require(again.method == request.method && again.target == request.target && again.version == request.version,
                "start line \(request.method) \(request.target) \(request.version) came back as \(again.method) \(again.target) \(again.version)")
        require(withoutFraming(again.headers) == withoutFraming(request.headers), "fields [\(request.headers)] came back as [\(again.headers)]")
    case .response(let response):
        parser.expectResponse(to: method, upgradeRequested: context.upgrade)
        HTTPSerializer.responseHead(response, framing: framing, into: &out)
        guard case .responseHead(let again, let againFraming, let consumed) = parser.parse(out[...]) else {
            fatalError("property violated: \(String(decoding: out, as: UTF8.self).debugDescription) did not parse back")
        }
        require(consumed == out.count, "the serialized head parsed to \(consumed) of \(out.count) bytes")
        require(againFraming == framing, "framing \(framing) came back as \(againFraming)")
        require(again.version == response.version && again.status == response.status, "status line changed")
        // The reason phrase is decoded as UTF-8 with replacement characters, so obs-text that is
        // not UTF-8 comes back as U+FFFD; the field bytes are kept exactly.
        require(withoutFraming(again.headers) == withoutFraming(response.headers), "fields [\(response.headers)] came back as [\(again.headers)]")
    }
}

private func withoutFraming(_ headers: HTTPHeaders) -> HTTPHeaders {
    var copy = headers
    copy.remove(name: "Content-Length")
    copy.remove(name: "Transfer-Encoding")
    return copy
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}
