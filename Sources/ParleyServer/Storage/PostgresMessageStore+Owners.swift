import ParleyProtocol
import PostgresNIO

/// Room owners and moderation (§12) on PostgreSQL, shared by every node: settings on the room's row, keys and
/// bans in their own tables, keys and sessions as digests only.
extension PostgresMessageStore {
    public func createRoom(code: String, name: String?, ownerKey: SecretDigest) async throws -> RoomRecord {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query(
                """
                WITH room AS (
                    INSERT INTO rooms (code, name, created_at) VALUES (\(code), \(name), \(Timestamp.now().milliseconds)) RETURNING id
                )
                INSERT INTO room_keys (room_id, digest, role) SELECT id, \(ownerKey.hex), \(Role.owner.rawValue) FROM room
                """,
                logger: self.logger
            )
        }
        guard let record = try await room(code: code) else { throw StorageError.unavailable }
        return record
    }

    public func roomSettings(roomID: Int64) async throws -> RoomSettings? {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query("SELECT name, topic, locked, slow_mode FROM rooms WHERE id = \(roomID)", logger: self.logger)
            for try await (name, topic, locked, slowMode) in rows.decode((String?, String?, Bool, Int32).self) {
                return RoomSettings(name: name, topic: topic, locked: locked, slowMode: Int(slowMode))
            }
            return nil
        }
    }

    public func updateRoom(roomID: Int64, _ settings: RoomSettings) async throws {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query(
                """
                UPDATE rooms SET name = \(settings.name), topic = \(settings.topic), locked = \(settings.locked),
                    slow_mode = \(Int32(settings.slowMode)) WHERE id = \(roomID)
                """,
                logger: self.logger
            )
        }
    }

    public func role(roomID: Int64, key: SecretDigest) async throws -> Role? {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query("SELECT role FROM room_keys WHERE room_id = \(roomID) AND digest = \(key.hex)", logger: self.logger)
            for try await role in rows.decode(String.self) { return Role(rawValue: role) }
            return nil
        }
    }

    public func addModeratorKey(roomID: Int64, key: SecretDigest) async throws {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query(
                "INSERT INTO room_keys (room_id, digest, role) VALUES (\(roomID), \(key.hex), \(Role.moderator.rawValue)) ON CONFLICT DO NOTHING",
                logger: self.logger
            )
        }
    }

    public func revokeModeratorKeys(roomID: Int64) async throws {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query("DELETE FROM room_keys WHERE room_id = \(roomID) AND role = \(Role.moderator.rawValue)", logger: self.logger)
        }
    }

    public func addBan(roomID: Int64, _ ban: Ban) async throws {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query(
                """
                INSERT INTO bans (room_id, nick, nick_key, until, session, subject, address)
                VALUES (\(roomID), \(ban.nick), \(Nick.key(ban.nick)), \(ban.until?.milliseconds), \(ban.session?.hex), \(ban.subject), \(ban.address))
                """,
                logger: self.logger
            )
        }
    }

    public func removeBans(roomID: Int64, nick: String) async throws -> Bool {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query(
                "DELETE FROM bans WHERE room_id = \(roomID) AND nick_key = \(Nick.key(nick)) RETURNING id",
                logger: self.logger
            )
            var removed = false
            for try await _ in rows.decode(Int64.self) { removed = true }
            return removed
        }
    }

    public func activeBans(now: Timestamp) async throws -> [String: [Ban]] {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query(
                """
                SELECT r.code, b.nick, b.until, b.session, b.subject, b.address FROM bans b JOIN rooms r ON r.id = b.room_id
                WHERE b.until IS NULL OR b.until > \(now.milliseconds) ORDER BY b.id
                """,
                logger: self.logger
            )
            var bans: [String: [Ban]] = [:]
            for try await (code, nick, until, session, subject, address) in rows.decode((String, String, Int64?, String?, String?, String?).self) {
                let ban = Ban(
                    nick: nick,
                    until: until.map(Timestamp.init(milliseconds:)),
                    session: session.flatMap(SecretDigest.init(hex:)),
                    subject: subject,
                    address: address
                )
                bans[code, default: []].append(ban)
            }
            return bans
        }
    }

    /// In one transaction: every row kept for the room, then the room (keys, bans and nick suffixes go with it).
    /// The members' rows go too, so their trigger tells the other nodes they left.
    public func deleteRoom(roomID: Int64) async throws {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.transaction(logger: self.logger) { db in
                try await Self.eraseFiles(db, roomID: roomID, logger: self.logger)
                // Reactions (§11) refer to messages; their table exists once living messages are on PostgreSQL.
                for table in ["reactions", "members", "sessions", "messages"] {
                    let exists = try await db.query("SELECT to_regclass(\(table)) IS NOT NULL", logger: self.logger)
                    var present = false
                    for try await value in exists.decode(Bool.self) { present = value }
                    guard present else { continue }
                    try await db.query("DELETE FROM \(unescaped: table) WHERE room_id = \(roomID)", logger: self.logger)
                }
                try await db.query("DELETE FROM rooms WHERE id = \(roomID)", logger: self.logger)
            }
        }
    }

    /// The room's files (§14), erased with it; the sweep then deletes their content, a batch of chunks at a time,
    /// rather than holding this transaction for all of it.
    static func eraseFiles(_ db: PostgresConnection, roomID: Int64, logger: Logger) async throws {
        try await db.query("DELETE FROM files WHERE room_id = \(roomID)", logger: logger)
    }
}
