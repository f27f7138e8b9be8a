import Foundation
import GRDB
import ParleyProtocol
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

private struct CheckpointBusy: Error {}

/// The SQLite search index's upkeep (``SQLiteSearchIndex``): indexing after the commit, and erasing deleted
/// words from the index's pages, on real database files.
@Suite struct SearchIndexTests {
    let directory: TemporaryDirectory
    let path: String

    init() throws {
        directory = try TemporaryDirectory(prefix: "parley-search-index")
        path = directory.url.appendingPathComponent("search.sqlite").path
    }

    private func store() throws -> SQLiteMessageStore {
        try SQLiteMessageStore(location: .sqliteFile(path), metrics: ParleyMetrics(), logger: .quiet)
    }

    /// Commits one message or change through the store's writer-task path and returns its result.
    private func commit(_ store: SQLiteMessageStore, roomID: Int64, _ text: String, change: MessageChange? = nil) async -> AppendResult? {
        let result = Mutex<AppendResult?>(nil)
        var pending = PendingMessage(roomID: roomID, nick: "alice", text: text, ts: Timestamp(milliseconds: 0), clientID: nil) { outcome in
            result.withLock { $0 = outcome }
        }
        pending.change = change
        pending.author = AuthorKey(value: 7)
        await store.commit([pending])
        return result.withLock { $0 }
    }

    private func post(_ store: SQLiteMessageStore, roomID: Int64, _ text: String) async throws -> Int64 {
        guard case .stored(let message) = await commit(store, roomID: roomID, text) else { throw StorageError.unavailable }
        return message.id
    }

    private func ids(_ store: SQLiteMessageStore, roomID: Int64, _ query: String) async throws -> [Int64] {
        try await store.search(roomID: roomID, query: query, before: nil, limit: 20).messages.map(\.id)
    }

