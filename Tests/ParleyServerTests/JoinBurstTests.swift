import NIOCore
import ParleyProtocol
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

/// Joins made in the upgrade's loop tick and presence that waits a moment for company (issue 21): members
/// still see every join and leave once, in order with the messages around them.
@Suite struct JoinBurstTests {
    /// A burst of joins into a live room, new nicks and sessions taken back together, while a member writes:
    /// everyone's `welcome` members plus the presence it heard afterwards is the room's final roster, and the
    /// writer's message comes after the joins it followed.
    @Test(.timeLimit(.minutes(1))) func aBurstOfJoinsLeavesEveryMemberWithTheSameRoster() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (first, _) = try await server.join("room=burst&nick=first")
            // Ten members leave, then come back with their sessions while ten newcomers join.
            var sessions: [String] = []
            for i in 0..<10 {
                let (socket, welcome) = try await server.join("room=burst&nick=old\(i)")
                sessions.append(welcome.session)
                socket.close()
            }
            var expected = ["first"]
            var heard = try await presence(of: first, until: { $0.count == 20 })
            #expect(heard.filter { $0.hasPrefix("+") }.count == 10 && heard.filter { $0.hasPrefix("-") }.count == 10)
            let joined = try await withThrowingTaskGroup(of: (RawSocket, ServerEvent.Welcome).self) { group in
                for (i, session) in sessions.enumerated() {
                    group.addTask { try await server.join("room=burst&nick=x&session=\(session)") }
                    group.addTask { try await server.join("room=burst&nick=new\(i)") }
                }
                var joined: [(RawSocket, ServerEvent.Welcome)] = []
                for try await member in group { joined.append(member) }
                return joined
            }
            expected += (0..<10).map { "old\($0)" } + (0..<10).map { "new\($0)" }
            #expect(Set(joined.map(\.1.nick)) == Set(expected.dropFirst()))
            try await first.send("after the burst")
            heard = try await presence(of: first, until: { _ in true }, stopAtMessage: true)
            #expect(Set(heard.map { String($0.dropFirst()) }) == Set(expected.dropFirst()) && heard.allSatisfy { $0.hasPrefix("+") })
            // Every newcomer: its welcome's members, then the joins after it, give the whole roster.
            for (socket, welcome) in joined {
                var roster = Set(welcome.members)
                let later = try await presence(of: socket, until: { _ in true }, stopAtMessage: true)
                for event in later { roster.insert(String(event.dropFirst())) }
                #expect(roster == Set(expected), "\(welcome.nick)")
            }
        }
    }

    /// A `join` with nothing behind it still arrives (the second within the presence interval), and a
    /// message queued after one takes it along at once, in order.
    @Test(.timeLimit(.minutes(1))) func aJoinArrivesAloneAndAheadOfTheNextMessage() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (first, _) = try await server.join("room=alone&nick=first")
            _ = try await server.join("room=alone&nick=second")
            guard case .join("second", _) = try await first.next() else {
                Issue.record("expected the join of second")
                return
            }
            _ = try await server.join("room=alone&nick=third")
            try await first.send("hello")
            let events = [try await first.next(), try await first.next()]
            guard case .join(let nick, _) = events[0], case .message(let message) = events[1] else {
                Issue.record("expected the join, then the message: \(events)")
                return
            }
            #expect(nick == "third" && message.text == "hello")
        }
    }

    /// `welcome` counts as presence written: a `join` right behind it waits for the drain asked for.
    @Test func presenceRightAfterWelcomeWaitsForItsDrain() {
        let outbox = Outbox(limit: 1000)
        let log = PresenceLog()
        let soon = Calls()
        outbox.setSoon { _ in soon.add() }
        outbox.joinPresence(log)
        outbox.open(with: ByteBuffer(string: "welcome"), coveredID: 0)
        let woken = Calls()
        #expect(outbox.poll { woken.add() } != nil)
        #expect(outbox.poll { woken.add() } == nil)
        #expect(log.appendWaking("join a") == [.queued])
        #expect(woken.count == 0 && soon.count == 1)
        outbox.soonRan()
        guard case .next(.frames(let frames)) = outbox.poll(orWake: { woken.add() }) else {
            Issue.record("expected the join")
            return
        }
        #expect(frames.map { String(buffer: $0) } == ["join a"])
    }

    /// The first presence after a quiet spell wakes the writer; more within the interval asks for one drain
    /// later and leaves the writer registered, so that the next frame that may not wait takes it all, in order.
    @Test func presenceWaitsForTheNextFrameOrItsDrainWithinTheInterval() {
        let outbox = Outbox(limit: 1000)
        let log = PresenceLog()
        func presence(_ text: String) -> Outbox.Enqueued {
            log.appendWaking(text).first ?? .queued
        }
        let soon = Calls()
        outbox.setSoon { _ in soon.add() }
        outbox.joinPresence(log)
        // A welcome sent longer ago than the interval.
        outbox.open(with: ByteBuffer(string: "welcome"), coveredID: 0, at: .now() - WriteScheduler.presenceInterval)
        let woken = Calls()
        #expect(outbox.poll { woken.add() } != nil)
        #expect(outbox.poll { woken.add() } == nil)
        #expect(presence("join a") == .queued)
        #expect(woken.count == 1 && soon.count == 0)
        guard case .next(.frames(let alone)) = outbox.poll(orWake: { woken.add() }) else {
            Issue.record("expected the first join")
            return
        }
        #expect(alone.map { String(buffer: $0) } == ["join a"])
        #expect(outbox.poll { woken.add() } == nil)
        _ = presence("join b")
        _ = presence("join c")
        #expect(soon.count == 1 && woken.count == 1)
        #expect(outbox.enqueue([Room.Delivery(id: 1, frame: ByteBuffer(string: "m1"))]) == .queued)
        #expect(woken.count == 2)
        guard case .next(.frames(let frames)) = outbox.poll(orWake: { woken.add() }) else {
            Issue.record("expected frames")
            return
        }
        #expect(frames.map { String(buffer: $0) } == ["join b", "join c", "m1"])
        // Until its drain has run, more presence asks for nothing more; after it, presence waits again.
        #expect(outbox.poll { woken.add() } == nil)
        _ = presence("leave a")
        #expect(soon.count == 1 && woken.count == 2)
        outbox.soonRan()
        guard case .next(.frames) = outbox.poll(orWake: {}) else {
            Issue.record("expected the leave")
            return
        }
        #expect(outbox.poll { woken.add() } == nil)
        _ = presence("leave b")
        #expect(soon.count == 2 && woken.count == 2)
    }

    /// The nicks of the joins (`+nick`) and leaves (`-nick`) `socket` gets, until `done` holds or (with
    /// `stopAtMessage`) a message arrives.
    private func presence(of socket: RawSocket, until done: ([String]) -> Bool, stopAtMessage: Bool = false) async throws -> [String] {
        var heard: [String] = []
        while true {
            switch try await socket.next() {
            case .join(let nick, _): heard.append("+" + nick)
            case .leave(let nick, _): heard.append("-" + nick)
            case .message: if stopAtMessage { return heard }
            default: break
            }
            if !stopAtMessage, done(heard) { return heard }
        }
    }
}

private final class Calls: Sendable {
    private let calls = Atomic<Int>(0)
    func add() { calls.add(1, ordering: .relaxed) }
    var count: Int { calls.load(ordering: .relaxed) }
}
