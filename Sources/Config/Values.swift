/// The duration units of Go's `time.ParseDuration`, which Kubernetes and Istio configuration uses.
/// Both micro signs are accepted, as in Go: U+00B5 (the keyboard's µ) and U+03BC (Greek mu).
private let durationUnits: [(name: String, nanoseconds: Int64)] = [
    ("ns", 1), ("us", 1_000), ("\u{00B5}s", 1_000), ("\u{03BC}s", 1_000), ("ms", 1_000_000),
    ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
]

private let durationUnitList = "ns, us, µs, ms, s, m, h"

/// Parses Go/Kubernetes duration text: one or more numbers each followed by a unit, such as `300ms`,
/// `5s`, `1m30s`, `2h45m` or `1.5h`. Units: ns, us (or µs), ms, s, m, h. A bare number (even `0`)
/// is refused because `5` could mean seconds or milliseconds; signs are refused because no
/// configured time may be negative. Throws `ConfigValueError` saying what to write instead.
public func parseDuration(_ text: some StringProtocol) throws(ConfigValueError) -> Duration {
    let input = String(text)
    let scalars = Array(input.unicodeScalars)
    guard !scalars.isEmpty else {
        throw ConfigValueError("empty duration; write a number and a unit, such as 5s")
    }
    if scalars[0] == "-" { throw ConfigValueError("\(quoted(input)) is negative; a duration must be 0s or more") }
    if scalars[0] == "+" { throw ConfigValueError("\(quoted(input)) has a sign; write the duration without '+'") }
    let tooLarge = ConfigValueError("\(quoted(input)) is too large; the longest duration is 2562047h (about 292 years)")
    var total: Int64 = 0
    var index = 0
    func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }
    while index < scalars.count {
        // The number: whole digits, then optional fraction digits after '.'.
        var whole: Int64 = 0
        var wholeDigits = 0
        while index < scalars.count, isDigit(scalars[index]) {
            let digit = Int64(scalars[index].value - 48)
            let (shifted, overflow1) = whole.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw tooLarge }
            whole = sum
            wholeDigits += 1
            index += 1
        }
        var fraction: Int64 = 0
        var fractionScale: Int64 = 1
        if index < scalars.count, scalars[index] == "." {
            index += 1
            var fractionDigits = 0
            while index < scalars.count, isDigit(scalars[index]) {
                // 18 fraction digits already resolve far below a nanosecond of the largest unit
                // (an hour is 3.6e12 ns); later digits are dropped, as Go drops them.
                if fractionScale < 1_000_000_000_000_000 {
                    fraction = fraction * 10 + Int64(scalars[index].value - 48)
                    fractionScale *= 10
                }
                fractionDigits += 1
                index += 1
            }
            guard wholeDigits > 0, fractionDigits > 0 else {
                throw ConfigValueError("\(quoted(input)) has a malformed number; write digits on both sides of '.', such as 1.5s")
            }
        }
        guard wholeDigits > 0 else {
            let found = index < scalars.count ? "'\(clip(String(scalars[index])))'" : "the end"
            throw ConfigValueError("\(quoted(input)) has \(found) where a number was expected; write a number and a unit, such as 5s or 1m30s")
        }
        // The unit: everything up to the next number.
        let unitStart = index
        while index < scalars.count, !isDigit(scalars[index]), scalars[index] != "." { index += 1 }
        var unitText = String.UnicodeScalarView()
        unitText.append(contentsOf: scalars[unitStart..<index])
        let unit = String(unitText)
        guard !unit.isEmpty else {
            throw ConfigValueError("\(quoted(input)) has no unit; write \(clip(input))s for seconds (units: \(durationUnitList))")
        }
        guard let multiplier = durationUnits.first(where: { $0.name == unit })?.nanoseconds else {
            throw ConfigValueError("\(quoted(input)) has the unknown unit \(quoted(unit)); units are \(durationUnitList)")
        }
        let (scaled, overflow1) = whole.multipliedReportingOverflow(by: multiplier)
        // fraction / fractionScale < 1, so this part is less than one unit (at most an hour in ns);
        // Double keeps fraction * multiplier from overflowing and is exact to the nanosecond here.
        let fractional = Int64((Double(fraction) / Double(fractionScale) * Double(multiplier)).rounded())
        let (part, overflow2) = scaled.addingReportingOverflow(fractional)
        let (sum, overflow3) = total.addingReportingOverflow(part)
        guard !overflow1, !overflow2, !overflow3 else { throw tooLarge }
        total = sum
    }
    return .nanoseconds(total)
}

/// Parses a byte count: decimal digits, optionally followed by the binary suffix `Ki` (×1024), `Mi`
/// (×1024²) or `Gi` (×1024³), as Kubernetes quantities write them. Decimal suffixes (`k`, `M`) and
/// `KB`-style spellings are refused rather than guessed at. Throws `ConfigValueError`.
public func parseByteSize(_ text: some StringProtocol) throws(ConfigValueError) -> Int {
    let input = String(text)
    guard !input.isEmpty else {
        throw ConfigValueError("empty size; write a number of bytes such as 65536 or 64Ki")
    }
    let digits = input.utf8.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    guard !digits.isEmpty else {
        throw ConfigValueError("\(quoted(input)) is not a size; write a number of bytes such as 65536 or 64Ki")
    }
    let suffix = String(decoding: input.utf8.dropFirst(digits.count), as: UTF8.self)
    let multiplier: Int
    switch suffix {
    case "": multiplier = 1
    case "Ki": multiplier = 1 << 10
    case "Mi": multiplier = 1 << 20
    case "Gi": multiplier = 1 << 30
    default:
        throw ConfigValueError("\(quoted(input)) has the unknown suffix \(quoted(suffix)); write whole bytes, or use Ki, Mi or Gi (powers of 1024)")
    }
    let tooLarge = ConfigValueError("\(quoted(input)) is too large")
    var value = 0
    for digit in digits {
        let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = shifted.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
        guard !overflow1, !overflow2 else { throw tooLarge }
        value = sum
    }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
    guard !overflow else { throw tooLarge }
    return bytes
}

/// Writes a duration the way `parseDuration` reads it, in the largest units that are exact:
/// `1h30m`, `5s`, `250ms`, `0s` (Go's `time.Duration.String` without fractions).
public func formatDuration(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    var nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000
    if nanoseconds == 0 { return "0s" }
    var text = nanoseconds < 0 ? "-" : ""
    nanoseconds = nanoseconds.magnitude > Int64.max.magnitude ? Int64.max : abs(nanoseconds)
    let hours = nanoseconds / 3_600_000_000_000
    let minutes = nanoseconds / 60_000_000_000 % 60
    let remainder = nanoseconds % 60_000_000_000
    if hours > 0 { text += "\(hours)h" }
    if minutes > 0 { text += "\(minutes)m" }
    if remainder == 0 { return text }
    for (unit, size) in [("s", Int64(1_000_000_000)), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)] where remainder % size == 0 {
        return text + "\(remainder / size)\(unit)"
    }
    return text
}
