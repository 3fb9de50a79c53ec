import LinuxSys

/// Whether this kernel can take over the TLS record layer (kTLS, `CONFIG_TLS`), for the startup
/// log. Connections ask for it regardless (SSL_OP_ENABLE_KTLS) and OpenSSL falls back to user
/// space silently; `TLSStream.kernelTLS` tells, per connection, what really happened.
public enum KernelTLS {
    /// The result of a probe.
    public struct Probe: Sendable, Hashable, CustomStringConvertible {
        /// The kernel lists the `tls` upper-layer protocol.
        public let available: Bool
        /// What was found, for the log line.
        public let detail: String

        public var description: String { detail }
    }

    /// Reads /proc/sys/net/ipv4/tcp_available_ulp (the TCP upper-layer protocols the kernel has
    /// registered, tcp(7)). `tls` there means kTLS can be used; its absence means `CONFIG_TLS` is
    /// off or the `tls` module is not loaded (a modular kernel loads it on the first TCP_ULP
    /// request, so a probe can under-report, never over-report).
    public static func probe(ulpFile: String = "/proc/sys/net/ipv4/tcp_available_ulp") -> Probe {
        guard let text = ProcessInfo.readSmallFile(ulpFile) else {
            return Probe(available: false, detail: "kTLS unknown: \(ulpFile) unreadable; TLS records are handled by OpenSSL in user space unless a connection reports otherwise")
        }
        let protocols = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        if protocols.contains("tls") {
            return Probe(available: true, detail: "kTLS available (tcp_available_ulp: \(protocols.joined(separator: " "))); connections offload the record layer where OpenSSL can")
        }
        let listed = protocols.isEmpty ? "none" : protocols.joined(separator: " ")
        return Probe(available: false, detail: "kTLS not available (tcp_available_ulp: \(listed)); TLS records are handled by OpenSSL in user space")
    }

    /// `probe().available`.
    public static func available() -> Bool { probe().available }
}
