import ParleyProtocol
import Synchronization
import Testing

@testable import ParleyClient

@Suite struct ChatSessionStateTests {
    static let room = RoomInfo(code: "lobby", name: nil, createdAt: Timestamp(milliseconds: 0))

    static func message(_ id: Int64, _ text: String, nick: String = "bob", clientID: String? = nil) -> ChatMessage {
        ChatMessage(id: id, nick: nick, text: text, ts: Timestamp(milliseconds: id), clientID: clientID)
    }

    static func welcome(_ history: [ChatMessage], lastID: Int64? = nil, nick: String = "alice") -> ServerEvent.Welcome {
        ServerEvent.Welcome(
            room: room,
            nick: nick,
            session: "secret",
            members: [nick],
            history: history,
            lastID: lastID ?? history.last?.id ?? 0,
            truncated: false
        )
    }

    /// Frames as commands (JSON key order is not fixed).
    static func commands(_ frames: [String]) -> [ClientCommand] {
        frames.compactMap { try? ClientCommand.parse(frame: $0) }
    }

    static func shown(_ action: ChatSessionState.Action) -> [String] {
        action.outputs.compactMap { if case .message(let message, _) = $0 { message.text } else { nil } }
    }

    @Test func lineTypedWhileDisconnectedIsSentAfterWelcomeWithClientID() throws {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        #expect(state.say("early").frames.isEmpty)
        let action = state.welcome(Self.welcome([]))
        #expect(Self.commands(action.frames) == [.message(text: "early", clientID: "t-1")])
        #expect(state.connectionQuery.map(\.0) == ["room", "nick", "since", "session"])
    }

