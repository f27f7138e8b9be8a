import Logging
import ParleyProtocol
import PostgresNIO
import Synchronization

/// Members, nicks and sessions shared by every node, kept in PostgreSQL.
///
/// The `members` table is the one list of who is in a room: its primary key on the normalised nick makes
/// nicks unique across nodes, and each row names the node and connection holding it, so a session can be
/// reclaimed wherever its old connection lives and a dead node's members can be swept (``ClusterLink``).
/// The table announces every change itself (a trigger sends a ``ClusterNotice`` in the same transaction,
/// see ``PostgresSchema``), so nothing here has to remember to tell the other nodes.
final class ClusterPresence: Sendable {
    let client: PostgresPool
    let node: String
    let logger: Logger
    /// A release failed (the database was unreachable): rows of closed connections may remain until
    /// ``ClusterLink`` reconciles them.
    let releaseFailed = Atomic<Bool>(false)
    static let callTimeout = PostgresMessageStore.callTimeout

    init(client: PostgresPool, node: String, logger: Logger) {
        self.client = client
        self.node = node
        self.logger = logger
    }

    /// A reserved nick; a new join has already been announced to the other nodes.
    struct Claim: Sendable {
        var nick: String
        var session: SessionSecret
        /// The session's nick was held by a live connection, here or on another node, now replaced:
        /// nobody is told of a join.
        var tookOver: Bool
    }

    /// Reserves a nick for a joining connection: the session's own nick when `session` is known in this
    /// room and its nick is free or held by the same session; else `requested` (or a guest nick), suffixed
    /// `-2`, `-3`, … while taken anywhere in the cluster.
    func claim(room: RoomRecord, requested: String?, session: SessionSecret?, connection: ConnectionID) async throws -> Claim {
        try await client.withDeadline(Self.callTimeout) { db in
            if let session, let nick = try await self.sessionNick(db, session, roomID: room.id) {
                if let claim = try await self.reclaim(db, room: room, nick: nick, session: session, connection: connection) {
                    return claim
                }
                return try await self.reserve(db, room: room, desired: nick, session: session, connection: connection)
            }
            let session = SessionSecret.random()
            return try await self.reserve(db, room: room, desired: requested ?? Nick.makeGuest(), session: session, connection: connection)
        }
    }

    /// What a verified subject's try at a nick found.
    private enum SubjectTry { case inserted, shared, clash, vanished }

    /// Reserves a verified subject's nick (§13): its token's nick, or the clash suffix while another subject or
    /// an anonymous member holds it. `shared` when another connection of the subject, on any node, holds the
    /// row already: this one is listed beside it and nobody is told of a join. No session is bound to the nick,
    /// so it cannot be reclaimed without a token.
    func claim(room: RoomRecord, subject: String, nick desired: String, connection: ConnectionID) async throws -> (nick: String, shared: Bool) {
        let key = Nick.key(desired)
        return try await client.withDeadline(Self.callTimeout) { db in
            // The holder may leave between the insert and the lock: then the insert is tried again.
            var found = SubjectTry.vanished
            for _ in 0..<3 where found == .vanished {
                found = try await db.transaction(logger: self.logger) { db in
                    if try await self.insert(db, room: room, nick: desired, subject: subject, connection: connection) { return .inserted }
                    var holder: String??
                    let rows = try await db.query(
                        "SELECT subject FROM members WHERE room_id = \(room.id) AND nick_key = \(key) FOR UPDATE",
                        logger: self.logger
                    )
                    for try await held in rows.decode(String?.self) { holder = .some(held) }
                    guard let holder else { return .vanished }
                    guard holder == subject else { return .clash }
                    try await db.query(
                        """
                        INSERT INTO subject_connections (room_id, subject, node, connection)
                        VALUES (\(room.id), \(subject), \(self.node), \(Int64(connection.value)))
                        """,
                        logger: self.logger
                    )
                    return .shared
                }
            }
            switch found {
            case .inserted: return (desired, false)
            case .shared: return (desired, true)
            case .vanished: throw StorageError.unavailable
            case .clash: break
            }
            for _ in 0..<1000 {
                let nick = Nick.suffixed(desired, try await self.nextSuffix(db, room: room, key: key))
                if try await self.insert(db, room: room, nick: nick, subject: subject, connection: connection) { return (nick, false) }
            }
            throw ProtocolError(.nickTaken, "no free form of this nick in the room")
        }
    }

