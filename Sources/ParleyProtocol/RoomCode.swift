/// Room codes: 1–64 characters from `A-Z a-z 0-9 . _ -`, compared exactly.
public enum RoomCode {
    public static let maxLength = 64

    /// Returns the code unchanged when valid, or throws `invalid_room`.
    public static func validate(_ code: String) throws(ProtocolError) -> String {
        let utf8 = code.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength, utf8.allSatisfy(isAllowed) else {
            throw ProtocolError(.invalidRoom, "room code must be 1-64 characters from A-Z a-z 0-9 . _ -")
        }
        return code
    }

    /// A fresh private room code: 160 bits from the system CSPRNG in lower-case base 32,
    /// grouped by dashes for readability (`xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`).
    public static func makePrivate() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
        var characters: [UInt8] = []
        characters.reserveCapacity(35)
        for index in 0..<32 {
            if index > 0, index % 8 == 0 { characters.append(UInt8(ascii: "-")) }
            characters.append(alphabet[Int(generator.next(upperBound: UInt8(32)))])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
