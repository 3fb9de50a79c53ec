internal import COpenSSL
internal import COpenSSLShims
import Glibc
import Identity

/// One subjectAltName entry (RFC 5280 §4.2.1.6).
public enum SubjectAlternativeName: Hashable, Sendable, CustomStringConvertible {
    /// uniformResourceIdentifier: where a SPIFFE id lives (X.509-SVID §2).
    case uri(String)
    /// dNSName.
    case dns(String)
    /// rfc822Name.
    case email(String)
    /// iPAddress: 4 or 16 bytes.
    case ipAddress([UInt8])
    /// Any other GeneralName type (otherName, directoryName, ...), by its GEN_* number.
    case other(type: Int)

    public var description: String {
        switch self {
        case .uri(let uri): return "URI:\(uri)"
        case .dns(let name): return "DNS:\(name)"
        case .email(let address): return "email:\(address)"
        case .ipAddress(let bytes) where bytes.count == 16:
            // Uncompressed groups: this is for reading, not for RFC 5952 canonical form.
            return "IP:" + stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
        case .ipAddress(let bytes): return "IP:" + bytes.map { String($0) }.joined(separator: ".")
        case .other(let type): return "othername(type \(type))"
        }
    }
}

/// The keyUsage bits of RFC 5280 §4.2.1.3, with OpenSSL's `KU_*` values.
public struct KeyUsage: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let digitalSignature = KeyUsage(rawValue: UInt32(KU_DIGITAL_SIGNATURE))
    public static let nonRepudiation = KeyUsage(rawValue: UInt32(KU_NON_REPUDIATION))
    public static let keyEncipherment = KeyUsage(rawValue: UInt32(KU_KEY_ENCIPHERMENT))
    public static let dataEncipherment = KeyUsage(rawValue: UInt32(KU_DATA_ENCIPHERMENT))
    public static let keyAgreement = KeyUsage(rawValue: UInt32(KU_KEY_AGREEMENT))
    public static let keyCertSign = KeyUsage(rawValue: UInt32(KU_KEY_CERT_SIGN))
    public static let cRLSign = KeyUsage(rawValue: UInt32(KU_CRL_SIGN))
    public static let encipherOnly = KeyUsage(rawValue: UInt32(KU_ENCIPHER_ONLY))
    public static let decipherOnly = KeyUsage(rawValue: UInt32(KU_DECIPHER_ONLY))
}

/// The extendedKeyUsage purposes of RFC 5280 §4.2.1.12 that a mesh cares about, with OpenSSL's
/// `XKU_*` values.
public struct ExtendedKeyUsage: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// id-kp-serverAuth: TLS server.
    public static let serverAuth = ExtendedKeyUsage(rawValue: UInt32(XKU_SSL_SERVER))
    /// id-kp-clientAuth: TLS client.
    public static let clientAuth = ExtendedKeyUsage(rawValue: UInt32(XKU_SSL_CLIENT))
    /// id-kp-codeSigning.
    public static let codeSigning = ExtendedKeyUsage(rawValue: UInt32(XKU_CODE_SIGN))
    /// id-kp-emailProtection.
    public static let emailProtection = ExtendedKeyUsage(rawValue: UInt32(XKU_SMIME))
    /// id-kp-OCSPSigning.
    public static let ocspSigning = ExtendedKeyUsage(rawValue: UInt32(XKU_OCSP_SIGN))
    /// id-kp-timeStamping.
    public static let timeStamping = ExtendedKeyUsage(rawValue: UInt32(XKU_TIMESTAMP))
}

/// One extension of a certificate: which, and whether it is critical (RFC 5280 §4.2: a verifier
/// that does not understand a critical extension must reject the certificate).
public struct CertificateExtension: Hashable, Sendable {
    /// OpenSSL's short name (`basicConstraints`, `keyUsage`, `subjectAltName`, ...), or the
    /// dotted OID for one OpenSSL does not know.
    public let name: String
    /// The dotted OID, e.g. `2.5.29.19`.
    public let oid: String
    /// The critical flag.
    public let isCritical: Bool
}

