// libFuzzer entry point for the duration and size parsers of Config (Sources/Config/Values.swift),
// which are fast enough to fuzz on their own; ConfigFuzz reaches them only through YAML. Scripts/fuzz
// compiles this file together with that one source file.
//
// Properties: never crash; a parsed duration is never negative and reads back the same when written
// in nanoseconds; a parsed size is never negative and reads back the same as plain bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let duration = try? parseDuration(text) {
        require(duration >= .zero, "negative duration from \(text.debugDescription)")
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        require((try? parseDuration("\(nanoseconds)ns")) == duration, "duration round trip of \(text.debugDescription)")
    }
    if let bytes = try? parseByteSize(text) {
        require(bytes >= 0, "negative size from \(text.debugDescription)")
        require((try? parseByteSize(String(bytes))) == bytes, "size round trip of \(text.debugDescription)")
    }
    return 0
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}
