import GRDB
import Synchronization

/// The full-text index's upkeep, off the group commit's path: indexing new messages, and erasing the words of
/// deleted and edited ones.
///
/// **Indexing.** A commit stores messages only; `rooms.indexed_id` says up to which id a room's messages are in
/// the index (kept in the same database, so a restart resumes where it stopped). Steps of ``stepMessages``
/// messages run on the writer thread between commits (``SQLiteWriter``): when it has no commit waiting and at
/// least that many messages wait, and after every commit while more than ``maxLag`` wait, so the lag stays
/// bounded under a load that never leaves the writer idle. A search first indexes its own room up to what was
/// committed when it began (``SQLiteMessageStore/catchUp(roomID:)``), so it sees every such message. Edits and
/// deletions of a message not indexed yet leave the index alone (the update trigger looks at `indexed_id`);
/// the step indexes the current text, and skips deleted messages.
///
/// **Erasure.** FTS5 takes a message out by adding a deletion marker; its words stay in the older segment until
/// that segment is merged with the marker's. SQLite 3.40 has no `secure-delete` option for FTS5, so after a
/// deletion, an edit or a room's deletion the index is merged into one segment, ``mergePages`` pages of output
/// a step (`'merge', -N`), until a step does no work; with `PRAGMA secure_delete` the pages freed are zeroed.
/// The merge rewrites the whole index once per pass, so passes are paced like indexing, and a new pass starts at
/// most once every ``erasePassInterval``: anyone may delete their own messages, and a deletion every second must
/// not keep the writer rewriting the index. A deleted message's words are out of the pages within about that
/// interval plus one pass.
///
/// Background steps commit with `synchronous = NORMAL`: they save no sync, and a step lost to a power cut is
/// done again (the position is in the same transaction; erasure is redone at every start).
final class SQLiteSearchIndex: Sendable {
    /// Messages indexed per step, and the fewest an idle writer indexes: FTS5 costs less a message in larger
    /// transactions, and a commit waits at most one step (several milliseconds).
    static let stepMessages = 1024
    /// Past this many messages waiting, a step follows every commit.
    static let maxLag = 16_384
    /// Rows of `rooms` read per step (each a range of one room's messages, all indexed by one statement).
    static let stepRooms = 256
    /// Pages the merge writes per step.
    static let mergePages = 64
    /// While an erasure waits on a busy writer, a merge step follows every this many commits.
    static let eraseEvery = 8
    /// A search catches its room up in steps of this many messages, so commits go on in between.
    static let catchUpMessages = 2048
    /// The least time from the start of one erasure pass to the start of the next.
    static let erasePassInterval = Duration.seconds(60)

    /// Commits that stored messages since a step last found nothing to index (at start: resume).
    private let indexRequests = Atomic(1)
    /// Deletions, edits and room deletions since the merge last found nothing to do (at start: redo).
    private let eraseRequests = Atomic(1)
    /// Messages committed and not indexed yet, as counted from commits (started from the database).
    private let lag = Atomic(0)
    /// A flush was asked for (``flush()``): index what waits even if it is less than a step.
    private let flushing = Atomic(false)
    /// Commits counted for the pacing of erasure on a busy writer.
    private let busyCommits = Atomic(0)
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let erasePass = Mutex(ErasePass())

    /// When erasure passes ran: merge steps continue a pass under way, and a new one waits out the interval.
    struct ErasePass {
        var running = false
        var lastStart: ContinuousClock.Instant?
        /// ``flush()`` asked for the erasure now (tests and benchmarks).
        var forced = false

        func mayMerge(now: ContinuousClock.Instant) -> Bool {
            guard !running, !forced, let lastStart else { return true }
            return now - lastStart >= SQLiteSearchIndex.erasePassInterval
        }
    }
    /// The `synchronous` setting commits use, restored after a background step.
    private let synchronous: SQLiteSynchronous

    init(synchronous: SQLiteSynchronous) {
        self.synchronous = synchronous
    }

    /// Reads how far the index is behind (after a restart).
    func start(_ db: Database) throws {
        let behind = try Int.fetchOne(
            db,
            sql: "SELECT coalesce(sum(last_id - indexed_id), 0) FROM rooms WHERE last_id > indexed_id AND id < 2147483648"
        )
        lag.store(behind ?? 0, ordering: .relaxed)
    }

