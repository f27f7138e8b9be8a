import NIOCore
import ParleyProtocol

/// A live ``Room`` whose members are open ``Outbox``es with no sockets behind them, for timing `Room.deliver`.
///
/// Micro benchmarks only (see ``BenchmarkHooks``). Outboxes have no byte limit, so nothing is cut off as
/// slow; ``drain()`` empties them the way each connection's writer loop does.
@_spi(Benchmarks)
public final class BenchmarkRoom: Sendable {
    private let room: Room
    private let outboxes: [Outbox]

    /// Joins `members` connections (nicks `m0`, `m1`, …) and opens their outboxes, all empty on return.
    public init(members: Int) async {
        let record = RoomRecord(id: 1, code: "bench", name: nil, createdAt: .now())
        room = Room(record: record, sessions: SessionTable(), metrics: ParleyMetrics())
        outboxes = (0..<members).map { _ in Outbox(limit: 1 << 40) }
        let welcome = ByteBuffer(string: #"{"type":"welcome"}"#)
        for (index, outbox) in outboxes.enumerated() {
            _ = room.join(ConnectionID(value: UInt64(index)), requestedNick: "m\(index)", session: nil, outbox: outbox)
            outbox.open(with: welcome, coveredID: 0)
        }
        await drain()
    }

    public var memberCount: Int { outboxes.count }

    /// `Room.deliver`: encodes the `message` event once and queues it in every member's outbox.
    public func deliver(_ message: ChatMessage) {
        room.deliver(message)
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
