import Foundation
import GRDB
import ParleyProtocol

/// Room owners and moderation (§12) on SQLite: settings on the room's row, keys and bans in their own tables,
/// keys and sessions as digests only.
extension SQLiteMessageStore {
    public func createRoom(code: String, name: String?, ownerKey: SecretDigest) async throws -> RoomRecord {
        defer { checkpointer?.committed() }
        return try await database.write { db in
            let record = try Self.insertRoom(db, code: code, name: name)
            try Self.insertKey(db, roomID: record.id, key: ownerKey, role: .owner)
            return record
        }
    }

    public func roomSettings(roomID: Int64) async throws -> RoomSettings? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT name, topic, locked, slow_mode FROM rooms WHERE id = ?", arguments: [roomID]) else {
                return nil
            }
            return RoomSettings(name: row["name"], topic: row["topic"], locked: row["locked"], slowMode: row["slow_mode"])
        }
    }

    public func updateRoom(roomID: Int64, _ settings: RoomSettings) async throws {
        defer { checkpointer?.committed() }
        try await database.write { db in
            try db.execute(
                sql: "UPDATE rooms SET name = ?, topic = ?, locked = ?, slow_mode = ? WHERE id = ?",
                arguments: [settings.name, settings.topic, settings.locked, settings.slowMode, roomID]
            )
        }
    }

    public func role(roomID: Int64, key: SecretDigest) async throws -> Role? {
        try await database.read { db in
            let role = try String.fetchOne(
                db,
                sql: "SELECT role FROM room_keys WHERE room_id = ? AND digest = ?",
                arguments: [roomID, Data(key.bytes)]
            )
            return role.flatMap(Role.init(rawValue:))
        }
    }

    public func addModeratorKey(roomID: Int64, key: SecretDigest) async throws {
        defer { checkpointer?.committed() }
        try await database.write { db in try Self.insertKey(db, roomID: roomID, key: key, role: .moderator) }
    }

    public func revokeModeratorKeys(roomID: Int64) async throws {
        defer { checkpointer?.committed() }
        try await database.write { db in
            try db.execute(sql: "DELETE FROM room_keys WHERE room_id = ? AND role = ?", arguments: [roomID, Role.moderator.rawValue])
        }
    }

    public func addBan(roomID: Int64, _ ban: Ban) async throws {
        defer { checkpointer?.committed() }
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO bans (room_id, nick, nick_key, until, session, subject, address) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    roomID, ban.nick, Nick.key(ban.nick), ban.until?.milliseconds, ban.session.map { Data($0.bytes) }, ban.subject, ban.address,
                ]
            )
        }
    }

    public func removeBans(roomID: Int64, nick: String) async throws -> Bool {
        defer { checkpointer?.committed() }
        return try await database.write { db in
            try db.execute(sql: "DELETE FROM bans WHERE room_id = ? AND nick_key = ?", arguments: [roomID, Nick.key(nick)])
            return db.changesCount > 0
        }
    }

    public func activeBans(now: Timestamp) async throws -> [String: [Ban]] {
        try await database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT rooms.code, bans.nick, bans.until, bans.session, bans.subject, bans.address
                    FROM bans JOIN rooms ON rooms.id = bans.room_id
                    WHERE bans.until IS NULL OR bans.until > ? ORDER BY bans.id
                    """,
                arguments: [now.milliseconds]
            )
            var bans: [String: [Ban]] = [:]
            for row in rows {
                let until: Int64? = row["until"]
                let session: Data? = row["session"]
                let ban = Ban(
                    nick: row["nick"],
                    until: until.map(Timestamp.init(milliseconds:)),
                    session: session.flatMap { SecretDigest(bytes: Array($0)) },
                    subject: row["subject"],
                    address: row["address"]
                )
                bans[row["code"], default: []].append(ban)
            }
            return bans
        }
    }

    /// The index entries of its messages go first (the index keeps no text of its own to delete them by; only
    /// those indexed already have one), then every row kept for the room; its id is never handed out again.
    /// The words leave the index's pages with the merge that follows (``SQLiteSearchIndex``).
    public func deleteRoom(roomID: Int64) async throws {
        defer {
            checkpointer?.committed()
            searchIndex.roomDeleted()
            writer.wake()
        }
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO message_search (message_search, rowid, text)
                        SELECT 'delete', room_id * 4294967296 + id, text FROM messages
                        WHERE room_id = ? AND deleted = 0 AND room_id < 2147483648
                            AND id <= (SELECT indexed_id FROM rooms WHERE id = ?)
                    """,
                arguments: [roomID, roomID]
            )
            try Self.eraseFiles(db, roomID: roomID)
            for table in ["reactions", "sessions", "room_keys", "bans", "messages"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE room_id = ?", arguments: [roomID])
            }
            try db.execute(sql: "DELETE FROM rooms WHERE id = ?", arguments: [roomID])
            try db.execute(sql: "UPDATE parley_room_ids SET forgotten = max(forgotten, ?) WHERE only = 1", arguments: [roomID])
        }
    }

    /// The room's files (§14), erased with it.
    static func eraseFiles(_ db: Database, roomID: Int64) throws {
        try SQLiteFileStore.eraseFiles(db, roomID: roomID)
    }

    private static func insertKey(_ db: Database, roomID: Int64, key: SecretDigest, role: Role) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO room_keys (room_id, digest, role) VALUES (?, ?, ?)",
            arguments: [roomID, Data(key.bytes), role.rawValue]
        )
    }
}