/// What a certificate says, decoded into plain values: for logs, rotation ("renew at 80% of the
/// lifetime"), readiness checks and tests. Obtain one from `Certificate.info`, or read a PEM file
/// with `CertificateInfo.read(pem:source:)`.
public struct CertificateInfo: Hashable, Sendable {
    /// The X.509 version, 1 to 3.
    public let version: Int
    /// The serial number as uppercase hex digit pairs without separators, as
    /// `openssl x509 -noout -serial` prints it (`-` in front of a negative one).
    public let serialNumber: String
    /// The start of the validity period, in Unix seconds.
    public let notBefore: Int64
    /// The end of the validity period, in Unix seconds.
    public let notAfter: Int64
    /// The subject name in RFC 2253 form, e.g. `CN=Weft root CA,O=cluster.local`; empty if none.
    public let subject: String
    /// The issuer name in RFC 2253 form.
    public let issuer: String
    /// Every subjectAltName entry, in order.
    public let subjectAlternativeNames: [SubjectAlternativeName]
    /// Whether basicConstraints says cA = TRUE.
    public let isCA: Bool
    /// basicConstraints' pathLenConstraint, if set.
    public let pathLengthConstraint: Int?
    /// keyUsage, or nil if the extension is absent.
    public let keyUsage: KeyUsage?
    /// extendedKeyUsage (the purposes Weft knows), or nil if the extension is absent.
    public let extendedKeyUsage: ExtendedKeyUsage?
    /// subjectKeyIdentifier as lowercase hex, or nil if absent.
    public let subjectKeyIdentifier: String?
    /// The keyIdentifier of authorityKeyIdentifier as lowercase hex, or nil if absent.
    public let authorityKeyIdentifier: String?
    /// Every extension with its critical flag, in certificate order.
    public let extensions: [CertificateExtension]
    /// The public key's algorithm and size, e.g. `EC P-256`.
    public let publicKey: String
    /// The signature algorithm, e.g. `ecdsa-with-SHA256`.
    public let signatureAlgorithm: String

    /// The URI subjectAltNames, in order.
    public var uriSANs: [String] {
        subjectAlternativeNames.compactMap { if case .uri(let uri) = $0 { return uri } else { return nil } }
    }

    /// The SPIFFE id when the certificate has exactly one URI SAN and it is a valid SPIFFE id
    /// (X.509-SVID §2: a validator MUST reject an SVID with more than one URI SAN), else nil.
    public var spiffeID: SPIFFEID? {
        let uris = uriSANs
        guard uris.count == 1 else { return nil }
        return try? SPIFFEID(parsing: uris[0])
    }

    /// Whether the extension named `name` (OpenSSL short name) is present and critical.
    public func isCritical(_ name: String) -> Bool {
        extensions.contains { $0.name == name && $0.isCritical }
    }

    /// How the certificate is named in messages: its one URI SAN, else its subject, else its serial.
    public var name: String {
        let uris = uriSANs
        if uris.count == 1 { return uris[0] }
        return subject.isEmpty ? "with serial \(serialNumber)" : subject
    }

    /// Reads every certificate in PEM `pem` (a chain: leaf first) and decodes each; `source`
    /// names where it came from in errors. Throws `.invalidInput`.
    public static func read(pem: [UInt8], source: String) throws(PKIError) -> [CertificateInfo] {
        try Certificate.all(pem: pem, source: source).map(\.info)
    }

    /// Reads the PEM file at `path` (a certificate or a chain, leaf first) and decodes each
    /// certificate. Throws `.invalidInput` naming the path if it is missing or not PEM.
    public static func read(file path: String) throws(PKIError) -> [CertificateInfo] {
        try read(pem: Files.read(path), source: path)
    }