    /// Inserts a verified subject's member row unless the nick is taken; whether it did.
    private func insert(_ db: PostgresConnection, room: RoomRecord, nick: String, subject: String, connection: ConnectionID) async throws -> Bool {
        let rows = try await db.query(
            """
            INSERT INTO members (room_id, nick_key, nick, session, node, connection, joined_at, subject)
            VALUES (\(room.id), \(Nick.key(nick)), \(nick), '', \(node), \(Int64(connection.value)), \(Timestamp.now().milliseconds), \(subject))
            ON CONFLICT DO NOTHING RETURNING nick
            """,
            logger: logger
        )
        var reserved = false
        for try await _ in rows { reserved = true }
        return reserved
    }

    /// The next suffix the room's counter hands out for a nick that clashed.
    private func nextSuffix(_ db: PostgresConnection, room: RoomRecord, key: String) async throws -> Int {
        let rows = try await db.query(
            """
            INSERT INTO nick_suffixes (room_id, nick_key, next) VALUES (\(room.id), \(key), 3)
            ON CONFLICT (room_id, nick_key) DO UPDATE SET next = nick_suffixes.next + 1
            RETURNING next - 1
            """,
            logger: logger
        )
        var suffix = 2
        for try await value in rows.decode(Int.self) { suffix = value }
        return suffix
    }

    private func sessionNick(_ db: PostgresConnection, _ secret: SessionSecret, roomID: Int64) async throws -> String? {
        let rows = try await db.query(
            "UPDATE sessions SET used_at = now() WHERE secret = \(secret.description) AND room_id = \(roomID) RETURNING nick",
            logger: logger
        )
        for try await nick in rows.decode(String.self) { return nick }
        return nil
    }

    /// Takes the session's nick back: nil when another session holds it now.
    private func reclaim(
        _ db: PostgresConnection,
        room: RoomRecord,
        nick: String,
        session: SessionSecret,
        connection: ConnectionID
    ) async throws -> Claim? {
        let key = Nick.key(nick)
        let node = self.node
        return try await db.transaction(logger: logger) { db in
            var holder: String?
            let rows = try await db.query(
                "SELECT session FROM members WHERE room_id = \(room.id) AND nick_key = \(key) FOR UPDATE",
                logger: self.logger
            )
            for try await session in rows.decode(String.self) { holder = session }
            // Nobody holds it (a reconnect after a drop) or another session does: `reserve` takes it as a join.
            guard holder == session.description else { return nil }
            // On another node the trigger's `replace` notice has that node close the old connection with 4001.
            try await db.query(
                "UPDATE members SET node = \(node), connection = \(Int64(connection.value)) WHERE room_id = \(room.id) AND nick_key = \(key)",
                logger: self.logger
            )
            return Claim(nick: nick, session: session, tookOver: true)
        }
    }

    /// Reserves `desired`, or on a clash the next suffixed form the room's counter for that nick hands out,
    /// and binds the session to it. As on one node (``NickAllocator``) each suffix is tried at most once, so a
    /// join costs one statement, or three on a clash, however many members share the nick.
    func reserve(_ db: PostgresConnection, room: RoomRecord, desired: String, session: SessionSecret, connection: ConnectionID) async throws -> Claim
    {
        if try await insert(db, room: room, nick: desired, session: session, connection: connection) {
            return Claim(nick: desired, session: session, tookOver: false)
        }
        let key = Nick.key(desired)
        for _ in 0..<1000 {
            let nick = Nick.suffixed(desired, try await nextSuffix(db, room: room, key: key))
            if try await insert(db, room: room, nick: nick, session: session, connection: connection) {
                return Claim(nick: nick, session: session, tookOver: false)
            }
        }
        throw ProtocolError(.nickTaken, "no free form of this nick in the room")
    }

