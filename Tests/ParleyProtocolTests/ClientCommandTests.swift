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
