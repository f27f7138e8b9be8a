import ParleyProtocol
import Testing

/// Message text and `client_id` validation (contract §5).
@Suite struct MessageTextTests {
    @Test func messageText() throws {
        #expect(try MessageText.validate("hi", maxBytes: 10) == "hi")
        #expect(throws: ProtocolError(.badRequest, "text must not be empty or only white space")) { try MessageText.validate(" \n", maxBytes: 10) }
        #expect(throws: ProtocolError.self) { try MessageText.validate("", maxBytes: 10) }
        // Non-ASCII white space alone is refused too; leading white space before text is kept.
        #expect(throws: ProtocolError.self) { try MessageText.validate("\u{3000}\u{A0}\t", maxBytes: 10) }
        #expect(try MessageText.validate(" \u{3000}x", maxBytes: 10) == " \u{3000}x")
        #expect(throws: ProtocolError.self) { try MessageText.validate("\u{1F600}\u{0}", maxBytes: 10) }
        // A NUL would be cut off by SQLite on the way back and refused by PostgreSQL: refused up front.
        #expect(throws: ProtocolError(.badRequest, "text must not contain U+0000")) { try MessageText.validate("a\u{0}b", maxBytes: 10) }
        #expect(throws: ProtocolError.self) { try MessageText.validateClientID("c\u{0}") }
        do {
            _ = try MessageText.validate("ééé", maxBytes: 5)
            Issue.record("expected too_large")
        } catch {
            #expect(error.code == .tooLarge)
        }
    }
}
