import Logging
import ParleyProtocol
import PostgresNIO
import ServiceLifecycle

/// PostgreSQL history shared by every node of a cluster.
///
/// Like the SQLite store, one writer group-commits everything queued: a batch is one call of the
/// `parley_append` function, so one round trip and one transaction. The database assigns ids under a
/// per-room row lock, which keeps them gap-free and in commit order across nodes; completions run only
/// after the commit, so nothing is delivered before it is durable.
public final class PostgresMessageStore: MessageStore, Service {
    let client: PostgresPool
    /// This process's name in the cluster (see ``ClusterLink``).
    let node: String
    let queue = CommitQueue<PendingMessage>(capacity: 16_384)
    let metrics: ParleyMetrics
    let logger: Logger
    /// Feeds `parley_storage_healthy` from commits and `/healthz` checks.
    let health: StorageHealth
    static let maxBatch = 4096
    /// How long any one database call may take before the caller gets an error instead of a hang.
    static let callTimeout = StorageDeadline.call

    /// Connects once to apply migrations (so a node never listens on an old schema), then builds the pool.
    /// Connecting gets the call deadline and the migrations this one (they may wait for another node's, which
    /// hold the lock): past either, the connection is closed and start-up fails, instead of hanging on a
    /// silent path for good.
    static let migrationTimeout = Duration.seconds(60)

    public static func open(url: String, node: String, metrics: ParleyMetrics, logger: Logger) async throws -> PostgresMessageStore {
        let settings = try PostgresSettings(url: url)
        let configuration = try settings.connectionConfiguration
        let connecting = DeadlineLease()
        let connection = try await withDeadline(
            callTimeout,
            onTimeout: { connecting.expire() },
            {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                guard connecting.hold(connection) else {
                    try? await connection.close()
                    throw DeadlineExceeded()
                }
                return connection
            }
        )
        do {
            let migrating = DeadlineLease()
            _ = migrating.hold(connection)
            try await withDeadline(
                migrationTimeout,
                onTimeout: { migrating.expire() },
                {
                    try await PostgresSchema.migrate(connection, logger: logger)
                    // Listed before it serves anyone, so no other node can take its first members for a dead node's.
                    try await connection.query("INSERT INTO nodes (id, seen_at) VALUES (\(node), now())", logger: logger)
                }
            )
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        let client = PostgresPool(
            configuration: try settings.clientConfiguration,
            probe: try settings.connectionConfiguration,
            metrics: metrics,
            logger: logger
        )
        return PostgresMessageStore(client: client, node: node, metrics: metrics, logger: logger)
    }

    init(client: PostgresPool, node: String, metrics: ParleyMetrics, logger: Logger) {
        self.client = client
        self.node = node
        self.metrics = metrics
        self.logger = logger
        self.health = StorageHealth(gauge: metrics.storageHealthy)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            await CommitOutcome.runWriter(queue: queue, maxBatch: Self.maxBatch, metrics: metrics, logger: logger) { batch in
                let outcome = await self.write(batch)
                self.health.written(outcome.isCommitted)
                return outcome
            }
            group.cancelAll()
        }
    }

    public func offer(_ message: PendingMessage) -> Bool {
        queue.offer(message)
    }

    public func append(_ message: PendingMessage) async throws {
        try await queue.append(message)
    }

    /// Stores one batch with one `parley_append` call. A row PostgreSQL refuses (text the database's encoding
    /// cannot hold, say) fails the whole call: the batch is then split and stored in halves, so only that
    /// message is refused and the others are stored.
    func write(_ batch: [PendingMessage]) async -> CommitOutcome {
        let start = ContinuousClock.now
        do {
            return .committed(try await append(batch), since: start)
        } catch {
            return .failed(error)
        }
    }

    /// Results in batch order; throws only when nothing of `batch` can have been stored for a reason other
    /// than one of its rows.
    static let rowRefused = ProtocolError(.badRequest, "the database cannot store this message (its text or a field is refused)")

