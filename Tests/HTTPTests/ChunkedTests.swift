import HTTP
import Testing

/// A deterministic pseudo-random sequence (SplitMix64), so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `data` chunked into pieces of the given sizes with the serializer, ended by the last chunk.
func chunked(_ data: [UInt8], sizes: [Int], trailers: HTTPHeaders? = nil) -> [UInt8] {
    var out: [UInt8] = []
    var position = 0
    for size in sizes where size > 0 && position < data.count {
        let end = min(position + size, data.count)
        HTTPSerializer.chunkHeader(size: end - position, into: &out)
        out += data[position..<end]
        HTTPSerializer.chunkEnd(into: &out)
        position = end
    }
    if position < data.count {
        HTTPSerializer.chunkHeader(size: data.count - position, into: &out)
        out += data[position...]
        HTTPSerializer.chunkEnd(into: &out)
    }
    HTTPSerializer.lastChunk(trailers: trailers, into: &out)
    return out
}

@Suite("Chunked bodies")
struct ChunkedTests {
    static let head = bytes("POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")

    @Test("RFC 9112 §7.1 decoding, with extensions and trailers")
    func decoding() {
        let input = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: Checksum\r\n\r\n"
            + "4;name=value\r\nWiki\r\n6;q=\"a;b\"\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nChecksum: abc\r\nX-Other: 1\r\n\r\n"
        for items in [parse(.request, input), parseBytewise(.request, input)] {
            #expect(body(items) == bytes("Wikipedia in \r\n\r\nchunks."))
            #expect(items.last == .end(["Checksum": "abc", "X-Other": "1"]), "\(items)")
        }
    }

    @Test("body bytes are reported as ranges of the input, framing consumed around them")
    func ranges() {
        var parser = HTTPMessageParser(.request)
        let input = Self.head + bytes("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        guard case .requestHead(_, .chunked, let headLength) = parser.parse(input[...]) else {
            Issue.record("no head")
            return
        }
        let rest = Array(input[headLength...])
        #expect(parser.parse(rest[...]) == .body(offset: 3, count: 3, consumed: 6))
        #expect(parser.parse(rest[6...]) == .body(offset: 5, count: 2, consumed: 7))
        #expect(parser.parse(rest[13...]) == .messageEnd(trailers: nil, consumed: 7))
        #expect(parser.waitingFor == .idle)
    }

    @Test("arbitrary chunkings of random bodies decode to the body, in any read sizes", arguments: 0..<20)
    func randomChunkings(_ seed: Int) {
        var random = SplitMix(state: UInt64(seed))
        let data = (0..<Int.random(in: 0...3000, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let sizes = (0..<Int.random(in: 0...20, using: &random)).map { _ in Int.random(in: 1...700, using: &random) }
        let input = Self.head + chunked(data, sizes: sizes)
        var reads: [[UInt8]] = []
        var position = 0
        while position < input.count {
            let end = min(input.count, position + Int.random(in: 1...512, using: &random))
            reads.append(Array(input[position..<end]))
            position = end
        }
        let items = run(.request, reads).items
        #expect(body(items) == data)
        #expect(items.last == .end(nil))
        #expect(failureReason(items) == nil)
    }

    @Test("a chunk as large as Int64 allows streams through")
    func largeChunk() {
        var parser = HTTPMessageParser(.request)
        let input = Self.head + bytes("7fffffffffffffff\r\nabc")
        guard case .requestHead(_, _, let headLength) = parser.parse(input[...]) else {
            Issue.record("no head")
            return
        }
        #expect(parser.parse(input[headLength...]) == .body(offset: 18, count: 3, consumed: 21))
        #expect(parser.waitingFor == .body)
    }

    @Test("limits on the chunk-size line and the trailer section")
    func limits() {
        let limits = HTTPLimits(maxChunkLineBytes: 16, maxTrailerBytes: 32)
        let longLine = Self.head + bytes("5;" + String(repeating: "x", count: 20) + "\r\nhello\r\n0\r\n\r\n")
        let bigTrailers = Self.head + bytes("0\r\nA: " + String(repeating: "y", count: 40) + "\r\n\r\n")
        #expect(failureReason(run(.request, [longLine], limits: limits).items) == "chunk-line-too-long")
        #expect(failureReason(run(.request, [bigTrailers], limits: limits).items) == "trailers-too-large")
        #expect(failureStatus(run(.request, [bigTrailers], limits: limits).items) == 431)
        let manyTrailers = Self.head + bytes("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
        #expect(failureReason(run(.request, [manyTrailers], limits: HTTPLimits(maxHeaderCount: 2)).items) == "too-many-headers")
    }

    @Test("re-encoding what was decoded, in any split, gives the same body and trailers")
    func reencoding() {
        var random = SplitMix(state: 7)
        for _ in 0..<30 {
            let data = (0..<Int.random(in: 1...2000, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let trailers: HTTPHeaders? = Bool.random(using: &random) ? ["X-Sum": "\(data.count)"] : nil
            let original = Self.head + chunked(data, sizes: (0..<5).map { _ in Int.random(in: 1...300, using: &random) }, trailers: trailers)
            // Decode in random reads and re-chunk every .body event as the proxy does.
            var parser = HTTPMessageParser(.request)
            var pending: [UInt8] = []
            var reencoded: [UInt8] = []
            var position = 0
            var done = false
            while !done {
                if position < original.count {
                    let end = min(original.count, position + Int.random(in: 1...400, using: &random))
                    pending += original[position..<end]
                    position = end
                }
                inner: while true {
                    switch parser.parse(pending[...]) {
                    case .requestHead(let head, _, let consumed):
                        HTTPSerializer.requestHead(head, framing: .chunked, into: &reencoded)
                        pending.removeFirst(consumed)
                    case .body(let offset, let count, let consumed):
                        HTTPSerializer.chunkHeader(size: count, into: &reencoded)
                        reencoded += pending[offset..<offset + count]
                        HTTPSerializer.chunkEnd(into: &reencoded)
                        pending.removeFirst(consumed)
                    case .messageEnd(let trailers, let consumed):
                        HTTPSerializer.lastChunk(trailers: trailers, into: &reencoded)
                        pending.removeFirst(consumed)
                        done = true
                        break inner
                    case .needMoreInput(let consumed):
                        pending.removeFirst(consumed)
                        break inner
                    case let other:
                        Issue.record("unexpected \(other)")
                        return
                    }
                }
            }
            let first = run(.request, [original]).items
            let again = run(.request, [reencoded]).items
            #expect(body(again) == data)
            #expect(again.last == .end(trailers))
            #expect(firstRequest(again) == firstRequest(first))
        }
    }
}
