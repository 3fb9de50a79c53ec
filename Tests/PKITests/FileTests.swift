import Glibc
import Identity
import PKI
import Testing

/// The directories: Istio's layouts, modes, atomic replacement, and the checks made when loading.
@Suite struct FileTests {
    @Test func caDirectoryHasTheCacertsLayout() throws {
        let directory = TemporaryDirectory()
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let written = try root.write(to: directory("ca"))
        #expect(written == ["ca-key.pem", "ca-cert.pem", "cert-chain.pem", "root-cert.pem"].map { directory("ca/\($0)") })
        // No temporary file is left behind.
        #expect(entries(of: directory("ca")) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"])
        #expect(mode(of: directory("ca/ca-key.pem")) == 0o600)
        #expect(mode(of: directory("ca/ca-cert.pem")) == 0o644)
        #expect(mode(of: directory("ca")) == 0o700)
        #expect(readFile(directory("ca/ca-key.pem")).starts(with: Array("-----BEGIN PRIVATE KEY-----".utf8)))
        #expect(readFile(directory("ca/cert-chain.pem")) == readFile(directory("ca/ca-cert.pem")))
        #expect(readFile(directory("ca/root-cert.pem")) == readFile(directory("ca/ca-cert.pem")))

        let loaded = try CertificateAuthority(loadingFrom: directory("ca"), now: fixedNow)
        #expect(loaded.trustDomain == clusterLocal)
        #expect(loaded.certificate.isSame(as: root.certificate))
        #expect(loaded.certificate.matches(loaded.key))
        #expect(loaded.isRoot)
    }

    @Test func intermediateDirectoryChainsToTheRoot() throws {
        let directory = TemporaryDirectory()
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        try root.write(to: directory("root"))
        let loadedRoot = try CertificateAuthority(loadingFrom: directory("root"), now: fixedNow)
        try loadedRoot.issueIntermediate(now: fixedNow).write(to: directory("node"))
        let chain = try CertificateInfo.read(file: directory("node/cert-chain.pem"))
        #expect(chain.count == 2)
        #expect(chain[1] == root.certificate.info)
        #expect(readFile(directory("node/root-cert.pem")) == readFile(directory("root/ca-cert.pem")))

        // The node issues leaves with only its own directory: the root key is not needed.
        unlink(directory("root/ca-key.pem"))
        let node = try CertificateAuthority(loadingFrom: directory("node"), now: fixedNow)
        #expect(node.chain.count == 2 && !node.isRoot)
        let credentials = try node.issueWorkload(webID, now: fixedNow)
        try credentials.write(to: directory("web"))
        let loaded = try WorkloadCredentials(loadingFrom: directory("web"))
        #expect(loaded.chain.count == 2)
        #expect(loaded.trustBundle.count == 1 && loaded.trustBundle[0].isSame(as: root.certificate))
        try loaded.verify(at: fixedNow)
    }

    @Test func anIstioChainWithoutTheRootIsCompleted() throws {
        let directory = TemporaryDirectory()
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        try root.issueIntermediate(now: fixedNow).write(to: directory("node"))
        copyFile(directory("node/ca-cert.pem"), directory("node/cert-chain.pem"))
        let node = try CertificateAuthority(loadingFrom: directory("node"), now: fixedNow)
        #expect(node.chain.count == 2 && node.root.isSame(as: root.certificate))
    }

    @Test func anExistingCAIsNotReplacedWithoutForce() throws {
        let directory = TemporaryDirectory()
        try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow).write(to: directory("ca"))
        let key = readFile(directory("ca/ca-key.pem"))
        let second = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let error = try #require(throws: PKIError.self) { try second.write(to: directory("ca")) }
        #expect(error.kind == .invalidRequest)
        #expect(error.path == directory("ca/ca-key.pem"))
        #expect(readFile(directory("ca/ca-key.pem")) == key)
        #expect(entries(of: directory("ca")).count == 4)

