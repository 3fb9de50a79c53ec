internal import COpenSSL

/// A failure of the PKI: what failed, on which file when there is one, and what to do. `kind`
/// decides the exit status of `weft ca` (DESIGN.md: 2 for invalid input, 1 for runtime failures).
public struct PKIError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: Hashable, Sendable {
        /// The request itself is refused: a malformed SPIFFE id, an id outside the CA's trust
        /// domain, a lifetime that is not positive or outlives the issuing CA, a CA that already
        /// exists. Nothing was written.
        case invalidRequest
        /// An input file is missing, unreadable, or not what it must be (not PEM, not a CA, no
        /// SPIFFE id, a chain that does not match its root).
        case invalidInput
        /// A private key does not belong to the certificate it is paired with. A reader of a
        /// directory that is being rotated sees this between the two renames and reads again
        /// (see `WorkloadCredentials.write(to:)`).
        case mismatchedKey
        /// A certificate chain did not verify against the trust bundle (`Certificate.verify`).
        case untrusted
        /// OpenSSL failed to generate, sign or encode (out of memory, a broken installation).
        case cryptoFailure
        /// Creating, writing, syncing or renaming a file failed.
        case writeFailure
    }

    /// What kind of failure.
    public let kind: Kind
    /// The file involved, when there is one.
    public let path: String?
    /// One line: what failed, where, and what to do; includes OpenSSL's own reasons, if any.
    public let message: String

    /// A failure of `kind` concerning `path`, described by `message`.
    public init(_ kind: Kind, path: String? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { message }

    /// An OpenSSL failure while doing `what`, with the reasons drained from OpenSSL's error queue.
    static func openSSL(_ what: String, kind: Kind = .cryptoFailure, path: String? = nil) -> PKIError {
        let reasons = drainOpenSSLErrors()
        let detail = reasons.isEmpty ? "no reason given" : reasons.joined(separator: "; ")
        let remedy = kind == .cryptoFailure ? ": check the OpenSSL 3 installation (libssl3) and free memory, then retry" : ""
        return PKIError(kind, path: path, "OpenSSL failed to \(what) (\(detail))\(remedy)")
    }
}

/// Empties this thread's OpenSSL error queue and returns its entries as text, oldest first
/// (`error:0480006C:PEM routines::no start line`). OpenSSL reports failures by pushing entries
/// onto a per-thread queue (ERR_get_error(3)); draining it where the failure happened keeps a
/// stale entry from being blamed on a later, unrelated call.
func drainOpenSSLErrors() -> [String] {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { return reasons }
        // ERR_error_string_n(3) always NUL-terminates within the buffer; 256 bytes is the size
        // its manual page recommends.
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        // A long run of failures (a corrupt file read in a loop) is not worth more than a few lines.
        if reasons.count < 8 { reasons.append(String(decoding: bytes, as: UTF8.self)) }
    }
}
