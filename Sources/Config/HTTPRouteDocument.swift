import Routing
import YAML

/// Reads `kind: HTTPRoute` (gateway.networking.k8s.io/v1) into a `Routing.HTTPRoute`, for Gateway
/// API's mesh profile (GAMMA): `parentRefs` name Services (group "", kind Service), and `rules`
/// match paths, headers, query parameters and methods, apply RequestHeaderModifier,
/// RequestRedirect and URLRewrite filters, and forward to weighted Service `backendRefs` with
/// `timeouts` and `retry` (GEP-1731). Everything the CRD's schema and CEL rules check is
/// checked here too, with the same limits; regular expressions are compiled, as the proxy will
/// compile them. A Gateway parent, cross-namespace backends (which need a ReferenceGrant) and the
/// filters and fields Weft does not implement are refused by name, with the reason.
enum HTTPRouteDocument: DocumentKind {
    static let apiVersions = ["gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"]
    static let kind = "HTTPRoute"

    private enum PathMatchType: String, CaseIterable {
        case exact = "Exact", pathPrefix = "PathPrefix", regularExpression = "RegularExpression"
    }

    private enum ValueMatchType: String, CaseIterable {
        case exact = "Exact", regularExpression = "RegularExpression"
    }

    private enum PathModifierType: String, CaseIterable {
        case replaceFullPath = "ReplaceFullPath", replacePrefixMatch = "ReplacePrefixMatch"
    }

    /// The filter types of the CRD's enum; those Weft does not implement are read so that they
    /// can be refused by name.
    private enum FilterType: String, CaseIterable {
        case requestHeaderModifier = "RequestHeaderModifier", responseHeaderModifier = "ResponseHeaderModifier"
        case requestMirror = "RequestMirror", requestRedirect = "RequestRedirect", urlRewrite = "URLRewrite"
        case extensionRef = "ExtensionRef", cors = "CORS", externalAuth = "ExternalAuth"

        /// The field that holds the filter's settings.
        var field: String {
            switch self {
            case .urlRewrite: return "urlRewrite"
            case .cors: return "cors"
            default: return rawValue.prefix(1).lowercased() + rawValue.dropFirst()
            }
        }

        /// Why Weft refuses the type, or nil for those it implements.
        var unsupported: String? {
            switch self {
            case .requestHeaderModifier, .requestRedirect, .urlRewrite: return nil
            case .responseHeaderModifier: return "Weft does not change response headers"
            case .requestMirror: return "Weft does not mirror requests"
            case .extensionRef: return "Weft has no implementation-specific filters"
            case .cors: return "Weft does not answer CORS requests; let the application answer them"
            case .externalAuth: return "Weft has no external authorizer; use an AuthorizationPolicy"
            }
        }
    }

    /// The CRD's `MaxItems`.
    private static let maximumParentRefs = 32
    private static let maximumHostnames = 16
    private static let maximumFilters = 16
    private static let maximumBackendRefs = 16
    private static let maximumValueMatches = 16
    private static let maximumHeaderChanges = 16
    /// The CRD's `MaxLength` of path values and of header and query parameter values.
    private static let maximumPathLength = 1024
    private static let maximumHeaderValueLength = 4096
    private static let maximumQueryValueLength = 1024
    private static let maximumHeaderNameLength = 256

    private static let specFields = ["parentRefs", "hostnames", "rules"]
    private static let parentRefFields = ["group", "kind", "namespace", "name", "sectionName", "port"]
    private static let ruleFields = ["name", "matches", "filters", "backendRefs", "timeouts", "retry"]
    private static let retryFields = ["codes", "attempts", "backoff"]
    private static let unsupportedRuleFields = [
        "sessionPersistence": "it is deprecated; keep a client on one endpoint with a DestinationRule (trafficPolicy.loadBalancer.consistentHash.httpCookie)",
    ]
    private static let matchFields = ["path", "headers", "queryParams", "method"]
    private static let backendRefFields = ["group", "kind", "name", "namespace", "port", "weight"]
    private static let unsupportedBackendRefFields = [
        "filters": "per-backend filters are implementation-specific and Weft has none; put the filter in the rule's `filters`",
    ]

    static func read(_ document: ConfigDocument, into configuration: inout Configuration, reader: inout DocumentReader) {
        let name = reader.objectName(of: document, in: configuration, what: "the access log and the metrics name the route a request took")
        let namespace = document.namespace ?? "default"
        var route = HTTPRoute(name: name ?? "", namespace: namespace, origin: document.position.description)
        if let spec = document.spec, let fields = reader.mapping(spec.value, path: spec.path, known: specFields) {
            readSpec(fields, spec: spec, into: &route, reader: &reader)
        } else if document.spec == nil {
            reader.report("an HTTPRoute needs `spec.parentRefs` and `spec.rules`: a route takes the traffic of the Services it lists as parents", at: document.kindNode)
        }
        // A route with mistakes is left out: half of a route sends requests where no one meant.
        if reader.diagnostics.isEmpty {
            configuration.httpRoutes.append(route)
        }
    }

