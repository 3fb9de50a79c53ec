import Glibc
import Identity
import LinuxSys
@testable import PKI
import Synchronization
import Testing
@testable import TLS

@Suite("Loading credentials")
struct CredentialLoadingTests {
    @Test func validFilesLoadWithIdentitySerialAndValidity() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ca = try TestCA(intermediate: true)
        let identity = try ca.issue(Mesh.serverID)
        let files = try identity.write(to: directory)
        let credentials = try TLSCredentials.load(files, trustDomain: meshDomain)
        #expect(credentials.identity == spiffe(Mesh.serverID))
        #expect(credentials.trustDomain == meshDomain)
        #expect(credentials.serial == (try PKI.Certificate.all(pem: identity.chain, source: "chain"))[0].info.serialNumber)
        #expect(credentials.notAfter - credentials.notBefore == 86400 + 300, "PKI backdates by its clock-skew allowance")
        #expect(credentials.isValidNow)
        #expect(credentials.trustAnchorCount == 1)
    }

    @Test func chainAndTrustAnchorsAreSummarizedAsPKIReadsThem() throws {
        let ca = try TestCA(intermediate: true)
        let identity = try ca.issue(Mesh.serverID)
        let credentials = try identity.credentials()
        // What the PKI target (its own reader of the same PEM) says about each certificate.
        func expected(_ pem: [UInt8]) throws -> [TLSCertificateSummary] {
            try PKI.Certificate.all(pem: pem, source: "test").map { certificate in
                let info = certificate.info
                return TLSCertificateSummary(
                    subject: info.subject, serial: info.serialNumber, notBefore: Int(info.notBefore), notAfter: Int(info.notAfter),
                    uris: info.subjectAlternativeNames.compactMap { if case .uri(let uri) = $0 { uri } else { nil } }, isCA: info.isCA)
            }
        }
        #expect(credentials.chain == (try expected(identity.chain)))
        #expect(credentials.trustAnchors == (try expected(identity.bundle)))
        #expect(credentials.chain.count == 2, "the leaf and the intermediate")
        #expect(credentials.chain[0].uris == [Mesh.serverID])
        #expect(credentials.chain[0].serial == credentials.serial)
        #expect(credentials.chain[0].subject == "O=cluster.local")
        #expect(!credentials.chain[0].isCA && credentials.chain[1].isCA && credentials.trustAnchors[0].isCA)
        #expect(credentials.trustAnchors[0].subject == "CN=Weft root CA,O=cluster.local")
    }

    /// How each broken file is reported: (name, what to do to the good files, kind, words the
    /// message must contain).
    static let broken: [(String, @Sendable (TemporaryDirectory, TestCA) throws -> Void, TLSError.Kind, [String])] = [
        ("missing chain", { directory, _ in unlink(directory.file("cert-chain.pem")) }, .unreadable, ["cert-chain.pem", "unreadable: ENOENT"]),
        ("key is a directory", { directory, _ in unlink(directory.file("key.pem")); mkdir(directory.file("key.pem"), 0o700) }, .unreadable, ["key.pem", "not a regular file"]),
        ("empty chain", { directory, _ in try directory.write("cert-chain.pem", []) }, .malformed, ["cert-chain.pem", "no PEM certificate"]),
        ("chain cut in the middle", { directory, _ in
            let chain = try readFile(directory.file("cert-chain.pem"))
            try directory.write("cert-chain.pem", Array(chain.prefix(chain.count / 2)))
        }, .malformed, ["cert-chain.pem", "does not decode"]),
        ("key is a certificate", { directory, _ in try directory.write("key.pem", try readFile(directory.file("root-cert.pem"))) }, .malformed, ["key.pem", "no PEM private key"]),
        ("bundle is garbage", { directory, _ in try directory.write("root-cert.pem", Array("not pem".utf8)) }, .malformed, ["root-cert.pem"]),
        ("key of another workload", { directory, ca in try directory.write("key.pem", try ca.issue(Mesh.clientID).key) }, .keyMismatch, ["key.pem", "key does not match certificate", "cert-chain.pem"]),
        ("expired", { directory, ca in
            _ = try ca.issue(Mesh.serverID, lifetime: .seconds(600), at: now() - 3600).write(to: directory)
        }, .expired, ["cert-chain.pem", "expired at 20"]),
        ("not yet valid", { directory, ca in
            _ = try ca.issue(Mesh.serverID, lifetime: .seconds(600), at: now() + 3600).write(to: directory)
        }, .notYetValid, ["cert-chain.pem", "not valid before"]),
        ("no SPIFFE id", { directory, ca in _ = try ca.craft(subjectAltName: "DNS:cart").write(to: directory) }, .noSPIFFEID, ["no SPIFFE id in the leaf certificate", "cert-chain.pem"]),
        ("two SPIFFE ids", { directory, ca in
            _ = try ca.craft(subjectAltName: "URI:spiffe://cluster.local/ns/a/sa/b,URI:spiffe://cluster.local/ns/a/sa/c").write(to: directory)
        }, .noSPIFFEID, ["2 URI SANs"]),
        ("another trust domain", { directory, ca in
            _ = try ca.craft(subjectAltName: "URI:spiffe://elsewhere.test/ns/a/sa/b").write(to: directory)
        }, .wrongTrustDomain, ["spiffe://elsewhere.test/ns/a/sa/b", "cluster.local"]),
        ("a CA first", { directory, ca in
            _ = try ca.craft(subjectAltName: "URI:spiffe://cluster.local/ns/a/sa/b", isCA: true).write(to: directory)
        }, .notWorkload, ["CA"]),
        ("bundle of another CA", { directory, _ in try directory.write("root-cert.pem", try TestCA().rootPEM) }, .untrusted, ["root-cert.pem", "unable to get local issuer certificate"]),
    ]

    @Test("broken files are refused naming the file and the reason", arguments: broken)
    func brokenFiles(_ name: String, _ breakFiles: @Sendable (TemporaryDirectory, TestCA) throws -> Void, _ kind: TLSError.Kind, _ words: [String]) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ca = try TestCA()
        let files = try ca.issue(Mesh.serverID).write(to: directory)
        try breakFiles(directory, ca)
        do {
            _ = try TLSCredentials.load(files, trustDomain: meshDomain)
            Issue.record("\(name): loaded")
        } catch {
            #expect(error.kind == kind, "\(name): \(error)")
            for word in words { #expect(error.message.contains(word), "\(name): \(error.message) lacks \(word)") }
        }
    }
}