    /// Inserts the member row unless the nick is taken, binding the session to it; whether it did.
    private func insert(
        _ db: PostgresConnection,
        room: RoomRecord,
        nick: String,
        session: SessionSecret,
        connection: ConnectionID
    ) async throws -> Bool {
        let now = Timestamp.now().milliseconds
        let rows = try await db.query(
            """
            WITH member AS (
                INSERT INTO members (room_id, nick_key, nick, session, node, connection, joined_at)
                VALUES (\(room.id), \(Nick.key(nick)), \(nick), \(session.description), \(node), \(Int64(connection.value)), \(now))
                ON CONFLICT DO NOTHING RETURNING nick
            ), bound AS (
                INSERT INTO sessions (secret, room_id, nick) SELECT \(session.description), \(room.id), nick FROM member
                ON CONFLICT (secret) DO UPDATE SET nick = EXCLUDED.nick, used_at = now()
            )
            SELECT nick FROM member
            """,
            logger: logger
        )
        var reserved = false
        for try await _ in rows { reserved = true }
        return reserved
    }

    /// Every member of the room on every node, in join order.
    func members(roomID: Int64) async throws -> [String] {
        try await roster(roomID: roomID).members
    }

    /// Every member of the room on every node, in join order, and those of them who are verified (§13).
    func roster(roomID: Int64) async throws -> (members: [String], verified: [String]) {
        try await client.withDeadline(Self.callTimeout) { db in
            var nicks: [String] = []
            var verified: [String] = []
            let rows = try await db.query(
                "SELECT nick, subject IS NOT NULL FROM members WHERE room_id = \(roomID) ORDER BY joined_at, nick_key",
                logger: self.logger
            )
            for try await (nick, isVerified) in rows.decode((String, Bool).self) {
                nicks.append(nick)
                if isVerified { verified.append(nick) }
            }
            return (nicks, verified)
        }
    }

