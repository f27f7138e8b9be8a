import Testing

@testable import ParleyServer

/// The `session` secret's written form.
@Suite struct SessionSecretTests {
    @Test func aSecretReadsBackFromItsWrittenForm() throws {
        let secret = SessionSecret.random()
        #expect(secret.description.count == 40)
        #expect(SessionSecret(secret.description) == secret)
        #expect(SessionSecret.random() != secret)
        let padded = "00000000000000000000000000000000000000a1"
        #expect(try #require(SessionSecret(padded)).description == padded)
        // Every digit in every word: the written form is what author keys are made from, so it must not change.
        let mixed = "0123456789abcdeffedcba98765432100f1e2d3c"
        #expect(try #require(SessionSecret(mixed)).description == mixed)
    }

    @Test(arguments: ["", "abc", String(repeating: "A", count: 40), String(repeating: "g", count: 40), String(repeating: "0", count: 41)])
    func onlyFortyLowercaseHexDigitsAreASecret(text: String) {
        #expect(SessionSecret(text) == nil)
    }
}

/// A fixed secret for tests: `n` in the last hex digits.
func secret(_ n: Int) -> SessionSecret {
    let hex = String(n, radix: 16)
    return SessionSecret(String(repeating: "0", count: 40 - hex.count) + hex)!
}
