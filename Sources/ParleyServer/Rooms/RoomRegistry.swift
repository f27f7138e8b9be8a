import Synchronization

/// The rooms that have members right now. A room is created by its first member and freed with its
/// last, so idle rooms cost nothing but their stored rows and churn cannot grow the table.
///
/// An open room that never had a message is also forgotten in storage when its last member leaves, so
/// connecting to codes nobody writes in leaves nothing on disk. Opening a code (its storage read or insert)
/// and forgetting it take turns: while one runs, whoever asks for the same code waits, so nobody joins a
/// room whose row is being deleted.
final class RoomRegistry: Sendable {
    private enum Slot {
        case live(Room, references: Int)
        /// Being opened or forgotten: joiners wait for it. `missed`: a commit for the code went by meanwhile.
        case busy(waiters: [CheckedContinuation<Void, Never>], missed: Bool = false)
    }

    /// Deletes a room's row if it is still unused, then calls `done`; false when it cannot run now (the room
    /// then simply stays on disk).
    typealias Forget = @Sendable (RoomRecord, _ done: @escaping @Sendable () -> Void) -> Bool

    private let rooms = Mutex([String: Slot]())
    let sessions = SessionTable()
    let feed: RoomFeed
    private let metrics: ParleyMetrics
    private let forget: Forget?
    /// What each room keeps of its newest messages for `welcome` (``RecentMessages``).
    private let recent: RecentMessages.Bounds

    init(feed: RoomFeed, metrics: ParleyMetrics, forget: Forget? = nil, recent: RecentMessages.Bounds = .none) {
        self.feed = feed
        self.metrics = metrics
        self.forget = forget
        self.recent = recent
    }

    private enum Step {
        case acquired(Room)
        case wait
        case open
    }

    /// The live room with this code, with one more reference; or, when it has none, the room `open` finds
    /// or creates in storage (nil: no such room). Balance with ``release(_:)``.
    func acquire(code: String, open: @Sendable () async throws -> RoomRecord?) async throws -> Room? {
        while true {
            let step: Step = rooms.withLock { rooms in
                switch rooms[code] {
                case .live(let room, let references)?:
                    rooms[code] = .live(room, references: references + 1)
                    return .acquired(room)
                case .busy?:
                    return .wait
                case nil:
                    rooms[code] = .busy(waiters: [])
                    return .open
                }
            }
            switch step {
            case .acquired(let room):
                return room
            case .wait:
                await waitWhileBusy(code)
            case .open:
                let record: RoomRecord?
                do {
                    record = try await open()
                } catch {
                    opened(code: code, record: nil)
                    throw error
                }
                return opened(code: code, record: record)
            }
        }
    }

    /// Makes the caller the opener of `code` when it has no live room and nobody opens or forgets it; then
    /// the caller must end the open with ``opened(code:record:)``. Never waits, so it may run on an event loop.
    func beginOpen(code: String) -> Bool {
        rooms.withLock { rooms in
            guard rooms[code] == nil else { return false }
            rooms[code] = .busy(waiters: [])
            return true
        }
    }

    /// Ends an open (``beginOpen(code:)``, or the one ``acquire(code:open:)`` runs): the room of `record`, live
    /// with the opener's reference, or nil (no record: the code is free again). Whoever waited looks again.
    @discardableResult
    func opened(code: String, record: RoomRecord?) -> Room? {
        guard let record else {
            settle(code, with: nil)
            return nil
        }
        let room = Room(record: record, sessions: sessions, feed: feed, metrics: metrics, recent: recent)
        settle(code, with: room)
        return room
    }

    /// The live room with this code, with one more reference (balance with ``release(_:)``); nil when it has no
    /// members here, or is being opened or forgotten. Never waits, so it may run on an event loop.
    func acquireLive(code: String) -> Room? {
        rooms.withLock { rooms in
            guard case .live(let room, let references)? = rooms[code] else { return nil }
            rooms[code] = .live(room, references: references + 1)
            return room
        }
    }

    /// Drops one reference; the last one frees the room, and forgets an ephemeral one in storage.
    func release(_ room: Room) {
        let (count, forgetting): (Int, Bool) = rooms.withLock { rooms in
            guard case .live(let live, let references)? = rooms[room.code], live === room else { return (rooms.count, false) }
            if references > 1 {
                rooms[room.code] = .live(room, references: references - 1)
                return (rooms.count, false)
            }
            room.released.store(true, ordering: .relaxed)
            if forget != nil, room.record.ephemeral {
                rooms[room.code] = .busy(waiters: [])
                // Still counted until the forget has settled, so the gauge reaching 0 means it is done.
                return (rooms.count, true)
            }
            rooms.removeValue(forKey: room.code)
            return (rooms.count, false)
        }
        metrics.roomsInMemory.record(count)
        guard forgetting, let forget else { return }
        let code = room.code
        if !forget(room.record, { self.settle(code, with: nil) }) {
            settle(code, with: nil)
        }
    }

    /// Takes a deleted room (§12) out of the table at once, so that whoever joins its code now opens a new room
    /// rather than the old one's members and history. Its members, being closed, release it later: their
    /// release finds another room or none under the code, and does nothing.
    func retire(_ room: Room) {
        let count = rooms.withLock { rooms in
            if case .live(let live, _)? = rooms[room.code], live === room {
                room.released.store(true, ordering: .relaxed)
                rooms.removeValue(forKey: room.code)
            }
            return rooms.count
        }
        metrics.roomsInMemory.record(count)
    }

    /// Ends an open or a forget of `code`: the room is live (or gone), and whoever waited looks again.
    private func settle(_ code: String, with room: Room?) {
        let (waiters, count): ([CheckedContinuation<Void, Never>], Int) = rooms.withLock { rooms in
            guard case .busy(let waiters, let missed)? = rooms[code] else { return ([], rooms.count) }
            if let room {
                // What went by is in storage only: the first `welcome` must read it.
                if missed { room.untouched.store(false, ordering: .relaxed) }
                rooms[code] = .live(room, references: 1)
            } else {
                rooms.removeValue(forKey: code)
            }
            return (waiters, rooms.count)
        }
        metrics.roomsInMemory.record(count)
        for waiter in waiters { waiter.resume() }
    }

    private func waitWhileBusy(_ code: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = rooms.withLock { rooms in
                guard case .busy(var waiters, let missed)? = rooms[code] else { return true }
                // Out of the table first, so that the append does not copy the array.
                rooms[code] = nil
                waiters.append(continuation)
                rooms[code] = .busy(waiters: waiters, missed: missed)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// The live room with this code, for a commit made in it; while the code is being opened, notes that the
    /// commit went by (see ``Room/untouched``).
    func receiving(code: String) -> Room? {
        rooms.withLock { rooms in
            switch rooms[code] {
            case .live(let room, _)?:
                return room
            case .busy(let waiters, _)?:
                rooms[code] = .busy(waiters: waiters, missed: true)
                return nil
            case nil:
                return nil
            }
        }
    }

    /// How many wait for `code` to be opened or forgotten (for tests).
    func waiters(code: String) -> Int {
        rooms.withLock { rooms in
            guard case .busy(let waiters, _)? = rooms[code] else { return 0 }
            return waiters.count
        }
    }

    /// The live room with this code, if it has members.
    func room(code: String) -> Room? {
        rooms.withLock { rooms in
            guard case .live(let room, _)? = rooms[code] else { return nil }
            return room
        }
    }

    /// Every live room.
    var all: [Room] {
        rooms.withLock { rooms in
            rooms.values.compactMap { slot in
                guard case .live(let room, _) = slot else { return nil }
                return room
            }
        }
    }
}
