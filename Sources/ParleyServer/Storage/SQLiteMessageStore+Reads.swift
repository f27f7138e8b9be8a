import GRDB
import GRDBSQLite
import ParleyProtocol

extension SQLiteMessageStore {
    public func room(code: String) async throws -> RoomRecord? {
        try await statement { db in try Self.room(db, code: code) }
    }

    /// A room made here is `ephemeral` until its first message: ``forgetRoom(_:)`` deletes it again. The writer
    /// thread looks the code up (inserting it if need be) in its next transaction, with whatever else it commits
    /// (``SQLiteWriter/open(_:)``): no read from the pool first, which cost as much again for a new code, and
    /// a code that is stored already changes nothing, so its commit writes and syncs nothing. Once the store
    /// has stopped, in a transaction of its own.
    ///
    /// When that transaction fails (a full disk, the write lock held elsewhere past the busy timeout), a stored
    /// room is still read from the pool: joining a room that exists never depended on writing.
    public func openRoom(code: String) async throws -> RoomRecord {
        do {
            guard !isStopped else {
                defer { checkpointer?.committed() }
                return try await database.write { db in try Self.openRoom(db, code: code) }
            }
            return try await withCheckedThrowingContinuation { continuation in
                writer.open(RoomOpening(code: code) { continuation.resume(with: $0) })
            }
        } catch {
            guard let stored = try await room(code: code) else { throw error }
            return stored
        }
    }

    /// The open goes to the writer thread's next transaction, as in ``openRoom(code:)``; a failure is not read
    /// back here (the caller's ``openRoom(code:)`` does that). False once the store has stopped.
    public var opensRoomsWithCompletion: Bool { !isStopped }

    public func openRoom(code: String, completion: @escaping @Sendable (Result<RoomRecord, any Error>) -> Void) -> Bool {
        guard !isStopped else { return false }
        writer.open(RoomOpening(code: code, completion: completion))
        return true
    }

