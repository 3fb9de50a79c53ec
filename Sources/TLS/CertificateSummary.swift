/// What an operator reads about one certificate of the credentials in use (the admin API's
/// `/certs`): plain values, read once when the credentials load.
public struct TLSCertificateSummary: Sendable, Hashable {
    /// The subject name in RFC 2253 form (`O=cluster.local`); empty when it has none.
    public var subject: String
    /// The serial number, uppercase hex (as `openssl x509 -serial` prints it).
    public var serial: String
    /// The start of the validity, seconds since the epoch (UTC).
    public var notBefore: Int
    /// The end of the validity, seconds since the epoch (UTC).
    public var notAfter: Int
    /// The URI subjectAltNames (a workload's SPIFFE id; a CA's trust domain id), printable ASCII.
    public var uris: [String]
    /// Whether the basic constraints mark it a CA.
    public var isCA: Bool

    public init(subject: String, serial: String, notBefore: Int, notAfter: Int, uris: [String] = [], isCA: Bool = false) {
        self.subject = subject
        self.serial = serial
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.uris = uris
        self.isCA = isCA
    }

    /// Whether `now` (seconds since the epoch) is within the validity.
    public func isValid(at now: Int) -> Bool { notBefore <= now && now < notAfter }
}
