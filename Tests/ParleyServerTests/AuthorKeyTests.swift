import Testing

@testable import ParleyServer

/// The author key is SHA-256 of the session secret, cut to 64 bits: the digest checked against FIPS 180-4's
/// examples, the key stable for a secret and different between secrets.
@Suite struct AuthorKeyTests {
    @Test func sha256MatchesTheStandardsExamples() {
        func hex(_ text: String) -> String {
            SHA256.hash(Array(text.utf8)).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
                .joined()
        }
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        )
        #expect(hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func keyIsStablePerSecret() throws {
        let secret = try #require(SessionSecret("0123456789abcdef0123456789abcdef01234567"))
        #expect(AuthorKey(secret) == AuthorKey(secret))
        #expect(AuthorKey(secret).value == AuthorKey(try #require(SessionSecret(secret.description))).value)
        #expect(AuthorKey(secret) != AuthorKey(SessionSecret.random()))
    }
}
