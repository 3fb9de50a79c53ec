@testable import HTTP
import Testing

/// Heads parsed with an `HTTPHeaderStorage` reuse the arrays of sections given back, and never
/// share them with a section something still holds.
@Suite("Header storage reused between heads")
struct HeaderStorageTests {
    private func head(_ parser: inout HTTPMessageParser, _ text: String, storage: HTTPHeaderStorage) -> HTTPRequestHead? {
        let bytes = Array(text.utf8)
        guard case .requestHead(let head, _, _) = parser.parse(bytes.span, storage: storage) else { return nil }
        _ = parser.parse([UInt8]().span, storage: storage) // its end
        return head
    }

    private func address(_ array: [UInt8]) -> UInt {
        array.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    }

    @Test func aSectionGivenBackAndNoLongerHeldIsFilledInPlaceByTheNextHead() throws {
        let storage = HTTPHeaderStorage()
        var parser = HTTPMessageParser(.request)
        var first = try #require(head(&parser, "GET /a HTTP/1.1\r\nHost: a\r\nX-Long-Field-Name: a long value\r\n\r\n", storage: storage))
        let firstBytes = address(first.headers.bytes)
        storage.give(first.headers)
        first = HTTPRequestHead(method: .GET, target: "/") // the message is done: nothing holds the section
        let second = try #require(head(&parser, "GET /b HTTP/1.1\r\nHost: b\r\nAccept: */*\r\n\r\n", storage: storage))
        #expect(address(second.headers.bytes) == firstBytes, "the given-back bytes were reused")
        #expect(second.headers == ["Host": "b", "Accept": "*/*"])
        #expect(storage.count == 0)
    }

    @Test func aSectionStillHeldIsNeverOverwritten() throws {
        let storage = HTTPHeaderStorage()
        var parser = HTTPMessageParser(.request)
        let first = try #require(head(&parser, "GET /a HTTP/1.1\r\nHost: a\r\nX-Id: 1\r\n\r\n", storage: storage))
        storage.give(first.headers) // given back too early: `first` still holds it
        let second = try #require(head(&parser, "GET /b HTTP/1.1\r\nHost: b\r\nX-Id: 2\r\n\r\n", storage: storage))
        #expect(first.headers == ["Host": "a", "X-Id": "1"])
        #expect(second.headers == ["Host": "b", "X-Id": "2"])
        #expect(address(first.headers.bytes) != address(second.headers.bytes))
    }

    @Test func responsesAndErrorsWorkWithStorageAndLargeSectionsAreNotKept() throws {
        let storage = HTTPHeaderStorage()
        var responses = HTTPMessageParser(.response)
        responses.expectResponse(to: .GET)
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: x\r\n\r\nok".utf8)
        guard case .responseHead(let response, let framing, _) = responses.parse(bytes.span, storage: storage) else {
            Issue.record("no response head")
            return
        }
        #expect(response.headers == ["Content-Length": "2", "Server": "x"] && framing == .contentLength(2))
        storage.give(response.headers)
        #expect(storage.count == 1)

        var requests = HTTPMessageParser(.request)
        let bad = Array("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n".utf8)
        guard case .failure(let error) = requests.parse(bad.span, storage: storage) else {
            Issue.record("a malformed field name was accepted")
            return
        }
        #expect(error.reason == HTTPParseError.Reason.spaceBeforeColon || error.reason == HTTPParseError.Reason.invalidFieldName)

        var large = HTTPHeaders()
        large.add(name: "X-Big", value: String(repeating: "v", count: HTTPHeaderStorage.maximumKeptBytes))
        storage.give(large)
        #expect(storage.count <= 1, "a section that grew past the limit is not kept")
    }
}
