import Foundation
import Testing

@testable import ParleyProtocol

@Suite struct FlatJSONTests {
    /// Whatever the fast reader accepts, it reads exactly as JSONDecoder does.
    @Test(arguments: [
        #"{"type":"message","text":"hi","client_id":"c1"}"#,
        #" { "type" : "message" , "text" : "a\"b\\c\/d\b\f\n\r\t" } "#,
        #"{"type":"message","text":"\u00e9\u0000\u001f \ud83d\ude00 \u2028","client_id":null}"#,
        #"{"type":"message","text":"emoji 😀 and 𝄞 raw"}"#,
        #"{"type":"history","before":10,"limit":-5}"#,
        #"{"type":"history","before":0,"limit":123456789012345}"#,
        #"{"type":"typing","x":true,"y":false}"#,
        #"{}"#,
    ])
    func acceptedLikeJSONDecoder(frame: String) throws {
        let fast = try #require(FlatJSON.object(frame))
        let slow = try JSONDecoder().decode([String: JSONValue].self, from: Data(frame.utf8))
        #expect(fast == slow)
    }

    /// Everything else is left to JSONDecoder, and so to its errors.
    @Test(arguments: [
        #"{"type":"message","text":"x"} trailing"#,
        #"{"type":"message","text":"x","text":"y"}"#,
        #"{"type":"history","before":1.5}"#,
        #"{"type":"history","before":1e3}"#,
        #"{"type":"history","before":01}"#,
        #"{"type":"history","before":1234567890123456}"#,
        #"{"type":"message","text":{"nested":1}}"#,
        #"{"type":"message","text":["a"]}"#,
        #"{"type":"message","text":"lone \ud800 surrogate"}"#,
        #"{"type":"message","text":"bad \x escape"}"#,
        "{\"type\":\"message\",\"text\":\"raw \u{1} control\"}",
        #"{"type":"message","text":"unterminated}"#,
        #"{"type":"message",}"#,
        #"{"type" "message"}"#,
        "{not json",
        #"{"a":tru}"#,
    ])
    func declined(frame: String) {
        #expect(FlatJSON.object(frame) == nil)
    }

    @Test func commandsStillParse() throws {
        #expect(try ClientCommand.parse(frame: #"{"type":"message","text":"a\nb","client_id":"c-1"}"#) == .message(text: "a\nb", clientID: "c-1"))
        #expect(try ClientCommand.parse(frame: #"{"type":"history","before":1.0}"#) == .history(before: 1, limit: nil))
    }
}
