import Logging
import NIOCore
import ParleyProtocol
import Synchronization

/// A live ``Room`` whose members are open ``Outbox``es with no sockets behind them, for timing `Room.receive`.
///
/// Micro benchmarks only (see ``BenchmarkHooks``). Outboxes have no byte limit, so nothing is cut off as
/// slow; ``drain()`` empties them the way each connection's writer loop does.
@_spi(Benchmarks)
public final class BenchmarkRoom: Sendable {
    private let room: Room
    private let outboxes: [Outbox]
    /// The room releases ids in order and drops repeats, so each delivery gets the next id.
    private let lastID = Atomic<Int64>(0)

    /// Joins `members` connections (nicks `m0`, `m1`, …) and opens their outboxes, all empty on return. Without
    /// `recent`, the room keeps no recent messages (as before issue 21).
    public init(members: Int, recent: Bool = true) async throws {
        let record = RoomRecord(id: 1, code: "bench", name: nil, createdAt: .now())
        let metrics = ParleyMetrics()
        // Never asked to fetch: ids arrive in order.
        let store = try SQLiteMessageStore(location: .sqliteMemory, metrics: metrics, logger: Logger(label: "bench"))
        // With the cache of recent messages a server's room keeps (`historySize` 50), filled as it delivers.
        room = Room(
            record: record,
            sessions: SessionTable(),
            feed: RoomFeed(store: store, logger: Logger(label: "bench")),
            metrics: metrics,
            recent: recent ? .init(historySize: 50) : .none
        )
        room.anchor(with: MessagePage(messages: [], hasMore: false, lastID: 0), after: nil)
        outboxes = (0..<members).map { _ in Outbox(limit: 1 << 40) }
        let welcome = ByteBuffer(string: #"{"type":"welcome"}"#)
        for (index, outbox) in outboxes.enumerated() {
            _ = room.join(ConnectionID(value: UInt64(index)), requestedNick: "m\(index)", session: nil, outbox: outbox)
            outbox.open(with: welcome, coveredID: 0)
        }
        await drain()
    }

    public var memberCount: Int { outboxes.count }

    /// `Room.receive`: encodes the `message` event once, passes it through the room's sequencer and queues
    /// it in every member's outbox. `message` is delivered under the room's next id.
    public func deliver(_ message: ChatMessage) {
        var next = message
        next.id = lastID.wrappingAdd(1, ordering: .relaxed).newValue
        room.receive([next])
    }

    /// `Room.receive` of `count` messages at once, as a commit's run of messages for one room reaches it
    /// (``CommitOutcome/complete(_:metrics:logger:)``); they get the room's next ids.
    public func deliver(run count: Int, of message: ChatMessage) {
        let last = lastID.wrappingAdd(Int64(count), ordering: .relaxed).newValue
        room.receive(
            (0..<Int64(count)).map { offset in
                var next = message
                next.id = last - Int64(count) + 1 + offset
                return next
            }
        )
    }

    /// Takes everything queued from every outbox, as the writer loops would, and returns the number of
    /// frames. Every outbox must hold at least one frame (true after any ``deliver(_:)``); an empty one
    /// would wait for the next frame.
    @discardableResult
    public func drain() async -> Int {
        var frames = 0
        for outbox in outboxes {
            if case .frames(let batch) = await outbox.next() { frames += batch.count }
        }
        return frames
    }
}
