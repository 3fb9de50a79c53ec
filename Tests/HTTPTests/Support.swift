import HTTP

/// One thing the parser reported, with consumed counts and body splits taken out, so runs over
/// differently split input compare equal when they mean the same.
enum Item: Equatable, CustomStringConvertible {
    case request(HTTPRequestHead, HTTPBodyFraming)
    case response(HTTPResponseHead, HTTPBodyFraming)
    /// Body bytes, coalesced across consecutive `.body` events.
    case body([UInt8])
    case end(HTTPHeaders?)
    case tunnel
    case failure(reason: String, status: Int)

    var description: String {
        switch self {
        case .request(let head, let framing): return "request(\(head.method) \(head.target) \(head.version), \(framing), [\(head.headers)])"
        case .response(let head, let framing): return "response(\(head.status) \(head.reason), \(framing), [\(head.headers)])"
        case .body(let bytes): return "body(\(String(decoding: bytes, as: UTF8.self).debugDescription))"
        case .end(let trailers): return "end(\(trailers.map { "[\($0)]" } ?? "nil"))"
        case .tunnel: return "tunnel"
        case .failure(let reason, let status): return "failure(\(status) \(reason))"
        }
    }
}

/// The raw events of one run, with the consumed counts, for tests about exact accounting.
struct Run {
    var items: [Item] = []
    /// Bytes of input left over (after a tunnel, an upgrade decision, a close or a failure).
    var leftover: [UInt8] = []
    var parser: HTTPMessageParser
}

/// Feeds `pieces` to a parser of `kind` the way the proxy does: keep unconsumed bytes, append the
/// next read, call `parse` until it asks for more. For response parsers, `expecting` lists the
/// requests sent (method, upgrade requested). `upgrade` answers `.upgradeDecision` on the request
/// side (nil: stop there). `end` calls `endOfInput()` after the last piece.
func run(
    _ kind: HTTPMessageParser.Kind, _ pieces: [[UInt8]], limits: HTTPLimits = .default,
    expecting: [(HTTPMethod, Bool)] = [], upgrade: Bool? = nil, end: Bool = true
) -> Run {
    var parser = HTTPMessageParser(kind, limits: limits)
    for (method, upgradeRequested) in expecting { parser.expectResponse(to: method, upgradeRequested: upgradeRequested) }
    var result = Run(parser: parser)
    var pending: [UInt8] = []
    func add(_ item: Item) {
        if case .body(let more) = item, case .body(let earlier)? = result.items.last {
            result.items[result.items.count - 1] = .body(earlier + more)
        } else {
            result.items.append(item)
        }
    }
    pieceLoop: for piece in pieces {
        pending += piece
        while true {
            let event = parser.parse(pending.span)
            switch event {
            case .needMoreInput(let consumed):
                pending.removeFirst(consumed)
                if parser.waitingFor == .upgradeDecision, let upgrade {
                    parser.resolveUpgrade(accepted: upgrade)
                    continue
                }
                if consumed == 0 && parser.waitingFor == .closed || parser.waitingFor == .upgradeDecision { break pieceLoop }
                continue pieceLoop
            case .requestHead(let head, let framing, let consumed):
                add(.request(head, framing))
                pending.removeFirst(consumed)
            case .responseHead(let head, let framing, let consumed):
                add(.response(head, framing))
                pending.removeFirst(consumed)
            case .body(let offset, let count, let consumed):
                precondition(offset + count == consumed)
                add(.body(Array(pending[offset..<offset + count])))
                pending.removeFirst(consumed)
            case .messageEnd(let trailers, let consumed):
                add(.end(trailers))
                pending.removeFirst(consumed)
            case .tunnel:
                add(.tunnel)
                break pieceLoop
            case .failure(let error):
                add(.failure(reason: error.reason, status: error.status))
                result.parser = parser
                return result
            }
        }
    }
    if end {
        switch parser.endOfInput() {
        case .clean: break
        case .messageEnd: add(.end(nil))
        case .truncated(let error): add(.failure(reason: error.reason, status: error.status))
        }
    }
    result.leftover = pending
    result.parser = parser
    return result
}

/// `run` with the whole input in one read.
func parse(_ kind: HTTPMessageParser.Kind, _ text: String, expecting: [(HTTPMethod, Bool)] = [], upgrade: Bool? = nil, end: Bool = true) -> [Item] {
    run(kind, [bytes(text)], expecting: expecting, upgrade: upgrade, end: end).items
}

/// `run` with the input one byte per read.
func parseBytewise(_ kind: HTTPMessageParser.Kind, _ text: String, expecting: [(HTTPMethod, Bool)] = [], end: Bool = true) -> [Item] {
    run(kind, bytes(text).map { [$0] }, expecting: expecting, end: end).items
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The first failure's reason token in `items`, nil if none.
func failureReason(_ items: [Item]) -> String? {
    for item in items { if case .failure(let reason, _) = item { return reason } }
    return nil
}

func failureStatus(_ items: [Item]) -> Int? {
    for item in items { if case .failure(_, let status) = item { return status } }
    return nil
}

func firstRequest(_ items: [Item]) -> HTTPRequestHead? {
    for item in items { if case .request(let head, _) = item { return head } }
    return nil
}

func framings(_ items: [Item]) -> [HTTPBodyFraming] {
    items.compactMap { item in
        switch item {
        case .request(_, let framing), .response(_, let framing): return framing
        default: return nil
        }
    }
}

func body(_ items: [Item]) -> [UInt8] {
    items.reduce(into: []) { result, item in if case .body(let bytes) = item { result += bytes } }
}
