internal import COpenSSL
internal import COpenSSLShims

// One final class per OpenSSL object the PKI target owns, each freed in deinit, so an early throw
// can never leak one. The init label says what is handed over; `pointer` stays borrowed.

/// An owned memory `BIO`, the buffer PEM encoding and name printing write into.
final class MemoryBIO {
    let pointer: OpaquePointer

    /// An empty, growable memory BIO.
    init() throws(PKIError) {
        guard let bio = BIO_new(BIO_s_mem()) else { throw PKIError.openSSL("allocate a memory BIO") }
        pointer = bio
    }

    /// A read-only memory BIO over a copy of `bytes`.
    init(copying bytes: [UInt8]) throws(PKIError) {
        let bio = bytes.withUnsafeBytes { buffer -> OpaquePointer? in
            // BIO_new_mem_buf(3) would borrow the buffer; a writable BIO takes a copy, so the
            // Swift array's storage need not outlive this scope.
            guard buffer.count <= Int(Int32.max), let bio = BIO_new(BIO_s_mem()) else { return nil }
            if buffer.count > 0, BIO_write(bio, buffer.baseAddress, Int32(buffer.count)) != Int32(buffer.count) {
                BIO_free(bio)
                return nil
            }
            return bio
        }
        guard let bio else { throw PKIError.openSSL("copy \(bytes.count) bytes into a memory BIO") }
        pointer = bio
    }

    deinit { BIO_free(pointer) }

    /// Everything written so far, as bytes.
    var contents: [UInt8] {
        var data: UnsafePointer<CChar>?
        let length = COpenSSLShims_pki_bio_contents(pointer, &data)
        guard length > 0, let data else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
    }

    /// Everything written so far, as text (PEM and RFC 2253 names are ASCII or UTF-8).
    var text: String { String(decoding: contents, as: UTF8.self) }
}

/// An owned `X509_NAME`.
final class X509Name {
    let pointer: OpaquePointer

    /// A name made of `entries` in order, e.g. `[(NID_organizationName, "cluster.local")]`.
    init(_ entries: [(nid: Int32, value: String)]) throws(PKIError) {
        guard let name = X509_NAME_new() else { throw PKIError.openSSL("allocate a certificate name") }
        pointer = name
        for entry in entries {
            let added = entry.value.withCString { value in
                value.withMemoryRebound(to: UInt8.self, capacity: entry.value.utf8.count + 1) {
                    X509_NAME_add_entry_by_NID(name, entry.nid, MBSTRING_UTF8, $0, -1, -1, 0)
                }
            }
            guard added == 1 else { throw PKIError.openSSL("add \(String(cString: OBJ_nid2sn(entry.nid)))=\(entry.value) to a certificate name") }
        }
    }

    deinit { X509_NAME_free(pointer) }
}

/// An owned `X509_EXTENSION`.
final class X509Extension {
    let pointer: OpaquePointer

    init(takingOwnershipOf pointer: OpaquePointer) { self.pointer = pointer }

    deinit { X509_EXTENSION_free(pointer) }
}

/// An owned `GENERAL_NAMES` stack together with the names pushed onto it.
final class GeneralNames {
    let pointer: OpaquePointer

    /// An empty stack of names.
    init() throws(PKIError) {
        guard let names = GENERAL_NAMES_new() else { throw PKIError.openSSL("allocate a subjectAltName") }
        pointer = names
    }

    /// Takes a stack decoded by `X509_get_ext_d2i` (the caller hands over ownership).
    init(takingOwnershipOf pointer: OpaquePointer) { self.pointer = pointer }

    deinit { GENERAL_NAMES_free(pointer) }