    /// `2026-11-28T01:02:03Z` for Unix seconds `seconds` (UTC), as messages print validity dates.
    public static func timestamp(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "\(seconds) (Unix seconds)" }
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
    }

    /// Decodes the certificate `x509` (borrowed). Throws `.invalidInput` if OpenSSL finds its
    /// extensions malformed (EXFLAG_INVALID) or its validity dates unreadable.
    init(decoding x509: OpaquePointer, source: String) throws(PKIError) {
        let flags = X509_get_extension_flags(x509)
        if flags & UInt32(EXFLAG_INVALID) != 0 {
            ERR_clear_error()
            throw PKIError(.invalidInput, path: source, "a certificate in \(source) has malformed or duplicated extensions: replace it with a well-formed certificate")
        }
        version = Int(X509_get_version(x509)) + 1

        // A decoded certificate always has a serial; "00" stands in for an absent or empty one.
        let serial = X509_get0_serialNumber(x509)
        let serialBytes = serial.map(asn1Bytes) ?? []
        let negative = serial.map { ASN1_STRING_type($0) == V_ASN1_NEG_INTEGER } ?? false
        serialNumber = (negative ? "-" : "") + (serialBytes.isEmpty ? "00" : hex(serialBytes, uppercase: true))

        func seconds(_ time: UnsafePointer<ASN1_TIME>?, _ which: String) throws(PKIError) -> Int64 {
            var parts = tm()
            guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else {
                throw PKIError.openSSL("read the \(which) date of a certificate in \(source)", kind: .invalidInput, path: source)
            }
            return Int64(timegm(&parts))
        }
        notBefore = try seconds(X509_get0_notBefore(x509), "notBefore")
        notAfter = try seconds(X509_get0_notAfter(x509), "notAfter")
        subject = nameText(X509_get_subject_name(x509))
        issuer = nameText(X509_get_issuer_name(x509))

        var critical: Int32 = 0
        if let names = X509_get_ext_d2i(x509, NID_subject_alt_name, &critical, nil) {
            subjectAlternativeNames = GeneralNames(takingOwnershipOf: OpaquePointer(names)).entries
        } else {
            subjectAlternativeNames = []
        }

        isCA = flags & UInt32(EXFLAG_BCONS) != 0 && flags & UInt32(EXFLAG_CA) != 0
        let pathLength = X509_get_pathlen(x509)
        pathLengthConstraint = pathLength >= 0 ? Int(pathLength) : nil
        // Both getters return UINT32_MAX when the extension is absent (X509_get_extension_flags(3)).
        keyUsage = flags & UInt32(EXFLAG_KUSAGE) != 0 ? KeyUsage(rawValue: X509_get_key_usage(x509)) : nil
        extendedKeyUsage = flags & UInt32(EXFLAG_XKUSAGE) != 0 ? ExtendedKeyUsage(rawValue: X509_get_extended_key_usage(x509)) : nil
        subjectKeyIdentifier = X509_get0_subject_key_id(x509).map { hex(asn1Bytes($0), uppercase: false) }
        authorityKeyIdentifier = X509_get0_authority_key_id(x509).map { hex(asn1Bytes($0), uppercase: false) }

        var extensions: [CertificateExtension] = []
        for index in 0..<max(0, X509_get_ext_count(x509)) {
            guard let ext = X509_get_ext(x509, index), let object = X509_EXTENSION_get_object(ext) else { continue }
            var buffer = [CChar](repeating: 0, count: 128)
            let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
            let oid = String(decoding: buffer.prefix(max(0, min(Int(length), buffer.count - 1))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let nid = OBJ_obj2nid(object)
            let name = nid == NID_undef ? oid : String(cString: OBJ_nid2sn(nid))
            extensions.append(CertificateExtension(name: name, oid: oid, isCritical: X509_EXTENSION_get_critical(ext) != 0))
        }
        self.extensions = extensions

        if let key = X509_get0_pubkey(x509) {
            publicKey = PrivateKey.describe(key)
        } else {
            publicKey = "unknown"
        }
        signatureAlgorithm = String(cString: OBJ_nid2ln(X509_get_signature_nid(x509)))
        ERR_clear_error()
    }
}

/// An X509_NAME (borrowed) in RFC 2253 form; empty for an empty name.
func nameText(_ name: OpaquePointer?) -> String {
    guard let name, let bio = try? MemoryBIO() else { return "" }
    guard X509_NAME_print_ex(bio.pointer, name, 0, COpenSSLShims_pki_name_flags_rfc2253()) >= 0 else {
        ERR_clear_error()
        return ""
    }
    return bio.text
}

func hex(_ bytes: [UInt8], uppercase: Bool) -> String {
    let digits = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
    var text: [UInt8] = []
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
}