    /// Whether the database file or its log holds `word`, once the log is copied back and emptied.
    private func fileHolds(_ word: String, store: SQLiteMessageStore) async throws -> Bool {
        try await eventually {
            let row = try await store.database.writeWithoutTransaction { db in try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            guard row?[0] as Int? == 0 else { throw CheckpointBusy() }
        }
        return [path, path + "-wal"].contains { path in
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
            return bytes.range(of: Data(word.utf8)) != nil
        }
    }

    /// FTS5 marks a deleted message's words deleted and keeps them in older segments until those are merged:
    /// the merge that follows a deletion or an edit takes them out of the file.
    @Test(.timeLimit(.minutes(1))) func deletedAndEditedWordsLeaveTheFile() async throws {
        let store = try store()
        let room = try await store.openRoom(code: "erase")
        let deleted = try await post(store, roomID: room.id, "the zygomorphic plan")
        let edited = try await post(store, roomID: room.id, "a quixotically long draft")
        for filler in 0..<20 { _ = try await post(store, roomID: room.id, "filler message \(filler) about lunch") }
        await store.searchSettled()
        #expect(try await ids(store, roomID: room.id, "zygomorphic") == [deleted])
        #expect(try await fileHolds("zygomorphic", store: store))
        #expect(try await fileHolds("quixotically", store: store))

        guard case .changed = await commit(store, roomID: room.id, "", change: .delete(id: deleted)) else {
            throw StorageError.unavailable
        }
        let edit = await commit(store, roomID: room.id, "", change: .edit(id: edited, text: "a short draft"))
        guard case .changed = edit else { throw StorageError.unavailable }
        await store.searchSettled()

        #expect(try await ids(store, roomID: room.id, "zygomorphic").isEmpty)
        #expect(try await ids(store, roomID: room.id, "quixotically").isEmpty)
        #expect(try await ids(store, roomID: room.id, "short draft") == [edited])
        #expect(!(try await fileHolds("zygomorphic", store: store)))
        #expect(!(try await fileHolds("quixotically", store: store)))
        #expect(try await fileHolds("lunch", store: store))
    }

    /// A room's deletion erases its words the same way.
    @Test(.timeLimit(.minutes(1))) func aDeletedRoomsWordsLeaveTheFile() async throws {
        let store = try store()
        let room = try await store.openRoom(code: "gone")
        let kept = try await store.openRoom(code: "kept")
        _ = try await post(store, roomID: room.id, "the xenodochial innkeeper")
        _ = try await post(store, roomID: kept.id, "an ordinary day")
        await store.searchSettled()
        #expect(try await fileHolds("xenodochial", store: store))
        try await store.deleteRoom(roomID: room.id)
        await store.searchSettled()
        #expect(!(try await fileHolds("xenodochial", store: store)))
        #expect(try await ids(store, roomID: kept.id, "ordinary") == [1])
    }

    /// Messages the indexer has not reached (left by a previous run here) are found by a search, in their
    /// current text; an edit or a deletion before indexing leaves the index alone.
    @Test(.timeLimit(.minutes(1))) func searchSeesMessagesNotIndexedYet() async throws {
        try SQLiteSchema.migrator.migrate(try DatabaseQueue(path: path))
        let seeded = try DatabaseQueue(path: path)
        try await seeded.write { db in
            try db.execute(sql: "INSERT INTO rooms (id, code, created_at, last_id) VALUES (1, 'behind', 0, 3)")
            for (id, text) in [(1, "original words"), (2, "secret words"), (3, "other words")] {
                try db.execute(
                    sql: "INSERT INTO messages (room_id, id, nick, text, ts) VALUES (1, ?, 'bob', ?, 0)",
                    arguments: [id, text]
                )
            }
            // As a commit's edit and deletion would change them before the indexer comes by.
            try db.execute(sql: "UPDATE messages SET text = 'replaced words', edited_at = 1, rev = 1 WHERE id = 1")
            try db.execute(sql: "UPDATE messages SET text = '', deleted = 1, rev = 2 WHERE id = 2")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM message_search WHERE message_search MATCH 'words'") == 0)
        }
        let store = try store()
        #expect(try await ids(store, roomID: 1, "words") == [3, 1])
        #expect(try await ids(store, roomID: 1, "original").isEmpty)
        #expect(try await ids(store, roomID: 1, "secret").isEmpty)
        #expect(try await ids(store, roomID: 1, "replaced") == [1])
        await store.searchSettled()
        let (indexedID, entries) = try await store.database.read { db in
            (
                try Int64.fetchOne(db, sql: "SELECT indexed_id FROM rooms WHERE id = 1"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM message_search WHERE message_search MATCH 'words'")
            )
        }
        #expect(indexedID == 3 && entries == 2)
        try await store.database.write { db in
            try db.execute(sql: "INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 0)")
        }
    }

    /// A database indexed by v4's insert trigger keeps its index: v8 counts those messages as indexed.
    @Test(.timeLimit(.minutes(1))) func messagesIndexedBeforeV8StayIndexed() async throws {
        let old = try DatabaseQueue(path: path)
        try SQLiteSchema.migrator.migrate(old, upTo: "v7: files and attachments")
        try await old.write { db in
            try db.execute(sql: "INSERT INTO rooms (id, code, created_at, last_id) VALUES (1, 'older', 0, 2)")
            try db.execute(sql: "INSERT INTO messages (room_id, id, nick, text, ts, author) VALUES (1, 1, 'alice', 'kept words', 0, 7)")
            try db.execute(sql: "INSERT INTO messages (room_id, id, nick, text, ts) VALUES (1, 2, 'bob', 'more words', 0)")
        }
        let store = try store()
        let indexedID = try await store.database.read { db in try Int64.fetchOne(db, sql: "SELECT indexed_id FROM rooms WHERE id = 1") }
        #expect(indexedID == 2)
        #expect(try await ids(store, roomID: 1, "words") == [2, 1])
        // Deleted after the upgrade: its words leave the index, as for any indexed message.
        guard case .changed = await commit(store, roomID: 1, "", change: .delete(id: 1)) else { throw StorageError.unavailable }
        #expect(try await ids(store, roomID: 1, "kept").isEmpty)
        #expect(try await ids(store, roomID: 1, "words") == [2])
    }

    /// New messages reach the index without a search asking for them, and a restart picks up where the
    /// position was left.
    @Test(.timeLimit(.minutes(1))) func theIndexerCatchesUpOnItsOwn() async throws {
        let first = try store()
        let room = try await first.openRoom(code: "later")
        for text in ["alpha one", "beta two", "gamma three"] { _ = try await post(first, roomID: room.id, text) }
        await first.searchSettled()
        let indexedID = try await first.database.read { db in
            try Int64.fetchOne(db, sql: "SELECT indexed_id FROM rooms WHERE id = ?", arguments: [room.id])
        }
        #expect(indexedID == 3)
        try await first.database.write { db in
            try db.execute(sql: "UPDATE rooms SET indexed_id = 1 WHERE id = ?", arguments: [room.id])
            try db.execute(sql: "INSERT INTO message_search (message_search) VALUES ('delete-all')")
        }
        let second = try store()
        await second.searchSettled()
        let matches = try await second.database.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM message_search WHERE message_search MATCH 'beta OR gamma OR alpha'")
        }
        #expect(matches == 2)
    }

    /// A step indexes every room that is behind with one statement (FTS5 writes a segment per statement), up to
    /// its budget of messages, skipping deleted ones, and moves each room's position to what it covered.
    @Test(.timeLimit(.minutes(1))) func aStepIndexesTheRoomsBehindInOneStatement() throws {
        let db = try DatabaseQueue(path: path)
        try SQLiteSchema.migrator.migrate(db)
        let statements = Mutex<[String]>([])
        let (indexed, more) = try db.write { db in
            for room in 1...3 {
                try db.execute(sql: "INSERT INTO rooms (id, code, created_at, last_id) VALUES (?, ?, 0, 4)", arguments: [room, "room-\(room)"])
                for id in 1...4 {
                    try db.execute(
                        sql: "INSERT INTO messages (room_id, id, nick, text, ts, deleted) VALUES (?, ?, 'bob', ?, 0, ?)",
                        arguments: [room, id, "word\(room) number\(id)", id == 2 ? 1 : 0]
                    )
                }
            }
            db.trace { event in statements.withLock { $0.append("\(event)") } }
            return try SQLiteSearchIndex.index(db, limit: 10)
        }
        #expect(indexed == 10 && more)
        #expect(statements.withLock { $0 }.filter { $0.hasPrefix("INSERT INTO message_search") }.count == 1)
        func matches(_ query: String) throws -> [Int64] {
            try db.read { db in
                try Int64.fetchAll(db, sql: "SELECT rowid FROM message_search WHERE message_search MATCH ? ORDER BY rowid", arguments: [query])
            }
        }
        func positions() throws -> [Int64] {
            try db.read { db in try Int64.fetchAll(db, sql: "SELECT indexed_id FROM rooms ORDER BY id") }
        }
        let room = Int64(1) << 32
        #expect(try positions() == [4, 4, 2])
        #expect(try matches("word1") == [room + 1, room + 3, room + 4])
        #expect(try matches("word2") == [2 * room + 1, 2 * room + 3, 2 * room + 4])
        #expect(try matches("word3") == [3 * room + 1])
        _ = try db.write { db in try SQLiteSearchIndex.index(db, limit: 10) }
        #expect(try positions() == [4, 4, 4])
        #expect(try matches("word3") == [3 * room + 1, 3 * room + 3, 3 * room + 4])
        try db.write { db in try db.execute(sql: "INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 0)") }
    }

    @Test func stepsWaitForAnIdleWriterAndAFullStepUnlessBehind() {
        func due(idle: Bool, lag: Int, flushing: Bool = false, erasing: Bool = false, commits: Int = 1) -> SQLiteSearchIndex.Step? {
            SQLiteSearchIndex.dueStep(idle: idle, lag: lag, indexing: lag > 0, flushing: flushing, erasing: erasing, commits: commits)
        }
        let step = SQLiteSearchIndex.stepMessages
        #expect(due(idle: true, lag: step) == .index)
        #expect(due(idle: true, lag: step - 1) == nil)  // left for a search's catch-up or the next step
        #expect(due(idle: true, lag: 1, flushing: true) == .index)
        #expect(due(idle: false, lag: step) == nil)
        #expect(due(idle: false, lag: SQLiteSearchIndex.maxLag + 1) == .index)
        #expect(due(idle: true, lag: 0, erasing: true) == .merge)
        #expect(due(idle: true, lag: step, erasing: true) == .index)
        #expect(due(idle: false, lag: 0, erasing: true, commits: 1) == nil)
        #expect(due(idle: false, lag: 0, erasing: true, commits: SQLiteSearchIndex.eraseEvery) == .merge)
    }

    /// Each erasure pass rewrites the whole index, and anyone may delete their own messages: a new pass waits
    /// out the interval since the last one started, while a pass under way goes on to its end.
    @Test func anErasurePassStartsAtMostOncePerInterval() {
        let start = ContinuousClock.now
        let interval = SQLiteSearchIndex.erasePassInterval
        var pass = SQLiteSearchIndex.ErasePass()
        #expect(pass.mayMerge(now: start))
        (pass.running, pass.lastStart) = (true, start)
        #expect(pass.mayMerge(now: start + .seconds(1)))
        pass.running = false
        #expect(!pass.mayMerge(now: start + .seconds(1)))
        #expect(!pass.mayMerge(now: start + interval - .milliseconds(1)))
        #expect(pass.mayMerge(now: start + interval))
        pass.forced = true
        #expect(pass.mayMerge(now: start + .seconds(1)))
        #expect(SQLiteSearchIndex.dueStep(idle: true, lag: 0, indexing: false, flushing: false, erasing: true, commits: 0, mayMerge: false) == nil)
    }
}
