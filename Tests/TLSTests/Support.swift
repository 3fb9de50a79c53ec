import Addresses
import COpenSSL
import COpenSSLShims
import Glibc
import Identity
import LinuxSys
@testable import PKI
@testable import TLS

let meshDomain = try! TrustDomain(parsing: "cluster.local")

func spiffe(_ text: String) -> SPIFFEID { try! SPIFFEID(parsing: text) }

func now() -> Int64 { Int64(Clock.wallClock().seconds) }

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Files

/// A directory under /tmp removed (with the files in it, one level of subdirectories and symlinks)
/// by `remove()`.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/weft-tls-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp: \(Errno.current)") }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        // Written to a temporary name beside it and renamed, as any sane writer of credentials does.
        let slash = name.lastIndex(of: "/")
        let temporary = file(slash.map { "\(name[..<$0])/.\(name[name.index(after: $0)...]).tmp" } ?? ".\(name).tmp")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TestFailure("open \(temporary): \(Errno.current)") }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw TestFailure("short write to \(temporary)") }
        guard rename(temporary, file(name)) == 0 else { throw TestFailure("rename \(temporary): \(Errno.current)") }
    }

    /// Writes `bytes` in place (truncate, then write), as a careless writer would.
    func overwrite(_ name: String, _ bytes: [UInt8]) throws {
        let fd = open(file(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TestFailure("open \(name): \(Errno.current)") }
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func remove() {
        removeTree(path)
    }

    private func removeTree(_ path: String) {
        guard let directory = opendir(path) else { return }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(directory)
        for name in names {
            let child = "\(path)/\(name)"
            var info = stat()
            if lstat(child, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { removeTree(child) } else { unlink(child) }
        }
        rmdir(path)
    }
}

// MARK: - Certificates

/// PEM bytes of a workload identity, as the three files hold them.
struct IdentityPEM {
    var chain: [UInt8]
    var key: [UInt8]
    var bundle: [UInt8]

    init(chain: [UInt8], key: [UInt8], bundle: [UInt8]) {
        self.chain = chain
        self.key = key
        self.bundle = bundle
    }

    init(_ workload: WorkloadCredentials) throws {
        chain = try workload.chain.flatMap { try $0.pem() }
        key = try workload.key.pem()
        bundle = try workload.trustBundle.flatMap { try $0.pem() }
    }

    /// Writes cert-chain.pem, key.pem and root-cert.pem into `directory`.
    func write(to directory: TemporaryDirectory) throws -> TLSIdentityFiles {
        try directory.write("root-cert.pem", bundle)
        try directory.write("key.pem", key)
        try directory.write("cert-chain.pem", chain)
        return TLSIdentityFiles.inDirectory(directory.path)
    }

    /// Credentials built from these bytes as of `at` (seconds since the epoch; now by default):
    /// how a test makes a peer whose certificate is expired now.
    func credentials(trustDomain: TrustDomain = meshDomain, at: Int64? = nil, name: String = "test") throws -> TLSCredentials {
        let files = TLSIdentityFiles(certificateChain: "\(name)/cert-chain.pem", privateKey: "\(name)/key.pem", trustBundle: "\(name)/root-cert.pem")
        return try TLSCredentials.build(chainPEM: chain, keyPEM: key, bundlePEM: bundle, files: files, trustDomain: trustDomain, now: Int(at ?? now()))
    }
}

/// A root CA (and optionally an intermediate) for one trust domain, issuing workload identities.
struct TestCA {
    let root: CertificateAuthority
    let issuer: CertificateAuthority

    /// Backdated by a day, so tests can issue certificates that have already expired.
    init(trustDomain: TrustDomain = meshDomain, intermediate: Bool = false) throws {
        let created = now() - 86400
        root = try CertificateAuthority.createRoot(trustDomain: trustDomain, lifetime: .seconds(30 * 86400), now: created)
        issuer = intermediate ? try root.issueIntermediate(lifetime: .seconds(20 * 86400), now: created) : root
    }

    var rootPEM: [UInt8] { try! root.certificate.pem() }

    /// A workload identity for `id`, valid from `at` - 5 minutes for `lifetime`.
    func issue(_ id: String, lifetime: Duration = .seconds(86400), at: Int64? = nil) throws -> IdentityPEM {
        try IdentityPEM(issuer.issueWorkload(spiffe(id), lifetime: lifetime, now: at ?? now()))
    }

    /// A leaf signed by this CA with whatever subjectAltName text (x509v3_config(5)) a test wants,
    /// including what `issueWorkload` refuses to make: no URI, two URIs, another trust domain, a
    /// CA certificate as leaf.
    func craft(subjectAltName: String?, isCA: Bool = false) throws -> IdentityPEM {
        let key = try PKI.PrivateKey.generateP256()
        guard let x509 = X509_new() else { throw TestFailure("X509_new") }
        defer { X509_free(x509) }
        X509_set_version(x509, 2)
        ASN1_INTEGER_set(X509_get_serialNumber(x509), Int(arc4random_uniform(1 << 30)) + 1)
        let name = X509_get_subject_name(x509)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, "crafted", -1, -1, 0)
        X509_set_issuer_name(x509, X509_get_subject_name(issuer.certificate.pointer))
        ASN1_TIME_set(X509_getm_notBefore(x509), time_t(now() - 300))
        ASN1_TIME_set(X509_getm_notAfter(x509), time_t(now() + 86400))
        X509_set_pubkey(x509, key.pointer)
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer.certificate.pointer, x509, nil, nil, 0)
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, isCA ? "critical,CA:TRUE" : "critical,CA:FALSE"),
            (NID_key_usage, isCA ? "critical,keyCertSign,digitalSignature" : "critical,digitalSignature"),
            (NID_ext_key_usage, "serverAuth,clientAuth"),
        ]
        if let subjectAltName { extensions.append((NID_subject_alt_name, subjectAltName)) }
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else { throw TestFailure("extension \(value)") }
            X509_add_ext(x509, ext, -1)
            X509_EXTENSION_free(ext)
        }
        guard X509_sign(x509, issuer.key.pointer, EVP_sha256()) > 0 else { throw TestFailure("X509_sign") }
        let intermediates = try issuer.chain.dropLast().flatMap { try $0.pem() }
        return IdentityPEM(chain: try pem(x509) + intermediates, key: try key.pem(), bundle: rootPEM)
    }

    private func pem(_ x509: OpaquePointer) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw TestFailure("BIO_new") }
        defer { BIO_free(bio) }
        PEM_write_bio_X509(bio, x509)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = BIO_read(bio, &chunk, Int32(chunk.count))
            if count <= 0 { return bytes }
            bytes += chunk[0..<Int(count)]
        }
    }
}