    private static func readSpec(_ fields: [String: Field], spec: Field, into route: inout HTTPRoute, reader: inout DocumentReader) {
        if let field = fields["parentRefs"], let items = reader.list(field, of: "parent references, such as {group: \"\", kind: Service, name: reviews}") {
            if items.count > maximumParentRefs {
                reader.report("`\(field.path)` has \(items.count) entries; the Gateway API allows at most \(maximumParentRefs)", at: field.value)
            }
            route.parentRefs = readParentRefs(items, namespace: route.namespace, reader: &reader)
        }
        if isAbsentOrEmptyList(fields["parentRefs"]) {
            reader.report("an HTTPRoute needs `spec.parentRefs`: a route takes the traffic of the Services it lists, such as parentRefs: [{group: \"\", kind: Service, name: reviews}], and of nothing else", at: fields["parentRefs"]?.value ?? spec.key)
        }
        if let field = fields["hostnames"], let items = reader.list(field, of: "host names, such as [reviews.example.com]") {
            if items.count > maximumHostnames {
                reader.report("`\(field.path)` has \(items.count) entries; the Gateway API allows at most \(maximumHostnames)", at: field.value)
            }
            for item in items {
                guard let text = reader.string(item, expecting: "a host name such as reviews.example.com") else { continue }
                let precise = text.hasPrefix("*.") ? String(text.dropFirst(2)) : text
                if isDNSSubdomain(precise) {
                    route.hostnames.append(text)
                } else {
                    reader.report("`\(item.path)` is \(quoted(text)), which is not a host name; write lowercase letters, digits, '-' and '.', optionally after `*.` for a suffix match (an IP address is not allowed)", at: item.value)
                }
            }
        }
        if let field = fields["rules"], let items = reader.list(field, of: "rules, each with matches, filters and backendRefs") {
            // The CRD's MinItems; without the field, its default applies (one rule that matches
            // every request).
            if items.isEmpty, !isNull(field.value) {
                reader.report("`\(field.path)` is an empty list; a route has 1 to \(HTTPRoute.maximumRules) rules, so write one or remove the line for the default (one rule that matches every request)", at: field.value)
            }
            if items.count > HTTPRoute.maximumRules {
                reader.report("`\(field.path)` has \(items.count) rules; the Gateway API allows at most \(HTTPRoute.maximumRules) in one route, so split it", at: field.value)
            }
            var rules: [HTTPRouteRule] = []
            var names: [String: Int] = [:]
            for item in items {
                guard let rule = readRule(item, namespace: route.namespace, reader: &reader) else { continue }
                if let name = rule.name {
                    if let first = names[name] {
                        reader.report("the rule name \(quoted(name)) appears twice in `\(field.path)` (first at line \(first)); rule names are unique within a route", at: item.value)
                    }
                    names[name] = reader.position(of: item.value).line
                }
                rules.append(rule)
            }
            let matches = rules.reduce(0) { $0 + $1.matches.count }
            if matches > HTTPRoute.maximumMatches {
                reader.report("`\(field.path)` has \(matches) matches in all; the Gateway API allows at most \(HTTPRoute.maximumMatches) in one route (and \(HTTPRoute.maximumMatchesPerRule) in one rule), so split it", at: field.value)
            }
            route.rules = rules
        }
    }

    private static func readParentRefs(_ items: [Field], namespace: String, reader: inout DocumentReader) -> [HTTPRoute.ParentRef] {
        var parents: [(ref: HTTPRoute.ParentRef, item: Field)] = []
        for item in items {
            guard let fields = reader.mapping(item.value, path: item.path, known: parentRefFields) else { continue }
            var valid = true
            // The Gateway API defaults a parent to a Gateway; a Service must be written as one.
            let group = fields["group"].map { reader.string($0, expecting: "an API group, \"\" for a Service") } ?? "gateway.networking.k8s.io"
            let kind = fields["kind"].map { reader.string($0, expecting: "a kind, Service") } ?? "Gateway"
            guard let group, let kind else { continue }
            if group != "" || kind != "Service" {
                let at = fields["kind"]?.value ?? fields["group"]?.value ?? item.value
                if kind == "Gateway", group == "gateway.networking.k8s.io" {
                    let defaults = fields["kind"] == nil ? " (group and kind default to gateway.networking.k8s.io and Gateway)" : ""
                    reader.report("`\(item.path)` refers to a Gateway\(defaults), which is not supported: a Weft sidecar routes the traffic clients send to Services (the Gateway API's mesh profile), so write group: \"\" and kind: Service with the Service's name", at: at)
                } else {
                    reader.report("`\(item.path)` refers to a \(clip(kind)) of group \(quoted(group)), which is not supported: Weft attaches routes to Services only, so write group: \"\" and kind: Service", at: at)
                }
                valid = false
            }
            guard let nameField = fields["name"] else {
                reader.report("`\(item.path)` has no `name`; write the name of the Service whose traffic the route takes", at: item.value)
                continue
            }
            guard let name = reader.string(nameField, expecting: "a Service name such as reviews") else { continue }
            var parent = HTTPRoute.ParentRef(name: name, namespace: namespace)
            if let field = fields["namespace"] {
                guard let text = readNamespace(field, reader: &reader) else { continue }
                parent.namespace = text
            }
            if let field = fields["sectionName"] {
                guard let text = reader.string(field, expecting: "the name of a port of the Service, such as http") else { continue }
                guard isDNSSubdomain(text) else {
                    reader.report("`\(field.path)` is \(quoted(text)), which is not a port name; write the `name` of one of the Service's ports, such as http", at: field.value)
                    continue
                }
                parent.sectionName = text
            }
            if let field = fields["port"] {
                guard let port = reader.portNumber(field) else { continue }
                parent.port = port
            }
            guard valid else { continue }
            // CommonRouteSpec: references to one parent set the same optional fields, with
            // different values, so that each selects a different part of it.
            if let earlier = parents.first(where: { $0.ref.name == parent.name && $0.ref.namespace == parent.namespace }) {
                let sameShape = (earlier.ref.port == nil) == (parent.port == nil) && (earlier.ref.sectionName == nil) == (parent.sectionName == nil)
                if !sameShape || earlier.ref == parent {
                    reader.report("`\(item.path)` refers to Service \(parent.namespace)/\(parent.name) again (as `\(earlier.item.path)` does); several references to one parent must each give the same of port and sectionName, with different values", at: item.value)
                    continue
                }
            }
            let reference = reader.refer(toService: parent.name, namespace: parent.namespace, by: nameField, attaches: true)
            switch (parent.port, parent.sectionName, fields["port"]) {
            case (let port?, let section?, let portField?): reader.need(.numberAndName(port, section), of: reference, by: portField)
            case (let port?, nil, let portField?): reader.need(.number(port), of: reference, by: portField)
            case (nil, let section?, _): reader.need(.name(section), of: reference, by: fields["sectionName"]!)
            default: break
            }
            parents.append((parent, item))
        }
        return parents.map(\.ref)
    }

