import Crypto

/// The SHA-256 digest of a secret: an owner or moderator key, the admin token or a session secret (§12).
///
/// Secrets are kept and stored only as digests, so a reader of the database or of memory dumps cannot act as
/// anyone. Two digests are compared in constant time: all 32 bytes always, with no early exit, so the time a
/// check takes says nothing about how much of a guess was right.
public struct SecretDigest: Sendable {
    /// Always 32 bytes.
    let bytes: [UInt8]

    public init(of secret: some StringProtocol) {
        bytes = Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// A digest read back from storage; nil unless it has SHA-256's length.
    init?(bytes: [UInt8]) {
        guard bytes.count == SHA256.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Constant-time equality.
    func matches(_ other: SecretDigest) -> Bool {
        guard bytes.count == other.bytes.count else { return false }
        var difference: UInt8 = 0
        for index in bytes.indices { difference |= bytes[index] ^ other.bytes[index] }
        return difference == 0
    }

    /// A digest read back from its ``hex`` form.
    init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = Self.value(of: digits[index]), let low = Self.value(of: digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.bytes = bytes
    }

    private static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    /// The digest as 64 lowercase hexadecimal digits, for PostgreSQL `TEXT` columns and tests.
    var hex: String {
        var text = ""
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(Self.digits[Int(byte >> 4)])
            text.append(Self.digits[Int(byte & 0x0f)])
        }
        return text
    }

    private static let digits = Array("0123456789abcdef")
}
