import Testing

@testable import ParleyServer

/// Which nick a `session` secret reclaims, in which room (contract §2).
@Suite struct SessionTableTests {
    @Test func secretsAreRoomBoundFollowRebindsAndTheOldestIsForgotten() {
        let table = SessionTable(capacity: 2)
        table.bind(secret(1), roomCode: "a", nick: "ann")
        table.bind(secret(2), roomCode: "a", nick: "bob")
        #expect(table.lookup(secret(1), roomCode: "b") == nil)
        table.bind(secret(1), roomCode: "a", nick: "anna")
        #expect(table.lookup(secret(1), roomCode: "a")?.nick == "anna")
        table.bind(secret(3), roomCode: "a", nick: "cy")
        #expect(table.lookup(secret(1), roomCode: "a") == nil)
        #expect(table.lookup(secret(3), roomCode: "a")?.nick == "cy")
    }
}
