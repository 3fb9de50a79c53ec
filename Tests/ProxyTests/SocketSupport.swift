import Glibc
import LinuxSys

/// A connected pair of non-blocking stream sockets (AF_UNIX: no network, no privileges).
struct SocketPair {
    let near: Descriptor
    let far: Descriptor

    init() {
        var fds: [Int32] = [0, 0]
        let result = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        precondition(result == 0, "socketpair: \(errno)")
        near = Descriptor(rawValue: fds[0])
        far = Descriptor(rawValue: fds[1])
    }

    func close() {
        near.close()
        far.close()
    }
}

func send(_ fd: Descriptor, _ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd.rawValue, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
        precondition(sent > 0, "send: \(errno)")
        offset += sent
    }
}

/// Everything readable now (non-blocking), "" when nothing is.
func drain(_ fd: Descriptor) -> String {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd.rawValue, $0.baseAddress!, $0.count, 0) }
        if count <= 0 { break }
        out += buffer[0..<count]
    }
    return String(decoding: out, as: UTF8.self)
}

/// Whether the peer of `fd` has closed its write side (a read returns 0).
func peerClosed(_ fd: Descriptor) -> Bool {
    var byte: UInt8 = 0
    return recv(fd.rawValue, &byte, 1, Int32(MSG_PEEK)) == 0
}

