// libFuzzer entry point for the JSON reader (Sources/Proxy/JSONValue.swift). Scripts/fuzz compiles
// this file together with JSONValue.swift into one module, so the reader is called without an
// import. `weft status` reads whatever answers on the admin port with it: in a pod without a
// running proxy, that can be any program.
//
// Properties checked on every input, besides "never crashes":
// - an accepted value writes (`text`) to text that reads back to the same value, and writing
//   that again gives the same text;
// - a refusal points into the input (its offset is at most the input's length).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let value: JSONValue
    do {
        value = try JSONValue(parsing: text)
    } catch {
        require(error.offset >= 0 && error.offset <= text.utf8.count, "offset \(error.offset) outside \(text.utf8.count) bytes")
        return 0
    }
    let written = value.text
    do {
        let again = try JSONValue(parsing: written)
        require(again == value, "\(text.debugDescription) wrote \(written.debugDescription), which reads back differently")
        require(again.text == written, "writing \(written.debugDescription) again changed it")
    } catch {
        require(false, "\(text.debugDescription) wrote \(written.debugDescription), which does not read back: \(error)")
    }
    return 0
}

private func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}
