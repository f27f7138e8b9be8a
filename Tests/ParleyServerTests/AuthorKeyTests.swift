import Testing

@testable import ParleyServer

/// The author key is SHA-256 of the session secret, cut to 64 bits: the digest checked against FIPS 180-4's
/// examples, the key stable for a secret and different between secrets.
@Suite struct AuthorKeyTests {
    @Test func sha256MatchesTheStandardsExamples() {
        #expect(SecretDigest(of: "abc").hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SecretDigest(of: "").hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SecretDigest(of: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        )
    }

    @Test func keyIsStablePerSecret() throws {
        let secret = try #require(SessionSecret("0123456789abcdef0123456789abcdef01234567"))
        #expect(AuthorKey(secret) == AuthorKey(secret))
        #expect(AuthorKey(secret).value == AuthorKey(try #require(SessionSecret(secret.description))).value)
        #expect(AuthorKey(secret) != AuthorKey(SessionSecret.random()))
    }

    @Test func digestsCompareByEveryByte() throws {
        let digest = SecretDigest(of: "owner-key")
        #expect(digest.matches(SecretDigest(of: "owner-key")))
        #expect(!digest.matches(SecretDigest(of: "owner-kez")))
        var flipped = digest.bytes
        flipped[31] ^= 1
        #expect(!digest.matches(try #require(SecretDigest(bytes: flipped))))
        #expect(SecretDigest(bytes: Array(digest.bytes.prefix(31))) == nil)
    }
}