/// The identities most tests use: one CA, a client and a server workload.
struct Mesh {
    let ca: TestCA
    let client: TLSCredentials
    let server: TLSCredentials
    static let clientID = "spiffe://cluster.local/ns/shop/sa/frontend"
    static let serverID = "spiffe://cluster.local/ns/shop/sa/cart"

    init(intermediate: Bool = false) throws {
        ca = try TestCA(intermediate: intermediate)
        client = try ca.issue(Self.clientID).credentials(name: "client")
        server = try ca.issue(Self.serverID).credentials(name: "server")
    }
}

// MARK: - Sockets

/// Two connected, non-blocking TCP sockets on 127.0.0.1.
final class SocketPair {
    let client: Descriptor
    let server: Descriptor
    private var closed = false

    init() throws {
        // OpenSSL writes with write(2): a peer that reset must give EPIPE, not kill the test run.
        ProcessInfo.ignoreBrokenPipeSignal()
        let listener = try Socket.makeTCP(.ipv4)
        defer { listener.close() }
        try Socket.bind(listener, to: SocketAddress(IPv4Address.loopback, port: 0))
        try Socket.listen(listener, backlog: 4)
        let address = try Socket.localAddress(listener)
        client = try Socket.makeTCP(.ipv4)
        _ = try Socket.connect(client, to: address)
        for _ in 0..<2000 {
            if case .done(let (accepted, _)) = try Socket.accept(listener) {
                server = accepted
                waitFor(client, POLLOUT, milliseconds: 2000)
                return
            }
            usleep(1000)
        }
        throw TestFailure("accept timed out")
    }

    /// The socket inodes (`socket:[N]` in /proc/self/fd), to find them again in a leak check.
    var inodes: [String] { [client, server].compactMap { descriptorTarget($0.rawValue) } }

    func close() {
        guard !closed else { return }
        closed = true
        client.close()
        server.close()
    }

    deinit { close() }
}

