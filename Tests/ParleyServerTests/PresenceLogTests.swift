import Logging
import NIOCore
import ParleyProtocol
import Testing

@testable import ParleyServer

extension PresenceLog {
    /// Appends a frame and tells the outboxes it wakes, as a room does; returns what each of them answered.
    func appendWaking(_ text: String) -> [Outbox.Enqueued] {
        let (position, wake, _) = append(ByteBuffer(string: text))
        return wake.map { $0.presenceArrived(self, at: position) }
    }
}

/// Presence that waits is held once per room (``PresenceLog``), each member keeping only its position in it
/// (issue 21): order, limits, who is woken and what the room drops.
@Suite struct PresenceLogTests {
    /// An open outbox whose writer has taken `welcome` and waits again, as a connection's writer does; with a
    /// `log`, it joined that log before its `welcome`.
    private func openOutbox(limit: Int = 1 << 20, in log: PresenceLog? = nil) -> Outbox {
        let outbox = Outbox(limit: limit)
        outbox.setSoon { _ in }
        if let log { outbox.joinPresence(log) }
        outbox.open(with: ByteBuffer(string: "welcome"), coveredID: 0)
        _ = outbox.poll {}
        _ = outbox.poll {}
        return outbox
    }

    private func texts(_ poll: Outbox.Poll?) -> [String] {
        guard case .next(.frames(let frames)) = poll else { return [] }
        return frames.map { String(buffer: $0) }
    }

