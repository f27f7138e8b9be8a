/// Reads a fuzzer's bytes as the parts of a structured value; past the end every read answers zero or empty,
/// so every input builds some value.
struct FuzzInput {
    private var bytes: ArraySlice<UInt8>

    init(_ start: UnsafePointer<UInt8>, _ count: Int) {
        bytes = ArraySlice(UnsafeBufferPointer(start: start, count: count))
    }

    var isEmpty: Bool { bytes.isEmpty }

    mutating func byte() -> UInt8 {
        bytes.popFirst() ?? 0
    }

    mutating func int64() -> Int64 {
        (0..<8).reduce(0) { value, _ in value << 8 | Int64(byte()) }
    }

    mutating func bool() -> Bool {
        byte() & 1 == 1
    }

    /// A string of up to 255 bytes; invalid UTF-8 is repaired, as it is for every `String` the server holds.
    mutating func string() -> String {
        let count = min(Int(byte()), bytes.count)
        defer { bytes.removeFirst(count) }
        return String(decoding: bytes.prefix(count), as: UTF8.self)
    }

    /// Everything not read yet, as one string.
    mutating func rest() -> String {
        defer { bytes.removeAll() }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Stops the run with a message when an invariant does not hold; libFuzzer then saves the input as a crash.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

/// Unicode scalars compared one by one: `String`'s `==` treats canonically equivalent strings as equal,
/// which would hide a change of normal form.
func sameScalars(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.elementsEqual(b.unicodeScalars)
}

/// Exact UTF-8 validation, for inputs that stand for what the server only ever sees as valid text.
func validText(_ start: UnsafePointer<UInt8>, _ count: Int) -> String? {
    String(validating: UnsafeBufferPointer(start: start, count: count), as: UTF8.self)
}