func readFile(_ path: String) throws -> [UInt8] {
    do { return try FileSystem.readRegularFile(path, limit: 1 << 20) } catch { throw TestFailure("\(path): \(error)") }
}

@Suite("Certificate rotation")
struct RotationTests {
    /// Events the watcher reported, collected from its thread.
    final class Events: Sendable {
        let list = Mutex<[CredentialEvent]>([])
        func record(_ event: CredentialEvent) { list.withLock { $0.append(event) } }
        var failures: [TLSError] { list.withLock { $0.compactMap { if case .reloadFailed(let error) = $0 { return error } else { return nil } } } }
        var reloads: Int { list.withLock { $0.filter { if case .reloaded = $0 { return true } else { return false } }.count } }
    }

    /// Polls `condition` every 10 ms for up to `seconds`; returns how long it took, or nil.
    func waitUntil(seconds: Double, _ condition: () -> Bool) -> Double? {
        let start = Clock.monotonicNanoseconds()
        while true {
            if condition() { return Double(Clock.monotonicNanoseconds() - start) / 1e9 }
            if Double(Clock.monotonicNanoseconds() - start) / 1e9 > seconds { return nil }
            usleep(10_000)
        }
    }

    func handshakeSerial(_ server: TLSCredentials, client: TLSCredentials) throws -> String? {
        let sockets = try SocketPair()
        let clientStream = try TLSStream.client(client, descriptor: sockets.client, expectedPeer: spiffe(Mesh.serverID), session: nil, sessionKey: "k")
        let serverStream = try TLSStream.server(server, descriptor: sockets.server)
        guard handshake(clientStream, sockets.client, serverStream, sockets.server) == (.done, .done) else { return nil }
        return clientStream.peerSerial
    }

    @Test func renewedFilesAreUsedWithinASecondAndOldConnectionsKeepRunning() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mesh = try Mesh()
        let files = try mesh.ca.issue(Mesh.serverID).write(to: directory)
        let events = Events()
        let store = try CredentialStore.start(files: files, trustDomain: meshDomain) { events.record($0) }
        defer { store.stop() }
        var view = store.view()
        let first = view.current()
        #expect(store.generation == 1 && view.generation == 1)
        #expect(try handshakeSerial(first, client: mesh.client) == first.serial)

