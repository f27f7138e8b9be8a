/// A session secret: 160 random bits, written as 40 lowercase hexadecimal digits.
///
/// A value of three words rather than a `String`: every member keeps its secret, and as a string it was a
/// heap block per connection (docs/ARCHITECTURE.md, "Memory per connection").
struct SessionSecret: Hashable, Sendable, CustomStringConvertible {
    private var high: UInt64
    private var middle: UInt64
    private var low: UInt32

    /// A new unguessable secret from the system's random number generator.
    static func random() -> SessionSecret {
        var generator = SystemRandomNumberGenerator()
        return SessionSecret(high: generator.next(), middle: generator.next(), low: generator.next())
    }

    private init(high: UInt64, middle: UInt64, low: UInt32) {
        self.high = high
        self.middle = middle
        self.low = low
    }

    /// Reads the written form; nil unless it is exactly 40 lowercase hexadecimal digits, which no secret the
    /// server handed out can fail.
    init?(_ text: some StringProtocol) {
        let digits = Array(text.utf8)
        guard digits.count == 40 else { return nil }
        var words: [UInt64] = [0, 0, 0]
        for (index, digit) in digits.enumerated() {
            let value: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = digit - UInt8(ascii: "a") + 10
            default: return nil
            }
            words[index / 16] = words[index / 16] << 4 | UInt64(value)
        }
        self.init(high: words[0], middle: words[1], low: UInt32(words[2]))
    }

    /// Written into one string of its final size: every join writes it twice (its `welcome`, its author key),
    /// and built from pieces it was five strings each time.
    public var description: String {
        String(unsafeUninitializedCapacity: 40) { text in
            Self.hex(high, digits: 16, into: text, at: 0)
            Self.hex(middle, digits: 16, into: text, at: 16)
            Self.hex(UInt64(low), digits: 8, into: text, at: 32)
            return 40
        }
    }

    private static func hex(_ value: UInt64, digits: Int, into text: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        let alphabet: StaticString = "0123456789abcdef"
        for index in 0..<digits {
            let nibble = Int(truncatingIfNeeded: value >> UInt64(4 * (digits - 1 - index))) & 0xF
            text[start + index] = alphabet.utf8Start[nibble]
        }
    }
}
