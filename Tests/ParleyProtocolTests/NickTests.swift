import ParleyProtocol
import Testing

/// Nick rules (contract §2): trimmed, NFC, 1–32 scalars, no Cc or Cf; clash suffixes.
@Suite struct NickTests {
    @Test func nickRules() throws {
        #expect(try Nick.normalize("  alice \t") == "alice")
        #expect(try Nick.normalize("e\u{301}") == "\u{e9}")
        #expect(throws: ProtocolError.self) { try Nick.normalize("   ") }
        #expect(throws: ProtocolError.self) { try Nick.normalize(String(repeating: "x", count: 33)) }
        #expect(throws: ProtocolError.self) { try Nick.normalize("a\u{200B}b") }
        #expect(throws: ProtocolError.self) { try Nick.normalize("a\u{7}b") }
        #expect(try Nick.normalize(String(repeating: "é", count: 32)).unicodeScalars.count == 32)
        // Plain ASCII takes a shorter way; the same rules hold there.
        #expect(try Nick.normalize("Bob Smith-2") == "Bob Smith-2")
        #expect(try Nick.normalize(" bob") == "bob")
        #expect(try Nick.normalize("bob\n") == "bob")
        #expect(try Nick.normalize(String(repeating: "x", count: 32)) == String(repeating: "x", count: 32))
        #expect(throws: ProtocolError.self) { try Nick.normalize("a\u{7F}b") }
        #expect(throws: ProtocolError.self) { try Nick.normalize("") }
    }

    @Test func nickSuffixStaysWithin32Scalars() {
        #expect(Nick.suffixed("bob", 2) == "bob-2")
        let long = String(repeating: "x", count: 32)
        #expect(Nick.suffixed(long, 2) == String(repeating: "x", count: 30) + "-2")
        #expect(Nick.suffixed(long, 10).unicodeScalars.count == 32)
    }
}
