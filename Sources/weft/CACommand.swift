import ArgumentParser
import Config
import Identity
import LinuxSys
import PKI

/// `weft ca`: the mesh's small PKI. `init` makes a root CA; `issue` makes a workload identity (an
/// X.509-SVID) or an intermediate CA. Files follow Istio's layouts (`cacerts` for a CA, the
/// workload secret for a workload) so operators recognise them.
struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Create a root CA and issue workload certificates (SPIFFE X.509-SVIDs) or intermediate CAs.",
        discussion: """
            A CA directory holds ca-cert.pem, ca-key.pem (0600), cert-chain.pem and root-cert.pem; \
            a workload directory holds key.pem (0600), cert-chain.pem and root-cert.pem. Files are \
            replaced atomically. Exit codes: 0 ok, 2 invalid input (malformed id, id outside the \
            CA's trust domain, bad --ttl, missing or mismatched CA files), 1 runtime failure.
            """,
        subcommands: [CAInitCommand.self, CAIssueCommand.self]
    )
}

/// `weft ca init --trust-domain D --out DIR [--ttl 87600h] [--force]`.
struct CAInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a self-signed root CA (EC P-256) for a trust domain.",
        discussion: "Refuses to replace an existing CA in DIR unless --force is given."
    )

    @Option(help: ArgumentHelp("The trust domain, e.g. cluster.local (lowercase a-z, 0-9, '.', '-', '_').", valueName: "D"))
    var trustDomain: String
    @Option(help: ArgumentHelp("The directory to write the CA into (created if missing).", valueName: "DIR"))
    var out: String
    @Option(help: ArgumentHelp("How long the root is valid, as a Go duration.", valueName: "DURATION"))
    var ttl: String = "87600h"
    @Flag(help: "Replace an existing CA in DIR (every certificate it issued loses its issuer).")
    var force = false

    func run() {
        let command = "ca init"
        let domain: TrustDomain
        do { domain = try TrustDomain(parsing: trustDomain) } catch { fail(command, .usage, "--trust-domain: \(error)") }
        let lifetime = parseTTL(ttl, command: command)
        do {
            let authority = try CertificateAuthority.createRoot(trustDomain: domain, lifetime: lifetime)
            try authority.write(to: out, replacingExisting: force)
            let info = authority.certificate.info
            print("weft ca init: wrote root CA \(domain.id) to \(out) (\(caFiles)): serial \(info.serialNumber), expires \(CertificateInfo.timestamp(info.notAfter))")
        } catch {
            failPKI(command, error)
        }
    }
}

/// `weft ca issue --ca DIR (--id spiffe://D/ns/N/sa/S | --intermediate) --out DIR [--ttl T]`.
struct CAIssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a workload certificate (--id) or an intermediate CA (--intermediate) from a CA directory.",
        discussion: """
            With --id: writes key.pem (0600), cert-chain.pem (leaf, then intermediates) and \
            root-cert.pem into DIR, replacing earlier ones atomically. The id must be a valid SPIFFE \
            id in the CA's trust domain. With --intermediate: writes a CA (pathlen 0, same trust \
            domain) in the layout of `weft ca init`, so leaves can be issued where the root key is \
            not. No certificate may outlive the CA that issues it.
            """
    )

    @Option(help: ArgumentHelp("The issuing CA's directory (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem).", valueName: "DIR"))
    var ca: String
    @Option(help: ArgumentHelp("The workload's SPIFFE id, e.g. spiffe://cluster.local/ns/default/sa/web.", valueName: "ID"))
    var id: String?
    @Flag(help: "Issue an intermediate CA instead of a workload certificate.")
    var intermediate = false
    @Option(help: ArgumentHelp("The directory to write into (created if missing).", valueName: "DIR"))
    var out: String
    @Option(help: ArgumentHelp("How long the certificate is valid, as a Go duration (default: 24h for --id, 8760h for --intermediate).", valueName: "DURATION"))
    var ttl: String?
    @Flag(help: "With --intermediate: replace an existing CA in the output directory.")
    var force = false

    func run() {
        let command = "ca issue"
        let workloadID: SPIFFEID?
        switch (id, intermediate) {
        case (.some, true):
            fail(command, .usage, "--id and --intermediate cannot be combined: --id issues a workload certificate, --intermediate a CA")
        case (.none, false):
            fail(command, .usage, "nothing to issue: give --id spiffe://<trust-domain>/ns/<namespace>/sa/<service-account> for a workload, or --intermediate for a CA")
        case (.some(let text), false):
            do { workloadID = try SPIFFEID(parsing: text) } catch { fail(command, .usage, "--id: \(error)") }
            if force { fail(command, .usage, "--force applies to --intermediate only: workload files are always replaced") }
        case (.none, true):
            workloadID = nil
            if trimmedPath(ca) == trimmedPath(out) {
                fail(command, .usage, "--out is the same directory as --ca (\(ca)): the intermediate would replace the CA that signs it; choose another --out")
            }
        }
        let lifetime = parseTTL(ttl ?? (workloadID == nil ? "8760h" : "24h"), command: command)
        // One clock reading for loading (the CA must be valid now) and issuing.
        let now = Int64(Clock.wallClock().seconds)
        do {
            let authority = try CertificateAuthority(loadingFrom: ca, now: now)
            if let workloadID {
                let credentials = try authority.issueWorkload(workloadID, lifetime: lifetime, now: now)
                try credentials.write(to: out)
                let info = credentials.certificate.info
                print("weft ca issue: wrote \(workloadID) to \(out) (\(WorkloadCredentials.keyFileName) 0600, \(WorkloadCredentials.chainFileName), \(WorkloadCredentials.trustBundleFileName)): serial \(info.serialNumber), expires \(CertificateInfo.timestamp(info.notAfter)), issued by \(authority.certificate.info.subject)")
            } else {
                let issued = try authority.issueIntermediate(lifetime: lifetime, now: now)
                try issued.write(to: out, replacingExisting: force)
                let info = issued.certificate.info
                print("weft ca issue: wrote intermediate CA \(issued.trustDomain.id) to \(out) (\(caFiles)): serial \(info.serialNumber), expires \(CertificateInfo.timestamp(info.notAfter)), issued by \(authority.certificate.info.subject)")
            }
        } catch {
            failPKI(command, error)
        }
    }

    private func trimmedPath(_ path: String) -> String {
        var path = path
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path
    }
}

/// The files of a CA directory, as the success lines name them.
private let caFiles = "\(CertificateAuthority.certificateFileName), \(CertificateAuthority.keyFileName) 0600, \(CertificateAuthority.chainFileName), \(CertificateAuthority.rootFileName)"

/// Parses `--ttl` with Config's Go-style duration parser; exits 2 with the reason if it is bad.
private func parseTTL(_ text: String, command: String) -> Duration {
    do { return try parseDuration(text) } catch { fail(command, .usage, "--ttl: \(error)") }
}

/// Exits with DESIGN.md's status for a PKI failure: 2 when the input is at fault (the request, a
/// file, a key that does not match), 1 when OpenSSL or the filesystem failed.
private func failPKI(_ command: String, _ error: PKIError) -> Never {
    switch error.kind {
    case .invalidRequest, .invalidInput, .mismatchedKey, .untrusted: fail(command, .usage, error.message)
    case .cryptoFailure, .writeFailure: fail(command, .runtime, error.message)
    }
}