    /// Appends a uniformResourceIdentifier name (RFC 5280 §4.2.1.6) holding `uri`.
    func appendURI(_ uri: String) throws(PKIError) {
        guard let name = GENERAL_NAME_new() else { throw PKIError.openSSL("allocate a subjectAltName entry") }
        guard let string = ASN1_IA5STRING_new() else {
            GENERAL_NAME_free(name)
            throw PKIError.openSSL("allocate a subjectAltName URI")
        }
        let bytes = Array(uri.utf8)
        guard ASN1_STRING_set(string, bytes, Int32(bytes.count)) == 1 else {
            ASN1_IA5STRING_free(string)
            GENERAL_NAME_free(name)
            throw PKIError.openSSL("store \(uri) in a subjectAltName")
        }
        // From here the GENERAL_NAME owns the string, and after a successful push the stack owns
        // the GENERAL_NAME (GENERAL_NAMES_free frees both).
        GENERAL_NAME_set0_value(name, GEN_URI, UnsafeMutableRawPointer(string))
        guard COpenSSLShims_pki_general_names_push(pointer, name) > 0 else {
            GENERAL_NAME_free(name)
            throw PKIError.openSSL("add \(uri) to a subjectAltName")
        }
    }

    /// The names, decoded.
    var entries: [SubjectAlternativeName] {
        let count = COpenSSLShims_pki_general_names_count(pointer)
        guard count > 0 else { return [] }
        return (0..<count).compactMap { index in
            guard let name = COpenSSLShims_pki_general_names_value(pointer, index) else { return nil }
            var type: Int32 = 0
            let value = GENERAL_NAME_get0_value(name, &type)
            func string() -> [UInt8] {
                guard let value else { return [] }
                return asn1Bytes(value.assumingMemoryBound(to: ASN1_STRING.self))
            }
            switch type {
            case GEN_URI: return .uri(String(decoding: string(), as: UTF8.self))
            case GEN_DNS: return .dns(String(decoding: string(), as: UTF8.self))
            case GEN_EMAIL: return .email(String(decoding: string(), as: UTF8.self))
            case GEN_IPADD: return .ipAddress(string())
            default: return .other(type: Int(type))
            }
        }
    }
}

/// An owned `X509_STORE`: the trusted roots of one verification.
final class X509Store {
    let pointer: OpaquePointer

    init() throws(PKIError) {
        guard let store = X509_STORE_new() else { throw PKIError.openSSL("allocate a certificate store") }
        pointer = store
    }

    deinit { X509_STORE_free(pointer) }
}

/// An owned `X509_STORE_CTX`: one verification in progress.
final class X509StoreContext {
    let pointer: OpaquePointer

    init() throws(PKIError) {
        guard let context = X509_STORE_CTX_new() else { throw PKIError.openSSL("allocate a verification context") }
        pointer = context
    }

    deinit { X509_STORE_CTX_free(pointer) }
}

/// An owned `STACK_OF(X509)` of borrowed certificates: the stack is freed, the certificates are
/// not (the `Certificate` objects in `members` own them and outlive the stack).
final class CertificateStack {
    let pointer: OpaquePointer
    private let members: [Certificate]

    init(_ certificates: [Certificate]) throws(PKIError) {
        guard let stack = COpenSSLShims_pki_x509_stack_new() else { throw PKIError.openSSL("allocate a certificate list") }
        pointer = stack
        members = certificates
        for certificate in certificates where COpenSSLShims_pki_x509_stack_push(stack, certificate.pointer) == 0 {
            throw PKIError.openSSL("grow a certificate list")
        }
    }

    deinit { COpenSSLShims_pki_x509_stack_free(pointer) }
}

/// An owned `BIGNUM`.
final class BigNumber {
    let pointer: OpaquePointer

    /// The unsigned big-endian number `bytes`.
    init(bigEndian bytes: [UInt8]) throws(PKIError) {
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw PKIError.openSSL("convert a serial number") }
        pointer = number
    }

    deinit { BN_free(pointer) }
}

/// The bytes of an ASN.1 string (IA5String, OCTET STRING, INTEGER content), copied.
func asn1Bytes(_ string: UnsafePointer<ASN1_STRING>) -> [UInt8] {
    let length = Int(ASN1_STRING_length(string))
    guard length > 0, let data = ASN1_STRING_get0_data(string) else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: length))
}
