/// The request line of an admin request, read from the bytes received so far. Admin clients are
/// kubelets, Prometheus and operators' curl: a GET with a path and a few headers. The head is not
/// forwarded anywhere, so a strict reading of the request line (RFC 9112 §3) is all it needs;
/// header fields are skipped.
struct AdminRequest {
    /// `.success((method, path))`, or `.failure(status)` for a malformed request line.
    let parsed: Result<(String, String), StatusError>
    /// The query after `?` in the target, without it ("" when none).
    private(set) var query = ""
    /// Bytes of the head, up to and including its blank line: the body starts here.
    private(set) var headLength = 0
    /// The body's length from `Content-Length` (0 without one); a request with
    /// `Transfer-Encoding` or an unreadable length parses as a failure (411 / 400).
    private(set) var contentLength = 0
    /// The method when the line parsed.
    var method: String? { if case .success(let (method, _)) = parsed { return method } else { return nil } }

    struct StatusError: Error, Equatable {
        let status: Int
    }

    /// nil until the whole head (ending in an empty line) has arrived.
    init?(head bytes: [UInt8]) {
        guard let end = Self.endOfHead(bytes) else { return nil }
        headLength = end
        guard let lineEnd = bytes[..<end].firstIndex(of: UInt8(ascii: "\r")), bytes[lineEnd + 1] == UInt8(ascii: "\n") else {
            parsed = .failure(StatusError(status: 400))
            return
        }
        let line = bytes[..<lineEnd]
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3,
              !parts[0].isEmpty, parts[0].allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }),
              parts[1].first == UInt8(ascii: "/"), parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7f }),
              parts[2].elementsEqual("HTTP/1.1".utf8) || parts[2].elementsEqual("HTTP/1.0".utf8) else {
            parsed = .failure(StatusError(status: 400))
            return
        }
        var path = String(decoding: parts[1], as: UTF8.self)
        if let question = path.firstIndex(of: "?") {
            query = String(path[path.index(after: question)...])
            path = String(path[..<question])
        }
        // Header fields: only the body's framing matters here (RFC 9112 §6).
        let fields = String(decoding: bytes[(lineEnd + 2)..<end], as: UTF8.self)
        for line in fields.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            if name == "transfer-encoding" {
                parsed = .failure(StatusError(status: 411))
                return
            }
            if name == "content-length" {
                guard let length = Int(value), length >= 0 else {
                    parsed = .failure(StatusError(status: 400))
                    return
                }
                contentLength = length
            }
        }
        parsed = .success((String(decoding: parts[0], as: UTF8.self), path))
    }

    /// The index of the blank line's final LF + 1 (the end of the head), if present.
    private static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count where bytes[index] == UInt8(ascii: "\n") && bytes[index - 1] == UInt8(ascii: "\r")
            && bytes[index - 2] == UInt8(ascii: "\n") && bytes[index - 3] == UInt8(ascii: "\r") {
            return index + 1
        }
        return nil
    }
}

extension AdminResponse {
    /// RFC 9110 §15 reason phrases for the statuses the admin server sends.
    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 431: return "Request Header Fields Too Large"
        case 503: return "Service Unavailable"
        default: return "Status \(status)"
        }
    }
}

extension Substring {
    /// The substring without leading and trailing characters of `set`.
    func trimmingCharacters(in set: String) -> String {
        var text = self[...]
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