/// poll(2) for `events` on `fd`; true if they arrived within the time.
@discardableResult
func waitFor(_ fd: Descriptor, _ events: Int32, milliseconds: Int32) -> Bool {
    var entry = pollfd(fd: fd.rawValue, events: Int16(events), revents: 0)
    return poll(&entry, 1, milliseconds) > 0
}

func waitFor(_ fds: [(Descriptor, Int32)], milliseconds: Int32) {
    var entries = fds.map { pollfd(fd: $0.0.rawValue, events: Int16($0.1), revents: 0) }
    _ = poll(&entries, nfds_t(entries.count), milliseconds)
}

/// Sends raw bytes, as a peer that does not speak TLS.
func sendRaw(_ fd: Descriptor, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        switch try bytes.withUnsafeBytes({ try Socket.send(fd, from: $0.baseAddress! + offset, count: bytes.count - offset) }) {
        case .done(let count): offset += count
        case .wouldBlock: waitFor(fd, POLLOUT, milliseconds: 2000)
        }
    }
}

/// Whatever raw bytes are waiting on `fd` (after up to 2 s for the first).
func receiveRaw(_ fd: Descriptor) throws -> [UInt8] {
    waitFor(fd, POLLIN, milliseconds: 2000)
    var buffer = [UInt8](repeating: 0, count: 65536)
    switch try buffer.withUnsafeMutableBytes({ try Socket.receive(fd, into: $0.baseAddress!, count: $0.count) }) {
    case .done(let count): return Array(buffer[0..<count])
    case .wouldBlock: return []
    }
}

/// `socket:[1234]`, `/tmp/...`: what /proc/self/fd/N points at, or nil if N is not open.
func descriptorTarget(_ fd: Int32) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Every open descriptor's target.
func openDescriptorTargets() -> [String] {
    guard let directory = opendir("/proc/self/fd") else { return [] }
    var numbers: [Int32] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if let number = Int32(name) { numbers.append(number) }
    }
    closedir(directory)
    return numbers.compactMap(descriptorTarget)
}

// MARK: - Driving TLS

/// Anything that can take a handshake step: a TLSStream or a raw OpenSSL peer.
protocol HandshakeParty: AnyObject {
    func step() -> TLSStep
}

extension TLSStream: HandshakeParty {
    func step() -> TLSStep { handshake() }
}

/// Runs both handshakes to the end (each `.done` or `.failed`) over their non-blocking sockets,
/// polling between rounds. A side that fails has its socket shut down, as the proxy would close
/// it, so the other side sees the end instead of waiting. Gives up after 5 s.
@discardableResult
func handshake(_ a: HandshakeParty, _ aSocket: Descriptor, _ b: HandshakeParty, _ bSocket: Descriptor) -> (TLSStep, TLSStep) {
    var results: [TLSStep?] = [nil, nil]
    let parties = [a, b]
    let sockets = [aSocket, bSocket]
    let deadline = Clock.monotonicNanoseconds() + 5_000_000_000
    while results.contains(where: { $0 == nil }) && Clock.monotonicNanoseconds() < deadline {
        var waits: [(Descriptor, Int32)] = []
        for index in 0..<2 where results[index] == nil {
            switch parties[index].step() {
            case .done:
                results[index] = .done
            case .failed(let failure):
                results[index] = .failed(failure)
                shutdown(sockets[index].rawValue, Int32(SHUT_RDWR))
            case .wantRead:
                waits.append((sockets[index], POLLIN))
            case .wantWrite:
                waits.append((sockets[index], POLLOUT))
            }
        }
        if !waits.isEmpty { waitFor(waits, milliseconds: 50) }
    }
    return (results[0] ?? .failed(TLSFailure(.protocol, "test: no progress in 5 s")), results[1] ?? .failed(TLSFailure(.protocol, "test: no progress in 5 s")))
}

extension TLSStep {
    var failure: TLSFailure? {
        if case .failed(let failure) = self { return failure }
        return nil
    }
}

extension TLSIO {
    var failure: TLSFailure? {
        if case .failed(let failure) = self { return failure }
        return nil
    }
}