    /// Renames a member cluster-wide, session included; `nick_taken` when another member anywhere holds the nick.
    func rename(room: RoomRecord, connection: ConnectionID, to nick: String) async throws {
        let node = self.node
        do {
            try await client.withDeadline(Self.callTimeout) { db in
                try await db.query(
                    """
                    WITH renamed AS (
                        UPDATE members SET nick = \(nick), nick_key = \(Nick.key(nick))
                        WHERE room_id = \(room.id) AND node = \(node) AND connection = \(Int64(connection.value))
                        RETURNING session
                    )
                    UPDATE sessions SET nick = \(nick), used_at = now() WHERE secret IN (SELECT session FROM renamed)
                    """,
                    logger: self.logger
                )
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw ProtocolError(.nickTaken, "nick is taken in this room")
        }
    }

    /// Frees the member's nick if this connection still holds it (the trigger announces the leave). Whether
    /// the member left: false too when another connection of its verified subject keeps it.
    @discardableResult
    func release(room: RoomRecord, connection: ConnectionID) async -> Bool {
        let node = self.node
        do {
            return try await client.withDeadline(Self.callTimeout) { db in
                // A connection of a subject is listed in one of the two tables (the handover trigger moves the
                // member row to another listed connection of its subject).
                let rows = try await db.query(
                    """
                    WITH shared AS (
                        DELETE FROM subject_connections WHERE node = \(node) AND connection = \(Int64(connection.value))
                    )
                    DELETE FROM members WHERE room_id = \(room.id) AND node = \(node) AND connection = \(Int64(connection.value))
                    RETURNING nick
                    """,
                    logger: self.logger
                )
                var left = false
                for try await _ in rows { left = true }
                return left
            }
        } catch {
            // The row stays until the next heartbeat reconciles this node's rows with its open connections.
            releaseFailed.store(true, ordering: .relaxed)
            logger.warning("could not release a member", metadata: ["room": "\(room.code)", "error": "\(error)"])
            return false
        }
    }

    /// Removes this node's rows whose connection is closed (each announced as a leave by the trigger): a
    /// release that failed, or a join, rename or reclaim that timed out after it had taken effect. Runs on
    /// every heartbeat, as a timed-out call leaves no trace here of what it may have done. Returns the nick
    /// listed for each open connection of this node.
    func reconcile(isOpen: (ConnectionID) -> Bool) async throws -> [Int64: String] {
        releaseFailed.store(false, ordering: .relaxed)
        do {
            let node = self.node
            var listed: [Int64: String] = try await client.withDeadline(Self.callTimeout) { db in
                var listed: [Int64: String] = [:]
                let rows = try await db.query(
                    """
                    SELECT connection, nick FROM members WHERE node = \(node)
                    UNION ALL
                    SELECT s.connection, m.nick FROM subject_connections s JOIN members m ON m.room_id = s.room_id AND m.subject = s.subject
                    WHERE s.node = \(node)
                    """,
                    logger: self.logger
                )
                for try await (connection, nick) in rows.decode((Int64, String).self) { listed[connection] = nick }
                return listed
            }
            let closed = listed.keys.filter { !isOpen(ConnectionID(value: UInt64($0))) }
            guard !closed.isEmpty else { return listed }
            try await client.withDeadline(Self.callTimeout) { db in
                // Shared connections first, so the handover trigger never moves a member to a closed one.
                try await db.query("DELETE FROM subject_connections WHERE node = \(node) AND connection = ANY(\(closed))", logger: self.logger)
                try await db.query(
                    "DELETE FROM members WHERE node = \(node) AND connection = ANY(\(closed))",
                    logger: self.logger
                )
            }
            logger.info("released members whose connections closed without a release", metadata: ["members": "\(closed.count)"])
            for connection in closed { listed.removeValue(forKey: connection) }
            return listed
        } catch {
            releaseFailed.store(true, ordering: .relaxed)
            throw error
        }
    }

    /// A member of this node, as its room holds it.
    struct LiveMember: Sendable {
        var id: ConnectionID
        var nick: String
        var session: SessionSecret
    }

    /// How many members one call lists again, each call under its own deadline.
    static let reregisterBatch = 100

    /// What listing members again did: the new nicks of those whose nick was taken meanwhile (for the room
    /// to announce), and those whose session another connection holds now (taken over while this node
    /// could not hear it), which the room must close as replaced rather than list again.
    struct Reregistered: Sendable {
        var renamed: [(id: ConnectionID, nick: String)] = []
        var moved: [ConnectionID] = []
    }

    /// Lists again this node's live members of `room` that the table lacks (another node swept this one
    /// while it could not beat). A nick someone took meanwhile is given up for the next suffixed form, as on
    /// a join clash. A member whose session is listed elsewhere is not listed again: its session moved on.
    /// Done in batches, each one call under the deadline, so a thousand members do not share one.
    func reregister(room: RoomRecord, members: [LiveMember]) async throws -> Reregistered {
        var outcome = Reregistered()
        var start = 0
        while start < members.count {
            let batch = Array(members[start..<min(start + Self.reregisterBatch, members.count)])
            start += batch.count
            let done = try await reregisterBatch(room: room, members: batch)
            outcome.renamed += done.renamed
            outcome.moved += done.moved
        }
        return outcome
    }

    private func reregisterBatch(room: RoomRecord, members: [LiveMember]) async throws -> Reregistered {
        let node = self.node
        let sessions = members.map(\.session.description)
        return try await client.withDeadline(Self.callTimeout) { db in
            var listed = Set<Int64>()
            let rows = try await db.query(
                """
                SELECT connection FROM members WHERE room_id = \(room.id) AND node = \(node)
                UNION ALL SELECT connection FROM subject_connections WHERE room_id = \(room.id) AND node = \(node)
                """,
                logger: self.logger
            )
            for try await connection in rows.decode(Int64.self) { listed.insert(connection) }
            var held = Set<String>()
            let holders = try await db.query(
                "SELECT session FROM members WHERE room_id = \(room.id) AND session = ANY(\(sessions))",
                logger: self.logger
            )
            for try await session in holders.decode(String.self) { held.insert(session) }
            var outcome = Reregistered()
            for member in members where !listed.contains(Int64(member.id.value)) {
                guard !held.contains(member.session.description) else {
                    outcome.moved.append(member.id)
                    continue
                }
                let claim = try await self.reserve(db, room: room, desired: member.nick, session: member.session, connection: member.id)
                if claim.nick != member.nick { outcome.renamed.append((member.id, claim.nick)) }
            }
            return outcome
        }
    }

    /// Tells the other nodes that a member is typing (the one notice that changes no row).
    func publish(_ notice: ClusterNotice) async {
        do {
            try await client.withDeadline(Self.callTimeout) { db in
                try await db.query("SELECT pg_notify('parley', \(notice.payload))", logger: self.logger)
            }
        } catch {
            logger.debug("could not publish a notice", metadata: ["kind": "\(notice.k)", "error": "\(error)"])
        }
    }
}