    private static func readNamespace(_ field: Field, reader: inout DocumentReader) -> String? {
        guard let text = reader.string(field, expecting: "a namespace such as shop") else { return nil }
        guard isDNSLabel(text) else {
            reader.report("`\(field.path)` is \(quoted(text)), which is not a namespace; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", at: field.value)
            return nil
        }
        return text
    }

    private static func readRule(_ item: Field, namespace: String, reader: inout DocumentReader) -> HTTPRouteRule? {
        let known = ruleFields + unsupportedRuleFields.keys.sorted()
        guard let fields = reader.mapping(item.value, path: item.path, known: known) else { return nil }
        var valid = true
        for name in unsupportedRuleFields.keys.sorted() {
            if let field = fields[name] {
                reader.report("`\(field.path)` is not supported by Weft: \(unsupportedRuleFields[name]!)", at: field.key)
                valid = false
            }
        }
        var rule = HTTPRouteRule()
        if let field = fields["name"], let text = reader.string(field, expecting: "a rule name such as canary") {
            if isDNSSubdomain(text) { rule.name = text } else {
                reader.report("`\(field.path)` is \(quoted(text)), which is not a rule name; use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", at: field.value)
                valid = false
            }
        }
        var matchesWritten = false
        if let field = fields["matches"], let items = reader.list(field, of: "matches, each with path, headers, queryParams or method") {
            if items.count > HTTPRoute.maximumMatchesPerRule {
                reader.report("`\(field.path)` has \(items.count) matches; the Gateway API allows at most \(HTTPRoute.maximumMatchesPerRule) in one rule", at: field.value)
                valid = false
            }
            var matches: [HTTPRouteMatch] = []
            for match in items {
                if let value = readMatch(match, reader: &reader) { matches.append(value) } else { valid = false }
            }
            // No matches is the Gateway API's default: one PathPrefix match on "/".
            if !matches.isEmpty {
                rule.matches = matches
                matchesWritten = true
            }
        }
        var filters: [(filter: HTTPRouteFilter, item: Field)] = []
        if let field = fields["filters"], let items = reader.list(field, of: "filters, each with a type and its settings") {
            if items.count > maximumFilters {
                reader.report("`\(field.path)` has \(items.count) filters; the Gateway API allows at most \(maximumFilters) in one rule", at: field.value)
                valid = false
            }
            for filter in items {
                if let value = readFilter(filter, reader: &reader) { filters.append((value, filter)) } else { valid = false }
            }
        }
        rule.filters = filters.map(\.filter)
        valid = checkFilters(filters, matches: matchesWritten ? rule.matches : nil, reader: &reader) && valid
        if let field = fields["backendRefs"], let items = reader.list(field, of: "backends, each such as {name: reviews, port: 9080}") {
            if items.count > maximumBackendRefs {
                reader.report("`\(field.path)` has \(items.count) backends; the Gateway API allows at most \(maximumBackendRefs) in one rule", at: field.value)
                valid = false
            }
            for backend in items {
                if let value = readBackendRef(backend, namespace: namespace, reader: &reader) { rule.backendRefs.append(value) } else { valid = false }
            }
            // The CRD's CEL rule: a redirect answers the request, so it forwards nowhere.
            if !items.isEmpty, let redirect = filters.first(where: { if case .requestRedirect = $0.filter { return true } else { return false } }) {
                reader.report("`\(field.path)` is given with a RequestRedirect filter (`\(redirect.item.path)`), which answers every request itself; the Gateway API allows one or the other, so remove the backends or the redirect", at: field.key)
                valid = false
            }
        }
        if let field = fields["timeouts"] {
            if let timeouts = readTimeouts(field, reader: &reader) { rule.timeouts = timeouts } else { valid = false }
        }
        if let field = fields["retry"] {
            if let retry = readRetry(field, reader: &reader) { rule.retry = retry } else { valid = false }
        }
        return valid ? rule : nil
    }

