import Synchronization

/// The rooms that have members right now. A room is created by its first member and freed with its
/// last, so idle rooms cost nothing but their stored rows and churn cannot grow the table.
final class RoomRegistry: Sendable {
    private struct Entry {
        var room: Room
        var references: Int
    }

    private let rooms = Mutex([String: Entry]())
    let sessions = SessionTable()
    let feed: RoomFeed
    private let metrics: ParleyMetrics

    init(feed: RoomFeed, metrics: ParleyMetrics) {
        self.feed = feed
        self.metrics = metrics
    }

    /// The live room for `record`, created if needed. Balance with ``release(_:)``.
    func acquire(_ record: RoomRecord) -> Room {
        let (room, count) = rooms.withLock { rooms in
            if var entry = rooms[record.code] {
                entry.references += 1
                rooms[record.code] = entry
                return (entry.room, rooms.count)
            }
            let room = Room(record: record, sessions: sessions, feed: feed, metrics: metrics)
            rooms[record.code] = Entry(room: room, references: 1)
            return (room, rooms.count)
        }
        metrics.roomsInMemory.record(count)
        return room
    }

    /// Drops one reference; the last one frees the room.
    func release(_ room: Room) {
        let count = rooms.withLock { rooms in
            guard var entry = rooms[room.code], entry.room === room else { return rooms.count }
            entry.references -= 1
            if entry.references == 0 {
                rooms.removeValue(forKey: room.code)
                room.released.store(true, ordering: .relaxed)
            } else {
                rooms[room.code] = entry
            }
            return rooms.count
        }
        metrics.roomsInMemory.record(count)
    }

    /// The live room with this code, if it has members.
    func room(code: String) -> Room? {
        rooms.withLock { $0[code]?.room }
    }

    /// Every live room.
    var all: [Room] {
        rooms.withLock { $0.values.map(\.room) }
    }
}
