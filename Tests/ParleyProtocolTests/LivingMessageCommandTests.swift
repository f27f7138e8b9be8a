import Foundation
import ParleyProtocol
import Testing

/// The commands, events and fields of living messages (contract §11).
@Suite struct LivingMessageCommandTests {
    @Test func commandsParse() throws {
        #expect(
            try ClientCommand.parse(frame: #"{"type":"message","text":"yes","reply_to":3}"#) == .message(text: "yes", clientID: nil, replyTo: 3)
        )
        #expect(try ClientCommand.parse(frame: #"{"type":"edit","id":4,"text":"fixed"}"#) == .edit(id: 4, text: "fixed"))
        #expect(try ClientCommand.parse(frame: #"{"type":"delete","id":4}"#) == .delete(id: 4))
        #expect(try ClientCommand.parse(frame: #"{"type":"react","id":4,"emoji":"👍"}"#) == .react(id: 4, emoji: "👍"))
        #expect(try ClientCommand.parse(frame: #"{"type":"unreact","id":4,"emoji":"👍"}"#) == .unreact(id: 4, emoji: "👍"))
        // `reply_to: null` is absent.
        #expect(try ClientCommand.parse(frame: #"{"type":"message","text":"x","reply_to":null}"#) == .message(text: "x", clientID: nil))
    }

    @Test func commandsRoundTrip() throws {
        let commands: [ClientCommand] = [
            .message(text: "re", clientID: "c", replyTo: 9), .edit(id: 1, text: "t"), .delete(id: 2), .react(id: 3, emoji: "👩‍💻"),
            .unreact(id: 3, emoji: "🎉"),
        ]
        for command in commands { #expect(try ClientCommand.parse(frame: command.json) == command) }
    }

    @Test(arguments: [
        #"{"type":"edit","text":"x"}"#,
        #"{"type":"edit","id":1}"#,
        #"{"type":"edit","id":"1","text":"x"}"#,
        #"{"type":"delete","id":0}"#,
        #"{"type":"delete","id":-3}"#,
        #"{"type":"delete","id":1.5}"#,
        #"{"type":"react","id":1}"#,
        #"{"type":"react","id":1,"emoji":""}"#,
        #"{"type":"react","id":1,"emoji":"a b"}"#,
        #"{"type":"react","id":1,"emoji":"\u0007"}"#,
        #"{"type":"react","id":1,"emoji":"\u200b"}"#,
        #"{"type":"unreact","id":1,"emoji":"12345678901234567"}"#,
        #"{"type":"message","text":"x","reply_to":"3"}"#,
        #"{"type":"message","text":"x","reply_to":0}"#,
    ])
    func refusals(frame: String) {
        do {
            let command = try ClientCommand.parse(frame: frame)
            Issue.record("\(frame) parsed as \(command)")
        } catch {
            #expect(error.code == .badRequest, "\(frame)")
        }
    }

    /// 1–16 scalars, no white space, no Cc, no Cf but the zero-width joiner.
    @Test func emojiRule() throws {
        #expect(try Emoji.validate("👍") == "👍")
        #expect(try Emoji.validate("👩‍👩‍👧‍👦") == "👩‍👩‍👧‍👦")  // joined with U+200D
        #expect(try Emoji.validate("+1") == "+1")
        #expect(try Emoji.validate(String(repeating: "a", count: 16)).count == 16)
        for bad in ["", String(repeating: "a", count: 17), " ", "\u{3000}", "\t", "\u{7F}", "\u{200B}", "\u{FEFF}", "a\u{2060}"] {
            #expect(throws: ProtocolError.self) { try Emoji.validate(bad) }
        }
    }

    /// Every §11 field is absent where it does not apply, so a plain message keeps the version 1 shape.
    @Test func messageFieldsAppearOnlyWhereTheyApply() throws {
        let plain = ChatMessage(id: 1, nick: "a", text: "hi", ts: Timestamp(milliseconds: 0))
        let keys = try JSONSerialization.jsonObject(with: JSONEncoder().encode(plain)) as? [String: Any]
        #expect(Set(keys?.keys ?? [:].keys) == ["id", "nick", "text", "ts"])
        let living = ChatMessage(
            id: 2,
            nick: "a",
            text: "",
            ts: Timestamp(milliseconds: 0),
            replyTo: 1,
            editedAt: Timestamp(milliseconds: 5),
            deleted: true
        )
        let decoded = try JSONDecoder().decode(ChatMessage.self, from: JSONEncoder().encode(living))
        #expect(decoded == living)
        let update = ServerEvent.update(rev: 7, message: living)
        #expect(try JSONDecoder().decode(ServerEvent.self, from: JSONEncoder().encode(update)) == update)
    }
}
