/// Why `key` is not a Kubernetes label key, or nil if it is one: an optional prefix (a DNS
/// subdomain of at most 253 characters) and `/`, then a name of 1 to 63 characters of `[A-Za-z0-9._-]`
/// that starts and ends with a letter or digit (apimachinery's `IsQualifiedName`).
func labelKeyProblem(_ key: String) -> String? {
    let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    let name = parts.count == 2 ? parts[1] : parts[0]
    if parts.count == 2 {
        let prefix = parts[0]
        guard !prefix.isEmpty, isDNSSubdomain(prefix) else {
            return "the prefix before '/' must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), such as app.kubernetes.io"
        }
    }
    guard !name.isEmpty else { return "the name is empty; write a name such as app" }
    guard name.utf8.count <= 63 else { return "the name is \(name.utf8.count) characters long; the longest allowed is 63" }
    guard isLabelText(name) else {
        return "a name is letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    }
    return nil
}

/// Why `value` is not a Kubernetes label value, or nil if it is one: empty, or 1 to 63 characters
/// of `[A-Za-z0-9._-]` that start and end with a letter or digit (apimachinery's `IsValidLabelValue`).
func labelValueProblem(_ value: String) -> String? {
    if value.isEmpty { return nil }
    guard value.utf8.count <= 63 else { return "it is \(value.utf8.count) characters long; the longest allowed is 63" }
    guard isLabelText(value) else {
        return "a value is empty, or letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    }
    return nil
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, the text of label names and values.
private func isLabelText(_ text: some StringProtocol) -> Bool {
    func alphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
    let bytes = Array(text.utf8)
    guard let first = bytes.first, let last = bytes.last else { return false }
    return alphanumeric(first) && alphanumeric(last)
        && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
}

/// Labels as `key=value` pairs in key order, the way `kubectl get --show-labels` writes them.
func formatLabels(_ labels: [String: String]) -> String {
    labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
}
