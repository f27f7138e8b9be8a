import Foundation
import ParleyProtocol
import PostgresNIO

/// Living messages and search (§11, §15) on PostgreSQL: changes go through the writer as `parley_change`
/// calls; reads return messages in their current state.
extension PostgresMessageStore {
    public var supportsLivingMessages: Bool { true }

    /// The columns every read of a message selects from `messages m`, in ``message(_:)``'s order. Only a
    /// message that was ever changed (`rev` set) can have reactions, so plain ones cost no further read.
    static let messageColumns = """
        m.id, m.nick, m.text, m.ts, m.client_id, m.reply_to, m.edited_at, m.deleted, m.rev,
        CASE WHEN m.rev IS NULL OR m.deleted THEN NULL ELSE parley_reactions(m.room_id, m.id) END, m.attachments, m.verified
        """

    typealias MessageRow = (Int64, String, String, Int64, String?, Int64?, Int64?, Bool, Int64?, String?, String?, Bool)

    static func message(_ row: MessageRow) -> ChatMessage {
        let (id, nick, text, ts, clientID, replyTo, editedAt, deleted, rev, reactions, attachments, verified) = row
        var message = ChatMessage(id: id, nick: nick, text: text, ts: Timestamp(milliseconds: ts), clientID: clientID)
        message.replyTo = replyTo
        // A deleted message's files are gone (a change's row may show them from before the deletion).
        message.attachments = deleted ? nil : attachments.flatMap(Self.decodeAttachments)
        if verified { message.verified = true }
        fill(&message, editedAt: editedAt, deleted: deleted, rev: rev, reactions: reactions)
        return message
    }

    /// Sets the fields of a changed message: `reactions` is `parley_reactions`' JSON, `[emoji, nick]` pairs in
    /// the order they were added.
    static func fill(_ message: inout ChatMessage, editedAt: Int64?, deleted: Bool, rev: Int64?, reactions: String?) {
        message.editedAt = editedAt.map { Timestamp(milliseconds: $0) }
        if deleted {
            message.deleted = true
            return
        }
        guard rev != nil, let reactions, let pairs = try? JSONDecoder().decode([[String]].self, from: Data(reactions.utf8)) else { return }
        var grouped: [Reaction] = []
        for pair in pairs where pair.count == 2 {
            if let index = grouped.firstIndex(where: { $0.emoji == pair[0] }) {
                grouped[index].nicks.append(pair[1])
            } else {
                grouped.append(Reaction(emoji: pair[0], nicks: [pair[1]]))
            }
        }
        message.reactions = grouped.isEmpty ? nil : grouped
    }

    /// The author key an owner's or moderator's delete gives the message: no session's key (those are digests,
    /// and this is one value in 2^64), and the message is deleted at once, so nobody is its author after.
    static let moderatorStandIn = Int64.min

    /// One change, in its own transaction (`parley_change`).
    func apply(_ change: MessageChange, from pending: PendingMessage) async throws -> AppendResult {
        let (kind, text): (String, String) =
            switch change {
            case .edit(_, let text): ("edit", text)
            case .delete: ("delete", "")
            case .react(_, let emoji): ("react", emoji)
            case .unreact(_, let emoji): ("unreact", emoji)
            }
        // `parley_change` lets only a message's author delete it. An owner's or moderator's delete (§12) makes the
        // message theirs first, in one transaction, after taking the room's lock as `parley_change` does.
        let moderated = pending.byModerator && kind == "delete"
        let author = moderated ? Self.moderatorStandIn : pending.author?.value
        let maxEmoji = Int32(Limits.maxReactionEmoji)
        let maxReactors = Int32(Limits.maxReactors)
        let node = self.node
        // The stand-in is no session, so it is not saved as one; the moderator's own session is, on its own.
        let saves = pending.savesSession && !moderated
        @Sendable func run(on db: PostgresConnection) async throws -> AppendResult {
            let rows = try await db.query(
                """
                SELECT o_status, o_rev, o_nick, o_text, o_ts, o_client_id, o_reply_to, o_edited_at, o_deleted, o_reactions,
                    (SELECT m.attachments FROM messages m WHERE m.room_id = \(pending.roomID) AND m.id = \(change.id)),
                    EXISTS (SELECT 1 FROM messages m WHERE m.room_id = \(pending.roomID) AND m.id = \(change.id) AND m.verified)
                FROM parley_change(\(pending.roomID), \(change.id), \(kind), \(text), \(author), \(pending.nick),
                    \(pending.ts.milliseconds), \(saves), \(maxEmoji), \(maxReactors), \(node))
                """,
                logger: self.logger
            )
            typealias Row = (String, Int64?, String?, String?, Int64?, String?, Int64?, Int64?, Bool?, String?, String?, Bool)
            for try await row in rows.decode(Row.self) {
                let (status, rev, nick, text, ts, clientID, replyTo, editedAt, deleted, reactions, attachments, verified) = row
                switch status {
                case "changed":
                    guard let rev, let nick, let text, let ts else { throw StorageError.unavailable }
                    let message = Self.message(
                        (change.id, nick, text, ts, clientID, replyTo, editedAt, deleted ?? false, rev, reactions, attachments, verified)
                    )
                    return .changed(rev: rev, message)
                case "unchanged": return .unchanged
                case "no_room": return .noRoom
                case "not_found": return .refused(ProtocolError(.notFound, "no message \(change.id) in this room"))
                case "too_large":
                    return .refused(ProtocolError(.tooLarge, "a message holds at most \(maxEmoji) distinct emoji"))
                case "too_many_reactors":
                    return .refused(ProtocolError(.tooLarge, "at most \(maxReactors) members can react to a message"))
                default:
                    let what = kind == "react" ? "reactions need a session" : "only its author can \(kind) a message"
                    return .refused(ProtocolError(.forbidden, what))
                }
            }
            throw StorageError.unavailable
        }
        do {
            let result = try await client.withDeadline(Self.callTimeout) { connection in
                guard moderated else { return try await run(on: connection) }
                return try await connection.transaction(logger: self.logger) { db in
                    try await db.query("SELECT 1 FROM rooms WHERE id = \(pending.roomID) FOR UPDATE", logger: self.logger).collect()
                    try await db.query(
                        "UPDATE messages SET author = \(author) WHERE room_id = \(pending.roomID) AND id = \(change.id) AND NOT deleted",
                        logger: self.logger
                    ).collect()
                    return try await run(on: db)
                }
            }
            // The delete has committed: a session row that fails to save now must not report it as failed.
            if moderated, pending.savesSession { try? await saveSession(pending) }
            return result
        } catch let error as PSQLError where Self.isRowError(error) {
            logger.warning("a change could not be stored", metadata: ["error": "\(String(reflecting: error))"])
            return .refused(Self.rowRefused)
        }
    }

