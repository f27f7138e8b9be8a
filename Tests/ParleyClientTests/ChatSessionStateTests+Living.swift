import ParleyProtocol
import Testing

@testable import ParleyClient

/// Living messages (§11) in the CLI's session state: replies, changes, and resume with `since` and `rev`.
extension ChatSessionStateTests {
    static func changed(_ action: ChatSessionState.Action) -> [ChatMessage] {
        action.outputs.compactMap { if case .changed(let message) = $0 { message } else { nil } }
    }

    @Test func resumeSendsRevAndShowsChangesMadeWhileAway() {
        var state = ChatSessionState(room: "lobby", nick: "alice")
        var first = Self.welcome([Self.message(1, "one"), Self.message(2, "two")])
        first.rev = 4
        _ = state.welcome(first)
        #expect(Self.changed(state.receive(.update(rev: 5, message: Self.message(1, "one, fixed")))).map(\.text) == ["one, fixed"])
        state.disconnected()
        let query = state.connectionQuery
        #expect(query.first { $0.0 == "since" }?.1 == "2")
        #expect(query.first { $0.0 == "rev" }?.1 == "5")

        var deleted = Self.message(2, "")
        deleted.deleted = true
        var resumed = Self.welcome([Self.message(3, "three")])
        resumed.rev = 7
        resumed.updates = [deleted]
        let action = state.welcome(resumed)
        #expect(Self.changed(action) == [deleted])
        #expect(Self.shown(action) == ["three"])
        #expect(state.rev == 7)
        // A change older than what was applied is harmless: skipped.
        #expect(state.receive(.update(rev: 6, message: Self.message(1, "stale"))).outputs.isEmpty)
    }

    @Test func truncatedUpdatesSaySoAndAnOldServerGetsNoRev() {
        var state = ChatSessionState(room: "lobby", nick: "alice")
        _ = state.welcome(Self.welcome([Self.message(1, "one")]))
        state.disconnected()
        #expect(!state.connectionQuery.contains { $0.0 == "rev" })
        var resumed = Self.welcome([])
        resumed.rev = 2000
        resumed.updatesTruncated = true
        #expect(state.welcome(resumed).outputs.contains(.status(.changesMissed)))
    }

    @Test func aReplyCarriesItsTargetAlsoWhenResent() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([Self.message(1, "question")]))
        let sent = state.command(.reply(to: 1, text: "answer"))
        #expect(Self.commands(sent.frames) == [.message(text: "answer", clientID: "t-1", replyTo: 1)])
        state.disconnected()
        let resent = state.welcome(Self.welcome([]))
        #expect(Self.commands(resent.frames) == [.message(text: "answer", clientID: "t-1", replyTo: 1)])
        _ = state.receive(.message(ChatMessage(id: 2, nick: "alice", text: "answer", ts: Timestamp(milliseconds: 2), clientID: "t-1", replyTo: 1)))
        #expect(state.replyTargets.isEmpty)
    }

    @Test func editWithoutIDEditsTheLastOwnMessage() {
        var state = ChatSessionState(room: "lobby", nick: "alice")
        _ = state.welcome(Self.welcome([]))
        #expect(state.command(.edit(id: nil, text: "x")).outputs == [.status(.nothingToEdit)])
        _ = state.receive(.message(Self.message(1, "mine", nick: "alice")))
        _ = state.receive(.message(Self.message(2, "bob's")))
        let action = state.command(.edit(id: nil, text: "mine, fixed"))
        #expect(Self.commands(action.frames) == [.edit(id: 1, text: "mine, fixed"), .ping])
    }

    @Test func changesWaitForAConnectionAndAScriptEndsOnlyOnceTheServerReadThem() {
        var state = ChatSessionState(room: "lobby", nick: "alice")
        #expect(state.command(.react(id: 1, emoji: "👍")).frames.isEmpty)
        #expect(state.command(.react(id: 1, emoji: "two words")).outputs == [.status(.notAnEmoji("two words"))])
        _ = state.finishInput()
        let welcomed = state.welcome(Self.welcome([Self.message(1, "one")]))
        #expect(Self.commands(welcomed.frames) == [.react(id: 1, emoji: "👍"), .ping])
        #expect(!welcomed.close)
        #expect(state.receive(.pong).close)
    }

    @Test func deleteAndUnreactAreSent() {
        var state = ChatSessionState(room: "lobby", nick: "alice")
        _ = state.welcome(Self.welcome([]))
        #expect(Self.commands(state.command(.delete(id: 3)).frames) == [.delete(id: 3), .ping])
        #expect(Self.commands(state.command(.unreact(id: 3, emoji: "🎉")).frames) == [.unreact(id: 3, emoji: "🎉"), .ping])
    }

    @Test func aReplyToAMessageThatIsGoneIsDroppedAndAChangesRefusalSparesTheLines() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([]))
        _ = state.command(.reply(to: 9, text: "to nothing"))
        _ = state.say("waiting")
        _ = state.command(.react(id: 9, emoji: "👍"))
        // The react's refusal names no line: nothing is dropped or resent.
        let refusedChange = state.receive(.error(code: .notFound, message: "no such message"))
        #expect(refusedChange.resendLater == nil)
        #expect(Array(state.pending.values) == ["to nothing", "waiting"])
        _ = state.receive(.pong)
        let refusedReply = state.receive(.error(code: .notFound, message: "no such message", clientID: "t-1"))
        #expect(refusedReply.outputs.contains(.status(.dropped(text: "to nothing", reason: "not_found"))))
        #expect(Array(state.pending.values) == ["waiting"])
        #expect(state.replyTargets.isEmpty)
    }

    @Test func aReactionRefusedAsOneEmojiTooManyLeavesWaitingLinesAlone() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([Self.message(1, "popular")]))
        _ = state.say("waiting for its echo")
        _ = state.command(.react(id: 1, emoji: "🦀"))
        let refused = state.receive(.error(code: .tooLarge, message: "at most 20 distinct emoji"))
        #expect(refused.outputs == [.serverError(code: .tooLarge, message: "at most 20 distinct emoji")])
        #expect(Array(state.pending.values) == ["waiting for its echo"])
    }
}
