internal import COpenSSL
internal import COpenSSLShims

/// A private key held by OpenSSL (an owned `EVP_PKEY`, freed in deinit). Weft generates only EC
/// P-256 keys: the curve every TLS 1.2/1.3 stack and every SPIFFE implementation supports, with
/// small certificates and fast handshakes.
///
/// Immutable after creation; OpenSSL 3 allows concurrent read-only use of a key from several
/// threads (openssl-threads(7)), which is what makes it `Sendable`.
public final class PrivateKey: @unchecked Sendable {
    let pointer: OpaquePointer

    init(takingOwnershipOf pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { EVP_PKEY_free(pointer) }

    /// A new EC key on NIST P-256 (secp256r1, named-curve encoding) from OpenSSL's default random
    /// generator. Throws `.cryptoFailure` if OpenSSL cannot generate one.
    public static func generateP256() throws(PKIError) -> PrivateKey {
        guard let key = COpenSSLShims_pki_generate_ec_p256() else { throw PKIError.openSSL("generate an EC P-256 key") }
        return PrivateKey(takingOwnershipOf: key)
    }

    /// Reads one unencrypted PEM private key (PKCS#8 `PRIVATE KEY`, or the traditional
    /// `EC PRIVATE KEY`) from `pem`; `source` names where it came from in errors (a path).
    /// Throws `.invalidInput` if there is none or it is encrypted.
    public convenience init(pem: [UInt8], source: String) throws(PKIError) {
        let bio = try MemoryBIO(copying: pem)
        // A NULL password callback with a NULL argument makes OpenSSL fail on an encrypted key
        // instead of prompting on the terminal (PEM_read_bio_PrivateKey(3)).
        guard let key = PEM_read_bio_PrivateKey(bio.pointer, nil, nil, nil) else {
            throw PKIError.openSSL("read a PEM private key from \(source)", kind: .invalidInput, path: source)
        }
        self.init(takingOwnershipOf: key)
    }

    /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form Istio, Envoy
    /// and `openssl pkey` read. Whoever stores it must keep it private (mode 0600).
    public func pem() throws(PKIError) -> [UInt8] {
        let bio = try MemoryBIO()
        guard PEM_write_bio_PrivateKey(bio.pointer, pointer, nil, nil, 0, nil, nil) == 1 else {
            throw PKIError.openSSL("encode a private key as PEM")
        }
        return bio.contents
    }

    /// The key's algorithm and size, e.g. `EC P-256` (for messages).
    public var algorithmDescription: String { Self.describe(pointer) }

    /// `EC P-256`, `RSA 2048 bits`, ... for the key `key` (borrowed; public or private).
    static func describe(_ key: OpaquePointer) -> String {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        if EVP_PKEY_get_base_id(key) == EVP_PKEY_EC,
           EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 {
            let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return "EC \(group == "prime256v1" ? "P-256" : group)"
        }
        ERR_clear_error() // Not an EC key: no group, and no error worth keeping.
        return "\(String(cString: OBJ_nid2sn(EVP_PKEY_get_base_id(key)))) \(EVP_PKEY_get_bits(key)) bits"
    }
}