    /// Keeps a session's author key and nick for the room (a member that joined with a new session).
    func saveSession(_ pending: PendingMessage) async throws {
        guard let author = pending.author else { return }
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query(
                """
                INSERT INTO authors (room_id, author, nick, used_at)
                SELECT id, \(author.value), \(pending.nick), \(pending.ts.milliseconds) FROM rooms WHERE id = \(pending.roomID)
                ON CONFLICT (room_id, author) DO UPDATE SET nick = excluded.nick, used_at = excluded.used_at
                """,
                logger: self.logger
            )
        }
    }

    public func message(roomID: Int64, id: Int64) async throws -> ChatMessage? {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query(
                "SELECT \(unescaped: Self.messageColumns) FROM messages m WHERE m.room_id = \(roomID) AND m.id = \(id)",
                logger: self.logger
            )
            for try await row in rows.decode(MessageRow.self) { return Self.message(row) }
            return nil
        }
    }

    /// History and updates from one snapshot (a repeatable-read transaction).
    public func resume(roomID: Int64, since: Int64, rev: Int64, limit: Int, updateLimit: Int) async throws -> ResumePage {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.transaction(logger: self.logger) { db in
                try await db.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: self.logger)
                var lastID: Int64 = 0
                var roomRev: Int64 = 0
                for try await (last, current) in try await db.query(
                    "SELECT last_id, rev FROM rooms WHERE id = \(roomID)",
                    logger: self.logger
                ).decode((Int64, Int64).self) {
                    (lastID, roomRev) = (last, current)
                }
                var history: [ChatMessage] = []
                for try await row in try await db.query(
                    """
                    SELECT \(unescaped: Self.messageColumns) FROM messages m
                    WHERE m.room_id = \(roomID) AND m.id > \(since) ORDER BY m.id DESC LIMIT \(limit + 1)
                    """,
                    logger: self.logger
                ).decode(MessageRow.self) {
                    history.append(Self.message(row))
                }
                let hasMore = history.count > limit
                if hasMore { history.removeLast() }
                history.reverse()
                // Newer messages are in the history already, in their current state; with `since` 0 no message
                // can have been changed before (and the rev index would be walked to its end for nothing).
                var updates: [ChatMessage] = []
                for try await row in try await db.query(
                    """
                    SELECT \(unescaped: Self.messageColumns) FROM messages m
                    WHERE m.room_id = \(roomID) AND m.rev > \(rev) AND m.id <= \(since) ORDER BY m.rev LIMIT \(since > 0 ? updateLimit + 1 : 0)
                    """,
                    logger: self.logger
                ).decode(MessageRow.self) {
                    updates.append(Self.message(row))
                }
                let truncated = updates.count > updateLimit
                if truncated { updates.removeLast() }
                return ResumePage(
                    history: MessagePage(messages: history, hasMore: hasMore, lastID: lastID, rev: roomRev),
                    updates: updates,
                    updatesTruncated: truncated
                )
            }
        }
    }

    public func changes(roomID: Int64, after rev: Int64, limit: Int) async throws -> ChangePage {
        try await client.withDeadline(Self.callTimeout) { db in
            // One statement, so the room's revision and the changes come from the same snapshot.
            let rows = try await db.query(
                """
                SELECT r.rev, \(unescaped: Self.messageColumns) FROM rooms r
                LEFT JOIN LATERAL (
                    SELECT * FROM messages WHERE room_id = r.id AND rev > \(rev) ORDER BY rev LIMIT \(limit + 1)
                ) m ON TRUE
                WHERE r.id = \(roomID)
                ORDER BY m.rev
                """,
                logger: self.logger
            )
            var covered = rev
            var changes: [(rev: Int64, message: ChatMessage)] = []
            typealias Row = (Int64, Int64?, String?, String?, Int64?, String?, Int64?, Int64?, Bool?, Int64?, String?, String?, Bool?)
            for try await row in rows.decode(Row.self) {
                let (roomRev, id, nick, text, ts, clientID, replyTo, editedAt, deleted, messageRev, reactions, attachments, verified) = row
                covered = roomRev
                guard let id, let nick, let text, let ts, let messageRev else { continue }
                let message = Self.message(
                    (id, nick, text, ts, clientID, replyTo, editedAt, deleted ?? false, messageRev, reactions, attachments, verified ?? false)
                )
                changes.append((messageRev, message))
            }
            let hasMore = changes.count > limit
            if hasMore {
                changes.removeLast()
                // Every change up to the last one kept is in the page (it is read in revision order).
                covered = changes.last?.rev ?? rev
            }
            return ChangePage(changes: changes, covered: max(covered, rev), hasMore: hasMore)
        }
    }

    /// Served by the GIN index on the folded text's `tsvector`; each word of the query is a prefix (`:*`).
    public func search(roomID: Int64, query: String, before: Int64?, limit: Int) async throws -> MessagePage {
        // Control characters separate words, as they never occur in an indexed word; PostgreSQL refuses a NUL.
        var words = String.UnicodeScalarView()
        for scalar in query.unicodeScalars {
            words.append(scalar.properties.generalCategory == .control ? " " : scalar)
        }
        let query = String(words)
        return try await client.withDeadline(Self.callTimeout) { db in
            try await db.transaction(logger: self.logger) { db in
                try await self.searchRows(db, roomID: roomID, query: query, before: before, limit: limit)
            }
        }
    }

    /// The planner cannot estimate how many messages a prefix query matches, and with a constant guess it
    /// walked the room's primary key backwards, filtering every message (seconds for a rare word in a room of
    /// 200,000). Here it may only use the full-text index: plain index scans and sequential scans are off
    /// for this transaction, and `room_id + 0` keeps the room's primary key out of a bitmap.
    private func searchRows(_ db: PostgresConnection, roomID: Int64, query: String, before: Int64?, limit: Int) async throws -> MessagePage {
        try await db.query("SET LOCAL enable_seqscan = off", logger: logger)
        try await db.query("SET LOCAL enable_indexscan = off", logger: logger)
        let rows = try await db.query(
            """
            SELECT r.last_id, \(unescaped: Self.messageColumns) FROM rooms r
            LEFT JOIN LATERAL (
                SELECT * FROM messages
                WHERE room_id + 0 = r.id AND id < \(before ?? Int64.max)
                    AND to_tsvector('simple', parley_fold(text)) @@ parley_search_query(\(query))
                ORDER BY id DESC LIMIT \(limit + 1)
            ) m ON TRUE
            WHERE r.id = \(roomID)
            ORDER BY m.id DESC
            """,
            logger: logger
        )
        var lastID: Int64 = 0
        var messages: [ChatMessage] = []
        typealias Row = (Int64, Int64?, String?, String?, Int64?, String?, Int64?, Int64?, Bool?, Int64?, String?, String?, Bool?)
        for try await row in rows.decode(Row.self) {
            let (last, id, nick, text, ts, clientID, replyTo, editedAt, deleted, rev, reactions, attachments, verified) = row
            lastID = last
            guard let id, let nick, let text, let ts else { continue }
            messages.append(
                Self.message((id, nick, text, ts, clientID, replyTo, editedAt, deleted ?? false, rev, reactions, attachments, verified ?? false))
            )
        }
        let hasMore = messages.count > limit
        if hasMore { messages.removeLast() }
        return MessagePage(messages: messages, hasMore: hasMore, lastID: lastID)
    }

    public func session(roomID: Int64, author: AuthorKey) async throws -> String? {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query(
                "SELECT nick FROM authors WHERE room_id = \(roomID) AND author = \(author.value)",
                logger: self.logger
            )
            for try await nick in rows.decode(String.self) { return nick }
            return nil
        }
    }
}
