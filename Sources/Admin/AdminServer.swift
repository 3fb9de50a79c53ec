import Addresses
import LinuxSys
import Reactor
import Synchronization

/// Whether the proxy should receive traffic, and if not, why (the body of a 503).
public struct Readiness: Sendable, Equatable {
    public var problems: [String]
    public init(problems: [String] = []) { self.problems = problems }
    public var isReady: Bool { problems.isEmpty }
}

/// A response the admin server sends: status, content type and body.
public struct AdminResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: String

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// One request to the admin server, as its route sees it.
public struct AdminCall: Sendable {
    /// The name of the listener it came to.
    public let listener: String
    /// `GET`, `HEAD`, and on listeners that take them, `PUT` and `POST`.
    public let method: String
    /// The target's path, without the query.
    public let path: String
    /// The target's query, without `?` ("" when none).
    public let query: String
    /// The body (`Content-Length` bytes; empty for GET).
    public let body: [UInt8]

    public init(listener: String, method: String, path: String, query: String = "", body: [UInt8] = []) {
        self.listener = listener
        self.method = method
        self.path = path
        self.query = query
        self.body = body
    }
}

/// The small HTTP/1.1 server behind the health (15021), metrics (15090) and admin (15000) ports:
/// one request per connection (`Connection: close`), on its own thread and epoll loop so a slow
/// scraper never touches a data-path worker. GET and HEAD everywhere; PUT and POST, with a
/// `Content-Length` body of at most `maximumBodyBytes`, only on the listeners named in
/// `writable`. `route` maps a call to a response; it runs on the admin thread and must not block
/// for long.
public final class AdminServer: @unchecked Sendable {
    // @unchecked: after start() everything below is confined to the admin thread, except `stop`,
    // which only sets an atomic flag and wakes the loop.
    public typealias Route = @Sendable (_ call: AdminCall) -> AdminResponse?

    private struct Client {
        let descriptor: Descriptor
        let listener: String
        var received: [UInt8] = []
        let deadline: UInt64
    }

    private let loop: EventLoop
    private let listeners: [(name: String, descriptor: Descriptor, address: SocketAddress)]
    private let route: Route
    private let writable: Set<String>
    private var clients: [Int: Client] = [:]
    private var nextClient = 1
    private let stopping = StopFlag()

    /// The most a request head may take; admin requests are a line and a few headers.
    static let maximumRequestBytes = 8192
    /// The most a PUT or POST body may take (configuration files are at most 4 MiB).
    public static let maximumBodyBytes = 4 << 20
    /// A client that has not sent its request within this time is dropped.
    static let requestTimeout: UInt64 = 5_000_000_000

    /// Binds every `(name, address)` listener now (so a port in use fails at start-up) and
    /// creates the loop; `start()` serves them.
    public init(listen: [(name: String, address: SocketAddress)], writable: Set<String> = [], route: @escaping Route) throws(SyscallError) {
        self.writable = writable
        loop = try EventLoop(capacity: 64)
        var bound: [(String, Descriptor, SocketAddress)] = []
        for (name, address) in listen {
            let descriptor = try Socket.makeTCP(address.family)
            do {
                if address.family == .ipv6 { try Socket.setDualStack(descriptor) }
                try Socket.setReuseAddress(descriptor)
                try Socket.bind(descriptor, to: address)
                try Socket.listen(descriptor, backlog: 64)
                try loop.epoll.add(descriptor, events: [.readable, .edgeTriggered], token: UInt64(bound.count) | Self.listenerFlag)
            } catch {
                descriptor.close()
                for (_, open, _) in bound { open.close() }
                throw error
            }
            bound.append((name, descriptor, (try? Socket.localAddress(descriptor)) ?? address))
        }
        listeners = bound
        self.route = route
    }

    private static let listenerFlag: UInt64 = 1 << 62

    /// Where each listener is bound (the kernel's port when 0 was asked for), by name.
    public var boundAddresses: [String: SocketAddress] {
        Dictionary(uniqueKeysWithValues: listeners.map { ($0.name, $0.address) })
    }

    /// Serves on a new thread until `stop()`.
    public func start() throws(SyscallError) -> OSThread {
        try OSThread.spawn(name: "weft-admin") { [self] in run() }
    }

    /// Asks the admin thread to close everything and return.
    public func stop() {
        stopping.set()
        loop.wake()
    }

