import GRDB
import GRDBSQLite
import Logging
import ParleyProtocol
import ServiceLifecycle
import Synchronization

/// SQLite history (WAL mode). Messages are group-committed: what the event loops read in one pass each is
/// handed to one writer thread (``LoopCommitter``, ``SQLiteWriter``), and what is offered elsewhere (HTTP
/// posts, a full backlog) goes through a writer task.
///
/// `synchronous=FULL` (the default) syncs the log on every commit, so a commit survives a power cut and a
/// delivered id is never reused; `NORMAL` survives `kill -9` of the process only. Completions run only after
/// the commit, so nothing is delivered before it is durable.
public final class SQLiteMessageStore: MessageStore, Service {
    let database: any DatabaseWriter
    /// Messages that may wait for the writer thread, and in the writer task's queue.
    static let backlog = 16_384
    let queue = CommitQueue<PendingMessage>(capacity: backlog)
    let metrics: ParleyMetrics
    let logger: Logger
    static let maxBatch = 4096
    /// Nil for an in-memory database, which has no log.
    private let checkpointer: WALCheckpointer?
    /// Set once the writer has stopped (graceful shutdown): event loops stop committing too.
    private let stopped = Atomic(false)
    private let committers: LoopCommitters
    private let writer: SQLiteWriter
    private let health: StorageHealth