    private func appendSplitting(_ batch: ArraySlice<PendingMessage>) async throws -> [AppendResult] {
        do {
            return try await appendMessages(Array(batch))
        } catch let error as PSQLError where Self.isRowError(error) {
            guard batch.count > 1 else {
                logger.warning("a message could not be stored", metadata: ["error": "\(String(reflecting: error))"])
                // Refused for what it holds, so a resend would fail again: not `unavailable`, which clients resend.
                return [.refused(Self.rowRefused)]
            }
            let middle = batch.startIndex + batch.count / 2
            let first = try await appendSplitting(batch[..<middle])
            let second: [AppendResult]
            do {
                second = try await appendSplitting(batch[middle...])
            } catch {
                // The first half is committed: its results stand.
                second = Array(repeating: .failed, count: batch.count - first.count)
            }
            return first + second
        }
    }

    /// A data exception or a violated constraint: the fault of a row, not of the database.
    static func isRowError(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    /// A run of new messages is one `parley_append` call; each change to a stored message (§11) is one
    /// `parley_change` call and each message with attachments (§14) one transaction of its own, in queue
    /// order, so revisions follow commit order. Once part of the batch is committed, a later failure fails
    /// only the rest.
    private func append(_ batch: [PendingMessage]) async throws -> [AppendResult] {
        var results: [AppendResult] = []
        results.reserveCapacity(batch.count)
        var start = batch.startIndex
        while start < batch.endIndex {
            do {
                if batch[start].onlySession {
                    try await saveSession(batch[start])
                    results.append(.unchanged)
                    start += 1
                    continue
                }
                if let change = batch[start].change {
                    results.append(try await apply(change, from: batch[start]))
                    start += 1
                    continue
                }
                if !batch[start].attachments.isEmpty {
                    results.append(try await appendAttached(batch[start]))
                    start += 1
                    continue
                }
                let end = batch[start...].firstIndex { $0.change != nil || $0.onlySession || !$0.attachments.isEmpty } ?? batch.endIndex
                results += try await appendSplitting(batch[start..<end])
                start = end
            } catch {
                guard !results.isEmpty else { throw error }
                results += Array(repeating: .failed, count: batch.count - results.count)
                return results
            }
        }
        return results
    }

    private func appendMessages(_ batch: [PendingMessage]) async throws -> [AppendResult] {
        try await client.withDeadline(Self.callTimeout) { db in try await self.appendMessages(batch, on: db) }
    }

    /// One `parley_append` call on `db` (in a transaction of the caller's, for a message with attachments).
    func appendMessages(_ batch: [PendingMessage], on db: PostgresConnection) async throws -> [AppendResult] {
        // Grouped by room (stable, so each room keeps queue order); rooms are locked in id order.
        let order = batch.indices.sorted { (batch[$0].roomID, $0) < (batch[$1].roomID, $1) }
        let rooms = order.map { batch[$0].roomID }
        let nicks = order.map { batch[$0].nick }
        let texts = order.map { batch[$0].text }
        let stamps = order.map { batch[$0].ts.milliseconds }
        let clientIDs = order.map { batch[$0].clientID ?? "" }
        // 0 stands for none: ids and author keys are never 0 (an author key of 0 is one secret in 2^64).
        let replies = order.map { batch[$0].replyTo ?? 0 }
        let authors = order.map { batch[$0].author?.value ?? 0 }
        let saves = order.map { batch[$0].savesSession }
        let verified = order.map { batch[$0].verified }
        let node = self.node
        var results = [AppendResult](repeating: .failed, count: batch.count)
        var originals: [(index: Int, message: ChatMessage)] = []
        let rows = try await db.query(
            """
            SELECT o_ord, o_id, o_duplicate, o_nick, o_text, o_ts, o_refused, o_reply_to, o_edited_at, o_deleted, o_rev, o_reactions, o_verified
            FROM parley_append(
                \(rooms), \(nicks), \(texts), \(stamps), \(clientIDs), \(node), \(replies), \(authors), \(saves), \(verified)
            )
            """,
            logger: logger
        )
        typealias Row = (Int32, Int64?, Bool, String?, String?, Int64?, String?, Int64?, Int64?, Bool, Int64?, String?, Bool)
        for try await row in rows.decode(Row.self) {
            let (ordinal, id, duplicate, nick, text, ts, refused, replyTo, editedAt, deleted, rev, reactions, verified) = row
            let index = order[Int(ordinal) - 1]
            if refused != nil, let replyTo = batch[index].replyTo {
                results[index] = .refused(ProtocolError(.notFound, "reply_to: no message \(replyTo) in this room"))
                continue
            }
            // No id: the room was forgotten before the message reached it.
            guard let id, let nick, let text, let ts else {
                results[index] = .noRoom
                continue
            }
            var message = ChatMessage(id: id, nick: nick, text: text, ts: Timestamp(milliseconds: ts), clientID: batch[index].clientID)
            message.replyTo = replyTo
            if verified { message.verified = true }
            if !duplicate {
                results[index] = .stored(message)
                continue
            }
            Self.fill(&message, editedAt: editedAt, deleted: deleted, rev: rev, reactions: reactions)
            originals.append((index, message))
        }
        // A client can only resend its own message: the same id with other text or files is refused. The
        // original's files are read after the call's rows (a resend is rare), and go back with it.
        for (index, var original) in originals {
            let rows = try await db.query(
                "SELECT m.attachments FROM messages m WHERE m.room_id = \(batch[index].roomID) AND m.id = \(original.id)",
                logger: logger
            )
            for try await attachments in rows.decode(String?.self) {
                if original.deleted != true { original.attachments = attachments.flatMap(Self.decodeAttachments) }
            }
            let resent = original.isResent(as: batch[index].text, attachments: batch[index].attachments)
            results[index] = resent ? .duplicate(original) : .conflict(original)
        }
        return results
    }

    public func room(code: String) async throws -> RoomRecord? {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query(
                "SELECT id, code, name, created_at, ephemeral FROM rooms WHERE code = \(code)",
                logger: self.logger
            )
            for try await (id, code, name, createdAt, ephemeral) in rows.decode((Int64, String, String?, Int64, Bool).self) {
                return RoomRecord(id: id, code: code, name: name, createdAt: Timestamp(milliseconds: createdAt), ephemeral: ephemeral)
            }
            return nil
        }
    }