        // A connection established before the rotation.
        let sockets = try SocketPair()
        let oldClient = try TLSStream.client(mesh.client, descriptor: sockets.client, expectedPeer: nil, session: nil, sessionKey: "k")
        let oldServer = try TLSStream.server(first, descriptor: sockets.server)
        #expect(handshake(oldClient, sockets.client, oldServer, sockets.server) == (.done, .done))

        // Renewed the way `weft ca issue` writes: temporary files renamed into place one by one.
        try mesh.ca.issuer.issueWorkload(spiffe(Mesh.serverID)).write(to: directory.path)
        let took = waitUntil(seconds: 1) { store.generation == 2 }
        #expect(took != nil, "the new certificate is in use within a second")
        let second = view.current()
        #expect(view.generation == 2)
        #expect(second.serial != first.serial)
        #expect(second.serial == store.current.serial)
        #expect(events.reloads == 1)
        #expect(events.failures.isEmpty, "a rotation caught between two renames is not reported: \(events.failures)")
        #expect(try handshakeSerial(view.current(), client: mesh.client) == second.serial, "new handshakes present the new certificate")

        let data = patternBytes(100_000, seed: 5)
        let moved = exchange(oldClient, oldServer, aToB: data, bToA: data)
        #expect(moved.atA == data && moved.atB == data, "the established connection is untouched")
        #expect(oldClient.peerSerial == first.serial)
    }

    @Test func brokenOrExpiredFilesKeepThePreviousCredentialsAndAreReportedOnce() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mesh = try Mesh()
        let files = try mesh.ca.issue(Mesh.serverID).write(to: directory)
        let events = Events()
        let store = try CredentialStore.start(files: files, trustDomain: meshDomain, pollInterval: .milliseconds(50)) { events.record($0) }
        defer { store.stop() }
        let serial = store.current.serial

        // Half a certificate, as a writer that truncates and writes in place leaves it for a moment.
        let good = try readFile(files.certificateChain)
        try directory.overwrite("cert-chain.pem", Array(good.prefix(good.count / 3)))
        #expect(waitUntil(seconds: 2) { events.failures.count == 1 } != nil)
        usleep(300_000)
        #expect(events.failures.count == 1, "reported once, not on every poll")
        #expect(events.failures.first?.kind == .malformed)
        #expect(store.generation == 1 && store.current.serial == serial, "still serving the previous certificate")
        #expect(try handshakeSerial(store.current, client: mesh.client) == serial)

        // Expired replacement files.
        _ = try mesh.ca.issue(Mesh.serverID, lifetime: .seconds(60), at: now() - 3600).write(to: directory)
        #expect(waitUntil(seconds: 2) { events.failures.count == 2 } != nil)
        #expect(events.failures.last?.kind == .expired)
        #expect(events.failures.last?.message.contains("expired at") == true)
        #expect(store.generation == 1 && store.current.serial == serial)
        #expect(store.isValidNow)

        // Then good files again.
        let fixed = try mesh.ca.issue(Mesh.serverID)
        _ = try fixed.write(to: directory)
        #expect(waitUntil(seconds: 2) { store.generation == 2 } != nil)
        #expect(store.current.serial != serial)
    }

    @Test func kubernetesSecretVolumeSymlinkSwapIsNoticed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mesh = try Mesh()
        // kubelet's layout: ..2024_01/<files>, ..data -> ..2024_01, <file> -> ..data/<file>.
        func publish(_ identity: IdentityPEM, version: String) throws {
            mkdir(directory.file(version), 0o755)
            for (name, bytes) in [("cert-chain.pem", identity.chain), ("key.pem", identity.key), ("root-cert.pem", identity.bundle)] {
                try directory.write("\(version)/\(name)", bytes)
            }
            symlink(version, directory.file("..data_tmp"))
            rename(directory.file("..data_tmp"), directory.file("..data"))
        }
        try publish(try mesh.ca.issue(Mesh.serverID), version: "..v1")
        for name in ["cert-chain.pem", "key.pem", "root-cert.pem"] { symlink("..data/\(name)", directory.file(name)) }
        let store = try CredentialStore.start(files: TLSIdentityFiles.inDirectory(directory.path), trustDomain: meshDomain) { _ in }
        defer { store.stop() }
        let before = store.current.serial
        try publish(try mesh.ca.issue(Mesh.serverID), version: "..v2")
        #expect(waitUntil(seconds: 1) { store.generation == 2 } != nil)
        #expect(store.current.serial != before)
    }

    @Test func startRefusesUnloadableFilesAndStopIsQuick() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: TLSError.self) {
            try CredentialStore.start(files: TLSIdentityFiles.inDirectory(directory.path), trustDomain: meshDomain) { _ in }
        }
        let mesh = try Mesh()
        let files = try mesh.ca.issue(Mesh.serverID).write(to: directory)
        let store = try CredentialStore.start(files: files, trustDomain: meshDomain, pollInterval: .seconds(10)) { _ in }
        let started = Clock.monotonicNanoseconds()
        store.stop()
        store.stop()
        #expect(Clock.monotonicNanoseconds() - started < 500_000_000)
    }

    @Test func credentialsThatExpireWhileInUseAreReported() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mesh = try Mesh()
        // Valid for the next 2 seconds only.
        let files = try mesh.ca.issue(Mesh.serverID, lifetime: .seconds(2)).write(to: directory)
        let events = Events()
        let store = try CredentialStore.start(files: files, trustDomain: meshDomain, pollInterval: .milliseconds(100)) { events.record($0) }
        defer { store.stop() }
        #expect(store.isValidNow)
        let reported = waitUntil(seconds: 5) {
            events.list.withLock { $0.contains { if case .invalidCredentialsInUse = $0 { return true } else { return false } } }
        }
        #expect(reported != nil)
        #expect(!store.isValidNow)
    }

    @Test func inotifyNoticesARotationWithinAFractionOfASecondWithoutPolling() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mesh = try Mesh()
        let files = try mesh.ca.issue(Mesh.serverID).write(to: directory)
        let events = Events()
        // A poll interval no test waits for: only inotify can notice the rotation in time.
        let store = try CredentialStore.start(files: files, trustDomain: meshDomain, pollInterval: .seconds(30)) { events.record($0) }
        try mesh.ca.issuer.issueWorkload(spiffe(Mesh.serverID)).write(to: directory.path)
        let took = waitUntil(seconds: 2) { store.generation == 2 }
        #expect(took != nil && took! < 1, "noticed after \(took.map { "\($0)" } ?? "more than 2") s")
        usleep(300_000)
        #expect(events.reloads == 1, "one rotation (three renames) is one reload")
        #expect(events.failures.isEmpty)
        #expect(!events.list.withLock { $0.contains { if case .notWatched = $0 { return true } else { return false } } })
        let started = Clock.monotonicNanoseconds()
        store.stop()
        #expect(Clock.monotonicNanoseconds() - started < 100_000_000, "the sleeping watcher is woken, not waited for")
    }

    @Test func filesInDifferentDirectoriesAndAKubernetesSwapAreNoticedWithoutPolling() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mesh = try Mesh()
        mkdir(directory.file("certs"), 0o755)
        mkdir(directory.file("trust"), 0o755)
        // The chain and key in a Secret volume (kubelet's layout), the bundle in a directory of
        // its own (a ConfigMap, say).
        func publish(_ identity: IdentityPEM, version: String) throws {
            mkdir(directory.file("certs/\(version)"), 0o755)
            try directory.write("certs/\(version)/cert-chain.pem", identity.chain)
            try directory.write("certs/\(version)/key.pem", identity.key)
            symlink(version, directory.file("certs/..data_tmp"))
            rename(directory.file("certs/..data_tmp"), directory.file("certs/..data"))
        }
        let first = try mesh.ca.issue(Mesh.serverID)
        try publish(first, version: "..v1")
        for name in ["cert-chain.pem", "key.pem"] { symlink("..data/\(name)", directory.file("certs/\(name)")) }
        try directory.write("trust/root-cert.pem", first.bundle)
        let files = TLSIdentityFiles(certificateChain: directory.file("certs/cert-chain.pem"), privateKey: directory.file("certs/key.pem"),
                                     trustBundle: directory.file("trust/root-cert.pem"))
        let store = try CredentialStore.start(files: files, trustDomain: meshDomain, pollInterval: .seconds(30)) { _ in }
        defer { store.stop() }
        let before = store.current.serial

        // The bundle rewritten (the same anchor, a new file): a reload with the same leaf.
        try directory.write("trust/root-cert.pem", first.bundle)
        #expect(waitUntil(seconds: 1) { store.generation == 2 } != nil, "the bundle's directory is watched")
        #expect(store.current.serial == before)

        try publish(try mesh.ca.issue(Mesh.serverID), version: "..v2")
        #expect(waitUntil(seconds: 1) { store.generation == 3 } != nil, "the ..data swap is seen")
        #expect(store.current.serial != before)
    }

    @Test func withoutInotifyTheFilesArePolledAndStopIsStillQuick() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let mesh = try Mesh()
        let files = try mesh.ca.issue(Mesh.serverID).write(to: directory)
        let store = try CredentialStore.start(files: files, trustDomain: meshDomain, pollInterval: .milliseconds(100), useInotify: false) { _ in }
        try mesh.ca.issuer.issueWorkload(spiffe(Mesh.serverID)).write(to: directory.path)
        #expect(waitUntil(seconds: 1) { store.generation == 2 } != nil)
        let started = Clock.monotonicNanoseconds()
        store.stop()
        #expect(Clock.monotonicNanoseconds() - started < 100_000_000)
    }
}

