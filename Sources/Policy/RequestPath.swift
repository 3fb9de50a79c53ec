/// The path policies compare: Istio's default `BASE` normalization
/// (istio.io/latest/docs/reference/config/security/normalization/), so that `/public/../admin`
/// cannot slip past a DENY on `/admin`.
///
/// Istio sends the normalized path on to the application as well; a proxy that does the same
/// uses `normalize` for it, so the policy and the application judge the same path.
public enum RequestPath {
    /// The outcome of normalizing a request target.
    public enum Normalized: Sendable, Equatable {
        /// The path needed no change beyond dropping the query: a slice of the input.
        case unchanged(Substring)
        /// The normalized path, which differs from the input's path.
        case rewritten(String)
        /// The path holds `%00`, which Istio refuses with 400 Bad Request before any policy.
        case rejected
    }

    /// Normalizes the path of an origin-form request target (`/a/./b%2e%2e?x=1`), in Istio's
    /// order: everything from `?` on is dropped (only for the comparison: the application still
    /// gets the query); percent-encoded unreserved characters (`%2d` `-`, `%2e` `.`, digits,
    /// letters, `%5f` `_`, `%7e` `~`; RFC 3986 §2.3, §6.2.2.2) are decoded once; `\` becomes `/`;
    /// `.` and `..` segments are resolved (RFC 3986 §5.2.4). `%2f` and `%5c` stay encoded, and
    /// repeated slashes stay, as in BASE. Allocates only when the path changes.
    public static func normalize(_ target: Substring) -> Normalized {
        let utf8 = target.utf8
        let end = utf8.firstIndex(of: UInt8(ascii: "?")) ?? utf8.endIndex
        let path = utf8[utf8.startIndex..<end]
        if !needsRewrite(path) { return .unchanged(target[target.startIndex..<end]) }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(path.count)
        var index = path.startIndex
        while index < path.endIndex {
            let byte = path[index]
            if byte == UInt8(ascii: "%"), let value = percentValue(path, at: index) {
                if value == 0 { return .rejected }
                if isUnreserved(value) {
                    decoded.append(value)
                    index = path.index(index, offsetBy: 3)
                    continue
                }
            }
            decoded.append(byte == UInt8(ascii: "\\") ? UInt8(ascii: "/") : byte)
            index = path.index(after: index)
        }
        let resolved = removeDotSegments(decoded)
        if resolved.elementsEqual(path) { return .unchanged(target[target.startIndex..<end]) }
        return .rewritten(String(decoding: resolved, as: UTF8.self))
    }

    /// Whether the path has anything `normalize` might change: a `%`, a `\`, or a segment that
    /// starts with `.`. Ordinary paths take this scan only.
    private static func needsRewrite(_ path: Substring.UTF8View) -> Bool {
        var previous: UInt8 = UInt8(ascii: "/")
        var atStart = true
        for byte in path {
            if byte == UInt8(ascii: "%") || byte == UInt8(ascii: "\\") { return true }
            if byte == UInt8(ascii: "."), previous == UInt8(ascii: "/") || atStart { return true }
            previous = byte
            atStart = false
        }
        return false
    }

    /// The byte `%HH` at `index` encodes, or nil when two hex digits do not follow.
    private static func percentValue(_ path: Substring.UTF8View, at index: Substring.UTF8View.Index) -> UInt8? {
        guard path.distance(from: index, to: path.endIndex) >= 3 else { return nil }
        let high = path[path.index(index, offsetBy: 1)]
        let low = path[path.index(index, offsetBy: 2)]
        guard let h = hexDigit(high), let l = hexDigit(low) else { return nil }
        return h << 4 | l
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// RFC 3986 §5.2.4 on an absolute path: `.` segments are dropped and `..` removes the
    /// segment before it (never above the root), keeping a trailing `/` where a dot segment ended
    /// the path. A path that does not start with `/` gets no root removed from it.
    static func removeDotSegments(_ input: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        let slash = UInt8(ascii: "/")
        let dot = UInt8(ascii: ".")
        var index = 0
        let count = input.count
        // Each loop takes one segment: the bytes from `index` up to the next `/` (exclusive).
        while index < count {
            let leadingSlash = input[index] == slash
            let segmentStart = leadingSlash ? index + 1 : index
            var segmentEnd = segmentStart
            while segmentEnd < count, input[segmentEnd] != slash { segmentEnd += 1 }
            let length = segmentEnd - segmentStart
            let isDot = length == 1 && input[segmentStart] == dot
            let isDotDot = length == 2 && input[segmentStart] == dot && input[segmentStart + 1] == dot
            if isDot || isDotDot {
                if isDotDot, let last = output.lastIndex(of: slash) {
                    output.removeSubrange(last...)
                } else if isDotDot {
                    output.removeAll(keepingCapacity: true)
                }
                // A dot segment at the end leaves the directory it names: `/a/b/..` is `/a/`.
                if segmentEnd == count, leadingSlash || !output.isEmpty { output.append(slash) }
            } else {
                if leadingSlash { output.append(slash) }
                output.append(contentsOf: input[segmentStart..<segmentEnd])
            }
            index = segmentEnd
        }
        return output
    }
}