    public func openRoom(code: String) async throws -> RoomRecord {
        if let existing = try await room(code: code) { return existing }
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query(
                """
                INSERT INTO rooms (code, name, created_at, ephemeral) VALUES (\(code), NULL, \(Timestamp.now().milliseconds), TRUE)
                ON CONFLICT (code) DO NOTHING
                """,
                logger: self.logger
            )
        }
        guard let record = try await room(code: code) else { throw StorageError.unavailable }
        return record
    }

    /// Deletes the room (and its sessions) only while no node has a member in it and it holds no message, in
    /// one statement. A member row that another node inserts meanwhile holds a key-share lock on the room
    /// row: the delete waits for it and then fails on the foreign key, so the room stays. Room ids come from a
    /// sequence and are never given out again.
    public func forgetRoom(_ room: RoomRecord) async {
        guard room.ephemeral else { return }
        do {
            try await client.withDeadline(Self.callTimeout) { db in
                try await db.query(
                    """
                    WITH target AS (
                        SELECT id FROM rooms WHERE id = \(room.id) AND ephemeral AND last_id = 0
                            AND NOT EXISTS (SELECT 1 FROM members WHERE room_id = \(room.id))
                        FOR UPDATE
                    ), sessions_gone AS (
                        DELETE FROM sessions WHERE room_id IN (SELECT id FROM target)
                    )
                    DELETE FROM rooms WHERE id IN (SELECT id FROM target)
                    """,
                    logger: self.logger
                )
            }
        } catch {
            logger.debug("could not forget room", metadata: ["room": "\(room.code)", "error": "\(String(reflecting: error))"])
        }
    }

    public func createRoom(code: String, name: String?) async throws -> RoomRecord {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query(
                "INSERT INTO rooms (code, name, created_at) VALUES (\(code), \(name), \(Timestamp.now().milliseconds))",
                logger: self.logger
            )
        }
        guard let record = try await room(code: code) else { throw StorageError.unavailable }
        return record
    }

    public func lastID(roomID: Int64) async throws -> Int64 {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query("SELECT last_id FROM rooms WHERE id = \(roomID)", logger: self.logger)
            for try await lastID in rows.decode(Int64.self) { return lastID }
            return 0
        }
    }

    public func messages(roomID: Int64, after: Int64?, before: Int64?, limit: Int, newest: Bool) async throws -> MessagePage {
        try await client.withDeadline(Self.callTimeout) { db in
            // One statement, so the page and `lastID` come from the same snapshot (the room row is there even
            // when the page is empty).
            let direction = newest ? "DESC" : "ASC"
            let query: PostgresQuery = """
                SELECT r.last_id, r.rev, \(unescaped: Self.messageColumns) FROM rooms r
                LEFT JOIN LATERAL (
                    SELECT * FROM messages
                    WHERE room_id = r.id AND id > \(after ?? 0) AND id < \(before ?? Int64.max)
                    ORDER BY id \(unescaped: direction) LIMIT \(limit + 1)
                ) m ON TRUE
                WHERE r.id = \(roomID)
                ORDER BY m.id \(unescaped: direction)
                """
            var messages: [ChatMessage] = []
            var lastID: Int64 = 0
            var roomRev: Int64 = 0
            typealias Row = (Int64, Int64, Int64?, String?, String?, Int64?, String?, Int64?, Int64?, Bool?, Int64?, String?, String?, Bool?)
            let rows = try await db.query(query, logger: self.logger)
            for try await row in rows.decode(Row.self) {
                let (last, rev, id, nick, text, ts, clientID, replyTo, editedAt, deleted, messageRev, reactions, attachments, verified) = row
                (lastID, roomRev) = (last, rev)
                if let id, let nick, let text, let ts {
                    messages.append(
                        Self.message(
                            (id, nick, text, ts, clientID, replyTo, editedAt, deleted ?? false, messageRev, reactions, attachments, verified ?? false)
                        )
                    )
                }
            }
            let hasMore = messages.count > limit
            if hasMore { messages.removeLast() }
            if newest { messages.reverse() }
            return MessagePage(messages: messages, hasMore: hasMore, lastID: lastID, rev: roomRev)
        }
    }

    public func message(roomID: Int64, clientID: String) async throws -> ChatMessage? {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query(
                "SELECT \(unescaped: Self.messageColumns) FROM messages m WHERE m.room_id = \(roomID) AND m.client_id = \(clientID)",
                logger: self.logger
            )
            for try await row in rows.decode(MessageRow.self) { return Self.message(row) }
            return nil
        }
    }

    /// Whether this node can store: the database answers within the deadline and would take a write. It
    /// writes nothing (every node is probed every few seconds by its balancer), but a server in recovery (a
    /// standby a failover left the URL pointing at) or a read-only session answers a read and refuses
    /// every commit, so it is asked; failed commits mark the node unhealthy too (``StorageHealth``).
    public func isHealthy() async -> Bool {
        let writable = try? await client.withDeadline(.seconds(2)) { db in
            let rows = try await db.query(
                "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
                logger: self.logger
            )
            for try await writable in rows.decode(Bool.self) { return writable }
            return false
        }
        health.written(writable == true)
        return writable == true
    }
}