@Suite("When the certificate watcher looks without an inotify event")
struct RecheckPlanTests {
    static let day = 86_400_000

    @Test(arguments: [
        // watching, failure, since attempt, until invalid → delay
        (true, RecheckPlan.Failure.none, 0, day, 5000),          // idle: the slow fallback look
        (false, .none, 0, day, 250),                              // no inotify: the poll interval
        (true, .unreported, 0, day, 250),                         // report a failure once the files stayed put
        (true, .unreported, 100, day, 150),
        (true, .unreported, 400, day, 0),
        (true, .reported, 1000, day, 4000),                       // retry 5 s after the attempt
        (true, .reported, 6000, day, 0),
        (false, .reported, 4900, day, 100),
        (true, .none, 0, 1200, 1200),                             // the credentials expire first
        (true, .none, 0, 0, 0),                                   // not valid now: report at once
        (true, .none, 0, nil, 5000),                              // already reported
        (true, .unreported, 0, -5, 0),
    ] as [(Bool, RecheckPlan.Failure, Int, Int?, Int32)])
    func delays(_ watching: Bool, _ failure: RecheckPlan.Failure, _ since: Int, _ untilInvalid: Int?, _ expected: Int32) {
        let plan = RecheckPlan(watching: watching, pollMilliseconds: 250, fallbackMilliseconds: 5000, retryMilliseconds: 5000,
                               sinceAttemptMilliseconds: since, failure: failure, untilInvalidMilliseconds: untilInvalid)
        #expect(plan.delayMilliseconds == expected)
    }

