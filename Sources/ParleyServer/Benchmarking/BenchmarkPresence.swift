import Logging
import NIOCore

/// A live ``Room`` whose members' presence waits as it does on a server (their writers registered, a drain
/// asked for later), for timing a burst of joins: each `Room.join` and its `join` frame to every member,
/// then one drain of every member's outbox.
///
/// Micro benchmarks only (see ``BenchmarkHooks``).
@_spi(Benchmarks)
public final class BenchmarkPresence: Sendable {
    private let room: Room
    private let members: [Outbox]
    /// The newcomers' outbox: never read, so it only collects what they are sent.
    private let newcomers = Outbox(limit: 1 << 40)

    /// Joins `members` connections and leaves each with its `welcome` taken and its writer waiting.
    public init(members count: Int) throws {
        let metrics = ParleyMetrics()
        let store = try SQLiteMessageStore(location: .sqliteMemory, metrics: metrics, logger: Logger(label: "bench"))
        room = Room(
            record: RoomRecord(id: 1, code: "bench", name: nil, createdAt: .now()),
            sessions: SessionTable(),
            feed: RoomFeed(store: store, logger: Logger(label: "bench")),
            metrics: metrics
        )
        room.anchor(after: 0)
        members = (0..<count).map { _ in Outbox(limit: 1 << 40) }
        for (index, outbox) in members.enumerated() {
            outbox.setSoon { _ in }
            _ = room.join(ConnectionID(value: UInt64(index)), requestedNick: "m\(index)", session: nil, outbox: outbox)
        }
        newcomers.open(with: ByteBuffer(string: "welcome"), coveredID: 0)
        for outbox in members {
            outbox.open(with: ByteBuffer(string: "welcome"), coveredID: 0)
            _ = take(outbox)
        }
        _ = take(newcomers)
    }

    /// `count` newcomers join, then every member's writer takes what waited for it, as its drain would; the
    /// newcomers then leave without a word, so the next burst starts from the same room. Returns the frames
    /// the members took.
    @discardableResult
    public func burst(_ count: Int) -> Int {
        let first = UInt64(members.count)
        for index in 0..<count {
            _ = room.join(ConnectionID(value: first + UInt64(index)), requestedNick: "n\(index)", session: nil, outbox: newcomers)
        }
        var frames = 0
        for outbox in members {
            frames += take(outbox)
            outbox.soonRan()
        }
        for index in 0..<count { _ = room.leave(ConnectionID(value: first + UInt64(index)), announce: false) }
        _ = take(newcomers)
        return frames
    }

    /// Takes what waits in `outbox` and leaves its writer registered again; returns the frames taken.
    private func take(_ outbox: Outbox) -> Int {
        var frames = 0
        while case .next(.frames(let batch)) = outbox.poll(orWake: {}) { frames += batch.count }
        return frames
    }
}
