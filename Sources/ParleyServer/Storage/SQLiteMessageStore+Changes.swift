import GRDB
import GRDBSQLite
import ParleyProtocol

/// Living messages (§11) in the writer's transaction: each stored change takes its room's next revision.
extension SQLiteMessageStore {
    static func apply(_ change: MessageChange, from pending: PendingMessage, revs: inout [Int64: Int64], in db: Database) throws -> AppendResult {
        let roomID = pending.roomID
        let id = change.id
        let target = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT author, deleted FROM messages WHERE room_id = ? AND id = ?"),
            arguments: [roomID, id]
        )
        guard let target, target[1] as Int64 == 0 else {
            return .refused(ProtocolError(.notFound, "no message \(id) in this room"))
        }
        let author: Int64? = target[0]
        let isAuthor = author != nil && author == pending.author?.value
        let rev = try (revs[roomID] ?? currentRev(db, roomID: roomID)) + 1
        switch change {
        case .edit(_, let text):
            guard isAuthor else { return .refused(ProtocolError(.forbidden, "only its author can edit a message")) }
            try db.cachedStatement(sql: "UPDATE messages SET text = ?, edited_at = ?, rev = ? WHERE room_id = ? AND id = ?")
                .execute(arguments: [text, pending.ts.milliseconds, rev, roomID, id])
        case .delete:
            guard isAuthor || pending.byModerator else { return .refused(ProtocolError(.forbidden, "only its author can delete a message")) }
            // The text is overwritten, and the update trigger takes it out of the search index.
            try db.cachedStatement(sql: "UPDATE messages SET text = '', deleted = 1, rev = ?, attachments = NULL WHERE room_id = ? AND id = ?")
                .execute(arguments: [rev, roomID, id])
            // Its files are gone at once (their route answers 404); the sweep deletes their content.
            try db.cachedStatement(sql: "DELETE FROM files WHERE room_id = ? AND message_id = ?").execute(arguments: [roomID, id])
            try db.cachedStatement(sql: "DELETE FROM reactions WHERE room_id = ? AND message_id = ?").execute(arguments: [roomID, id])
        case .react(_, let emoji):
            guard let reactor = pending.author else { return .refused(ProtocolError(.forbidden, "reactions need a session")) }
            let existing = try String.fetchAll(
                db.cachedStatement(sql: "SELECT DISTINCT emoji FROM reactions WHERE room_id = ? AND message_id = ?"),
                arguments: [roomID, id]
            )
            let mine = try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM reactions WHERE room_id = ? AND message_id = ? AND emoji = ? AND reactor = ?"),
                arguments: [roomID, id, emoji, reactor.value]
            )
            if mine == true { return .unchanged }
            if !existing.contains(emoji), existing.count >= Limits.maxReactionEmoji {
                return .refused(ProtocolError(.tooLarge, "a message holds at most \(Limits.maxReactionEmoji) distinct emoji"))
            }
            try db.cachedStatement(sql: "INSERT INTO reactions (room_id, message_id, emoji, reactor, nick, rev) VALUES (?, ?, ?, ?, ?, ?)")
                .execute(arguments: [roomID, id, emoji, reactor.value, pending.nick, rev])
            try touch(db, roomID: roomID, id: id, rev: rev)
        case .unreact(_, let emoji):
            guard let reactor = pending.author else { return .unchanged }
            try db.cachedStatement(sql: "DELETE FROM reactions WHERE room_id = ? AND message_id = ? AND emoji = ? AND reactor = ?")
                .execute(arguments: [roomID, id, emoji, reactor.value])
            guard db.changesCount > 0 else { return .unchanged }
            try touch(db, roomID: roomID, id: id, rev: rev)
        }
        revs[roomID] = rev
        guard let message = try message(db, roomID: roomID, id: id) else { throw StorageError.unavailable }
        return .changed(rev: rev, message)
    }

    private static func touch(_ db: Database, roomID: Int64, id: Int64, rev: Int64) throws {
        try db.cachedStatement(sql: "UPDATE messages SET rev = ? WHERE room_id = ? AND id = ?").execute(arguments: [rev, roomID, id])
    }

    static func currentRev(_ db: Database, roomID: Int64) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT rev FROM rooms WHERE id = ?"), arguments: [roomID]) ?? 0
    }

    static func saveRevisions(_ revs: [Int64: Int64], in db: Database) throws {
        let update = try db.cachedStatement(sql: "UPDATE rooms SET rev = ? WHERE id = ?")
        for (roomID, rev) in revs { try update.execute(arguments: [rev, roomID]) }
    }

    static func exists(_ db: Database, roomID: Int64, id: Int64) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM messages WHERE room_id = ? AND id = ?"), arguments: [roomID, id]) ?? false
    }

    /// Keeps a session's author key (never the secret) for reclaiming its nick and authorship after a restart.
    static func saveSession(_ db: Database, roomID: Int64, author: AuthorKey, nick: String, at ts: Timestamp) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO sessions (room_id, author, nick, used_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (room_id, author) DO UPDATE SET nick = excluded.nick, used_at = excluded.used_at
                """
        ).execute(arguments: [roomID, author.value, nick, ts.milliseconds])
    }
}