    private static func readMatch(_ item: Field, reader: inout DocumentReader) -> HTTPRouteMatch? {
        guard let fields = reader.mapping(item.value, path: item.path, known: matchFields) else { return nil }
        var match = HTTPRouteMatch()
        var valid = true
        if let field = fields["path"] {
            if let path = readPathMatch(field, reader: &reader) { match.path = path } else { valid = false }
        }
        if let field = fields["headers"] {
            if let headers = readValueMatches(field, header: true, reader: &reader) {
                match.headers = headers.map { HTTPHeaderMatch(name: $0.name, value: $0.value) }
            } else { valid = false }
        }
        if let field = fields["queryParams"] {
            if let parameters = readValueMatches(field, header: false, reader: &reader) {
                match.queryParams = parameters.map { HTTPQueryParamMatch(name: $0.name, value: $0.value) }
            } else { valid = false }
        }
        if let field = fields["method"] {
            if let method = reader.choice(field, of: HTTPRouteMatch.Method.self) { match.method = method } else { valid = false }
        }
        return valid ? match : nil
    }

    private static func readPathMatch(_ field: Field, reader: inout DocumentReader) -> HTTPPathMatch? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["type", "value"]) else { return nil }
        var type = PathMatchType.pathPrefix
        if let typeField = fields["type"] {
            guard let value = reader.choice(typeField, of: PathMatchType.self) else { return nil }
            type = value
        }
        var value = "/"
        if let valueField = fields["value"] {
            guard let text = reader.string(valueField, expecting: "a path such as /api") else { return nil }
            guard text.utf8.count <= maximumPathLength else {
                reader.report("`\(valueField.path)` is \(text.utf8.count) bytes long; the Gateway API allows at most \(maximumPathLength)", at: valueField.value)
                return nil
            }
            if type == .regularExpression {
                if let problem = regexProblem(text) {
                    reader.report("`\(valueField.path)` is \(quoted(text)), which is not a regular expression Weft can compile: \(problem); Weft matches paths with Swift Regex syntax", at: valueField.value)
                    return nil
                }
            } else if let problem = pathProblem(text) {
                reader.report("`\(valueField.path)` is \(quoted(text)): an \(type.rawValue) path \(problem)", at: valueField.value)
                return nil
            }
            value = text
        }
        switch type {
        case .exact: return .exact(value)
        case .pathPrefix: return .pathPrefix(value)
        case .regularExpression: return .regularExpression(value)
        }
    }

    /// `headers` or `queryParams`: a list of {type, name, value}, names distinct (ignoring case
    /// for headers, RFC 9110 §5.1). Nil after reporting any problem.
    private static func readValueMatches(_ field: Field, header: Bool, reader: inout DocumentReader) -> [(name: String, value: HTTPValueMatch)]? {
        let what = header ? "header" : "query parameter"
        guard let items = reader.list(field, of: "\(what) matches, each such as {name: x-canary, value: \"true\"}") else { return nil }
        var valid = true
        if items.count > maximumValueMatches {
            reader.report("`\(field.path)` has \(items.count) entries; the Gateway API allows at most \(maximumValueMatches)", at: field.value)
            valid = false
        }
        var matches: [(name: String, value: HTTPValueMatch)] = []
        var firstLine: [String: Int] = [:]
        for item in items {
            guard let fields = reader.mapping(item.value, path: item.path, known: ["type", "name", "value"]) else {
                valid = false
                continue
            }
            var type = ValueMatchType.exact
            if let typeField = fields["type"] {
                guard let value = reader.choice(typeField, of: ValueMatchType.self) else {
                    valid = false
                    continue
                }
                type = value
            }
            guard let nameField = fields["name"], let valueField = fields["value"] else {
                reader.report("`\(item.path)` needs `name` and `value`, such as {name: x-canary, value: \"true\"}", at: item.value)
                valid = false
                continue
            }
            guard let name = readHeaderName(nameField, what: what, reader: &reader),
                  let text = reader.string(valueField, expecting: "a value such as v2 (quoted if YAML would read it as a number or boolean)") else {
                valid = false
                continue
            }
            let key = header ? name.lowercased() : name
            if let first = firstLine[key] {
                reader.report("the \(what) \(quoted(name)) appears twice in `\(field.path)`\(header ? " (ignoring case)" : "") (first at line \(first)); only the first would count, so remove one", at: nameField.value)
                valid = false
                continue
            }
            firstLine[key] = reader.position(of: nameField.value).line
            switch type {
            case .exact:
                if let problem = valueProblem(text, maximumLength: header ? maximumHeaderValueLength : maximumQueryValueLength) {
                    reader.report("`\(valueField.path)` \(problem)", at: valueField.value)
                    valid = false
                    continue
                }
                matches.append((name, .exact(text)))
            case .regularExpression:
                if let problem = regexProblem(text) {
                    reader.report("`\(valueField.path)` is \(quoted(text)), which is not a regular expression Weft can compile: \(problem); Weft matches values with Swift Regex syntax", at: valueField.value)
                    valid = false
                    continue
                }
                matches.append((name, .regularExpression(text)))
            }
        }
        return valid ? matches : nil
    }

    /// A header or query parameter name: 1 to 256 token characters (RFC 9110 §5.6.2), as the
    /// CRD's `HeaderName` pattern allows.
    private static func readHeaderName(_ field: Field, what: String, reader: inout DocumentReader) -> String? {
        guard let text = reader.string(field, expecting: "a \(what) name such as x-canary") else { return nil }
        guard !text.isEmpty, text.utf8.count <= maximumHeaderNameLength, text.utf8.allSatisfy(isTokenByte) else {
            reader.report("`\(field.path)` is \(quoted(text)), which is not a \(what) name; write 1 to \(maximumHeaderNameLength) letters, digits and !#$%&'*+-.^_`|~, such as x-canary", at: field.value)
            return nil
        }
        return text
    }

    private static func readFilter(_ item: Field, reader: inout DocumentReader) -> HTTPRouteFilter? {
        let known = ["type"] + FilterType.allCases.map(\.field)
        guard let fields = reader.mapping(item.value, path: item.path, known: known) else { return nil }
        let supported = FilterType.allCases.filter { $0.unsupported == nil }.map(\.rawValue).joined(separator: ", ")
        guard let typeField = fields["type"] else {
            reader.report("`\(item.path)` has no `type`; write one of \(supported), with the settings of that type", at: item.value)
            return nil
        }
        guard let type = reader.choice(typeField, of: FilterType.self) else { return nil }
        if let reason = type.unsupported {
            reader.report("`\(typeField.path)` is \(type.rawValue), which is not supported: \(reason); Weft implements \(supported)", at: typeField.value)
            return nil
        }
        // The CRD's CEL rules: the field named by `type` is given, and no other.
        var valid = true
        for other in FilterType.allCases where other != type {
            if let field = fields[other.field] {
                reader.report("`\(field.path)` is given, but the filter's type is \(type.rawValue); a filter holds only the settings its type names (`\(type.field)`)", at: field.key)
                valid = false
            }
        }
        guard let settings = fields[type.field] else {
            reader.report("`\(item.path)` is of type \(type.rawValue) but has no `\(type.field)`; write its settings there", at: item.value)
            return nil
        }
        let filter: HTTPRouteFilter?
        switch type {
        case .requestHeaderModifier: filter = readHeaderFilter(settings, reader: &reader).map { .requestHeaderModifier($0) }
        case .requestRedirect: filter = readRedirect(settings, reader: &reader).map { .requestRedirect($0) }
        case .urlRewrite: filter = readRewrite(settings, reader: &reader).map { .urlRewrite($0) }
        default: filter = nil
        }
        return valid ? filter : nil
    }

    private static func readHeaderFilter(_ field: Field, reader: inout DocumentReader) -> HTTPHeaderFilter? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["set", "add", "remove"]) else { return nil }
        var filter = HTTPHeaderFilter()
        var valid = true
        // HTTPHeaderFilter: "Only one action for a given header name is permitted."
        var firstLine: [String: Int] = [:]
        func claim(_ name: String, at node: Node) -> Bool {
            if let first = firstLine[name.lowercased()] {
                reader.report("the header \(quoted(name)) appears twice in `\(field.path)` (ignoring case; first at line \(first)); the Gateway API allows one change per header, so keep one", at: node)
                return false
            }
            firstLine[name.lowercased()] = reader.position(of: node).line
            return true
        }
        for action in ["set", "add"] {
            guard let list = fields[action], let items = reader.list(list, of: "headers, each such as {name: x-version, value: v2}") else { continue }
            if items.count > maximumHeaderChanges {
                reader.report("`\(list.path)` has \(items.count) headers; the Gateway API allows at most \(maximumHeaderChanges)", at: list.value)
                valid = false
            }
            for item in items {
                guard let header = reader.mapping(item.value, path: item.path, known: ["name", "value"]) else {
                    valid = false
                    continue
                }
                guard let nameField = header["name"], let valueField = header["value"] else {
                    reader.report("`\(item.path)` needs `name` and `value`, such as {name: x-version, value: v2}", at: item.value)
                    valid = false
                    continue
                }
                guard let name = readHeaderName(nameField, what: "header", reader: &reader),
                      let value = reader.string(valueField, expecting: "a header value such as v2 (quoted if YAML would read it as a number or boolean)") else {
                    valid = false
                    continue
                }
                if let problem = valueProblem(value, maximumLength: maximumHeaderValueLength) {
                    reader.report("`\(valueField.path)` \(problem)", at: valueField.value)
                    valid = false
                    continue
                }
                guard claim(name, at: nameField.value) else {
                    valid = false
                    continue
                }
                let entry = HTTPHeaderFilter.Header(name: name, value: value)
                if action == "set" { filter.set.append(entry) } else { filter.add.append(entry) }
            }
        }
        if let list = fields["remove"], let items = reader.list(list, of: "header names, such as [x-debug]") {
            if items.count > maximumHeaderChanges {
                reader.report("`\(list.path)` has \(items.count) headers; the Gateway API allows at most \(maximumHeaderChanges)", at: list.value)
                valid = false
            }
            for item in items {
                guard let name = readHeaderName(item, what: "header", reader: &reader), claim(name, at: item.value) else {
                    valid = false
                    continue
                }
                filter.remove.append(name)
            }
        }
        return valid ? filter : nil
    }

    private static func readRedirect(_ field: Field, reader: inout DocumentReader) -> HTTPRequestRedirectFilter? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["scheme", "hostname", "path", "port", "statusCode"]) else { return nil }
        var redirect = HTTPRequestRedirectFilter()
        var valid = true
        if let entry = fields["scheme"] {
            if let scheme = reader.choice(entry, of: HTTPRequestRedirectFilter.Scheme.self) { redirect.scheme = scheme } else { valid = false }
        }
        if let entry = fields["hostname"] {
            if let hostname = readPreciseHostname(entry, reader: &reader) { redirect.hostname = hostname } else { valid = false }
        }
        if let entry = fields["path"] {
            if let path = readPathModifier(entry, reader: &reader) { redirect.path = path } else { valid = false }
        }
        if let entry = fields["port"] {
            if let port = reader.portNumber(entry) { redirect.port = port } else { valid = false }
        }
        if let entry = fields["statusCode"] {
            let codes = [301, 302, 303, 307, 308]
            if let code = reader.integer(entry, in: 301...308) {
                if codes.contains(code) { redirect.statusCode = code } else {
                    reader.report("`\(entry.path)` is \(code); a redirect's status is one of 301, 302, 303, 307, 308", at: entry.value)
                    valid = false
                }
            } else { valid = false }
        }
        return valid ? redirect : nil
    }

    private static func readRewrite(_ field: Field, reader: inout DocumentReader) -> HTTPURLRewriteFilter? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["hostname", "path"]) else { return nil }
        var rewrite = HTTPURLRewriteFilter()
        var valid = true
        if let entry = fields["hostname"] {
            if let hostname = readPreciseHostname(entry, reader: &reader) { rewrite.hostname = hostname } else { valid = false }
        }
        if let entry = fields["path"] {
            if let path = readPathModifier(entry, reader: &reader) { rewrite.path = path } else { valid = false }
        }
        return valid ? rewrite : nil
    }

    private static func readPreciseHostname(_ field: Field, reader: inout DocumentReader) -> String? {
        guard let text = reader.string(field, expecting: "a host name such as reviews.example.com") else { return nil }
        guard isDNSSubdomain(text) else {
            reader.report("`\(field.path)` is \(quoted(text)), which is not a host name; write lowercase letters, digits, '-' and '.' (no wildcard, no IP address)", at: field.value)
            return nil
        }
        return text
    }

    /// A redirect's or rewrite's `path`: its `type`, and the one value field that type names (the
    /// CRD's CEL rules).
    private static func readPathModifier(_ field: Field, reader: inout DocumentReader) -> HTTPPathModifier? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["type", "replaceFullPath", "replacePrefixMatch"]) else { return nil }
        guard let typeField = fields["type"] else {
            reader.report("`\(field.path)` has no `type`; write ReplaceFullPath with replaceFullPath, or ReplacePrefixMatch with replacePrefixMatch", at: field.value)
            return nil
        }
        guard let type = reader.choice(typeField, of: PathModifierType.self) else { return nil }
        let valueName = type == .replaceFullPath ? "replaceFullPath" : "replacePrefixMatch"
        let otherName = type == .replaceFullPath ? "replacePrefixMatch" : "replaceFullPath"
        if let other = fields[otherName] {
            reader.report("`\(other.path)` is given, but `type` is \(type.rawValue), which takes `\(valueName)`; write one of them", at: other.key)
            return nil
        }
        guard let valueField = fields[valueName] else {
            reader.report("`\(field.path)` is of type \(type.rawValue) but has no `\(valueName)`; write the new path there", at: field.value)
            return nil
        }
        guard let text = reader.string(valueField, expecting: "a path such as /v2") else { return nil }
        // An empty prefix replacement is allowed (`/foo/bar` with prefix `/foo` becomes `/bar`);
        // otherwise the result must be a path a request can have.
        if !(type == .replacePrefixMatch && text.isEmpty), let problem = pathProblem(text) {
            reader.report("`\(valueField.path)` is \(quoted(text)): a path \(problem)", at: valueField.value)
            return nil
        }
        guard text.utf8.count <= maximumPathLength else {
            reader.report("`\(valueField.path)` is \(text.utf8.count) bytes long; the Gateway API allows at most \(maximumPathLength)", at: valueField.value)
            return nil
        }
        return type == .replaceFullPath ? .replaceFullPath(text) : .replacePrefixMatch(text)
    }

    /// The CRD's CEL rules across a rule's filters: RequestHeaderModifier, RequestRedirect and
    /// URLRewrite at most once each; RequestRedirect and URLRewrite not together; and a
    /// ReplacePrefixMatch only in a rule of exactly one PathPrefix match (`matches` nil: not
    /// written, which is the default PathPrefix `/`).
    private static func checkFilters(_ filters: [(filter: HTTPRouteFilter, item: Field)], matches: [HTTPRouteMatch]?, reader: inout DocumentReader) -> Bool {
        var valid = true
        var seen: [String: Field] = [:]
        for (filter, item) in filters {
            let type: String
            let pathModifier: HTTPPathModifier?
            switch filter {
            case .requestHeaderModifier: (type, pathModifier) = ("RequestHeaderModifier", nil)
            case .requestRedirect(let redirect): (type, pathModifier) = ("RequestRedirect", redirect.path)
            case .urlRewrite(let rewrite): (type, pathModifier) = ("URLRewrite", rewrite.path)
            }
            if let first = seen[type] {
                reader.report("`\(item.path)` is a second \(type) filter (the first is `\(first.path)`); the Gateway API allows one per rule, so merge them", at: item.value)
                valid = false
            }
            let other = type == "RequestRedirect" ? "URLRewrite" : type == "URLRewrite" ? "RequestRedirect" : nil
            if let other, let first = seen[other] {
                reader.report("`\(item.path)` is a \(type) filter in a rule with a \(other) filter (`\(first.path)`); a redirect answers the request and a rewrite forwards it, so the Gateway API allows one or the other", at: item.value)
                valid = false
            }
            if seen[type] == nil { seen[type] = item }
            if case .replacePrefixMatch = pathModifier {
                let matchList = matches ?? [HTTPRouteMatch()]
                var onePrefix = false
                if matchList.count == 1, case .pathPrefix = matchList[0].path { onePrefix = true }
                if !onePrefix {
                    reader.report("`\(item.path)` replaces the prefix a PathPrefix match matched (ReplacePrefixMatch), so its rule needs exactly one match, of type PathPrefix; it has \(matchList.count == 1 ? "one of another type" : "\(matchList.count)"), so use ReplaceFullPath or match one prefix", at: item.value)
                    valid = false
                }
            }
        }
        return valid
    }

    private static func readBackendRef(_ item: Field, namespace: String, reader: inout DocumentReader) -> HTTPBackendRef? {
        let known = backendRefFields + unsupportedBackendRefFields.keys.sorted()
        guard let fields = reader.mapping(item.value, path: item.path, known: known) else { return nil }
        var valid = true
        for name in unsupportedBackendRefFields.keys.sorted() {
            if let field = fields[name] {
                reader.report("`\(field.path)` is not supported by Weft: \(unsupportedBackendRefFields[name]!)", at: field.key)
                valid = false
            }
        }
        // A backend defaults to a Service (group "", kind Service).
        let group = fields["group"].map { reader.string($0, expecting: "an API group, \"\" for a Service") } ?? ""
        let kind = fields["kind"].map { reader.string($0, expecting: "a kind, Service") } ?? "Service"
        guard let group, let kind else { return nil }
        if group != "" || kind != "Service" {
            reader.report("`\(item.path)` refers to a \(clip(kind)) of group \(quoted(group)), which is not supported: Weft forwards to Services only (group \"\", kind Service)", at: fields["kind"]?.value ?? fields["group"]?.value ?? item.value)
            return nil
        }
        guard let nameField = fields["name"] else {
            reader.report("`\(item.path)` has no `name`; write the name of the Service to forward to", at: item.value)
            return nil
        }
        guard let name = reader.string(nameField, expecting: "a Service name such as reviews-v1") else { return nil }
        if let field = fields["namespace"] {
            guard let text = readNamespace(field, reader: &reader) else { return nil }
            if text != namespace {
                reader.report("`\(field.path)` is \(text), another namespace than the route's (\(namespace)); the Gateway API needs a ReferenceGrant in \(text) to allow that, which Weft does not read, so route to Services of namespace \(namespace)", at: field.value)
                return nil
            }
        }
        // The CRD's CEL rule "Must have port for Service reference".
        guard let portField = fields["port"] else {
            reader.report("`\(item.path)` has no `port`; a backend that is a Service needs the Service's port (its `port`, not `targetPort`), such as port: 9080", at: item.value)
            return nil
        }
        guard let port = reader.portNumber(portField) else { return nil }
        var weight = HTTPBackendRef.defaultWeight
        if let field = fields["weight"] {
            guard let value = reader.integer(field, in: 0...HTTPBackendRef.maximumWeight, meaning: "0 sends no requests") else { return nil }
            weight = value
        }
        let reference = reader.refer(toService: name, namespace: namespace, by: nameField)
        reader.need(.number(port), of: reference, by: portField)
        return valid ? HTTPBackendRef(name: name, namespace: namespace, port: port, weight: weight) : nil
    }

    private static func readTimeouts(_ field: Field, reader: inout DocumentReader) -> HTTPRouteTimeouts? {
        guard let fields = reader.mapping(field.value, path: field.path, known: ["request", "backendRequest"]) else { return nil }
        var timeouts = HTTPRouteTimeouts()
        var valid = true
        func duration(_ name: String) -> Duration? {
            guard let entry = fields[name] else { return nil }
            guard let text = reader.string(entry, expecting: "a duration such as 10s or 500ms") else {
                valid = false
                return nil
            }
            guard let value = parseGatewayDuration(text) else {
                reader.report("`\(entry.path)` is \(quoted(text)), which is not a Gateway API duration; write 1 to 4 parts of up to 5 digits, each followed by h, m, s or ms, such as 500ms, 10s or 1m30s (GEP-2257; no fractions or spaces)", at: entry.value)
                valid = false
                return nil
            }
            return value
        }
        timeouts.request = duration("request")
        timeouts.backendRequest = duration("backendRequest")
        // The CRD's CEL rule; a zero request timeout is none at all.
        if let request = timeouts.request, let backendRequest = timeouts.backendRequest, request != .zero, backendRequest > request,
           let entry = fields["backendRequest"] {
            reader.report("`\(entry.path)` is \(formatDuration(backendRequest)), longer than `\(field.path).request` (\(formatDuration(request))), which covers it; make it at most \(formatDuration(request))", at: entry.value)
            valid = false
        }
        return valid ? timeouts : nil
    }

    /// `retry` (GEP-1731): `attempts` (default 1), `backoff` (a Gateway API duration from 1ms to
    /// 10s, default 25ms) and `codes` (distinct statuses from 400 to 599). `retry: {}` retries
    /// once, after 25ms, on connect failures and resets only.
    private static func readRetry(_ field: Field, reader: inout DocumentReader) -> HTTPRouteRetry? {
        guard let fields = reader.mapping(field.value, path: field.path, known: retryFields) else { return nil }
        var retry = HTTPRouteRetry()
        var valid = true
        if let entry = fields["attempts"] {
            let range = 0...HTTPRouteRetry.maximumAttempts
            if let value = reader.integer(entry, in: range, meaning: "the retries after the first attempt; 0 retries nothing") {
                retry.attempts = value
            } else { valid = false }
        }
        if let entry = fields["backoff"] {
            if let value = readBackoff(entry, reader: &reader) { retry.backoff = value } else { valid = false }
        }
        if let entry = fields["codes"], let items = reader.list(entry, of: "HTTP statuses from 400 to 599, such as [502, 503]") {
            if items.count > HTTPRouteRetry.maximumCodes {
                reader.report("`\(entry.path)` has \(items.count) statuses; Weft retries on at most \(HTTPRouteRetry.maximumCodes), so keep the ones a retry can help with, such as 502, 503 and 504", at: entry.value)
                valid = false
            }
            var firstLine: [Int: Int] = [:]
            for item in items {
                let range = HTTPRouteRetry.codeRange
                guard let code = reader.integer(item, in: range, meaning: "an HTTP status of a client or server error") else {
                    valid = false
                    continue
                }
                if let first = firstLine[code] {
                    reader.report("the status \(code) appears twice in `\(entry.path)` (first at line \(first)); give each status once, so remove one", at: item.value)
                    valid = false
                    continue
                }
                firstLine[code] = reader.position(of: item.value).line
                retry.codes.append(code)
            }
        } else if fields["codes"] != nil {
            valid = false
        }
        return valid ? retry : nil
    }

    private static func readBackoff(_ field: Field, reader: inout DocumentReader) -> Duration? {
        let range = HTTPRouteRetry.backoffRange
        let bounds = "from \(formatDuration(range.lowerBound)) to \(formatDuration(range.upperBound))"
        guard let text = reader.string(field, expecting: "a duration \(bounds), such as 25ms or 1s") else { return nil }
        guard let value = parseGatewayDuration(text) else {
            reader.report("`\(field.path)` is \(quoted(text)), which is not a Gateway API duration; write 1 to 4 parts of up to 5 digits, each followed by h, m, s or ms, such as 25ms or 1s (GEP-2257; no fractions or spaces)", at: field.value)
            return nil
        }
        guard range.contains(value) else {
            reader.report("`\(field.path)` is \(formatDuration(value)); the backoff between attempts must be \(bounds)", at: field.value)
            return nil
        }
        return value
    }
}