    @Test func acknowledgementRemovesPendingAndMarksOwn() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([]))
        #expect(state.say("hi").frames.count == 1)
        let action = state.receive(.message(Self.message(1, "hi", nick: "alice", clientID: "t-1")))
        #expect(state.pending.isEmpty)
        #expect(action.outputs == [.message(Self.message(1, "hi", nick: "alice", clientID: "t-1"), own: true)])
    }

    @Test func resumeDropsDuplicatesAndResendsOnlyUnacknowledged() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([Self.message(1, "one"), Self.message(2, "two")]))
        _ = state.say("stored before the crash")
        _ = state.say("lost in the crash")
        state.disconnected()
        #expect(state.connectionQuery.first { $0.0 == "since" }?.1 == "2")
        #expect(state.connectionQuery.first { $0.0 == "session" }?.1 == "secret")
        // The server stored the first line (id 3) before dying; the welcome after the restart carries it.
        let history = [Self.message(2, "two"), Self.message(3, "stored before the crash", nick: "alice", clientID: "t-1")]
        let action = state.welcome(Self.welcome(history))
        #expect(Self.shown(action) == ["stored before the crash"])
        #expect(Self.commands(action.frames) == [.message(text: "lost in the crash", clientID: "t-2")])
        #expect(action.outputs.contains(.status(.resumed(missed: 1))))
        #expect(Self.shown(state.receive(.message(Self.message(3, "again")))).isEmpty)
    }

    @Test func settlesOnlyAfterConnectingAndAcknowledgement() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.say("bye")
        #expect(state.finishInput().close == false)
        #expect(!state.isSettled)
        let welcome = state.welcome(Self.welcome([]))
        #expect(welcome.close == false)
        let ack = state.receive(.message(Self.message(1, "bye", nick: "alice", clientID: "t-1")))
        #expect(ack.close)
        #expect(state.isSettled)
    }

    @Test func refusedLineIsDroppedAndRateLimitedLineResent() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([]))
        _ = state.say(String(repeating: "x", count: 5000))
        _ = state.say("fine")
        _ = state.receive(.error(code: .tooLarge, message: "too large"))
        #expect(Array(state.pending.values) == ["fine"])
        let limited = state.receive(.error(code: .rateLimited, message: "slow down"))
        #expect(Self.commands(limited.resendLater.map { [$0] } ?? []) == [.message(text: "fine", clientID: "t-2")])
    }

    @Test func refusalsNamingAClientIDHitThatLineOnly() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([]))
        _ = state.say("waiting for its echo")
        _ = state.say("refused")
        _ = state.say("limited")
        _ = state.receive(.error(code: .tooLarge, message: "too large", clientID: "t-2"))
        #expect(Array(state.pending.values) == ["waiting for its echo", "limited"])
        let limited = state.receive(.error(code: .rateLimited, message: "slow down", clientID: "t-3"))
        #expect(Self.commands(limited.resendLater.map { [$0] } ?? []) == [.message(text: "limited", clientID: "t-3")])
        let failed = state.receive(.error(code: .unavailable, message: "not stored", clientID: "t-1"))
        #expect(Self.commands(failed.resendLater.map { [$0] } ?? []) == [.message(text: "waiting for its echo", clientID: "t-1")])
    }

    @Test func historyAfterATruncatedResumeFillsTheGap() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([Self.message(1, "one"), Self.message(2, "two")]))
        state.disconnected()
        var resumed = Self.welcome((1001...2000).map { Self.message($0, "m\($0)") })
        resumed.truncated = true
        _ = state.welcome(resumed)
        let first = state.command(.history(limit: 200))
        #expect(Self.commands(first.frames) == [.history(before: 1001, limit: 200)])
        _ = state.receive(.history(messages: (801...1000).map { Self.message($0, "m\($0)") }, hasMore: true))
        let second = state.command(.history(limit: 200))
        #expect(Self.commands(second.frames) == [.history(before: 801, limit: 200)])
        _ = state.receive(.history(messages: (2...800).suffix(200).map { Self.message($0, "m\($0)") }, hasMore: true))
        _ = state.receive(.history(messages: (1...600).suffix(200).map { Self.message($0, "m\($0)") }, hasMore: true))
        // Once a page reaches what was seen before the gap, /history pages below the oldest message again.
        _ = state.receive(.history(messages: [Self.message(2, "two"), Self.message(3, "m3")], hasMore: true))
        #expect(state.gap == nil)
        #expect(Self.commands(state.command(.history(limit: 5)).frames) == [.history(before: 1, limit: 5)])
    }

    @Test func commandsBeforeTheFirstConnectionRunAfterWelcome() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.command(.history(limit: 5))
        _ = state.finishInput()
        let action = state.welcome(Self.welcome([Self.message(7, "seven")]))
        #expect(Self.commands(action.frames) == [.history(before: 7, limit: 5)])
        #expect(!action.close)
        #expect(state.receive(.history(messages: [], hasMore: false)).close)
    }

    /// Every line gets a fresh random `client_id` of 128 bits: nothing in one id tells the next.
    @Test func clientIDsAreRandomNotACounter() {
        var state = ChatSessionState(room: "lobby", nick: "alice")
        for index in 0..<1000 { _ = state.say("line \(index)") }
        let ids = Array(state.pending.keys)
        #expect(Set(ids).count == 1000)
        for id in ids {
            #expect(id.utf8.count == 32 && id.allSatisfy(\.isHexDigit))
        }
        // Consecutive ids share no prefix a counter would leave (a chance of about 1 in 10^8 per run).
        for (previous, next) in zip(ids, ids.dropFirst()) {
            #expect(previous.prefix(9) != next.prefix(9))
        }
    }

    /// A line over the server's `welcome.limits.max_message_bytes` is refused here with the limit, without
    /// being sent; one typed before the limit was known is dropped once it is.
    @Test func linesOverTheServersLimitAreRefusedLocally() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.say("early and too long")
        _ = state.say("early, fits")
        var welcome = Self.welcome([])
        welcome.limits = Limits(maxMessageBytes: 12, maxFileBytes: 1, rateBurst: 1, ratePerSecond: 1)
        let connected = state.welcome(welcome)
        #expect(connected.outputs.contains(.status(.tooLong(bytes: 18, limit: 12))))
        #expect(Self.commands(connected.frames) == [.message(text: "early, fits", clientID: "t-2")])
        let refused = state.say("é" + String(repeating: "x", count: 11))
        #expect(refused.frames.isEmpty)
        #expect(refused.outputs == [.status(.tooLong(bytes: 13, limit: 12))])
        #expect(ChatStatus.tooLong(bytes: 13, limit: 12).description.contains("at most 12 bytes"))
        #expect(Array(state.pending.values) == ["early, fits"])
        #expect(state.say("twelve bytes").frames.count == 1)
    }

    @Test func nickChangesFollowTheUser() {
        var state = ChatSessionState(room: "lobby", nick: "alice", newClientID: SequentialIDs("t").next)
        _ = state.welcome(Self.welcome([]))
        _ = state.command(.nick("ally"))
        let action = state.receive(.nick(from: "alice", to: "ally", ts: Timestamp(milliseconds: 1)))
        #expect(action.outputs == [.nickChange(from: "alice", to: "ally", ts: Timestamp(milliseconds: 1), own: true)])
        #expect(state.nick == "ally")
        #expect(state.members == ["ally"])
    }
}

/// Predictable `client_id`s (`t-1`, `t-2`, …) so that tests can name the lines they refer to.
final class SequentialIDs: Sendable {
    let prefix: String
    private let count = Mutex(0)

    init(_ prefix: String) {
        self.prefix = prefix
    }

    func next() -> String {
        let next = count.withLock { count in
            count += 1
            return count
        }
        return "\(prefix)-\(next)"
    }
}