    @Test func aValidityFarAwayDoesNotOverflow() {
        let plan = RecheckPlan(watching: true, pollMilliseconds: 250, fallbackMilliseconds: .max, retryMilliseconds: 5000,
                               sinceAttemptMilliseconds: 0, failure: .none, untilInvalidMilliseconds: .max)
        #expect(plan.delayMilliseconds == .max)
    }

    @Test(arguments: [
        (["/c/cert-chain.pem", "/c/key.pem", "/c/root-cert.pem"], [:], ["/c"]),
        // kubelet: each file is a link through ..data into a timestamped directory.
        (["/s/cert-chain.pem", "/s/key.pem"], ["/s/cert-chain.pem": "/s/..2024_01/cert-chain.pem", "/s/key.pem": "/s/..2024_01/key.pem"],
         ["/s", "/s/..2024_01"]),
        (["/c/cert-chain.pem", "/c/key.pem", "/t/root-cert.pem"], [:], ["/c", "/t"]),
        (["cert-chain.pem", "certs/key.pem"], [:], [".", "certs"]),
        (["/c/cert-chain.pem"], ["/c/cert-chain.pem": "/c/cert-chain.pem"], ["/c"]),
    ] as [([String], [String: String], [String])])
    func watchedDirectories(_ paths: [String], _ links: [String: String], _ expected: [String]) {
        #expect(TLSIdentityFiles.watchedDirectories(for: paths) { links[$0] } == expected)
    }
}
