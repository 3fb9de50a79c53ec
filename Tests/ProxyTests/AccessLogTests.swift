import Foundation
import Glibc
import Addresses
import HTTP
import Identity
import LinuxSys
import Testing
@testable import Proxy

/// The lines an AccessLog wrote into a pipe, after `body` ran.
private func written(_ body: (AccessLog) -> Void) -> String {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0)
    defer { close(fds[0]) }
    let log = AccessLog(enabled: true, output: Descriptor(rawValue: fds[1]))
    body(log)
    close(fds[1])
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fds[0], &buffer, buffer.count)
        if count <= 0 { break }
        out += buffer[0..<count]
    }
    return String(decoding: out, as: UTF8.self)
}

@Suite struct AccessLogTests {
    @Test func aLineIsOneJSONObjectWithItsFieldsInOrder() throws {
        let text = written { log in
            log.record { line in
                line.field("start_time", time: (seconds: 1_795_833_723, nanoseconds: 45_678_901))
                line.field("kind", "http")
                line.field("path", "/a \"quoted\" \\ path\n\t\r\u{1}\u{7f}é")
                line.field("peer", nil as String?)
                line.field("status", 403)
                line.field("none", nil as Int?)
                line.field("zero", UInt64(0))
                line.field("big", UInt64.max)
                line.field("negative", -42)
                line.field("ten", 10)
            }
            log.flush()
        }
        #expect(text.hasSuffix("}\n") && text.filter { $0 == "\n" }.count == 1)
        #expect(text.hasPrefix(#"{"start_time":"2026-11-28T02:42:03.045Z","kind":"http","#))
        #expect(text.contains(#""path":"/a \"quoted\" \\ path\n\t\r\u0001\u007fé""#))
        #expect(text.contains(#""peer":null,"status":403,"none":null,"zero":0,"big":18446744073709551615,"negative":-42,"ten":10}"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["path"] as? String == "/a \"quoted\" \\ path\n\t\r\u{1}\u{7f}é")
        #expect((object["big"] as? NSNumber)?.uint64Value == UInt64.max)
    }

    /// Addresses and SPIFFE ids written straight into the line read as their descriptions do.
    @Test(arguments: [
        SocketAddress(IPv4Address(10, 0, 0, 1), port: 80), SocketAddress(IPv4Address(255, 255, 255, 255), port: 65535),
        SocketAddress(IPv4Address(0, 0, 0, 0), port: 1), SocketAddress(IPv4Address(192, 168, 100, 7), port: 54321),
        try! SocketAddress(parsing: "[fd00::1:2]:8080"),
    ])
    func addressesAreWrittenAsDescribed(address: SocketAddress) {
        let text = written { log in
            log.record { line in line.field("client", address: address) }
            log.flush()
        }
        #expect(text == "{\"client\":\"\(address)\"}\n")
    }

    @Test func spiffeIDsAreWrittenAsDescribedOrNull() throws {
        let id = try SPIFFEID(parsing: "spiffe://cluster.local/ns/default/sa/web-1")
        let text = written { log in
            log.record { line in
                line.field("peer", spiffe: id)
                line.field("none", spiffe: nil)
            }
            log.flush()
        }
        #expect(text == #"{"peer":"spiffe://cluster.local/ns/default/sa/web-1","none":null}"# + "\n")
    }

    @Test func linesWaitForTheRoundsEndOrTheThresholdAndStayWhole() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        let log = AccessLog(enabled: true, output: Descriptor(rawValue: fds[1]))
        func available() -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: 65536)
            var bytes: [UInt8] = []
            while true {
                let count = read(fds[0], &buffer, buffer.count)
                if count <= 0 { return bytes }
                bytes += buffer[0..<count]
            }
        }
        log.record { $0.field("n", 1) }
        #expect(available().isEmpty, "held until the worker's round ends")
        log.flush()
        #expect(available() == Array("{\"n\":1}\n".utf8))
        // Below the threshold lines wait; the line that crosses it sends them all, each whole.
        let line = Array("{\"padding\":\"\(String(repeating: "p", count: 100))\"}\n".utf8)
        var lines = 0
        while (lines + 1) * line.count < AccessLog.flushThreshold {
            log.record { $0.field("padding", String(repeating: "p", count: 100)) }
            lines += 1
        }
        #expect(available().isEmpty, "\(lines) lines, \(lines * line.count) bytes: still below the threshold")
        log.record { $0.field("padding", String(repeating: "p", count: 100)) }
        #expect(available() == Array(repeating: line, count: lines + 1).flatMap { $0 })
    }

    @Test func fieldBytesFromAPeerAreEscapedAndIdsWrittenAsTheyAre() throws {
        let text = written { log in
            log.record { line in
                line.field("request_id", bytes: Array("id \"1\" \\ x".utf8)[...])
                line.field("other", bytes: [0x61, 0xE9, 0xFF, 0x62][...]) // obs-text that is not UTF-8
                line.field("trace_id", unescaped: { TraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736).append(to: &$0) })
            }
            log.flush()
        }
        #expect(text == #"{"request_id":"id \"1\" \\ x","other":"a"# + "\u{FFFD}\u{FFFD}" + #"b","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"# + "\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["request_id"] as? String == "id \"1\" \\ x")
        #expect(object["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test func aDisabledLogBuildsNothing() {
        var called = false
        let log = AccessLog(enabled: false, output: Descriptor(rawValue: -1))
        log.record { _ in called = true }
        log.flush()
        #expect(!called)
    }
}
