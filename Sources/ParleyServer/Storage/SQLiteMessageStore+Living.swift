import Foundation
import GRDB
import ParleyProtocol

/// Reads for living messages and search (§11, §15).
extension SQLiteMessageStore {
    public var supportsLivingMessages: Bool { true }

    public func message(roomID: Int64, id: Int64) async throws -> ChatMessage? {
        try await database.read { db in try Self.message(db, roomID: roomID, id: id) }
    }

    public func resume(roomID: Int64, since: Int64, rev: Int64, limit: Int, updateLimit: Int) async throws -> ResumePage {
        try await snapshot { db in
            var rows = try Self.messages(
                db,
                sql: "WHERE room_id = ? AND id > ? ORDER BY id DESC LIMIT ?",
                arguments: [roomID, since, limit + 1]
            )
            let hasMore = rows.count > limit
            if hasMore { rows.removeLast() }
            rows.reverse()
            // Newer messages are in the history already, in their current state. With `since` 0 no message can
            // have been changed before, and the rev index would be walked to its end for nothing.
            var updates =
                since > 0
                ? try Self.messages(
                    db,
                    sql: "WHERE room_id = ? AND rev > ? AND id <= ? ORDER BY rev LIMIT ?",
                    arguments: [roomID, rev, since, updateLimit + 1]
                ) : []
            let updatesTruncated = updates.count > updateLimit
            if updatesTruncated { updates.removeLast() }
            let history = MessagePage(
                messages: rows,
                hasMore: hasMore,
                lastID: try Self.lastID(db, roomID: roomID),
                rev: try Self.currentRev(db, roomID: roomID)
            )
            return ResumePage(history: history, updates: updates, updatesTruncated: updatesTruncated)
        }
    }

    /// Served by the FTS5 index alone: the room is a rowid range of it, read newest first. The room's messages
    /// committed before the search began are indexed first, if the background indexer has not reached them.
    public func search(roomID: Int64, query: String, before: Int64?, limit: Int) async throws -> MessagePage {
        guard let match = SearchQuery.fts5(query) else { return MessagePage(messages: [], hasMore: false, lastID: 0) }
        try await catchUp(roomID: roomID)
        return try await database.read { db in
            let low = SQLiteSchema.searchRowID(roomID: roomID, id: 0)
            let high = SQLiteSchema.searchRowID(roomID: roomID, id: min(before ?? Int64(UInt32.max), Int64(UInt32.max)))
            let rowIDs = try Int64.fetchAll(
                db.cachedStatement(
                    sql: "SELECT rowid FROM message_search WHERE message_search MATCH ? AND rowid > ? AND rowid < ? ORDER BY rowid DESC LIMIT ?"
                ),
                arguments: [match, low, high, limit + 1]
            )
            let hasMore = rowIDs.count > limit
            var messages: [ChatMessage] = []
            for rowID in rowIDs.prefix(limit) {
                if let message = try Self.message(db, roomID: roomID, id: rowID - low) { messages.append(message) }
            }
            return MessagePage(messages: messages, hasMore: hasMore, lastID: try Self.lastID(db, roomID: roomID))
        }
    }

    /// Returns once the search index holds every message committed before and the words of deleted and edited
    /// messages are out of its pages (for tests and benchmarks).
    func searchSettled() async {
        searchIndex.flush()
        writer.wake()
        await searchIndex.settled()
    }

    /// Indexes the room's messages up to its last id as read now, in steps so commits go on in between.
    func catchUp(roomID: Int64) async throws {
        let positions = try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT indexed_id, last_id FROM rooms WHERE id = ? AND id < 2147483648", arguments: [roomID])
        }
        guard let positions else { return }
        let (indexedID, through): (Int64, Int64) = (positions[0], positions[1])
        guard indexedID < through else { return }
        let searchIndex = self.searchIndex
        while try await database.writeWithoutTransaction({ db in
            try searchIndex.catchUp(db, roomID: roomID, through: through, limit: SQLiteSearchIndex.catchUpMessages)
        }) {}
    }

    public func changes(roomID: Int64, after rev: Int64, limit: Int) async throws -> ChangePage {
        try await database.read { db in
            var changed = try Self.messages(
                db,
                sql: "WHERE room_id = ? AND rev > ? ORDER BY rev LIMIT ?",
                arguments: [roomID, rev, limit + 1]
            )
            let revs = try Int64.fetchAll(
                db.cachedStatement(sql: "SELECT rev FROM messages WHERE room_id = ? AND rev > ? ORDER BY rev LIMIT ?"),
                arguments: [roomID, rev, limit + 1]
            )
            var covered = try Self.currentRev(db, roomID: roomID)
            let hasMore = changed.count > limit
            if hasMore {
                changed.removeLast()
                covered = revs[limit - 1]
            }
            let changes = zip(revs, changed).map { (rev: $0, message: $1) }
            return ChangePage(changes: changes, covered: max(covered, rev), hasMore: hasMore)
        }
    }

    public func session(roomID: Int64, author: AuthorKey) async throws -> String? {
        try await statement { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT nick FROM sessions WHERE room_id = ? AND author = ?"),
                arguments: [roomID, author.value]
            )
        }
    }

    public func savedSessions(roomID: Int64, limit: Int) async throws -> [Int64: String] {
        try await statement { db in
            let rows = try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT author, nick FROM sessions WHERE room_id = ? ORDER BY used_at DESC LIMIT ?"),
                arguments: [roomID, limit]
            )
            var nicks: [Int64: String] = [:]
            while let row = try rows.next() { nicks[row[0]] = row[1] }
            return nicks
        }
    }
}

/// A search's words as an FTS5 query: every word must match, each as a prefix.
enum SearchQuery {
    /// Nil when `text` holds no letter or digit (nothing can match).
    static func fts5(_ text: String) -> String? {
        // Control characters separate words too: the tokenizer never indexes them, and a NUL would end the
        // query string SQLite reads.
        let separates = { (character: Character) in
            character.isWhitespace || character.unicodeScalars.contains { $0.properties.generalCategory == .control }
        }
        let words = text.split(whereSeparator: separates).filter { word in
            word.unicodeScalars.contains { $0.properties.isAlphabetic || $0.properties.numericType != nil }
        }
        guard !words.isEmpty else { return nil }
        // Each word quoted (inner quotes doubled) so nothing in it is FTS5 syntax; `*` makes it a prefix.
        return words.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"*" }.joined(separator: " ")
    }
}
