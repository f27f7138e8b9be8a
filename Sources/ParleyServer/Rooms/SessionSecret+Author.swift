/// The author of a message (§11): a one-way function of its session secret, so storage never holds the secret
/// itself and a reader of the database cannot act as anyone.
///
/// The first 64 bits of SHA-256 of the secret's written form. A secret has 160 random bits, so finding
/// another secret with the same key is as hard as guessing one.
public struct AuthorKey: Hashable, Sendable {
    public let value: Int64

    public init(value: Int64) {
        self.value = value
    }

    init(_ secret: SessionSecret) {
        self.init(SecretDigest(of: secret.description))
    }

    init(_ digest: SecretDigest) {
        var value: UInt64 = 0
        for byte in digest.bytes.prefix(8) { value = value << 8 | UInt64(byte) }
        self.value = Int64(bitPattern: value)
    }

    /// The author key of a verified subject (§13): the same from every connection of that `sub`. The prefix
    /// keeps it apart from every session secret's key (a secret's written form never holds a colon).
    init(subject: String) {
        self.init(SecretDigest(of: "sub:\(subject)"))
    }
}