    private func run() {
        while !stopping.isSet {
            // Nothing to do between requests: sleep until a client or its deadline; `stop()` wakes
            // the loop.
            let count = loop.wait(maximumMilliseconds: -1)
            for index in 0..<count {
                let token = loop.epoll.token(at: index)
                if token == EventLoop.wakerToken {
                    loop.acknowledgeWake()
                } else if token & Self.listenerFlag != 0 {
                    accept(from: Int(token & ~Self.listenerFlag))
                } else {
                    serve(Int(token))
                }
            }
            while let key = loop.timers.popExpired(now: loop.now) {
                if let client = clients.removeValue(forKey: key) { client.descriptor.close() }
            }
        }
        for client in clients.values { client.descriptor.close() }
        for listener in listeners { listener.descriptor.close() }
    }

    private func accept(from index: Int) {
        let listener = listeners[index]
        while true {
            guard case .done(let (descriptor, _))? = try? Socket.accept(listener.descriptor) else { return }
            let key = nextClient
            nextClient += 1
            guard (try? loop.epoll.add(descriptor, events: [.readable, .edgeTriggered], token: UInt64(key))) != nil else {
                descriptor.close()
                continue
            }
            clients[key] = Client(descriptor: descriptor, listener: listener.name, deadline: loop.now + Self.requestTimeout)
            loop.timers.schedule(key, at: loop.now + Self.requestTimeout)
            serve(key)
        }
    }

    private func serve(_ key: Int) {
        guard var client = clients[key] else { return }
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let outcome = try? Socket.receive(client.descriptor, into: &chunk)
            guard case .done(let count)? = outcome else {
                if outcome == nil { finish(key) } // reset or error
                break
            }
            if count == 0 { finish(key); return }
            client.received += chunk[0..<count]
            if client.received.count > Self.maximumRequestBytes, AdminRequest(head: client.received) == nil {
                respond(client, AdminResponse(status: 431, body: "request head too large\n"))
                finish(key)
                return
            }
            if client.received.count > Self.maximumRequestBytes + Self.maximumBodyBytes {
                respond(client, AdminResponse(status: 413, body: "request body larger than \(Self.maximumBodyBytes) bytes\n"))
                finish(key)
                return
            }
        }
        clients[key] = client
        guard let request = AdminRequest(head: client.received) else { return } // need more bytes
        let response: AdminResponse
        if request.headLength > Self.maximumRequestBytes {
            respond(client, AdminResponse(status: 431, body: "request head too large\n"))
            finish(key)
            return
        }
        switch request.parsed {
        case .failure(let error):
            let text = error.status == 411 ? "send the body with Content-Length, not Transfer-Encoding\n" : "bad request\n"
            response = AdminResponse(status: error.status, body: text)
        case .success(let (method, path)):
            let writes = method == "PUT" || method == "POST"
            if method != "GET", method != "HEAD", !(writes && writable.contains(client.listener)) {
                let allowed = writable.contains(client.listener) ? "GET, HEAD, PUT and POST are" : "only GET and HEAD are"
                response = AdminResponse(status: 405, body: "\(allowed) served on this port\n")
            } else if request.contentLength > Self.maximumBodyBytes {
                response = AdminResponse(status: 413, body: "request body larger than \(Self.maximumBodyBytes) bytes\n")
            } else {
                guard client.received.count >= request.headLength + request.contentLength else { return } // the rest of the body
                let body = Array(client.received[request.headLength..<(request.headLength + request.contentLength)])
                let call = AdminCall(listener: client.listener, method: method, path: path, query: request.query, body: body)
                response = route(call) ?? AdminResponse(status: 404, body: "no such page: \(path)\n")
            }
        }
        respond(client, response, headOnly: request.method == "HEAD")
        finish(key)
    }

    private func respond(_ client: Client, _ response: AdminResponse, headOnly: Bool = false) {
        let body = Array(response.body.utf8)
        var text = "HTTP/1.1 \(response.status) \(AdminResponse.reason(response.status))\r\n"
        text += "Content-Type: \(response.contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        var bytes = Array(text.utf8)
        if !headOnly { bytes += body }
        // Admin responses are small (a few KiB of metrics) and the socket buffer is empty: one
        // send normally takes all of it; a client too slow to take it is simply cut off.
        var offset = 0
        while offset < bytes.count {
            let outcome = try? Socket.send(client.descriptor, bytes: bytes[offset...])
            guard case .done(let count)? = outcome, count > 0 else { break }
            offset += count
        }
        try? Socket.shutdownWrite(client.descriptor)
    }

    private func finish(_ key: Int) {
        guard let client = clients.removeValue(forKey: key) else { return }
        loop.timers.cancel(key)
        client.descriptor.close()
    }
}

/// A one-shot flag set by one thread and read by another.
private final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}
