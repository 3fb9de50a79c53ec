import Config
import Testing

@Suite("Sidecar protocol detection settings")
struct DetectionSettingsTests {
    @Test("the defaults: 300ms, Linkerd's opaque ports")
    func defaults() {
        let sidecar = SidecarConfig.defaults
        #expect(sidecar.detectionTimeout == .milliseconds(300))
        #expect(sidecar.opaquePorts.ports == [25, 587, 3306, 4444, 5432, 6379, 9300, 11211])
        for port: UInt16 in [25, 587, 3306, 4444, 5432, 6379, 9300, 11211] {
            #expect(sidecar.isOpaque(port: port), "port \(port)")
        }
        for port: UInt16 in [0, 1, 24, 26, 80, 443, 3307, 8080, 11212, 65535] {
            #expect(!sidecar.isOpaque(port: port), "port \(port)")
        }
    }

    @Test("spec.detection is read", arguments: [
        ("  detection: {timeout: 1s, opaquePorts: [6379, 1, 65535]}", Duration.seconds(1), [1, 6379, 65535] as [UInt16]),
        ("  detection: {opaquePorts: []}", .milliseconds(300), []),
        ("  detection: {opaquePorts: ~}", .milliseconds(300), []),
        ("  detection: {timeout: 1ns}", .nanoseconds(1), [25, 587, 3306, 4444, 5432, 6379, 9300, 11211]),
        ("  detection:", .milliseconds(300), [25, 587, 3306, 4444, 5432, 6379, 9300, 11211]),
    ])
    func read(line: String, timeout: Duration, ports: [UInt16]) throws {
        let sidecar = try load(sidecar(line)).sidecar
        #expect(sidecar.detectionTimeout == timeout)
        #expect(sidecar.opaquePorts.ports == ports)
        #expect(sidecar.isOpaque(port: 25) == ports.contains(25))
    }

    @Test("a port set is sorted and holds each port once")
    func portSet() {
        let set = PortSet([9, 3, 9, 65535, 1])
        #expect(set.ports == [1, 3, 9, 65535])
        #expect(set.contains(1) && set.contains(65535) && !set.contains(2) && !set.contains(0))
        #expect(set.description == "1, 3, 9, 65535")
        #expect(PortSet([]).description == "none" && !PortSet([]).contains(0))
    }

    @Test("errors in spec.detection", arguments: detectionErrorCases)
    func invalid(_ errorCase: ErrorCase) {
        errorCase.check()
    }
}

let detectionErrorCases: [ErrorCase] = [
    ErrorCase("ports out of range", sidecar("  detection:", "    opaquePorts: [0, 3306, 65536]"),
              (5, 19, "`spec.detection.opaquePorts[0]` is 0; it must be an integer from 1 to 65535"),
              (5, 28, "`spec.detection.opaquePorts[2]` is 65536; it must be an integer from 1 to 65535")),
    ErrorCase("a port twice", sidecar("  detection:", "    opaquePorts:", "      - 3306", "      - 5432", "      - 3306"),
              (8, 9, "port 3306 appears twice in `spec.detection.opaquePorts` (first at line 6); a port may appear once, so remove one")),
    ErrorCase("a quoted port", sidecar("  detection: {opaquePorts: [\"3306\"]}"),
              (4, 29, "`spec.detection.opaquePorts[0]` must be an integer from 1 to 65535, not the quoted string \"3306\"; remove the quotes")),
    ErrorCase("ports as text", sidecar("  detection: {opaquePorts: \"25,587\"}"),
              (4, 28, "`spec.detection.opaquePorts` must be a list of port numbers such as 3306, not the quoted string \"25,587\"")),
    ErrorCase("an unknown detection field", sidecar("  detection: {timeOut: 1s}"),
              (4, 15, "unknown field `spec.detection.timeOut` (did you mean `timeout`?)")),
]

@Suite("Access log setting")
struct AccessLogSettingTests {
    @Test func defaultsToOnAndReadsABoolean() throws {
        #expect(try load("").sidecar.accessLog)
        #expect(try !load(sidecar("  accessLog: {enabled: false}")).sidecar.accessLog)
        #expect(try load(sidecar("  accessLog:", "    enabled: true")).sidecar.accessLog)
    }

    @Test(arguments: [
        (sidecar("  accessLog: {enabled: \"false\"}"), "must be true or false, not the quoted string"),
        (sidecar("  accessLog: {enabled: no}"), "it must be true or false"),
        (sidecar("  accessLog: {enable: true}"), "unknown field `spec.accessLog.enable`"),
    ])
    func refusesAnythingButAPlainBoolean(_ text: String, _ message: String) {
        let found = diagnostics(text)
        #expect(found.count == 1)
        #expect(found.first?.line == 4)
        #expect(found.first?.message.contains(message) == true, "\(found)")
    }
}
