import Config

/// What `GET /status` on the admin port says about the running proxy, and what `weft status`
/// prints of it. Plain values: the admin thread fills it in, `json` writes it, `init(json:)` reads
/// it back and `summary` is the text for people.
public struct StatusReport: Sendable, Equatable {
    /// The workload certificate in use.
    public struct Certificate: Sendable, Equatable {
        /// Uppercase hex.
        public var serial: String
        /// RFC 3339 UTC.
        public var notBefore: String
        /// RFC 3339 UTC.
        public var notAfter: String
        /// From when the report was made until notAfter; negative once expired.
        public var secondsUntilExpiration: Int
        /// Whether it was within its validity when the report was made.
        public var valid: Bool

        public init(serial: String, notBefore: String, notAfter: String, secondsUntilExpiration: Int, valid: Bool) {
            self.serial = serial
            self.notBefore = notBefore
            self.notAfter = notAfter
            self.secondsUntilExpiration = secondsUntilExpiration
            self.valid = valid
        }
    }

    /// The active traffic configuration: its version (1 at start, +1 per applied change) and how
    /// many documents of each kind it holds.
    public struct TrafficConfig: Sendable, Equatable {
        /// 1 for the configuration the proxy started with, +1 per applied change.
        public var version: Int
        /// Service documents.
        public var services: Int
        /// EndpointSlice documents.
        public var endpointSlices: Int
        /// HTTPRoute documents.
        public var httpRoutes: Int
        /// DestinationRule documents.
        public var destinationRules: Int

        public init(version: Int, services: Int, endpointSlices: Int, httpRoutes: Int, destinationRules: Int) {
            self.version = version
            self.services = services
            self.endpointSlices = endpointSlices
            self.httpRoutes = httpRoutes
            self.destinationRules = destinationRules
        }
    }

    /// A count per listener direction.
    public struct DirectionCounts: Sendable, Equatable {
        /// On the outbound listener (15001): the pod's applications calling out.
        public var outbound: Int
        /// On the inbound listener (15006): calls to the pod's applications.
        public var inbound: Int
        /// Both.
        public var total: Int { outbound + inbound }

        public init(outbound: Int, inbound: Int) {
            self.outbound = outbound
            self.inbound = inbound
        }
    }

    /// A listening socket: what it is for and where it listens.
    public struct Listener: Sendable, Equatable {
        /// `outbound`, `inbound`, `health`, `metrics` or `admin`.
        public var name: String
        /// `[::]:15001`, `127.0.0.1:15000`.
        public var address: String

        public init(name: String, address: String) {
            self.name = name
            self.address = address
        }
    }

    /// `weftVersion` of the proxy's binary.
    public var version: String
    /// The proxy's process id.
    public var pid: Int
    /// When the proxy started, RFC 3339 UTC.
    public var startTime: String
    /// Seconds since the start (monotonic: a clock change does not move it).
    public var uptimeSeconds: Int
    /// The SPIFFE id of the workload certificate; nil without `spec.identity` (no mTLS).
    public var identity: String?
    /// nil without `spec.identity`.
    public var certificate: Certificate?
    /// The traffic configuration in force.
    public var trafficConfig: TrafficConfig
    /// Outbound, inbound, health, metrics and admin, in that order.
    public var listeners: [Listener]
    /// Worker threads (each with its own outbound and inbound listener on the same ports).
    public var workers: Int
    /// Connections open now (accepted and not yet ended), summed over the workers.
    public var activeConnections: DirectionCounts
    /// Connections accepted since the start.
    public var openedConnections: DirectionCounts
    /// SIGTERM arrived: the listeners are closed and live connections are finishing.
    public var draining: Bool
    /// Why the proxy is not ready (the body of a 503 from /healthz/ready); empty when ready.
    public var problems: [String]
    /// Whether /healthz/ready answers 200.
    public var ready: Bool { problems.isEmpty }

    public init(
        version: String, pid: Int, startTime: String, uptimeSeconds: Int, identity: String?, certificate: Certificate?,
        trafficConfig: TrafficConfig, listeners: [Listener], workers: Int, activeConnections: DirectionCounts,
        openedConnections: DirectionCounts, draining: Bool, problems: [String]
    ) {
        self.version = version
        self.pid = pid
        self.startTime = startTime
        self.uptimeSeconds = uptimeSeconds
        self.identity = identity
        self.certificate = certificate
        self.trafficConfig = trafficConfig
        self.listeners = listeners
        self.workers = workers
        self.activeConnections = activeConnections
        self.openedConnections = openedConnections
        self.draining = draining
        self.problems = problems
    }
}

