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
/// the commit, so nothing is delivered before it is durable. A commit that holds no message (only rooms opened
/// or forgotten and sessions saved by joins) is not synced even under `FULL`: see ``commit(_:opening:in:since:_:)``.
public final class SQLiteMessageStore: MessageStore, Service {
    let database: any DatabaseWriter
    /// Messages that may wait for the writer thread, and in the writer task's queue.
    static let backlog = 16_384
    let queue = CommitQueue<PendingMessage>(capacity: backlog)
    let metrics: ParleyMetrics
    let logger: Logger
    static let maxBatch = 4096
    /// Nil for an in-memory database, which has no log.
    let checkpointer: WALCheckpointer?
    /// Set once the writer has stopped (graceful shutdown): event loops stop committing too.
    private let stopped = Atomic(false)
    private let committers: LoopCommitters
    let writer: SQLiteWriter
    private let health: StorageHealth
    /// What every commit uses besides its batch, from the writer thread or the writer task.
    private let committing: Committing
    /// The full-text index's upkeep, run by the writer thread between commits.
    let searchIndex: SQLiteSearchIndex

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
            // A deleted message's text (§11) is overwritten where it was, not left in the page's free space. Many
            // builds of SQLite (Debian's among them) default to this; others do not.
            try db.execute(sql: "PRAGMA secure_delete = ON")
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
        let searchIndex = SQLiteSearchIndex(synchronous: synchronous)
        self.searchIndex = searchIndex
        let committing = Committing(synchronous: synchronous, health: health, searchIndex: searchIndex, metrics: metrics, logger: logger)
        self.committing = committing
        let writer = SQLiteWriter(
            maxBatch: Self.maxBatch,
            capacity: Self.backlog,
            commit: { batch, rooms in
                let start = ContinuousClock.now
                database.writeWithoutTransaction { db in Self.commit(batch, opening: rooms, in: db, since: start, committing) }
                checkpointer?.restartIfDueHere(database)
            },
            background: { idle in
                guard let due = searchIndex.due(idle: idle) else { return false }
                let ran = database.writeWithoutTransaction { db in searchIndex.run(due, db) }
                // Its pages are in the log too, to be copied back like a commit's.
                checkpointer?.committed()
                return ran
            }
        )
        self.writer = writer
        self.committers = LoopCommitters(maxBatch: Self.maxBatch) { batch, _ in writer.enqueue(batch) }
        try SQLiteSchema.migrator.migrate(database)
        try database.read { db in try searchIndex.start(db) }
        // What a previous run left unindexed, and the merge that erasure may still owe.
        writer.wake()
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            if let checkpointer {
                group.addTask { await checkpointer.run() }
            }
            // An erasure that waits out ``SQLiteSearchIndex/erasePassInterval`` has no commit to wake the writer.
            group.addTask { [searchIndex, writer] in
                while (try? await Task.sleep(for: SQLiteSearchIndex.erasePassInterval / 12)) != nil {
                    if searchIndex.hasWork { writer.wake() }
                }
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
    /// ``isBacklogged``): one way in keeps a connection's messages in the order it sent them. A session saved
    /// for a joining member goes to the writer thread directly; anything else (HTTP posts) to the writer task's
    /// queue. Once the store has stopped, both refuse.
    public func offer(_ message: PendingMessage) -> Bool {
        guard !stopped.load(ordering: .relaxed) else { return queue.offer(message) }
        if let committer = committers.current() {
            committer.add(message)
            return true
        }
        // A joining member's session (offered from its task): straight to the writer thread, which takes its
        // messages later, rather than the writer task, whose commits cost an async hop each.
        if message.onlySession, writer.hasRoom {
            writer.enqueue([message])
            return true
        }
        return queue.offer(message)
    }

    public var isBacklogged: Bool { !writer.hasRoom }

    /// The writer has stopped (graceful shutdown).
    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    public func waitForRoom() async {
        await writer.waitForRoom()
    }

    public func append(_ message: PendingMessage) async throws {
        try await queue.append(message)
    }

    /// Stores one batch in one transaction and runs its completions, from the writer task (or a benchmark).
    func commit(_ batch: [PendingMessage]) async {
        let start = ContinuousClock.now
        let committing = self.committing
        do {
            try await database.writeWithoutTransaction { db in Self.commit(batch, opening: RoomRows(), in: db, since: start, committing) }
            if searchIndex.hasWork { writer.wake() }
        } catch {
            // The connection was never reached, so nothing ran.
            health.written(false)
            CommitOutcome.failed(error).complete(batch, metrics: metrics, logger: logger)
        }
    }

    /// What a commit uses besides its batch and the connection.
    struct Committing: Sendable {
        let synchronous: SQLiteSynchronous
        let health: StorageHealth
        let searchIndex: SQLiteSearchIndex
        let metrics: ParleyMetrics
        let logger: Logger
    }

    /// Stores one batch in one transaction, with the room rows to change (``RoomRows``), then runs its
    /// completions before the writer connection is let go.
    /// Whichever committed (the writer thread or the writer task), the next commit waits, so
    /// every room gets its ids in increasing order; otherwise its ``RoomSequencer`` would take a later id for
    /// a gap and read storage to fill it.
    ///
    /// Under `synchronous=FULL`, a commit without a message, a change or a file (rooms opened or forgotten by
    /// joins and leaves, sessions saved by joins) is not synced: the log is written in order, so the next
    /// synced commit makes it durable too, and a power cut before that can lose only open rooms and sessions
    /// that nothing was stored under. Such a room is opened again by its next join, such a session is
    /// answered as unknown (§11). A process that is killed loses nothing: the log is written before the
    /// completions run. Rooms made through the API and everything else are written elsewhere, with a sync.
    private static func commit(
        _ batch: [PendingMessage],
        opening rooms: RoomRows,
        in db: Database,
        since start: ContinuousClock.Instant,
        _ committing: Committing
    ) {
        let outcome: CommitOutcome
        do {
            let unsynced = committing.synchronous == .full && batch.allSatisfy(\.onlySession)
            // The setting goes back after the rollback of a failed transaction, not inside it.
            outcome = try db.withoutSync(if: unsynced) { write(batch, opening: rooms, in: db, since: start, committing) }
        } catch {
            // Only the setting itself failed, before any transaction began.
            outcome = .failed(error)
            for room in rooms.opening { room.completion(.failure(error)) }
        }
        for forgetting in rooms.forgetting { forgetting.done() }
        committing.health.written(outcome.isCommitted)
        outcome.complete(batch, metrics: committing.metrics, logger: committing.logger)
    }

    /// The transaction of ``commit(_:opening:in:since:_:)``, rolled back when it fails; the rooms it opens are
    /// answered here.
    private static func write(
        _ batch: [PendingMessage],
        opening rooms: RoomRows,
        in db: Database,
        since start: ContinuousClock.Instant,
        _ committing: Committing
    ) -> CommitOutcome {
        do {
            // Cached statements: GRDB's `inTransaction` parses BEGIN and COMMIT anew on every call, which was
            // most of the allocations a small commit made.
            try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
            let opened = try rooms.opening.map { room in try alone(in: db) { try openRoom(db, code: room.code) } }
            let results = try insert(batch, in: db)
            // A room that cannot be forgotten now stays, as any used room does.
            for forgetting in rooms.forgetting { _ = try alone(in: db) { try forgetRoom(db, forgetting.room) } }
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            committing.searchIndex.committed(batch, results)
            for (room, result) in zip(rooms.opening, opened) { room.completion(result) }
            return .committed(results, since: start)
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
            for room in rooms.opening { room.completion(.failure(error)) }
            // A room to forget stays on disk, as any used room does; the next time it empties it is tried again.
            return .failed(error)
        }
    }

    /// A room's statements inside the batch's transaction, under a savepoint: their failure is theirs alone,
    /// undone to the savepoint, unless SQLite rolled the whole transaction back (a full disk), which fails the
    /// batch.
    private static func alone<T>(in db: Database, _ body: () throws -> T) throws -> Result<T, any Error> {
        try db.cachedStatement(sql: "SAVEPOINT room").execute()
        do {
            let value = try body()
            try db.cachedStatement(sql: "RELEASE room").execute()
            return .success(value)
        } catch {
            guard db.isInsideTransaction else { throw error }
            try db.cachedStatement(sql: "ROLLBACK TO room").execute()
            try db.cachedStatement(sql: "RELEASE room").execute()
            return .failure(error)
        }
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
}
