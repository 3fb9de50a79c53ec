internal import CNetfilter
import Addresses
import Glibc
import LinuxSys

/// The IPv6 inbound passthrough source `::6` on `lo`. The proxy (uid 1337, no capabilities)
/// binds it to connect to the application, and binding an address the host does not have fails
/// with EADDRNOTAVAIL — so `weft init`, which has CAP_NET_ADMIN, adds it. 127.0.0.6 needs
/// nothing: all of 127.0.0.0/8 is local on lo.
public enum PassthroughAddress {
    /// `::6`.
    public static let ipv6 = IPv6Address.inboundPassthroughSource

    /// Whether lo has IPv6 in this network namespace (/proc/sys/net/ipv6/conf/lo/disable_ipv6 is
    /// 0; the file is absent when IPv6 is off for the whole kernel).
    public static func loopbackHasIPv6() -> Bool {
        ProcessInfo.readSmallFile("/proc/sys/net/ipv6/conf/lo/disable_ipv6")?.trimmingNewlines == "0"
    }

    /// Adds ::6/128 to lo with IFA_F_NODAD over rtnetlink (RTM_NEWADDR with
    /// NLM_F_CREATE|NLM_F_REPLACE, what `ip -6 addr replace ::6/128 dev lo nodad` sends), so it
    /// is usable at once and adding it again succeeds.
    public static func addToLoopback() throws(NetfilterError) {
        let index = try loopbackIndex()
        let socket = try openRouteSocket()
        let request = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 8)
        defer { request.deallocate() }
        let (header, message, sequence) = addressRequest(in: request, type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK)
        message.pointee.ifa_prefixlen = 128
        // Duplicate address detection would keep the address "tentative" (unbindable) for a
        // second or more; on lo there is nobody to collide with.
        message.pointee.ifa_flags = UInt8(IFA_F_NODAD)
        message.pointee.ifa_scope = UInt8(RT_SCOPE_UNIVERSE.rawValue)
        message.pointee.ifa_index = index
        let bytes = ipv6.bytes
        mnl_attr_put(header, UInt16(IFA_LOCAL), bytes.count, bytes)
        mnl_attr_put(header, UInt16(IFA_ADDRESS), bytes.count, bytes)
        mnl_attr_put_u32(header, UInt16(IFA_FLAGS), UInt32(IFA_F_NODAD))
        do { try socket.send(UnsafeRawBufferPointer(start: request, count: Int(header.pointee.nlmsg_len))) } catch {
            throw NetfilterError(.failed, errno: error.errno, "cannot ask the kernel to add \(ipv6)/128 to lo (\(error)); run weft init again")
        }
        while true {
            let datagram: UnsafeRawBufferPointer
            do { datagram = try socket.receive() } catch {
                throw NetfilterError(.failed, errno: error.errno, "no answer from the kernel while adding \(ipv6)/128 to lo (\(error)); run weft init again")
            }
            var answer: Int32?
            try NetlinkSocket.forEachMessage(in: datagram) { message in
                guard let (code, replySequence) = NetlinkSocket.decodeError(message), replySequence == sequence else { return true }
                answer = code
                return false
            }
            guard let code = answer else { continue }
            if code == 0 { return }
            let errno = Errno(rawValue: code)
            if errno == .permissionDenied { throw NetfilterError.missingPrivilege(errno, doing: "add \(ipv6)/128 to lo") }
            throw NetfilterError(.failed, errno: errno, "the kernel refused to add \(ipv6)/128 to lo: \(errno); check `ip -6 addr show dev lo` and that IPv6 is enabled on lo")
        }
    }

    /// Whether lo holds ::6/128 now (an RTM_GETADDR dump of the IPv6 addresses).
    public static func isOnLoopback() throws(NetfilterError) -> Bool {
        let index = try loopbackIndex()
        let socket = try openRouteSocket()
        let request = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 8)
        defer { request.deallocate() }
        let (header, _, sequence) = addressRequest(in: request, type: RTM_GETADDR, flags: NLM_F_DUMP)
        let wanted = ipv6.bytes
        var found = false
        try socket.dump(
            request: UnsafeRawBufferPointer(start: request, count: Int(header.pointee.nlmsg_len)),
            sequence: sequence, what: "the IPv6 addresses of lo",
            refused: { errno in
                NetfilterError(.failed, errno: errno, "the kernel refused to list the IPv6 addresses of lo: \(errno)")
            }
        ) { message in
            guard Int32(message.pointee.nlmsg_type) == Int32(RTM_NEWADDR) else { return }
            let address = mnl_nlmsg_get_payload(message)!.assumingMemoryBound(to: ifaddrmsg.self).pointee
            if address.ifa_index == index, address.ifa_prefixlen == 128, addressBytes(of: message) == wanted { found = true }
        }
        return found
    }

    /// Starts an rtnetlink address request for IPv6 in `buffer`: the header (numbered from the
    /// clock, like nft) and an ifaddrmsg the caller completes.
    private static func addressRequest(
        in buffer: UnsafeMutableRawPointer, type: Int, flags: Int32
    ) -> (UnsafeMutablePointer<nlmsghdr>, UnsafeMutablePointer<ifaddrmsg>, UInt32) {
        let sequence = UInt32(truncatingIfNeeded: time(nil))
        let header = mnl_nlmsg_put_header(buffer)!
        header.pointee.nlmsg_type = UInt16(type)
        header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST | flags)
        header.pointee.nlmsg_seq = sequence
        let message = mnl_nlmsg_put_extra_header(header, MemoryLayout<ifaddrmsg>.size)!.assumingMemoryBound(to: ifaddrmsg.self)
        message.pointee.ifa_family = UInt8(AF_INET6)
        return (header, message, sequence)
    }

    /// The IFA_ADDRESS attribute of an RTM_NEWADDR message (walked with mnl_attr_ok/next:
    /// mnl_attr_for_each is a macro Swift cannot import).
    private static func addressBytes(of message: UnsafeMutablePointer<nlmsghdr>) -> [UInt8]? {
        let start = mnl_nlmsg_get_payload_offset(message, MemoryLayout<ifaddrmsg>.size)!
        let end = mnl_nlmsg_get_payload_tail(message)!
        var attribute: UnsafeMutablePointer<nlattr>? = start.assumingMemoryBound(to: nlattr.self)
        while let current = attribute {
            let remaining = Int32(end - UnsafeMutableRawPointer(current))
            guard mnl_attr_ok(current, remaining) else { return nil }
            if mnl_attr_get_type(current) == UInt16(IFA_ADDRESS) {
                let length = Int(mnl_attr_get_payload_len(current))
                return Array(UnsafeRawBufferPointer(start: mnl_attr_get_payload(current), count: length))
            }
            attribute = mnl_attr_next(current)
        }
        return nil
    }

    private static func loopbackIndex() throws(NetfilterError) -> UInt32 {
        let index = if_nametoindex("lo")
        guard index != 0 else {
            throw NetfilterError(.failed, errno: Errno.current, "this network namespace has no lo interface (if_nametoindex: \(Errno.current)); run weft init in a pod's namespace")
        }
        return index
    }

    private static func openRouteSocket() throws(NetfilterError) -> NetlinkSocket {
        do { return try NetlinkSocket(bus: NETLINK_ROUTE) } catch {
            throw NetfilterError(.failed, errno: error.errno, "cannot open a routing netlink socket (\(error)); check the process's file descriptor limit")
        }
    }
}

extension String {
    var trimmingNewlines: String {
        var text = self
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text
    }
}
