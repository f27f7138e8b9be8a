import ParleyProtocol
import Testing

/// Room codes (contract §1): what is accepted, and fresh private codes.
@Suite struct RoomCodeTests {
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
}
