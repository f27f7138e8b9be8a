import Foundation
import NIOCore
import ParleyProtocol
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

/// How a commit's results reach the rooms and the senders: in batch order, with messages stored in a row for
/// one room handed to it together.
@Suite struct CommitOutcomeTests {
    /// The frames `outbox` holds, as their text (the `message` events' text only).
    static func texts(_ outbox: Outbox) -> [String] {
        guard case .next(.frames(let frames)) = outbox.poll(orWake: {}) else { return [] }
        return frames.map { frame in
            guard case .message(let message)? = try? JSONDecoder().decode(ServerEvent.self, from: Data(String(buffer: frame).utf8)) else {
                return String(buffer: frame)
            }
            return message.text
        }
    }

    @Test(.timeLimit(.minutes(1))) func aRunOfOneRoomIsDeliveredTogetherAndAnythingElseEndsIt() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-commit-outcome")
        let store = try RoomOpeningTests.store(directory)
        let registry = RoomRegistry(feed: RoomFeed(store: store, logger: .quiet), metrics: ParleyMetrics())
        var outboxes: [String: Outbox] = [:]
        for (index, code) in ["a", "b"].enumerated() {
            let room = try #require(try await registry.acquire(code: code) { try await store.openRoom(code: code) })
            let outbox = Outbox(limit: 1 << 20)
            _ = room.join(ConnectionID(value: UInt64(index)), requestedNick: "m", session: nil, outbox: outbox)
            outbox.open(with: ByteBuffer(string: "welcome"), coveredID: 0)
            room.anchor(after: 0)
            #expect(Self.texts(outbox) == ["welcome"])
            outboxes[code] = outbox
        }
        // Each completion notes what room a's member had been sent by then.
        let log = Mutex<[String]>([])
        let roomA = try #require(outboxes["a"])
        func pending(_ name: String, in code: String) -> PendingMessage {
            var message = PendingMessage(roomID: 1, nick: "m", text: name, ts: .now(), clientID: nil) { _ in
                let sent = Self.texts(roomA)
                log.withLock { $0 += sent.map { "a got \($0)" } + ["\(name) done"] }
            }
            message.delivery = RoomDelivery(rooms: registry, code: code)
            return message
        }
        func stored(_ id: Int64, _ text: String) -> AppendResult { .stored(ChatMessage(id: id, nick: "m", text: text, ts: .now())) }
        let batch = [
            pending("a1", in: "a"), pending("a2", in: "a"), pending("again", in: "a"), pending("a3", in: "a"), pending("b1", in: "b"),
            pending("a4", in: "a"),
        ]
        let results = [
            stored(1, "a1"), stored(2, "a2"), .duplicate(ChatMessage(id: 1, nick: "m", text: "a1", ts: .now())), stored(3, "a3"), stored(1, "b1"),
            stored(4, "a4"),
        ]
        CommitOutcome.committed(results, since: .now).complete(batch, metrics: ParleyMetrics(), logger: .quiet)

        #expect(
            log.withLock { $0 } == [
                // The run a1, a2 goes to the room before either completion; the duplicate ends it.
                "a got a1", "a got a2", "a1 done", "a2 done", "again done",
                // b1, in another room, ends a3's run; a4 starts a new one.
                "a got a3", "a3 done", "b1 done", "a got a4", "a4 done",
            ]
        )
        let roomB = try #require(outboxes["b"])
        #expect(Self.texts(roomB) == ["b1"])
    }
}
