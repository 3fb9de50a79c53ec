// libFuzzer entry point for the Addresses parsers. Scripts/fuzz compiles this file together with
// Sources/Addresses into one module, so the parsers are called without an import.
//
// Properties checked on every input, besides "never crashes":
// - whatever parses formats to text that parses back to the same value, and formatting is stable;
// - the IPv4 and IPv6 parsers agree with glibc's inet_pton(3) on both what is an address and
//   which bytes it is (zone ids, refused by Weft and by inet_pton alike, need no exception);
// - a parsed CIDR contains its own address, and lists survive being joined and parsed again.
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    checkIPv4(text)
    checkIPv6(text)
    checkCIDR(text)
    checkSocketAddress(text)
    checkLists(text)
    return 0
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

/// inet_pton's answer for `text`, or nil when it refuses it. Text with NUL bytes is refused up
/// front: C would see a shorter string than Swift does.
private func inetPton(_ family: Int32, _ text: String, byteCount: Int) -> [UInt8]? {
    guard !text.utf8.contains(0) else { return nil }
    var buffer = [UInt8](repeating: 0, count: 16)
    let result = buffer.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
    return result == 1 ? Array(buffer.prefix(byteCount)) : nil
}

private func checkIPv4(_ text: String) {
    let parsed = try? IPv4Address(parsing: text)
    let reference = inetPton(AF_INET, text, byteCount: 4)
    require(parsed?.octets == reference, "IPv4 \(text.debugDescription): Weft \(String(describing: parsed)), inet_pton \(String(describing: reference))")
    guard let parsed else { return }
    require((try? IPv4Address(parsing: parsed.description)) == parsed, "IPv4 round trip of \(text.debugDescription)")
}

private func checkIPv6(_ text: String) {
    let parsed = try? IPv6Address(parsing: text)
    let reference = inetPton(AF_INET6, text, byteCount: 16)
    require(parsed?.bytes == reference, "IPv6 \(text.debugDescription): Weft \(String(describing: parsed)), inet_pton \(String(describing: reference))")
    guard let parsed else { return }
    let formatted = parsed.description
    guard let again = try? IPv6Address(parsing: formatted) else {
        fatalError("property violated: IPv6 \(text.debugDescription) formats as \(formatted), which does not parse")
    }
    require(again == parsed, "IPv6 round trip of \(text.debugDescription) via \(formatted)")
    require(again.description == formatted, "IPv6 formatting of \(formatted) is not stable")
    // RFC 5952 §4.3: lowercase; §4.2.2: "::" never stands for a single group.
    require(!formatted.contains(where: { $0.isUppercase }), "IPv6 \(formatted) has uppercase")
    if formatted.contains("::") {
        let written = formatted.split(separator: ":").reduce(0) { $0 + ($1.contains(".") ? 2 : 1) }
        require(written <= 6, "IPv6 \(formatted) compresses a single group")
    }
}

private func checkCIDR(_ text: String) {
    guard let range = try? CIDR(parsing: text) else { return }
    require(range.contains(range.address), "CIDR \(range) does not contain its own address")
    require(range.address.masked(to: range.prefixLength) == range.address, "CIDR \(range) has host bits")
    require((try? CIDR(parsing: range.description)) == range, "CIDR round trip of \(text.debugDescription)")
    let ones = range.maskBytes.reduce(0) { $0 + $1.nonzeroBitCount }
    require(ones == range.prefixLength, "CIDR \(range) mask has \(ones) bits")
}

private func checkSocketAddress(_ text: String) {
    guard let address = try? SocketAddress(parsing: text) else { return }
    require(address.port != 0, "socket address \(text.debugDescription) has port 0")
    require((try? SocketAddress(parsing: address.description)) == address, "socket address round trip of \(text.debugDescription)")
}

private func checkLists(_ text: String) {
    if let ports = try? parsePortList(text) {
        require(Set(ports).count == ports.count, "port list \(text.debugDescription) kept duplicates")
        let joined = ports.map(String.init).joined(separator: ",")
        require((try? parsePortList(joined)) == ports, "port list round trip of \(text.debugDescription)")
    }
    if let ranges = try? parseCIDRList(text) {
        let joined = ranges.map(\.description).joined(separator: ", ")
        require((try? parseCIDRList(joined)) == ranges, "CIDR list round trip of \(text.debugDescription)")
    }
}