    /// Called in the writer's turn after each commit, with its results.
    func committed(_ batch: [PendingMessage], _ results: [AppendResult]) {
        var stored = 0
        var changedText = false
        for (pending, result) in zip(batch, results) {
            switch result {
            case .stored: stored += 1
            case .changed:
                switch pending.change {
                case .edit, .delete: changedText = true
                default: break
                }
            default: break
            }
        }
        if stored > 0 {
            lag.add(stored, ordering: .relaxed)
            indexRequests.add(1, ordering: .relaxed)
        }
        if changedText { eraseRequests.add(1, ordering: .relaxed) }
    }

    /// A room's deletion left deletion markers behind.
    func roomDeleted() {
        eraseRequests.add(1, ordering: .relaxed)
    }

    var hasWork: Bool {
        indexRequests.load(ordering: .relaxed) > 0 || eraseRequests.load(ordering: .relaxed) > 0
    }

    /// Which step runs now, if any. On an idle writer: indexing once ``stepMessages`` messages wait (or when
    /// a flush was asked for), else a merge step while an erasure waits. After a commit: indexing while more
    /// than ``maxLag`` wait, and a merge step every ``eraseEvery`` commits while an erasure waits, so neither
    /// waits for an idle moment that a steady load never leaves.
    static func dueStep(idle: Bool, lag: Int, indexing: Bool, flushing: Bool, erasing: Bool, commits: Int, mayMerge: Bool = true) -> Step? {
        if indexing, lag > maxLag || (idle && (lag >= stepMessages || flushing)) { return .index }
        if erasing, mayMerge, idle || commits % eraseEvery == 0 { return .merge }
        return nil
    }

    enum Step: Equatable {
        case index
        case merge
    }

    /// The step due now, with the requests it answers; nil when none is (checked before the writer's connection
    /// is taken, so a commit after which nothing is due costs a few atomic loads).
    func due(idle: Bool, now: ContinuousClock.Instant = .now) -> Due? {
        let indexing = indexRequests.load(ordering: .relaxed)
        let erasing = eraseRequests.load(ordering: .relaxed)
        guard indexing > 0 || erasing > 0 else { return nil }
        let commits = idle ? 0 : busyCommits.add(1, ordering: .relaxed).newValue
        let step = Self.dueStep(
            idle: idle,
            lag: lag.load(ordering: .relaxed),
            indexing: indexing > 0,
            flushing: flushing.load(ordering: .relaxed),
            erasing: erasing > 0,
            commits: commits,
            mayMerge: erasing > 0 && erasePass.withLock { $0.mayMerge(now: now) }
        )
        return step.map { Due(step: $0, idle: idle, indexing: indexing, erasing: erasing) }
    }

    struct Due {
        let step: Step
        let idle: Bool
        let indexing: Int
        let erasing: Int
    }

    /// Runs a step (``due(idle:)``) on the writer's connection, outside any transaction; after a commit,
    /// indexing steps until the lag is back under ``maxLag``. Returns false when it failed (the idle writer then
    /// stops asking until the next commit).
    func run(_ due: Due, _ db: Database) -> Bool {
        do {
            switch due.step {
            case .index:
                var more = true
                repeat {
                    more = try indexStep(db).more
                } while more && !due.idle && lag.load(ordering: .relaxed) > Self.maxLag
                if !more, indexRequests.compareExchange(expected: due.indexing, desired: 0, ordering: .relaxed).exchanged {
                    // Rooms from 2^31 on are counted by commits but never indexed.
                    lag.store(0, ordering: .relaxed)
                    flushing.store(false, ordering: .relaxed)
                }
            case .merge:
                erasePass.withLock { pass in
                    if !pass.running { (pass.running, pass.lastStart, pass.forced) = (true, .now, false) }
                }
                if !(try background(db) { try Self.merge(db) }) {
                    erasePass.withLock { $0.running = false }
                    eraseRequests.compareExchange(expected: due.erasing, desired: 0, ordering: .relaxed)
                }
            }
        } catch {
            // Left for the next step (the database may be busy or full for a moment); the requests stay.
            return false
        }
        if !hasWork { settle() }
        return true
    }

    /// One indexing step in a transaction of its own; returns how many ids it covered and whether more wait.
    func indexStep(_ db: Database) throws -> (indexed: Int, more: Bool) {
        let step = try background(db) { try Self.index(db, limit: Self.stepMessages) }
        lag.subtract(min(step.indexed, lag.load(ordering: .relaxed)), ordering: .relaxed)
        return step
    }