// MARK: - JSON

extension StatusReport {
    /// The report as `GET /status` answers it.
    public var json: JSONValue {
        func counts(_ counts: DirectionCounts) -> JSONValue {
            ["total": .integer(counts.total), "outbound": .integer(counts.outbound), "inbound": .integer(counts.inbound)]
        }
        let certificate: JSONValue = self.certificate.map { certificate in
            [
                "serial_number": .string(certificate.serial),
                "not_before": .string(certificate.notBefore),
                "not_after": .string(certificate.notAfter),
                "seconds_until_expiration": .integer(certificate.secondsUntilExpiration),
                "days_until_expiration": .integer(Self.wholeDays(certificate.secondsUntilExpiration)),
                "valid": .bool(certificate.valid),
            ]
        } ?? .null
        return [
            "version": .string(version),
            "pid": .integer(pid),
            "start_time": .string(startTime),
            "uptime_seconds": .integer(uptimeSeconds),
            "identity": identity.map { .string($0) } ?? .null,
            "certificate": certificate,
            "traffic_config": [
                "version": .integer(trafficConfig.version),
                "services": .integer(trafficConfig.services),
                "endpoint_slices": .integer(trafficConfig.endpointSlices),
                "http_routes": .integer(trafficConfig.httpRoutes),
                "destination_rules": .integer(trafficConfig.destinationRules),
            ],
            "listeners": .object(listeners.map { (key: $0.name, value: .string($0.address)) }),
            "workers": .integer(workers),
            "connections": ["active": counts(activeConnections), "opened": counts(openedConnections)],
            "draining": .bool(draining),
            "ready": .bool(ready),
            "problems": .array(problems.map { .string($0) }),
        ]
    }

    /// Reads what `json` wrote. Members it does not know are ignored (a newer proxy may say
    /// more); a missing or mistyped one throws, naming it.
    public init(json: JSONValue) throws(StatusReportError) {
        let root = Members(json, path: "")
        let certificate = try root.optionalObject("certificate")
        let traffic = try root.object("traffic_config")
        let connections = try root.object("connections")
        func counts(_ members: Members) throws(StatusReportError) -> DirectionCounts {
            DirectionCounts(outbound: try members.int("outbound"), inbound: try members.int("inbound"))
        }
        let listeners: [Listener]
        guard case .object(let entries)? = json["listeners"] else { throw StatusReportError(member: "listeners", expected: "an object") }
        listeners = try entries.map { (entry) throws(StatusReportError) -> Listener in
            guard let address = entry.value.stringValue else { throw StatusReportError(member: "listeners.\(entry.key)", expected: "a string") }
            return Listener(name: entry.key, address: address)
        }
        let problems = try root.array("problems").enumerated().map { (index, item) throws(StatusReportError) -> String in
            guard let text = item.stringValue else { throw StatusReportError(member: "problems[\(index)]", expected: "a string") }
            return text
        }
        self.init(
            version: try root.string("version"), pid: try root.int("pid"), startTime: try root.string("start_time"),
            uptimeSeconds: try root.int("uptime_seconds"), identity: try root.optionalString("identity"),
            certificate: try certificate.map { (members) throws(StatusReportError) -> Certificate in
                Certificate(
                    serial: try members.string("serial_number"), notBefore: try members.string("not_before"),
                    notAfter: try members.string("not_after"), secondsUntilExpiration: try members.int("seconds_until_expiration"),
                    valid: try members.bool("valid"))
            },
            trafficConfig: TrafficConfig(
                version: try traffic.int("version"), services: try traffic.int("services"),
                endpointSlices: try traffic.int("endpoint_slices"), httpRoutes: try traffic.int("http_routes"),
                destinationRules: try traffic.int("destination_rules")),
            listeners: listeners, workers: try root.int("workers"),
            activeConnections: try counts(try connections.object("active")),
            openedConnections: try counts(try connections.object("opened")),
            draining: try root.bool("draining"), problems: problems)
    }

    /// Whole days in `seconds`, rounded toward minus infinity (an hour past expiry is day -1).
    static func wholeDays(_ seconds: Int) -> Int {
        seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400)
    }
}

/// A `/status` answer without a member `weft status` needs, or with one of another type.
public struct StatusReportError: Error, Equatable, CustomStringConvertible {
    /// The member's path, e.g. `connections.active.inbound`.
    public let member: String
    /// What it should have been, e.g. `an integer`.
    public let expected: String
    public var description: String { "\(member) is missing or not \(expected)" }
}

/// The members of one object of a `/status` answer, read by name.
private struct Members {
    let value: JSONValue
    let path: String

