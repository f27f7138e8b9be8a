import Testing

@testable import parley

/// `parley create-room`'s options; its runs against a real server are in tests/cli.
@Suite struct CreateRoomCommandTests {
    @Test func urlNameAndJSON() throws {
        let plain = try CreateRoom.parse(["http://127.0.0.1:8080"])
        #expect(plain.url == "http://127.0.0.1:8080" && plain.name == nil && !plain.json)
        let named = try CreateRoom.parse(["ws://127.0.0.1:8080", "--name", "Team", "--json"])
        #expect(named.name == "Team" && named.json)
        #expect(CreateRoom.configuration.commandName == "create-room")
    }

    @Test func aURLIsRequiredAndUnknownOptionsAreRefused() {
        #expect(refusal(CreateRoom.self, [])?.contains("Missing expected argument '<url>'") == true)
        #expect(refusal(CreateRoom.self, ["http://h:1", "--room", "x"])?.contains("Unknown option '--room'") == true)
    }
}
