import ParleyProtocol
import Testing

@Suite struct ClientCommandTests {
    @Test func plainTextIsAMessageWithOneTrailingNewlineDropped() throws {
        #expect(try ClientCommand.parse(frame: "hello\n") == .message(text: "hello", clientID: nil))
        #expect(try ClientCommand.parse(frame: "hello\r\n") == .message(text: "hello", clientID: nil))
        #expect(try ClientCommand.parse(frame: "two\n\n") == .message(text: "two\n", clientID: nil))
        #expect(try ClientCommand.parse(frame: "[1,2]") == .message(text: "[1,2]", clientID: nil))
        #expect(try ClientCommand.parse(frame: "42") == .message(text: "42", clientID: nil))
    }

    @Test func commands() throws {
        #expect(try ClientCommand.parse(frame: #"{"type":"message","text":"hi","client_id":"c1"}"#) == .message(text: "hi", clientID: "c1"))
        #expect(try ClientCommand.parse(frame: #"{"type":"typing"}"#) == .typing)
        #expect(try ClientCommand.parse(frame: #"{"type":"nick","nick":"bob"}"#) == .nick("bob"))
        #expect(try ClientCommand.parse(frame: #"{"type":"history","before":10,"limit":5}"#) == .history(before: 10, limit: 5))
        #expect(try ClientCommand.parse(frame: #"{"type":"history"}"#) == .history(before: nil, limit: nil))
        #expect(try ClientCommand.parse(frame: #"{"type":"ping"}"#) == .ping)
    }

    @Test func seedShapes() throws {
        #expect(try ClientCommand.parse(frame: #"{"Author":"client 1","Content":"content1"}"#) == .message(text: "content1", clientID: nil))
        #expect(try ClientCommand.parse(frame: #"{"from":"a","message":"yo"}"#) == .message(text: "yo", clientID: nil))
        // An object without type or a seed field is chat text as it stands.
        #expect(try ClientCommand.parse(frame: #"{"a":1}"#) == .message(text: #"{"a":1}"#, clientID: nil))
    }

    @Test(arguments: [
        (#"{"type":5}"#, ErrorCode.badRequest),
        ("{not json", .badRequest),
        (#"{"type":"dance"}"#, .unknownType),
        (#"{"type":"message"}"#, .badRequest),
        (#"{"type":"message","text":"x","client_id":""}"#, .badRequest),
        (#"{"type":"history","before":"x"}"#, .badRequest),
        (#"{"type":"nick"}"#, .badRequest),
    ])
    func refusals(frame: String, code: ErrorCode) {
        #expect(throws: ProtocolError.self) { try ClientCommand.parse(frame: frame) }
        do {
            _ = try ClientCommand.parse(frame: frame)
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func jsonRoundTrips() throws {
        let commands: [ClientCommand] = [.message(text: "a\"b", clientID: "x"), .typing, .nick("n"), .history(before: 3, limit: 2), .ping]
        for command in commands {
            #expect(try ClientCommand.parse(frame: command.json) == command)
        }
    }
}

@Suite struct ValidationTests {
    @Test func nickRules() throws {
        #expect(try Nick.normalize("  alice \t") == "alice")
        #expect(try Nick.normalize("e\u{301}") == "\u{e9}")
        #expect(throws: ProtocolError.self) { try Nick.normalize("   ") }
        #expect(throws: ProtocolError.self) { try Nick.normalize(String(repeating: "x", count: 33)) }
        #expect(throws: ProtocolError.self) { try Nick.normalize("a\u{200B}b") }
        #expect(throws: ProtocolError.self) { try Nick.normalize("a\u{7}b") }
        #expect(try Nick.normalize(String(repeating: "é", count: 32)).unicodeScalars.count == 32)
    }

    @Test func nickSuffixStaysWithin32Scalars() {
        #expect(Nick.suffixed("bob", 2) == "bob-2")
        let long = String(repeating: "x", count: 32)
        #expect(Nick.suffixed(long, 2) == String(repeating: "x", count: 30) + "-2")
        #expect(Nick.suffixed(long, 10).unicodeScalars.count == 32)
    }

    @Test func roomCodes() throws {
        #expect(try RoomCode.validate("Lobby_1.a-b") == "Lobby_1.a-b")
        #expect(throws: ProtocolError.self) { try RoomCode.validate("") }
        #expect(throws: ProtocolError.self) { try RoomCode.validate("a b") }
        #expect(throws: ProtocolError.self) { try RoomCode.validate("é") }
        #expect(throws: ProtocolError.self) { try RoomCode.validate(String(repeating: "a", count: 65)) }
        let code = RoomCode.makePrivate()
        #expect(try RoomCode.validate(code) == code)
        #expect(code.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" })
        #expect(code.filter { $0 != "-" }.count * 5 >= 128)
        #expect(RoomCode.makePrivate() != code)
    }

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

    @Test func timestampsAreRFC3339WithMilliseconds() throws {
        let ts = Timestamp(milliseconds: 1_795_341_600_123)
        #expect(ts.description == "2026-11-22T10:00:00.123Z")
        #expect(Timestamp("2026-11-22T10:00:00.123Z") == ts)
        #expect(Timestamp("2026-11-22 10:00:00Z") == nil)
    }
}