/// Parses a Gateway API duration (GEP-2257, the CRD's pattern `^([0-9]{1,5}(h|m|s|ms)){1,4}$`): one
/// to four parts, each of one to five digits and a unit. Nil when the text does not match.
func parseGatewayDuration(_ text: String) -> Duration? {
    let bytes = Array(text.utf8)
    var index = 0
    var parts = 0
    var milliseconds: Int64 = 0
    while index < bytes.count {
        var digits = 0
        var number: Int64 = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            number = number * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        guard (1...5).contains(digits), index < bytes.count else { return nil }
        let unit: Int64
        switch bytes[index] {
        case UInt8(ascii: "h"): unit = 3_600_000
        case UInt8(ascii: "s"): unit = 1000
        case UInt8(ascii: "m"):
            if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "s") {
                unit = 1
                index += 1
            } else {
                unit = 60_000
            }
        default: return nil
        }
        index += 1
        parts += 1
        guard parts <= 4 else { return nil }
        // At most four parts of 99999h: far below Int64's range in milliseconds.
        milliseconds += number * unit
    }
    return parts == 0 ? nil : .milliseconds(milliseconds)
}

/// Why `text` cannot be an Exact or PathPrefix path, or a redirect's or rewrite's path, or nil:
/// the CRD's CEL rules (RFC 3986 path characters, a leading `/`, and nothing a normalised path
/// never has).
func pathProblem(_ text: String) -> String? {
    guard text.hasPrefix("/") else { return "must start with '/'" }
    for forbidden in ["//", "/./", "/../", "%2f", "%2F", "#"] where text.contains(forbidden) {
        return "must not contain '\(forbidden)', which a normalised request path never has"
    }
    for forbidden in ["/..", "/."] where text.hasSuffix(forbidden) {
        return "must not end with '\(forbidden)', which a normalised request path never does"
    }
    let bytes = Array(text.utf8)
    var index = 0
    func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
    while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "%") {
            guard index + 2 < bytes.count, isHex(bytes[index + 1]), isHex(bytes[index + 2]) else {
                return "has a '%' that is not followed by two hex digits"
            }
            index += 3
            continue
        }
        let alphanumeric = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        guard alphanumeric || "-/._~!$&'()*+,;=:@".utf8.contains(byte) else {
            return "has the character \(quoted(String(decoding: [byte], as: UTF8.self))), which a path may hold only percent-encoded"
        }
        index += 1
    }
    return nil
}

/// Why a header or query parameter value cannot be matched or sent, or nil: it is empty, too long
/// or holds a control character (a CR or LF would split the header it is written into).
private func valueProblem(_ text: String, maximumLength: Int) -> String? {
    if text.isEmpty { return "is empty; the Gateway API requires a value of at least one character" }
    if text.utf8.count > maximumLength { return "is \(text.utf8.count) bytes long; the Gateway API allows at most \(maximumLength)" }
    if text.utf8.contains(where: { ($0 < 0x20 && $0 != UInt8(ascii: "\t")) || $0 == 0x7F }) {
        return "is \(quoted(text)), which holds a control character; a header value is printable text (RFC 9110 §5.5)"
    }
    return nil
}

/// Why `pattern` does not compile as a Swift `Regex`, or nil.
private func regexProblem(_ pattern: String) -> String? {
    do {
        _ = try Regex(pattern)
        return nil
    } catch {
        return clip("\(error)")
    }
}