    /// The room with this code, inserted if there is none; ``RoomRecord/fresh`` when inserted here.
    static func openRoom(_ db: Database, code: String) throws -> RoomRecord {
        let now = Timestamp.now()
        try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO rooms (id, code, name, created_at, last_id, ephemeral) VALUES (\(Self.nextRoomIDSQL), ?, NULL, ?, 0, 1)"
        ).execute(arguments: [code, now.milliseconds])
        // Inserted: the row is what was just written (its id is the rowid), so reading it back is not needed; the
        // read was a sixth of the writer's time when 10,000 clients connected to as many new codes.
        if db.changesCount > 0 {
            return RoomRecord(id: db.lastInsertedRowID, code: code, name: nil, createdAt: now, ephemeral: true, fresh: true)
        }
        guard let record = try Self.room(db, code: code) else { throw StorageError.unavailable }
        return record
    }

    public func createRoom(code: String, name: String?) async throws -> RoomRecord {
        defer { checkpointer?.committed() }
        return try await database.write { db in try Self.insertRoom(db, code: code, name: name) }
    }

    /// A new room (not an open one) under a fresh id; a taken code fails the transaction.
    static func insertRoom(_ db: Database, code: String, name: String?) throws -> RoomRecord {
        try db.execute(
            sql: "INSERT INTO rooms (id, code, name, created_at, last_id) VALUES (\(Self.nextRoomIDSQL), ?, ?, ?, 0)",
            arguments: [code, name, Timestamp.now().milliseconds]
        )
        guard let record = try Self.room(db, code: code) else { throw StorageError.unavailable }
        return record
    }

    /// Above every id a room ever had, forgotten ones included: SQLite would otherwise give the next room the
    /// id of a forgotten one that had the largest, and a request still holding that id would reach the new room.
    static let nextRoomIDSQL =
        "(SELECT max(coalesce((SELECT max(id) FROM rooms), 0), (SELECT forgotten FROM parley_room_ids WHERE only = 1)) + 1)"

    /// Deletes an open room in which no message was ever stored, with the sessions saved in it. The caller
    /// (``RoomRegistry``) has made sure it has no members and that nobody is joining it; the `WHERE` keeps a
    /// message that got in first. The writer thread does it after the messages and sessions handed over before
    /// (``SQLiteWriter/forget(_:)``); once the store has stopped, in a transaction of its own.
    public func forgetRoom(_ room: RoomRecord) async {
        guard room.ephemeral else { return }
        if !isStopped {
            await withCheckedContinuation { continuation in
                writer.forget(RoomForgetting(room: room) { continuation.resume() })
            }
            return
        }
        do {
            try await database.write { db in try Self.forgetRoom(db, room) }
            checkpointer?.committed()
        } catch {
            // It stays on disk, as any used room does; the next leave tries again.
            logger.debug("could not forget room", metadata: ["room": "\(room.code)", "error": "\(error)"])
        }
    }

    static func forgetRoom(_ db: Database, _ room: RoomRecord) throws {
        try db.cachedStatement(sql: "DELETE FROM rooms WHERE id = ? AND ephemeral = 1 AND last_id = 0").execute(arguments: [room.id])
        guard db.changesCount > 0 else { return }
        try db.cachedStatement(sql: "DELETE FROM sessions WHERE room_id = ?").execute(arguments: [room.id])
        try db.cachedStatement(sql: "UPDATE parley_room_ids SET forgotten = max(forgotten, ?) WHERE only = 1").execute(arguments: [room.id])
    }

    public func lastID(roomID: Int64) async throws -> Int64 {
        try await statement { db in try Self.lastID(db, roomID: roomID) }
    }

    public func messages(roomID: Int64, after: Int64?, before: Int64?, limit: Int, newest: Bool) async throws -> MessagePage {
        try await snapshot { db in
            let order = newest ? "DESC" : "ASC"
            var rows = try Self.messages(
                db,
                sql: "WHERE room_id = ? AND id > ? AND id < ? ORDER BY id \(order) LIMIT ?",
                arguments: [roomID, after ?? 0, before ?? Int64.max, limit + 1]
            )
            let hasMore = rows.count > limit
            if hasMore { rows.removeLast() }
            if newest { rows.reverse() }
            return MessagePage(
                messages: rows,
                hasMore: hasMore,
                lastID: try Self.lastID(db, roomID: roomID),
                rev: try Self.currentRev(db, roomID: roomID)
            )
        }
    }

    public func message(roomID: Int64, clientID: String) async throws -> ChatMessage? {
        try await database.read { db in try Self.message(db, roomID: roomID, clientID: clientID) }
    }

    // MARK: statements shared by reads and the writer

    static func room(_ db: Database, code: String) throws -> RoomRecord? {
        // Cached, as every statement a connect runs: SQLite compiling them showed in the connect profile.
        let statement = try db.cachedStatement(sql: "SELECT id, code, name, created_at, ephemeral FROM rooms WHERE code = ?")
        guard let row = try Row.fetchOne(statement, arguments: [code]) else { return nil }
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

    static func message(_ db: Database, roomID: Int64, id: Int64) throws -> ChatMessage? {
        try messages(db, sql: "WHERE room_id = ? AND id = ?", arguments: [roomID, id]).first
    }

    /// Messages in their current state (§11). Only a message that was ever changed (`rev` set) can have
    /// reactions, so plain ones cost no further read.
    static func messages(_ db: Database, sql: String, arguments: StatementArguments) throws -> [ChatMessage] {
        let statement = try db.cachedStatement(
            sql: "SELECT id, nick, text, ts, client_id, reply_to, edited_at, deleted, rev, room_id, attachments, verified FROM messages " + sql
        )
        return try Row.fetchAll(statement, arguments: arguments).map { row in
            var message = ChatMessage(id: row[0], nick: row[1], text: row[2], ts: Timestamp(milliseconds: row[3]), clientID: row[4])
            message.replyTo = row[5]
            message.editedAt = (row[6] as Int64?).map { Timestamp(milliseconds: $0) }
            if let attachments = row[10] as String? { message.attachments = try Self.decodeAttachments(attachments) }
            if row[11] as Int64 != 0 { message.verified = true }
            if row[7] as Int64 != 0 {
                message.deleted = true
            } else if row[8] as Int64? != nil {
                message.reactions = try reactions(db, roomID: row[9], id: message.id)
            }
            return message
        }
    }

    /// A message's reactions: emoji in the order they were first added, nicks in the order they reacted.
    static func reactions(_ db: Database, roomID: Int64, id: Int64) throws -> [Reaction]? {
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT emoji, nick FROM reactions WHERE room_id = ? AND message_id = ? ORDER BY rev"),
            arguments: [roomID, id]
        )
        var reactions: [Reaction] = []
        for row in rows {
            let emoji: String = row[0]
            if let index = reactions.firstIndex(where: { $0.emoji == emoji }) {
                reactions[index].nicks.append(row[1])
            } else {
                reactions.append(Reaction(emoji: emoji, nicks: [row[1]]))
            }
        }
        return reactions.isEmpty ? nil : reactions
    }
}