    init(_ value: JSONValue, path: String) {
        self.value = value
        self.path = path
    }

    private func member(_ key: String) -> (value: JSONValue?, path: String) {
        (value[key], path.isEmpty ? key : "\(path).\(key)")
    }

    func string(_ key: String) throws(StatusReportError) -> String {
        let (found, path) = member(key)
        guard let text = found?.stringValue else { throw StatusReportError(member: path, expected: "a string") }
        return text
    }

    func optionalString(_ key: String) throws(StatusReportError) -> String? {
        let (found, path) = member(key)
        if found?.isNull ?? true { return nil }
        guard let text = found?.stringValue else { throw StatusReportError(member: path, expected: "a string or null") }
        return text
    }

    func int(_ key: String) throws(StatusReportError) -> Int {
        let (found, path) = member(key)
        guard let number = found?.intValue else { throw StatusReportError(member: path, expected: "an integer") }
        return number
    }

    func bool(_ key: String) throws(StatusReportError) -> Bool {
        let (found, path) = member(key)
        guard let flag = found?.boolValue else { throw StatusReportError(member: path, expected: "true or false") }
        return flag
    }

    func array(_ key: String) throws(StatusReportError) -> [JSONValue] {
        let (found, path) = member(key)
        guard let items = found?.arrayValue else { throw StatusReportError(member: path, expected: "an array") }
        return items
    }

    func object(_ key: String) throws(StatusReportError) -> Members {
        let (found, path) = member(key)
        guard let found, case .object = found else { throw StatusReportError(member: path, expected: "an object") }
        return Members(found, path: path)
    }

    func optionalObject(_ key: String) throws(StatusReportError) -> Members? {
        let (found, path) = member(key)
        if found?.isNull ?? true { return nil }
        guard let found, case .object = found else { throw StatusReportError(member: path, expected: "an object or null") }
        return Members(found, path: path)
    }
}

// MARK: - Text

extension StatusReport {
    /// A few lines for people (`weft status`): version, state and why, identity, certificate
    /// expiry, traffic configuration, listeners and connections.
    public var summary: String {
        var lines = ["weft \(version), pid \(pid), up \(formatDuration(.seconds(uptimeSeconds))) (since \(startTime))"]
        func line(_ label: String, _ text: String) {
            lines.append(label.padding(13) + text)
        }
        var state = ready ? "ready" : "NOT READY"
        if draining { state += ", draining" }
        line("state", state)
        for problem in problems { lines.append(String(repeating: " ", count: 13) + "- " + problem) }
        line("identity", identity ?? "none (spec.identity is not set: this sidecar speaks no mTLS)")
        if let certificate {
            line("certificate", "serial \(certificate.serial), " + Self.expiry(certificate))
        } else {
            line("certificate", "none")
        }
        let config = trafficConfig
        line("config", "traffic version \(config.version): " + [
            Self.count(config.services, "Service"), Self.count(config.endpointSlices, "EndpointSlice"),
            Self.count(config.httpRoutes, "HTTPRoute"), Self.count(config.destinationRules, "DestinationRule"),
        ].joined(separator: ", "))
        line("listeners", listeners.map { "\($0.name) \($0.address)" }.joined(separator: ", "))
        line("workers", "\(workers)")
        let active = activeConnections, opened = openedConnections
        line("connections", "\(active.total) active (\(active.outbound) outbound, \(active.inbound) inbound), "
            + "\(opened.total) opened since start (\(opened.outbound) outbound, \(opened.inbound) inbound)")
        return lines.map { $0 + "\n" }.joined()
    }

    /// `expires 2026-03-02T10:00:00Z, in 12 days`, with hours and minutes when under two days;
    /// `EXPIRED at …, 3 days ago`; `NOT VALID YET (from …); expires …`.
    static func expiry(_ certificate: Certificate) -> String {
        let seconds = certificate.secondsUntilExpiration
        if seconds <= 0 {
            let ago = -seconds
            return "EXPIRED at \(certificate.notAfter), " + (ago < 2 * 86400 ? "\(hoursAndMinutes(ago)) ago" : "\(count(ago / 86400, "day")) ago")
        }
        var text = "expires \(certificate.notAfter), in \(count(wholeDays(seconds), "day"))"
        if seconds < 2 * 86400 { text += " (\(hoursAndMinutes(seconds)))" }
        if !certificate.valid { text = "NOT VALID YET (valid from \(certificate.notBefore)); " + text }
        return text
    }

    private static func hoursAndMinutes(_ seconds: Int) -> String {
        "\(seconds / 3600)h\(seconds / 60 % 60)m"
    }

    private static func count(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