/// Reads from `stream` until something other than bytes comes back or `limit` bytes arrived,
/// waiting up to 2 s for readiness each time. Returns the bytes and what ended the reading.
func readAvailable(_ stream: TLSStream, limit: Int = 1 << 20, waitMilliseconds: Int32 = 2000) -> ([UInt8], TLSIO) {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    let deadline = Clock.monotonicNanoseconds() + UInt64(waitMilliseconds) * 1_000_000
    while true {
        let outcome = buffer.withUnsafeMutableBytes { stream.read(into: $0.baseAddress!, count: $0.count) }
        switch outcome {
        case .bytes(let count):
            bytes += buffer[0..<count]
            if bytes.count >= limit { return (bytes, outcome) }
        case .wantRead:
            if Clock.monotonicNanoseconds() >= deadline { return (bytes, outcome) }
            waitFor(stream.descriptor, POLLIN, milliseconds: 50)
        case .wantWrite:
            if Clock.monotonicNanoseconds() >= deadline { return (bytes, outcome) }
            waitFor(stream.descriptor, POLLOUT, milliseconds: 50)
        case .closed, .failed:
            return (bytes, outcome)
        }
    }
}

/// Moves `aToB` from `a` to `b` and `bToA` from `b` to `a` at the same time, every call
/// non-blocking, writing from a moving position in the source (partial writes). Returns what each
/// side received. Gives up after 20 s.
func exchange(_ a: TLSStream, _ b: TLSStream, aToB: [UInt8], bToA: [UInt8]) -> (atB: [UInt8], atA: [UInt8]) {
    final class Direction {
        let from: TLSStream
        let to: TLSStream
        let data: [UInt8]
        var sent = 0
        var received: [UInt8] = []
        init(from: TLSStream, to: TLSStream, data: [UInt8]) {
            self.from = from
            self.to = to
            self.data = data
            received.reserveCapacity(data.count)
        }
        var finished: Bool { received.count >= data.count }
    }
    let directions = [Direction(from: a, to: b, data: aToB), Direction(from: b, to: a, data: bToA)]
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    let deadline = Clock.monotonicNanoseconds() + 20_000_000_000
    while !directions.allSatisfy(\.finished) && Clock.monotonicNanoseconds() < deadline {
        var waits: [(Descriptor, Int32)] = []
        for direction in directions {
            if direction.sent < direction.data.count {
                let outcome = direction.data.withUnsafeBytes {
                    direction.from.write(from: $0.baseAddress! + direction.sent, count: min(96 * 1024, direction.data.count - direction.sent))
                }
                switch outcome {
                case .bytes(let count): direction.sent += count
                case .wantWrite: waits.append((direction.from.descriptor, POLLOUT))
                case .wantRead: waits.append((direction.from.descriptor, POLLIN))
                case .closed, .failed: return (directions[0].received, directions[1].received)
                }
            }
            // Read until the stream says wantRead: OpenSSL may hold records with no new edge.
            reading: while !direction.finished {
                let outcome = buffer.withUnsafeMutableBytes { direction.to.read(into: $0.baseAddress!, count: $0.count) }
                switch outcome {
                case .bytes(let count): direction.received += buffer[0..<count]
                case .wantRead:
                    waits.append((direction.to.descriptor, POLLIN))
                    break reading
                case .wantWrite:
                    waits.append((direction.to.descriptor, POLLOUT))
                    break reading
                case .closed, .failed: return (directions[0].received, directions[1].received)
                }
            }
        }
        if !waits.isEmpty { waitFor(waits, milliseconds: 20) }
    }
    return (directions[0].received, directions[1].received)
}

/// Writes all of `bytes` to `stream`, waiting for writability.
func writeAll(_ stream: TLSStream, _ bytes: [UInt8]) -> TLSIO {
    var offset = 0
    while offset < bytes.count {
        let outcome = bytes.withUnsafeBytes { stream.write(from: $0.baseAddress! + offset, count: bytes.count - offset) }
        switch outcome {
        case .bytes(let count): offset += count
        case .wantWrite: waitFor(stream.descriptor, POLLOUT, milliseconds: 2000)
        case .wantRead: waitFor(stream.descriptor, POLLIN, milliseconds: 2000)
        case .closed, .failed: return outcome
        }
    }
    return .bytes(offset)
}

/// Deterministic pseudo-random bytes.
func patternBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes[index] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return bytes
}

// MARK: - A raw OpenSSL peer (not Weft's code): a misbehaving client or server

/// An OpenSSL connection configured by the test, to play peers Weft itself never is: one without
/// ALPN or with other protocols, without a certificate, with a certificate Weft would refuse to
/// load. It verifies nothing itself.
final class RawPeer: HandshakeParty {
    let context: OpaquePointer
    let ssl: OpaquePointer
    let descriptor: Descriptor

