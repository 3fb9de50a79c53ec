import Addresses
import LinuxSys

/// A one-shot `GET` to a sidecar's local admin, health or metrics port, for the command line
/// (`weft wait`, `weft status`): blocking with one deadline for the whole exchange, HTTP/1.1 with
/// `Connection: close`, the response read until `Content-Length` is complete or the server closes.
/// Not for the data path: it waits in its own epoll instance.
public enum AdminClient {
    /// A complete answer.
    public struct Response: Sendable, Equatable {
        /// The status code (RFC 9110 §15).
        public let status: Int
        /// The body as text (invalid UTF-8 replaced).
        public let body: String

        public init(status: Int, body: String) {
            self.status = status
            self.body = body
        }
    }

    /// Why there is no answer. `description` names the address tried.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// connect(2) failed: ECONNREFUSED when nothing listens there.
        case cannotConnect(SocketAddress, Errno)
        /// No complete answer before the deadline.
        case timedOut(SocketAddress, milliseconds: Int)
        /// The connection broke after it was made (reset, ...), or a socket could not be made.
        case failed(SocketAddress, String)
        /// Something answered, but not HTTP/1.x, or more than `maximumResponseBytes`.
        case notHTTP(SocketAddress, String)

        public var description: String {
            switch self {
            case .cannotConnect(let address, let errno) where errno == .connectionRefused:
                return "nothing listens on \(address) (\(errno))"
            case .cannotConnect(let address, let errno): return "cannot connect to \(address): \(errno)"
            case .timedOut(let address, let milliseconds): return "no answer from \(address) within \(milliseconds) ms"
            case .failed(let address, let reason): return "the exchange with \(address) failed: \(reason)"
            case .notHTTP(let address, let reason): return "\(address) did not answer with HTTP: \(reason)"
            }
        }
    }

    /// The most of a response read (the largest admin answer, a config dump, is far smaller).
    public static let maximumResponseBytes = 8 << 20

    /// `GET path` on `address`, within `timeoutMilliseconds` for connecting, sending and reading.
    public static func get(_ address: SocketAddress, path: String, timeoutMilliseconds: Int = 2000) -> Result<Response, Failure> {
        request(address, method: "GET", path: path, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// `method path` without a body (`POST /quitquitquit`) on `address`, within
    /// `timeoutMilliseconds` for connecting, sending and reading.
    public static func request(_ address: SocketAddress, method: String, path: String, timeoutMilliseconds: Int = 2000) -> Result<Response, Failure> {
        let deadline = Clock.monotonicNanoseconds() &+ UInt64(max(0, timeoutMilliseconds)) &* 1_000_000
        let descriptor: Descriptor
        let epoll: Epoll
        do throws(SyscallError) {
            descriptor = try Socket.makeTCP(address.family)
        } catch {
            return .failure(.failed(address, "\(error)"))
        }
        defer { descriptor.close() }
        do throws(SyscallError) {
            epoll = try Epoll(capacity: 4)
            try epoll.add(descriptor, events: .writable, token: 0)
        } catch {
            return .failure(.failed(address, "\(error)"))
        }

        /// Waits until the socket is `events` (or has an error or hangup to report); false once
        /// the deadline passed.
        func wait(for events: EpollEvents) -> Bool {
            guard (try? epoll.modify(descriptor, events: events, token: 0)) != nil else { return false }
            while true {
                let now = Clock.monotonicNanoseconds()
                guard now < deadline else { return false }
                let milliseconds = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
                if epoll.wait(timeoutMilliseconds: milliseconds) > 0 { return true }
            }
        }
        let timedOut = Failure.timedOut(address, milliseconds: timeoutMilliseconds)

        do throws(SyscallError) {
            if try Socket.connect(descriptor, to: address) == .inProgress {
                guard wait(for: .writable) else { return .failure(timedOut) }
                if let error = Socket.pendingError(descriptor) { return .failure(.cannotConnect(address, error)) }
            }
        } catch {
            return .failure(.cannotConnect(address, error.errno))
        }

        let host = address.description
        // A bodiless POST says so (RFC 9110 §8.6); servers may refuse a POST without a length.
        let length = method == "GET" || method == "HEAD" ? "" : "Content-Length: 0\r\n"
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: weft\r\nAccept: */*\r\n\(length)Connection: close\r\n\r\n".utf8)
        var sent = 0
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        do throws(SyscallError) {
            while sent < request.count {
                switch try Socket.send(descriptor, bytes: request[sent...]) {
                case .done(let count): sent += count
                case .wouldBlock: guard wait(for: .writable) else { return .failure(timedOut) }
                }
            }
            // Once the head is all there, the answer is complete when its Content-Length is, or
            // (without one) when the server closes.
            var head: Head?
            var searched = 0
            while true {
                switch try Socket.receive(descriptor, into: &chunk) {
                case .done(0):
                    guard let head else {
                        return .failure(.notHTTP(address, received.isEmpty ? "the connection closed without an answer" : "no complete response head"))
                    }
                    return response(head, received, from: address)
                case .done(let count):
                    received += chunk[0..<count]
                    if received.count > maximumResponseBytes {
                        return .failure(.notHTTP(address, "the answer is larger than \(maximumResponseBytes) bytes"))
                    }
                    if head == nil {
                        switch parseHead(received, searchFrom: searched) {
                        case .success(let parsed): head = parsed
                        case .failure(let failure): return .failure(.notHTTP(address, failure.reason))
                        }
                        searched = max(0, received.count - 3)
                    }
                    // A server that keeps the connection open after a complete answer is done.
                    if let head, let length = head.contentLength, received.count >= head.length + length {
                        return response(head, received, from: address)
                    }
                case .wouldBlock:
                    guard wait(for: .readable) else { return .failure(timedOut) }
                }
            }
        } catch {
            return .failure(.failed(address, "\(error)"))
        }
    }

    /// A response head (RFC 9112 §4, §6): the status and the body's framing.
    struct Head: Equatable {
        let status: Int
        /// Bytes of the head including its empty line: the body starts here.
        let length: Int
        /// nil: the body runs to the end of the connection.
        let contentLength: Int?
    }

    /// The head, once `bytes` holds all of it (`.success(nil)` until then; the empty line is
    /// looked for from `searchFrom`); `.failure` with a reason when it is not an HTTP/1.x head.
    static func parseHead(_ bytes: [UInt8], searchFrom: Int = 0) -> Result<Head?, ParseFailure> {
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        guard bytes.count >= 4, let end = (min(searchFrom, bytes.count - 4)...(bytes.count - 4)).first(where: {
            bytes[$0..<$0 + 4].elementsEqual(terminator)
        }) else {
            return .success(nil)
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines[0]
        // status-line = HTTP-version SP status-code SP [ reason-phrase ]
        guard statusLine.hasPrefix("HTTP/1.1 ") || statusLine.hasPrefix("HTTP/1.0 "),
              let status = Int(statusLine.dropFirst(9).prefix(3)), (100...599).contains(status),
              statusLine.count == 12 || statusLine.dropFirst(12).first == " " else {
            return .failure(ParseFailure(reason: "the first line is \(String(statusLine.prefix(80)).debugDescription)"))
        }
        var contentLength: Int?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == "content-length" else { continue }
            guard let length = Int(line[line.index(after: colon)...].trimmingCharacters(in: " \t")), length >= 0 else {
                return .failure(ParseFailure(reason: "an unreadable Content-Length"))
            }
            contentLength = length
        }
        return .success(Head(status: status, length: end + 4, contentLength: contentLength))
    }

    struct ParseFailure: Error, Equatable {
        let reason: String
    }

    /// The answer of `head` in `bytes`, now that the connection closed or the body is complete.
    static func response(_ head: Head, _ bytes: [UInt8], from address: SocketAddress) -> Result<Response, Failure> {
        let available = bytes.count - head.length
        guard let length = head.contentLength else {
            return .success(Response(status: head.status, body: String(decoding: bytes[head.length...], as: UTF8.self)))
        }
        guard available >= length else {
            return .failure(.notHTTP(address, "the connection closed after \(available) of the \(length) bytes of the body"))
        }
        return .success(Response(status: head.status, body: String(decoding: bytes[head.length..<(head.length + length)], as: UTF8.self)))
    }
}
