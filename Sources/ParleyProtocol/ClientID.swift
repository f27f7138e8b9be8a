/// `client_id`s that clients generate for their messages (contract §5, §8 version 2).
///
/// An id must be unguessable: the server keeps the first message stored under an id, so whoever can
/// predict another client's next id can post under it first and have that client's line dropped as a
/// resend.
public enum ClientID {
    /// Random bits in every generated id; the contract asks for at least 96.
    public static let randomBits = 128

    /// A new id: ``randomBits`` bits from the system's CSPRNG, as 32 lowercase hexadecimal digits.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(randomBits / 4)
        for _ in 0..<randomBits / 64 {
            var word: UInt64 = generator.next()
            for _ in 0..<16 {
                bytes.append(digits[Int(word & 0xF)])
                word >>= 4
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
