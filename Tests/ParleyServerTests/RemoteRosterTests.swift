import ParleyProtocol
import Testing

@testable import ParleyServer

/// What a room remembers of members on other nodes, and what it announces after missed notices.
@Suite struct RemoteRosterTests {
    func described(_ events: [ServerEvent]) -> [String] {
        events.map { event in
            switch event {
            case .join(let nick, _): "join \(nick)"
            case .leave(let nick, _): "leave \(nick)"
            default: "other"
            }
        }
    }

    @Test func relayedEventsKeepTheRosterCurrent() {
        var roster = RemoteRoster()
        roster.apply(.join(nick: "ann", ts: .now()))
        roster.apply(.join(nick: "bo", ts: .now()))
        roster.apply(.nick(from: "bo", to: "bea", ts: .now()))
        roster.apply(.leave(nick: "ann", ts: .now()))
        roster.apply(.typing(nick: "bea"))
        #expect(roster.nicks == ["bea"])
    }

    @Test func resyncAnnouncesOnlyWhatChangedAndThenNothing() {
        var roster = RemoteRoster()
        roster.seed(members: ["me", "ann", "bo"], local: ["me"])
        #expect(roster.nicks == ["ann", "bo"])
        #expect(described(roster.resync(to: ["bo", "cy", "al"])) == ["leave ann", "join al", "join cy"])
        #expect(roster.resync(to: ["bo", "cy", "al"]).isEmpty, "a second resync with the same list says nothing")
    }

    @Test func onlyTheFirstMemberListSeeds() {
        var roster = RemoteRoster()
        roster.seed(members: ["ann"], local: [])
        roster.apply(.leave(nick: "ann", ts: .now()))
        // A later joiner's list was read before ann's leave arrived: it must not bring her back.
        roster.seed(members: ["ann"], local: [])
        #expect(roster.nicks.isEmpty)
    }

    @Test func aNickHeldHereIsNotRemoteAndATakenOverOneIs() {
        var roster = RemoteRoster()
        roster.apply(.join(nick: "ann", ts: .now()))
        roster.heldHere("ann")
        #expect(roster.nicks.isEmpty, "ann's session moved to this node")
        roster.movedAway("ann")
        #expect(roster.nicks == ["ann"], "and back to another node")
        #expect(roster.resync(to: ["ann"]).isEmpty)
    }
}