    /// Asks the idle writer to index what waits even if it is less than a step, and to erase now.
    func flush() {
        if indexRequests.load(ordering: .relaxed) > 0 { flushing.store(true, ordering: .relaxed) }
        if eraseRequests.load(ordering: .relaxed) > 0 { erasePass.withLock { $0.forced = true } }
    }

    /// Returns once the index holds every message committed before and no deleted or replaced words are left
    /// in it (for tests and benchmarks).
    func settled() async {
        await withCheckedContinuation { continuation in
            let now = waiters.withLock { waiters in
                if !hasWork { return true }
                waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func settle() {
        let ready = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in ready { waiter.resume() }
    }

    /// Runs `body` in a transaction committed without a sync.
    private func background<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.withoutSync(if: synchronous == .full) {
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body()
                return .commit
            }
            return result!
        }
    }

    /// Indexes up to `limit` messages of the rooms that are behind, oldest first in each room. Returns how many
    /// ids it covered and whether more are waiting.
    static func index(_ db: Database, limit: Int) throws -> (indexed: Int, more: Bool) {
        let rooms = try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT id, indexed_id, last_id FROM rooms WHERE last_id > indexed_id AND id < 2147483648 ORDER BY id LIMIT ?"
            ),
            arguments: [stepRooms]
        )
        var budget = limit
        var ranges: [RoomSpan] = []
        for room in rooms {
            guard budget > 0 else { break }
            let (roomID, indexedID, lastID): (Int64, Int64, Int64) = (room[0], room[1], room[2])
            let range = RoomSpan(roomID: roomID, after: indexedID, through: min(lastID, indexedID + Int64(budget)))
            ranges.append(range)
            budget -= range.count
        }
        try index(db, ranges)
        return (limit - budget, budget <= 0 || rooms.count == stepRooms)
    }

    /// One room's messages to index: ids after `after` through `through`.
    struct RoomSpan {
        var roomID: Int64
        var after: Int64
        var through: Int64

        var count: Int { Int(through - after) }
    }

    /// Indexes the ranges (in increasing room id) in one statement, and moves each room's position. FTS5 writes
    /// what it gathered to a segment of its own at the end of every statement of a transaction (and whenever a
    /// rowid is smaller than the one before): one statement per room made a step of ten messages in each of 32
    /// rooms 32 small segments, each to be merged again later.
    static func index(_ db: Database, _ ranges: [RoomSpan]) throws {
        guard !ranges.isEmpty else { return }
        let list = ranges.map { "[\($0.roomID),\($0.after),\($0.through)]" }.joined(separator: ",")
        // CROSS JOIN keeps the list outside, so the rows come in the list's order and each room's in id order:
        // their rowids increase throughout.
        try db.cachedStatement(
            sql: """
                INSERT INTO message_search (rowid, text)
                    SELECT m.room_id * 4294967296 + m.id, m.text
                    FROM json_each(?) AS r CROSS JOIN messages AS m
                        ON m.room_id = r.value ->> 0 AND m.id > r.value ->> 1 AND m.id <= r.value ->> 2
                    WHERE m.deleted = 0
                """
        ).execute(arguments: ["[\(list)]"])
        let position = try db.cachedStatement(sql: "UPDATE rooms SET indexed_id = ? WHERE id = ?")
        for range in ranges { try position.execute(arguments: [range.through, range.roomID]) }
    }

    /// One merge step. Returns whether it did any work (FTS5 writes at least two rows when it does).
    static func merge(_ db: Database) throws -> Bool {
        let before = db.totalChangesCount
        try db.cachedStatement(sql: "INSERT INTO message_search (message_search, rank) VALUES ('merge', ?)").execute(arguments: [-mergePages])
        return db.totalChangesCount - before >= 2
    }

    /// Indexes a room's messages up to `through` (a search's catch-up), at most `limit` of them. Returns whether
    /// more are left.
    func catchUp(_ db: Database, roomID: Int64, through: Int64, limit: Int) throws -> Bool {
        try background(db) {
            guard let indexedID = try Int64.fetchOne(db, sql: "SELECT indexed_id FROM rooms WHERE id = ?", arguments: [roomID]),
                indexedID < through
            else { return false }
            let range = RoomSpan(roomID: roomID, after: indexedID, through: min(through, indexedID + Int64(limit)))
            try Self.index(db, [range])
            lag.subtract(min(range.count, lag.load(ordering: .relaxed)), ordering: .relaxed)
            return range.through < through
        }
    }
}