    /// Opens (creating if needed) and migrates the database.
    public init(
        location: DatabaseLocation,
        synchronous: SQLiteSynchronous = .full,
        metrics: ParleyMetrics,
        logger: Logger
    ) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.pragma)")
            // Only a backstop: ``WALCheckpointer`` keeps the log well below this.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(2 * WALCheckpointer.defaultRestartPages)")
            // When the log starts over, a file that grew past this (the backstop) is cut back to it.
            try db.execute(sql: "PRAGMA journal_size_limit = \(WALCheckpointer.defaultRestartPages * 4096)")
        }
        // A lock held elsewhere (another process, a backup) fails the call after the contract's deadline.
        configuration.busyMode = .timeout(StorageDeadline.call.timeInterval)
        switch location {
        case .sqliteFile(let path):
            self.database = try DatabasePool(path: path, configuration: configuration)
            self.checkpointer = WALCheckpointer(
                connection: try DatabaseQueue(path: path, configuration: configuration),
                logger: logger
            )
        case .sqliteMemory:
            self.database = try DatabaseQueue(configuration: configuration)
            self.checkpointer = nil
        case .postgres:
            throw StorageError.unsupported("postgres:// is served by PostgresMessageStore")
        }
        self.metrics = metrics
        self.logger = logger
        let database = self.database
        let checkpointer = self.checkpointer
        let health = StorageHealth(gauge: metrics.storageHealthy)
        self.health = health
        let writer = SQLiteWriter(maxBatch: Self.maxBatch, capacity: Self.backlog) { batch in
            Self.commitHere(batch, database: database, health: health, metrics: metrics, logger: logger)
            checkpointer?.restartIfDueHere(database)
        }
        self.writer = writer
        self.committers = LoopCommitters(maxBatch: Self.maxBatch) { batch, _ in writer.enqueue(batch) }
        try SQLiteSchema.migrator.migrate(database)
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            if let checkpointer {
                group.addTask { await checkpointer.run() }
            }
            // Messages offered off an event loop (HTTP posts); after graceful shutdown what is queued is still
            // written.
            await withGracefulShutdownHandler {
                while let batch = await queue.popBatch(max: Self.maxBatch) {
                    await commit(batch)
                    await checkpointer?.restartIfDue(database)
                }
            } onGracefulShutdown: { [queue] in
                queue.finish()
            }
            stopped.store(true, ordering: .relaxed)
            await writer.shutdown()
            group.cancelAll()
        }
    }

    /// On an event loop, the message joins that loop's next hand-over to the writer thread
    /// (``LoopCommitter``), even while the thread's backlog is full (the sender then waits for room, see
    /// ``isBacklogged``): one way in keeps a connection's messages in the order it sent them. Elsewhere (HTTP
    /// posts) it goes to the writer task's queue. Once the store has stopped, both refuse.
    public func offer(_ message: PendingMessage) -> Bool {
        guard !stopped.load(ordering: .relaxed), let committer = committers.current() else {
            return queue.offer(message)
        }
        committer.add(message)
        return true
    }

    public var isBacklogged: Bool { !writer.hasRoom }

    public func waitForRoom() async {
        await writer.waitForRoom()
    }

    public func append(_ message: PendingMessage) async throws {
        try await queue.append(message)
    }

    /// Stores one batch in one transaction and runs its completions, from the writer task (or a benchmark).
    func commit(_ batch: [PendingMessage]) async {
        let start = ContinuousClock.now
        let (health, metrics, logger) = (self.health, self.metrics, self.logger)
        do {
            try await database.writeWithoutTransaction { db in
                Self.commit(batch, in: db, since: start, health: health, metrics: metrics, logger: logger)
            }
        } catch {
            // The connection was never reached, so nothing ran.
            health.written(false)
            CommitOutcome.failed(error).complete(batch, metrics: metrics, logger: logger)
        }
    }

    /// ``commit(_:)`` on the calling thread: the writer thread's (see ``SQLiteWriter``).
    private static func commitHere(
        _ batch: [PendingMessage],
        database: any DatabaseWriter,
        health: StorageHealth,
        metrics: ParleyMetrics,
        logger: Logger
    ) {
        let start = ContinuousClock.now
        database.writeWithoutTransaction { db in
            commit(batch, in: db, since: start, health: health, metrics: metrics, logger: logger)
        }
    }

    /// Stores one batch in one transaction, then runs its completions before the writer connection is let go.
    /// Whichever committed (the writer thread or the writer task), the next commit waits, so
    /// every room gets its ids in increasing order; otherwise its ``RoomSequencer`` would take a later id for
    /// a gap and read storage to fill it.
    private static func commit(
        _ batch: [PendingMessage],
        in db: Database,
        since start: ContinuousClock.Instant,
        health: StorageHealth,
        metrics: ParleyMetrics,
        logger: Logger
    ) {
        let outcome: CommitOutcome
        do {
            // Cached statements: GRDB's `inTransaction` parses BEGIN and COMMIT anew on every call, which was
            // most of the allocations a small commit made.
            try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
            let results = try insert(batch, in: db)
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            outcome = .committed(results, since: start)
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
            outcome = .failed(error)
        }
        health.written(outcome.isCommitted)
        outcome.complete(batch, metrics: metrics, logger: logger)
    }

    /// The body of every group commit: ids from `rooms.last_id`; a resend of a stored `client_id` with the
    /// same text answered with the original, with other text refused (nobody can take over another client's
    /// ids); a message for a room that was forgotten meanwhile refused.
    private static func insert(_ batch: [PendingMessage], in db: Database) throws -> [AppendResult] {
        var lastIDs: [Int64: Int64] = [:]
        var results: [AppendResult] = []
        results.reserveCapacity(batch.count)
        let insert = try db.cachedStatement(
            sql: "INSERT INTO messages (room_id, id, nick, text, ts, client_id) VALUES (?, ?, ?, ?, ?, ?)"
        )
        for pending in batch {
            if let clientID = pending.clientID, let original = try Self.message(db, roomID: pending.roomID, clientID: clientID) {
                results.append(original.text == pending.text ? .duplicate(original) : .conflict(original))
                continue
            }
            guard let previous = try lastIDs[pending.roomID] ?? Self.existingLastID(db, roomID: pending.roomID) else {
                results.append(.noRoom)
                continue
            }
            let id = previous + 1
            try Self.insert(pending, id: id, with: insert, in: db)
            lastIDs[pending.roomID] = id
            results.append(.stored(ChatMessage(id: id, nick: pending.nick, text: pending.text, ts: pending.ts, clientID: pending.clientID)))
        }
        // A room with a message is kept for good: the next time it is opened it is no longer ephemeral.
        let update = try db.cachedStatement(sql: "UPDATE rooms SET last_id = ?, ephemeral = 0 WHERE id = ?")
        for (roomID, lastID) in lastIDs {
            let handle = update.sqliteStatement
            defer { sqlite3_reset(handle) }
            sqlite3_bind_int64(handle, 1, lastID)
            sqlite3_bind_int64(handle, 2, roomID)
            try step(update, in: db)
        }
        return results
    }

    public func room(code: String) async throws -> RoomRecord? {
        try await database.read { db in try Self.room(db, code: code) }
    }

    /// A room made here is `ephemeral` until its first message: ``forgetRoom(_:)`` deletes it again.
    public func openRoom(code: String) async throws -> RoomRecord {
        if let existing = try await room(code: code) { return existing }
        defer { checkpointer?.committed() }
        return try await database.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO rooms (id, code, name, created_at, last_id, ephemeral) VALUES (\(Self.nextRoomID), ?, NULL, ?, 0, 1)",
                arguments: [code, Timestamp.now().milliseconds]
            )
            guard let record = try Self.room(db, code: code) else { throw StorageError.unavailable }
            return record
        }
    }

    public func createRoom(code: String, name: String?) async throws -> RoomRecord {
        defer { checkpointer?.committed() }
        return try await database.write { db in
            try db.execute(
                sql: "INSERT INTO rooms (id, code, name, created_at, last_id) VALUES (\(Self.nextRoomID), ?, ?, ?, 0)",
                arguments: [code, name, Timestamp.now().milliseconds]
            )
            guard let record = try Self.room(db, code: code) else { throw StorageError.unavailable }
            return record
        }
    }

    /// Above every id a room ever had, forgotten ones included: SQLite would otherwise give the next room the
    /// id of a forgotten one that had the largest, and a request still holding that id would reach the new room.
    private static let nextRoomID =
        "(SELECT max(coalesce((SELECT max(id) FROM rooms), 0), (SELECT forgotten FROM parley_room_ids WHERE only = 1)) + 1)"

    /// Deletes an open room in which no message was ever stored. The caller (``RoomRegistry``) has made sure
    /// it has no members and that nobody is joining it; the `WHERE` keeps a message that got in first.
    public func forgetRoom(_ room: RoomRecord) async {
        guard room.ephemeral else { return }
        do {
            try await database.write { db in
                try db.execute(sql: "DELETE FROM rooms WHERE id = ? AND ephemeral = 1 AND last_id = 0", arguments: [room.id])
                guard db.changesCount > 0 else { return }
                try db.execute(sql: "UPDATE parley_room_ids SET forgotten = max(forgotten, ?) WHERE only = 1", arguments: [room.id])
            }
            checkpointer?.committed()
        } catch {
            // It stays on disk, as any used room does; the next leave tries again.
            logger.debug("could not forget room", metadata: ["room": "\(room.code)", "error": "\(error)"])
        }
    }

    public func lastID(roomID: Int64) async throws -> Int64 {
        try await database.read { db in try Self.lastID(db, roomID: roomID) }
    }

    public func messages(roomID: Int64, after: Int64?, before: Int64?, limit: Int, newest: Bool) async throws -> MessagePage {
        try await database.read { db in
            let order = newest ? "DESC" : "ASC"
            var rows = try Self.messages(
                db,
                sql: "WHERE room_id = ? AND id > ? AND id < ? ORDER BY id \(order) LIMIT ?",
                arguments: [roomID, after ?? 0, before ?? Int64.max, limit + 1]
            )
            let hasMore = rows.count > limit
            if hasMore { rows.removeLast() }
            if newest { rows.reverse() }
            return MessagePage(messages: rows, hasMore: hasMore, lastID: try Self.lastID(db, roomID: roomID))
        }
    }

    public func message(roomID: Int64, clientID: String) async throws -> ChatMessage? {
        try await database.read { db in try Self.message(db, roomID: roomID, clientID: clientID) }
    }

    /// Reads, and writes a probe row (at most once a second, and not while commits succeed): a full disk or a
    /// lost file fails the write even when reads still work. While commits fail it is false; the probe notices
    /// when storage is back.
    public func isHealthy() async -> Bool {
        guard (try? await database.read({ db in try Int.fetchOne(db, sql: "SELECT 1") })) == 1 else { return false }
        guard health.claimProbe(now: .now) else { return health.isWriting }
        do {
            try await database.write { db in
                // Larger than a failed commit's leftover: it leaves its log pages allocated, and a tiny probe would
                // fit in them while messages still fail.
                try db.execute(
                    sql: "INSERT OR REPLACE INTO parley_health (only, checked_at, room) VALUES (1, ?, zeroblob(?))",
                    arguments: [Timestamp.now().milliseconds, StorageHealth.probeBytes]
                )
            }
            health.written(true)
        } catch {
            logger.warning("storage health probe failed", metadata: ["error": "\(error)"])
            health.written(false)
        }
        return health.isWriting
    }

    /// Runs the cached `INSERT INTO messages` for one message, binding its values straight to SQLite.
    /// GRDB's `execute(arguments:)` boxes every value into a `StatementArguments`; in a profile of durable
    /// stores that took three times as long as SQLite's own work on the row.
    private static func insert(_ message: PendingMessage, id: Int64, with statement: Statement, in db: Database) throws {
        let handle = statement.sqliteStatement
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        sqlite3_bind_int64(handle, 1, message.roomID)
        sqlite3_bind_int64(handle, 2, id)
        bindText(message.nick, at: 3, handle)
        bindText(message.text, at: 4, handle)
        sqlite3_bind_int64(handle, 5, message.ts.milliseconds)
        if let clientID = message.clientID {
            bindText(clientID, at: 6, handle)
        } else {
            sqlite3_bind_null(handle, 6)
        }
        try step(statement, in: db)
    }

    /// Steps a statement whose arguments were bound directly (GRDB's argument arrays allocate on every
    /// call): `SQLITE_ROW` or `SQLITE_DONE`, or throws. This bypasses GRDB's statement bookkeeping, which
    /// only matters to transaction observers; the store registers none.
    @discardableResult
    private static func step(_ statement: Statement, in db: Database) throws -> Int32 {
        let code = sqlite3_step(statement.sqliteStatement)
        guard code == SQLITE_ROW || code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
        }
        return code
    }

    /// Binds a copy of the string's UTF-8 (text and nicks never hold NUL; they are validated first).
    private static func bindText(_ text: String, at index: Int32, _ handle: SQLiteStatement) {
        var text = text
        text.withUTF8 { utf8 in
            _ = sqlite3_bind_text(handle, index, utf8.baseAddress, Int32(utf8.count), sqliteTransient)
        }
    }

    private static let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    // MARK: statements shared by reads and the writer

    static func room(_ db: Database, code: String) throws -> RoomRecord? {
        let sql = "SELECT id, code, name, created_at, ephemeral FROM rooms WHERE code = ?"
        guard let row = try Row.fetchOne(db, sql: sql, arguments: [code]) else { return nil }
        return RoomRecord(
            id: row["id"],
            code: row["code"],
            name: row["name"],
            createdAt: Timestamp(milliseconds: row["created_at"]),
            ephemeral: row["ephemeral"]
        )
    }

    static func lastID(_ db: Database, roomID: Int64) throws -> Int64 {
        try existingLastID(db, roomID: roomID) ?? 0
    }

    /// The room's newest id, or nil when the room does not exist.
    static func existingLastID(_ db: Database, roomID: Int64) throws -> Int64? {
        // Cached: the writer asks once per room in every batch, and parsing the SQL showed in its profile.
        let statement = try db.cachedStatement(sql: "SELECT last_id FROM rooms WHERE id = ?")
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        sqlite3_bind_int64(handle, 1, roomID)
        guard try step(statement, in: db) == SQLITE_ROW else { return nil }
        return sqlite3_column_int64(handle, 0)
    }

    static func message(_ db: Database, roomID: Int64, clientID: String) throws -> ChatMessage? {
        try messages(db, sql: "WHERE room_id = ? AND client_id = ?", arguments: [roomID, clientID]).first
    }

    static func messages(_ db: Database, sql: String, arguments: StatementArguments) throws -> [ChatMessage] {
        let statement = try db.cachedStatement(sql: "SELECT id, nick, text, ts, client_id FROM messages " + sql)
        return try Row.fetchAll(statement, arguments: arguments).map { row in
            ChatMessage(id: row[0], nick: row[1], text: row[2], ts: Timestamp(milliseconds: row[3]), clientID: row[4])
        }
    }
}

/// Storage failures as connections and routes see them.
public enum StorageError: Error, CustomStringConvertible {
    case unavailable
    case unsupported(String)

    public var description: String {
        switch self {
        case .unavailable: "storage is unavailable"
        case .unsupported(let reason): reason
        }
    }
}