        try second.write(to: directory("ca"), replacingExisting: true)
        #expect(readFile(directory("ca/ca-key.pem")) != key)
        #expect(mode(of: directory("ca/ca-key.pem")) == 0o600)
        #expect(entries(of: directory("ca")) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"])
        #expect(try CertificateAuthority(loadingFrom: directory("ca"), now: fixedNow).certificate.isSame(as: second.certificate))
    }

    @Test func workloadDirectoryHasIstiosLayout() throws {
        let directory = TemporaryDirectory()
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let node = try root.issueIntermediate(now: fixedNow)
        let credentials = try node.issueWorkload(webID, now: fixedNow)
        let written = try credentials.write(to: directory("deep/web"))
        // The bundle first, then the key, then the certificate (see WorkloadCredentials.write).
        #expect(written == ["root-cert.pem", "key.pem", "cert-chain.pem"].map { directory("deep/web/\($0)") })
        #expect(entries(of: directory("deep/web")) == ["cert-chain.pem", "key.pem", "root-cert.pem"])
        #expect(mode(of: directory("deep/web/key.pem")) == 0o600)
        #expect(mode(of: directory("deep/web/cert-chain.pem")) == 0o644)
        let chain = try CertificateInfo.read(file: directory("deep/web/cert-chain.pem"))
        #expect(chain.map(\.serialNumber) == [credentials.certificate.info.serialNumber, node.certificate.info.serialNumber])
        #expect(try CertificateInfo.read(file: directory("deep/web/root-cert.pem")) == [root.certificate.info])

        let loaded = try WorkloadCredentials(loadingFrom: directory("deep/web"))
        #expect(loaded.id == webID)
        #expect(loaded.certificate.isSame(as: credentials.certificate))
        #expect(loaded.certificate.matches(loaded.key))
    }

    @Test func rotationReplacesFilesByRename() throws {
        let directory = TemporaryDirectory()
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let first = try root.issueWorkload(webID, now: fixedNow)
        try first.write(to: directory("web"))
        let firstInodes = ["key.pem", "cert-chain.pem", "root-cert.pem"].map { inode(of: directory("web/\($0)")) }
        let second = try root.issueWorkload(webID, now: fixedNow + 60)
        try second.write(to: directory("web"))
        // Every file is a new inode (renamed over the old one, never rewritten in place, so an
        // open reader keeps the complete old file) and no temporary file remains.
        let secondInodes = ["key.pem", "cert-chain.pem", "root-cert.pem"].map { inode(of: directory("web/\($0)")) }
        for (old, new) in zip(firstInodes, secondInodes) { #expect(old != new) }
        #expect(entries(of: directory("web")) == ["cert-chain.pem", "key.pem", "root-cert.pem"])
        #expect(mode(of: directory("web/key.pem")) == 0o600)
        let loaded = try WorkloadCredentials(loadingFrom: directory("web"))
        #expect(loaded.certificate.info.serialNumber == second.certificate.info.serialNumber)
    }

    @Test func aReaderBetweenTheTwoRenamesSeesAMismatchAndRetries() throws {
        // The one intermediate state a reader can observe: the new key.pem is in place, the new
        // cert-chain.pem not yet. Loading reports .mismatchedKey, the signal to read again.
        let directory = TemporaryDirectory()
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        try root.issueWorkload(webID, now: fixedNow).write(to: directory("old"))
        try root.issueWorkload(webID, now: fixedNow).write(to: directory("new"))
        copyFile(directory("new/key.pem"), directory("old/key.pem"))
        let error = try #require(throws: PKIError.self) { try WorkloadCredentials(loadingFrom: directory("old")) }
        #expect(error.kind == .mismatchedKey)
        #expect(error.message.contains("read it again"))
    }

    @Test func workloadAndCADirectoriesAreKeptApart() throws {
        let directory = TemporaryDirectory()
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        try root.write(to: directory("ca"))
        let chainBefore = readFile(directory("ca/cert-chain.pem"))
        let credentials = try root.issueWorkload(webID, now: fixedNow)
        let intoCA = try #require(throws: PKIError.self) { try credentials.write(to: directory("ca")) }
        #expect(intoCA.kind == .invalidRequest)
        #expect(readFile(directory("ca/cert-chain.pem")) == chainBefore)
        #expect(entries(of: directory("ca")).count == 4)

        try credentials.write(to: directory("web"))
        let intoWorkload = try #require(throws: PKIError.self) { try root.write(to: directory("web"), replacingExisting: true) }
        #expect(intoWorkload.kind == .invalidRequest)
        #expect(entries(of: directory("web")) == ["cert-chain.pem", "key.pem", "root-cert.pem"])
    }

    @Test func loadingNamesTheMissingFile() throws {
        let directory = TemporaryDirectory()
        try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow).write(to: directory("ca"))
        unlink(directory("ca/ca-key.pem"))
        let missingKey = try #require(throws: PKIError.self) { try CertificateAuthority(loadingFrom: directory("ca"), now: fixedNow) }
        #expect(missingKey.kind == .invalidInput)
        #expect(missingKey.path == directory("ca/ca-key.pem"))
        #expect(missingKey.message.hasPrefix("\(directory("ca/ca-key.pem")) does not exist"))
        let noDirectory = try #require(throws: PKIError.self) { try CertificateAuthority(loadingFrom: directory("nowhere"), now: fixedNow) }
        #expect(noDirectory.message.contains("is not a CA directory"))
    }

    @Test func loadingRefusesFilesThatDoNotBelongTogether() throws {
        let directory = TemporaryDirectory()
        try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow).write(to: directory("a"))
        try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow).write(to: directory("b"))

        copyFile(directory("b/ca-key.pem"), directory("a/ca-key.pem"))
        let key = try #require(throws: PKIError.self) { try CertificateAuthority(loadingFrom: directory("a"), now: fixedNow) }
        #expect(key.kind == .mismatchedKey)

        try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow).write(to: directory("c"))
        copyFile(directory("b/cert-chain.pem"), directory("c/cert-chain.pem"))
        let chain = try #require(throws: PKIError.self) { try CertificateAuthority(loadingFrom: directory("c"), now: fixedNow) }
        #expect(chain.kind == .invalidInput)
        #expect(chain.message.contains("does not start with"))

        try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow).write(to: directory("d"))
        copyFile(directory("b/root-cert.pem"), directory("d/root-cert.pem"))
        let root = try #require(throws: PKIError.self) { try CertificateAuthority(loadingFrom: directory("d"), now: fixedNow) }
        #expect(root.kind == .invalidInput)
        #expect(root.message.contains("does not verify against"))
    }

    @Test func loadingRefusesALeafAsCA() throws {
        let directory = TemporaryDirectory()
        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        try root.issueWorkload(webID, now: fixedNow).write(to: directory("web"))
        makeFakeCA(from: directory("web"), into: directory("fake"))
        let error = try #require(throws: PKIError.self) { try CertificateAuthority(loadingFrom: directory("fake"), now: fixedNow) }
        #expect(error.kind == .invalidInput)
        #expect(error.message.contains("is not a CA certificate"))
    }

    @Test func loadingRefusesAnExpiredCA() throws {
        let directory = TemporaryDirectory()
        try CertificateAuthority.createRoot(trustDomain: clusterLocal, lifetime: hours(1), now: fixedNow).write(to: directory("ca"))
        let error = try #require(throws: PKIError.self) { try CertificateAuthority(loadingFrom: directory("ca"), now: fixedNow + 7200) }
        #expect(error.kind == .invalidInput)
        #expect(error.message.contains("certificate has expired"))
    }

    @Test func pemParsingRefusesGarbage() throws {
        let directory = TemporaryDirectory()
        writeFile(directory("junk.pem"), Array("not a certificate\n".utf8))
        let none = try #require(throws: PKIError.self) { try CertificateInfo.read(file: directory("junk.pem")) }
        #expect(none.kind == .invalidInput)
        #expect(none.message.contains("holds no PEM certificate"))

        let damaged = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        let bad = try #require(throws: PKIError.self) { try CertificateInfo.read(pem: Array(damaged.utf8), source: "damaged.pem") }
        #expect(bad.kind == .invalidInput)
        #expect(bad.message.contains("damaged.pem"))

        let root = try CertificateAuthority.createRoot(trustDomain: clusterLocal, now: fixedNow)
        let two = try root.certificate.pem() + root.certificate.pem()
        #expect(throws: PKIError.self) { try Certificate(pem: two, source: "two.pem") }
        #expect(try Certificate.all(pem: two, source: "two.pem").count == 2)
        #expect(throws: PKIError.self) { try PrivateKey(pem: try root.certificate.pem(), source: "cert.pem") }
        let key = try PrivateKey(pem: try root.key.pem(), source: "key.pem")
        #expect(root.certificate.matches(key))
        #expect(throws: PKIError.self) { try CertificateInfo.read(file: directory("absent.pem")) }
    }
}

/// Lays out a CA directory whose "CA" is the workload leaf and key in `workload`.
private func makeFakeCA(from workload: String, into directory: String) {
    mkdir(directory, 0o700)
    copyFile("\(workload)/cert-chain.pem", "\(directory)/cert-chain.pem")
    copyFile("\(workload)/cert-chain.pem", "\(directory)/ca-cert.pem")
    copyFile("\(workload)/key.pem", "\(directory)/ca-key.pem")
    copyFile("\(workload)/root-cert.pem", "\(directory)/root-cert.pem")
}
