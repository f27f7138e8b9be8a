import ParleyProtocol
import Testing

@testable import ParleyServer

/// Members, nicks and sessions of one room, without sockets.
@Suite struct RoomStateTests {
    let a = ConnectionID(value: 1)
    let b = ConnectionID(value: 2)
    let c = ConnectionID(value: 3)

    @Test func clashingNicksAreSuffixedCaseInsensitively() {
        var state = RoomState<Int>()
        #expect(state.join(a, desired: "Bob", session: secret(1), handle: 1).nick == "Bob")
        #expect(state.join(b, desired: "bob", session: secret(2), handle: 2).nick == "bob-2")
        #expect(state.join(c, desired: "BOB", session: secret(3), handle: 3).nick == "BOB-3")
        #expect(state.nicks == ["Bob", "bob-2", "BOB-3"])
        _ = state.leave(a)
        #expect(state.join(a, desired: "bob", session: secret(4), handle: 4).nick == "bob")
    }

    /// The fan-out's walk: every member's id and handle in join order, after leaves and a reclaimed session too.
    @Test func eachHandleIsVisitedInJoinOrder() {
        var state = RoomState<Int>()
        _ = state.join(a, desired: "alice", session: secret(1), handle: 10)
        _ = state.join(b, desired: "bob", session: secret(2), handle: 20)
        _ = state.join(c, desired: "carol", session: secret(3), handle: 30)
        _ = state.leave(a)
        _ = state.join(a, desired: "ignored", session: secret(2), handle: 40)
        var visited: [(ConnectionID, Int)] = []
        state.forEachHandle { visited.append(($0, $1)) }
        #expect(visited.map(\.0) == [c, a] && visited.map(\.1) == [30, 40])
    }

    @Test func sessionReplacesTheLiveHolderUnderItsNick() {
        var state = RoomState<Int>()
        _ = state.join(a, desired: "alice", session: secret(9), handle: 1)
        let joined = state.join(b, desired: "ignored", session: secret(9), handle: 2)
        #expect(joined.nick == "alice")
        #expect(joined.replaced?.id == a)
        #expect(state.members.count == 1)
        #expect(state.leave(a) == nil)
    }

    @Test func traitsLiveWithTheMemberAndRevocationOnlyTouchesKeyModerators() {
        var state = RoomState<Int>()
        let (byKey, byToken) = (ConnectionRole(.moderator), ConnectionRole(.moderator))
        _ = state.join(a, desired: "keyed", session: secret(1), handle: 1)
        _ = state.join(b, desired: "token", session: secret(2), handle: 2)
        let admitted = [
            state.admit(a, traits: MemberTraits(role: byKey, byModeratorKey: true, subject: nil, address: nil)),
            state.admit(b, traits: MemberTraits(role: byToken, byModeratorKey: false, subject: "sub-b", address: nil)),
            state.admit(c, traits: MemberTraits(role: ConnectionRole(), byModeratorKey: false, subject: nil, address: nil)),
        ]
        #expect(admitted == [true, true, false])
        state.revokeKeyModerators()
        #expect(byKey.role == .member)
        #expect(byToken.role == .moderator)
        #expect(state.members[a]?.traits?.byModeratorKey == false)
        #expect(state.members[b]?.traits?.subject == "sub-b")
        // Leaving takes the traits along: a later member under the same id starts without any.
        _ = state.leave(b)
        _ = state.join(b, desired: "again", session: secret(3), handle: 3)
        #expect(state.members[b]?.traits == nil)
    }

    @Test func renameRefusesANickHeldByAnother() throws {
        var state = RoomState<Int>()
        _ = state.join(a, desired: "alice", session: secret(1), handle: 1)
        _ = state.join(b, desired: "bob", session: secret(2), handle: 2)
        #expect(throws: ProtocolError.self) { try state.rename(b, to: "ALICE") }
        #expect(try state.rename(a, to: "ALICE")?.from == "alice")
        #expect(state.nicks == ["ALICE", "bob"])
    }
}
