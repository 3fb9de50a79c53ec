import Config

/// Loads one source named `a.yaml`.
func load(_ text: String) throws(ConfigErrors) -> Configuration {
    try Configuration.load([ConfigSource(name: "a.yaml", text: text)])
}

/// The diagnostics of loading `sources`, or an empty list if it loaded.
func diagnostics(_ sources: [ConfigSource]) -> [ConfigDiagnostic] {
    do {
        _ = try Configuration.load(sources)
        return []
    } catch {
        return error.diagnostics
    }
}

func diagnostics(_ text: String) -> [ConfigDiagnostic] {
    diagnostics([ConfigSource(name: "a.yaml", text: text)])
}

/// A Sidecar document with `spec` lines appended (each already indented by two spaces), so the first
/// spec line is line 4 of the source.
func sidecar(_ specLines: String...) -> String {
    (["apiVersion: weft.io/v1", "kind: Sidecar", "spec:"] + specLines).joined(separator: "\n") + "\n"
}
