/// Builds ClientHellos field by field (RFC 8446 §4.1.2) so a test can break exactly one rule.
struct ClientHelloBuilder {
    var legacyVersion: UInt16 = 0x0303
    var sessionID: [UInt8] = Array(repeating: 0xAB, count: 32)
    /// The raw cipher_suites vector contents (its length prefix is computed unless overridden).
    var cipherSuites: [UInt8] = [0x13, 0x01, 0x13, 0x02]
    var compressionMethods: [UInt8] = [0]
    var extensions: [(type: UInt16, data: [UInt8])] = []
    /// When set, replaces the computed extensions block length.
    var extensionsLengthOverride: UInt16?
    /// When false the extensions block (and its length) is left out entirely, as TLS 1.2 allows.
    var includeExtensions = true
    var messageType: UInt8 = 1

    static func sni(_ name: String) -> (type: UInt16, data: [UInt8]) {
        let host = Array(name.utf8)
        let entry = [0] + u16(host.count) + host
        return (0, u16(entry.count) + entry)
    }

    static func alpn(_ names: [String]) -> (type: UInt16, data: [UInt8]) {
        let list = names.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        return (16, u16(list.count) + list)
    }

    static func supportedVersions(_ versions: [UInt16]) -> (type: UInt16, data: [UInt8]) {
        let list = versions.flatMap { u16(Int($0)) }
        return (43, [UInt8(list.count)] + list)
    }

    /// The handshake message: msg_type, 24-bit length, body.
    func message() -> [UInt8] {
        var body = u16(Int(legacyVersion)) + Array(repeating: 0x5A, count: 32)
        body += [UInt8(sessionID.count)] + sessionID
        body += u16(cipherSuites.count) + cipherSuites
        body += [UInt8(compressionMethods.count)] + compressionMethods
        if includeExtensions {
            let block = extensions.flatMap { u16(Int($0.type)) + u16($0.data.count) + $0.data }
            body += u16(Int(extensionsLengthOverride ?? UInt16(block.count))) + block
        }
        return [messageType, UInt8(body.count >> 16), UInt8(body.count >> 8 & 0xFF), UInt8(body.count & 0xFF)] + body
    }

    /// The message in handshake records of at most `fragment` bytes.
    func records(fragment: Int = 16384, recordVersion: UInt16 = 0x0301) -> [UInt8] {
        wrapInRecords(message(), fragment: fragment, recordVersion: recordVersion)
    }
}

func wrapInRecords(_ message: [UInt8], fragment: Int, recordVersion: UInt16 = 0x0301, contentType: UInt8 = 22) -> [UInt8] {
    var out: [UInt8] = []
    var offset = 0
    while offset < message.count {
        let end = min(offset + fragment, message.count)
        out += [contentType] + u16(Int(recordVersion)) + u16(end - offset) + message[offset..<end]
        offset = end
    }
    return out
}

func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