    /// `alpn`: protocols a client offers (nil: no ALPN extension). A server with `selectsALPN`
    /// picks `weft/1` when offered; without it, it ignores ALPN (agrees on nothing).
    init(client: Bool, descriptor: Descriptor, identity: IdentityPEM?, alpn: [String]? = nil, selectsALPN: Bool = true) throws {
        guard let context = SSL_CTX_new(client ? TLS_client_method() : TLS_server_method()) else { throw TestFailure("SSL_CTX_new") }
        self.context = context
        self.descriptor = descriptor
        _ = COpenSSLShims_tls_ctx_set_tls13_only(context)
        if let identity {
            let certificates = try readCertificates(identity.chain)
            SSL_CTX_use_certificate(context, certificates[0])
            for intermediate in certificates.dropFirst() { _ = COpenSSLShims_tls_ctx_add1_chain_cert(context, intermediate) }
            certificates.forEach { X509_free($0) }
            let key = try readKey(identity.key)
            SSL_CTX_use_PrivateKey(context, key)
            EVP_PKEY_free(key)
        }
        if client, let alpn {
            let wire = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count))
        }
        if !client {
            // Ask for a client certificate (so a Weft client sends one) without checking it.
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, { _, _ in 1 })
            if selectsALPN { SSL_CTX_set_alpn_select_cb(context, rawSelectWeft, nil) }
        }
        guard let ssl = SSL_new(context) else { throw TestFailure("SSL_new") }
        self.ssl = ssl
        SSL_set_fd(ssl, descriptor.rawValue)
        if client { SSL_set_connect_state(ssl) } else { SSL_set_accept_state(ssl) }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    /// The OpenSSL error text of the last failed step (what the peer saw, e.g. an alert).
    private(set) var lastError = ""

    func step() -> TLSStep {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        default:
            lastError = drainErrorText()
            return .failed(TLSFailure(.protocol, lastError))
        }
    }

    /// Reads once (after waiting for readability): the text of the error if it fails.
    func readError() -> String? {
        var buffer = [UInt8](repeating: 0, count: 1024)
        for _ in 0..<40 {
            ERR_clear_error()
            var count = 0
            if SSL_read_ex(ssl, &buffer, buffer.count, &count) == 1 { continue }
            let code = SSL_get_error(ssl, 0)
            if code == SSL_ERROR_WANT_READ {
                waitFor(descriptor, POLLIN, milliseconds: 50)
                continue
            }
            lastError = drainErrorText()
            return lastError
        }
        return nil
    }

    func write(_ bytes: [UInt8]) -> Bool {
        var count = 0
        return SSL_write_ex(ssl, bytes, bytes.count, &count) == 1
    }

    private func drainErrorText() -> String {
        var texts: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            texts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return texts.joined(separator: "; ")
    }
}

private func rawSelectWeft(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<UInt8>?,
    _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32, _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let offered else { return SSL_TLSEXT_ERR_NOACK }
    let list = Array(UnsafeBufferPointer(start: offered, count: Int(offeredLength)))
    var index = 0
    while index < list.count {
        let length = Int(list[index])
        if index + 1 + length <= list.count, Array(list[index + 1..<index + 1 + length]) == Array("weft/1".utf8) {
            out?.pointee = offered + index + 1
            outLength?.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index += 1 + length
    }
    return SSL_TLSEXT_ERR_NOACK
}

/// A memory BIO holding its own copy of `bytes` (BIO_new_mem_buf would point into an array
/// whose storage Swift only lends for one call).
private func memoryBIO(_ bytes: [UInt8]) throws -> OpaquePointer {
    guard let bio = BIO_new(BIO_s_mem()) else { throw TestFailure("BIO_new") }
    _ = bytes.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
    return bio
}

private func readCertificates(_ pem: [UInt8]) throws -> [OpaquePointer] {
    let bio = try memoryBIO(pem)
    defer { BIO_free(bio) }
    var certificates: [OpaquePointer] = []
    while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { certificates.append(certificate) }
    ERR_clear_error()
    guard !certificates.isEmpty else { throw TestFailure("no certificate in PEM") }
    return certificates
}

private func readKey(_ pem: [UInt8]) throws -> OpaquePointer {
    let bio = try memoryBIO(pem)
    defer { BIO_free(bio) }
    guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else { throw TestFailure("no key in PEM") }
    return key
}
