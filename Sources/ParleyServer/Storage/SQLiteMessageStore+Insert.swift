import GRDB
import GRDBSQLite
import ParleyProtocol

extension SQLiteMessageStore {
    /// The body of every group commit: ids from `rooms.last_id`; a resend of a stored `client_id` with the
    /// same text answered with the original, with other text refused (nobody can take over another client's
    /// ids); a message for a room that was forgotten meanwhile refused. Changes to stored messages (§11) take
    /// the room's next revision in the same turn, so revisions follow commit order.
    static func insert(_ batch: [PendingMessage], in db: Database) throws -> [AppendResult] {
        var lastIDs: [Int64: Int64] = [:]
        var revs: [Int64: Int64] = [:]
        var results: [AppendResult] = []
        results.reserveCapacity(batch.count)
        let insert = try db.cachedStatement(
            sql: "INSERT INTO messages (room_id, id, nick, text, ts, client_id, reply_to, author, verified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        for pending in batch {
            if pending.onlySession, let author = pending.author {
                try saveSession(db, roomID: pending.roomID, author: author, nick: pending.nick, at: pending.ts)
                results.append(.unchanged)
                continue
            }
            if let change = pending.change {
                results.append(try apply(change, from: pending, revs: &revs, in: db))
                if pending.savesSession, let author = pending.author {
                    try saveSession(db, roomID: pending.roomID, author: author, nick: pending.nick, at: pending.ts)
                }
                continue
            }
            if let replyTo = pending.replyTo, try !exists(db, roomID: pending.roomID, id: replyTo) {
                results.append(.refused(ProtocolError(.notFound, "reply_to: no message \(replyTo) in this room")))
                continue
            }
            if let clientID = pending.clientID, let original = try Self.message(db, roomID: pending.roomID, clientID: clientID) {
                results.append(original.isResent(as: pending.text, attachments: pending.attachments) ? .duplicate(original) : .conflict(original))
                continue
            }
            guard let previous = try lastIDs[pending.roomID] ?? Self.existingLastID(db, roomID: pending.roomID) else {
                results.append(.noRoom)
                continue
            }
            let id = previous + 1
            var attachments: [Attachment]?
            if !pending.attachments.isEmpty {
                switch try claimAttachments(pending.attachments, roomID: pending.roomID, messageID: id, in: db) {
                case .success(let claimed): attachments = claimed
                case .failure(let error):
                    results.append(.refused(error))
                    continue
                }
            }
            try Self.insert(pending, id: id, with: insert, in: db)
            if let attachments { try saveAttachments(attachments, roomID: pending.roomID, messageID: id, in: db) }
            if pending.savesSession, let author = pending.author {
                try saveSession(db, roomID: pending.roomID, author: author, nick: pending.nick, at: pending.ts)
            }
            lastIDs[pending.roomID] = id
            results.append(
                .stored(
                    ChatMessage(
                        id: id,
                        nick: pending.nick,
                        text: pending.text,
                        ts: pending.ts,
                        clientID: pending.clientID,
                        replyTo: pending.replyTo,
                        attachments: attachments,
                        verified: pending.verified ? true : nil
                    )
                )
            )
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
        if !revs.isEmpty { try saveRevisions(revs, in: db) }
        return results
    }

    /// Runs the cached `INSERT INTO messages` for one message, binding its values straight to SQLite.
    /// GRDB's `execute(arguments:)` boxes every value into a `StatementArguments`, which took longer than
    /// SQLite's own work on the row (docs/PERFORMANCE.md, "Measurements behind the code").
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
        if let replyTo = message.replyTo { sqlite3_bind_int64(handle, 7, replyTo) }
        if let author = message.author { sqlite3_bind_int64(handle, 8, author.value) }
        sqlite3_bind_int64(handle, 9, message.verified ? 1 : 0)
        try step(statement, in: db)
    }

    /// Steps a statement whose arguments were bound directly (GRDB's argument arrays allocate on every
    /// call): `SQLITE_ROW` or `SQLITE_DONE`, or throws. This bypasses GRDB's statement bookkeeping, which
    /// only matters to transaction observers; the store registers none.
    @discardableResult
    static func step(_ statement: Statement, in db: Database) throws -> Int32 {
        let code = sqlite3_step(statement.sqliteStatement)
        guard code == SQLITE_ROW || code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
        }
        return code
    }

    /// Binds a copy of the string's UTF-8 (text and nicks never hold NUL; they are validated first).
    static func bindText(_ text: String, at index: Int32, _ handle: SQLiteStatement) {
        var text = text
        text.withUTF8 { utf8 in
            _ = sqlite3_bind_text(handle, index, utf8.baseAddress, Int32(utf8.count), sqliteTransient)
        }
    }

    private static let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
