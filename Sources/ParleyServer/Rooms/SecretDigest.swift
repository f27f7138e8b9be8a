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