    /// Waiting presence stays in the room's log, the member holding only its range: thirty frames wait there,
    /// then go out in order, ahead of the message that follows.
    @Test func aMemberHoldsPositionsNotFrames() {
        let log = PresenceLog()
        let outbox = openOutbox(limit: 500, in: log)
        let joins = (0..<30).map { String(format: "join %05d", $0) }
        // Only the first frame wakes it: it is given every frame after that without being told.
        #expect(log.appendWaking(joins[0]) == [.queued])
        for join in joins.dropFirst() { #expect(log.appendWaking(join).isEmpty) }
        #expect(outbox.enqueue([Room.Delivery(id: 1, frame: ByteBuffer(string: "message"))]) == .queued)
        #expect(texts(outbox.poll {}) == joins + ["message"])
        #expect(log.count == 30)
    }

    /// A member starts in the log after its own join; one that has taken every frame is woken by the next,
    /// and a message goes behind what waited for it, so nothing changes place.
    @Test func aJoinerStartsAfterItsOwnJoinAndOrderHolds() {
        let log = PresenceLog()
        let first = openOutbox(in: log)
        #expect(log.appendWaking("join a") == [.queued])
        // The message takes what waited along, so the next frame wakes it again; the one after does not.
        _ = first.enqueue([Room.Delivery(id: 1, frame: ByteBuffer(string: "message"))])
        #expect(log.appendWaking("join b") == [.queued])
        #expect(log.appendWaking("join me").isEmpty)
        let me = openOutbox(in: log)
        #expect(log.appendWaking("leave a") == [.queued])
        #expect(texts(first.poll {}) == ["join a", "message", "join b", "join me", "leave a"])
        #expect(texts(me.poll {}) == ["leave a"])
        // Both took everything, so both sleep until the next frame.
        #expect(log.appendWaking("join c") == [.queued, .queued])
    }

    /// A close drops the waiting presence with the rest; a drain sends it before the close.
    @Test func closingTakesOrDropsTheWaitingPresence() {
        let log = PresenceLog()
        let draining = openOutbox(in: log)
        _ = log.appendWaking("join a")
        draining.drainAndClose(code: 1001, reason: "going away")
        #expect(texts(draining.poll {}) == ["join a"])
        guard case .next(.close(1001, _)) = draining.poll(orWake: {}) else {
            Issue.record("expected the close after the presence")
            return
        }
        let closing = openOutbox(in: log)
        _ = log.appendWaking("join b")
        closing.closeNow(code: 1008, reason: "slow consumer")
        guard case .next(.close(1008, _)) = closing.poll(orWake: {}) else {
            Issue.record("expected the close alone")
            return
        }
    }

    /// Only a member still open is made to take its presence when it is too far behind: a draining one keeps
    /// its close code, and another room's log is not its own.
    @Test func aClosingMemberHoldsNoClaimOnTheLog() {
        let log = PresenceLog()
        let draining = openOutbox(limit: 16, in: log)
        _ = log.appendWaking("join a, well past the limit")
        draining.drainAndClose(code: 4004, reason: "room deleted")
        #expect(draining.presenceStart(in: log, keepingFrom: log.end) == (nil, false))
        let open = openOutbox(limit: 16, in: log)
        _ = log.appendWaking("join b")
        #expect(open.presenceStart(in: PresenceLog(), keepingFrom: log.end) == (nil, false))
        #expect(open.presenceStart(in: log, keepingFrom: 0) == (1, false))
        #expect(open.presenceStart(in: log, keepingFrom: log.end) == (nil, false))
        #expect(texts(draining.poll {}) == ["join a, well past the limit"])
        guard case .next(.close(4004, _)) = draining.poll(orWake: {}) else {
            Issue.record("expected the draining member's own close")
            return
        }
        #expect(texts(open.poll {}) == ["join b"])
    }

    /// A member taken out of the room while its connection closes (kicked, or replaced by its session's new
    /// connection) is no longer asked where its range begins, so the room may drop frames it waited for; its
    /// writer then gets what is left, and nothing fails.
    @Test(.timeLimit(.minutes(1))) func aMemberOutOfTheRoomGetsWhatIsLeft() throws {
        let room = try testRoom()
        let reader = openOutbox()
        let leaving = openOutbox()
        _ = room.join(ConnectionID(value: 1), requestedNick: "reader", session: nil, outbox: reader)
        _ = room.join(ConnectionID(value: 2), requestedNick: "leaving", session: nil, outbox: leaving)
        _ = reader.poll {}
        for round in 0..<Int(PresenceLog.dropEvery) {
            let passer = openOutbox()
            _ = room.join(ConnectionID(value: 100 + UInt64(round)), requestedNick: "passer", session: nil, outbox: passer)
            if round == 0 { _ = room.leave(ConnectionID(value: 2), announce: false) }
            _ = room.leave(ConnectionID(value: 100 + UInt64(round)))
            _ = reader.poll {}
        }
        #expect(room.presence.count < Int(PresenceLog.dropEvery))
        // What waited for it when it left, and nothing the room appended after.
        let left = texts(leaving.poll {})
        #expect(left.count == 1 && left.allSatisfy { $0.contains(#""type":"join","nick":"passer""#) }, "\(left)")
    }

    private func testRoom(_ metrics: ParleyMetrics = ParleyMetrics()) throws -> Room {
        let store = try SQLiteMessageStore(location: .sqliteMemory, metrics: metrics, logger: Logger(label: "test"))
        let room = Room(
            record: RoomRecord(id: 1, code: "presence", name: nil, createdAt: .now()),
            sessions: SessionTable(),
            feed: RoomFeed(store: store, logger: Logger(label: "test")),
            metrics: metrics
        )
        room.anchor(after: 0)
        return room
    }

    /// A member that takes its own session over again and again (a reconnect loop) adds no `join` or `leave`, so
    /// no frame wakes the log's sleepers: the replaced outboxes must still be let go, alone in a room and beside
    /// another member.
    @Test(arguments: [false, true]) func aSessionTakenOverAgainAndAgainLeavesNoOutboxBehind(beside other: Bool) throws {
        let room = try testRoom()
        if other { _ = room.join(ConnectionID(value: 1), requestedNick: "stays", session: nil, outbox: openOutbox()) }
        var latest = openOutbox()
        weak var replaced: Outbox? = latest
        let joined = room.join(ConnectionID(value: 2), requestedNick: "loop", session: nil, outbox: latest)
        for n in 3..<50 {
            let outbox = openOutbox()
            let again = room.join(ConnectionID(value: UInt64(n)), requestedNick: nil, session: joined.session, outbox: outbox)
            #expect(again.nick == "loop")
            latest.finish()
            _ = room.leave(ConnectionID(value: UInt64(n - 1)))
            latest = outbox
        }
        #expect(replaced == nil, "the first outbox is still held")
    }

    /// The room keeps only what some member still waits for: members who take their presence let the log
    /// shrink, and one whose socket takes nothing gets its frames in its own queue once it waits for more
    /// than ``PresenceLog/maxWaiting``, where they count against its limit and cut it off.
    @Test(.timeLimit(.minutes(1))) func theRoomDropsWhatNoMemberWaitsFor() async throws {
        let room = try testRoom()
        let reader = openOutbox()
        _ = room.join(ConnectionID(value: 1), requestedNick: "reader", session: nil, outbox: reader)
        var heard = 0
        func read() {
            heard += texts(reader.poll {}).count
        }
        // Joins and leaves of a passer-by, read every ten.
        for round in 0..<100 {
            let passer = openOutbox()
            _ = room.join(ConnectionID(value: 100 + UInt64(round)), requestedNick: "passer", session: nil, outbox: passer)
            _ = room.leave(ConnectionID(value: 100 + UInt64(round)))
            if round % 10 == 9 { read() }
        }
        #expect(heard == 200)
        #expect(room.presence.count <= Int(PresenceLog.dropEvery))

        // A member who never reads, with room for fewer frames than the log may hold for it.
        let stuck = openOutbox(limit: 16 * 1024)
        _ = room.join(ConnectionID(value: 2), requestedNick: "stuck", session: nil, outbox: stuck)
        read()
        let events = Int(PresenceLog.maxWaiting) + 2 * Int(PresenceLog.dropEvery)
        for round in 0..<(events / 2) {
            let passer = openOutbox()
            _ = room.join(ConnectionID(value: 10_000 + UInt64(round)), requestedNick: "passer", session: nil, outbox: passer)
            _ = room.leave(ConnectionID(value: 10_000 + UInt64(round)))
            read()
        }
        #expect(room.presence.count <= Int(PresenceLog.maxWaiting + PresenceLog.dropEvery))
        guard case .next(.close(1008, "slow consumer")) = stuck.poll(orWake: {}) else {
            Issue.record("expected the stuck member to be cut off")
            return
        }
    }
}
