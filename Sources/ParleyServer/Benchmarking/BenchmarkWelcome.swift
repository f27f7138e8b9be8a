import Logging
import NIOCore
import ParleyProtocol

/// A live ``Room`` holding `messages` stored messages, for timing the history part of a `welcome`: read from
/// storage (what every joiner did before the room kept its recent messages) or from the room's cache.
///
/// Micro benchmarks only (see ``BenchmarkHooks``).
@_spi(Benchmarks)
public final class BenchmarkWelcome: Sendable {
    private let store: SQLiteMessageStore
    private let room: Room
    private let welcome: ServerEvent.Welcome

    /// Stores `messages` messages of `text` in one room (SQLite at `location`) and opens the room with them.
    public init(location: DatabaseLocation, messages: Int, text: String) async throws {
        store = try SQLiteMessageStore(location: location, metrics: ParleyMetrics(), logger: Logger(label: "parley.benchmark"))
        let record = try await store.openRoom(code: "bench")
        let ts = Timestamp.now()
        await store.commit(
            (0..<messages).map { index in PendingMessage(roomID: record.id, nick: "bench", text: text, ts: ts, clientID: "c\(index)") { _ in } }
        )
        let metrics = ParleyMetrics()
        room = Room(
            record: record,
            sessions: SessionTable(),
            feed: RoomFeed(store: store, logger: Logger(label: "parley.benchmark")),
            metrics: metrics,
            recent: .init(historySize: 50)
        )
        // As a room's first `welcome` reads it: one more than it shows.
        let page = try await store.messages(roomID: record.id, after: nil, before: nil, limit: 51, newest: true)
        room.anchor(with: page, after: nil)
        welcome = ServerEvent.Welcome(
            room: record.info,
            nick: "bench",
            session: SessionSecret.random().description,
            members: ["bench"],
            history: [],
            lastID: page.lastID,
            truncated: page.hasMore,
            limits: ServerConfiguration().clientLimits
        )
    }

    /// The encoded `welcome` with the history after `since` (the newest 50 when nil), read from storage.
    public func fromStorage(since: Int64?) async throws -> ByteBuffer {
        let page = try await store.messages(roomID: room.record.id, after: since, before: nil, limit: since == nil ? 50 : 1000, newest: true)
        var welcome = self.welcome
        welcome.history = page.messages
        welcome.lastID = page.lastID
        return EventEncoder.encode(.welcome(welcome))
    }

    /// The same `welcome` from the room's cache of recent messages.
    public func fromCache(since: Int64?) -> ByteBuffer? {
        guard let page = room.recentPage(after: since, clientRev: nil, limit: since == nil ? 50 : 1000) else { return nil }
        var welcome = self.welcome
        welcome.lastID = page.lastID
        return EventEncoder.encode(welcome, encodedHistory: page.history)
    }
}
