import Foundation
import GRDB
import NIOCore
import ParleyProtocol

/// Files in the SQLite database of the messages (schema "v7").
///
/// Every write goes through the same writer connection as the message commits, one chunk to a transaction: a
/// commit of messages waits behind at most one chunk's write, never behind a whole upload, and there is no
/// second connection to contend with for SQLite's one write lock.
struct SQLiteFileStore: FileStore {
    let database: any DatabaseWriter
    /// Counts writes for the checkpointer's pacing; nil in memory.
    let checkpointer: WALCheckpointer?

    init(store: SQLiteMessageStore) {
        database = store.database
        checkpointer = store.checkpointer
    }

    func roomBytes(roomID: Int64) async throws -> Int64 {
        try await database.read { db in
            try Int64.fetchOne(db, sql: "SELECT coalesce(sum(size), 0) FROM files WHERE room_id = ?", arguments: [roomID]) ?? 0
        }
    }

    func totalBytes() async throws -> Int64 {
        try await database.read { db in
            try Int64.fetchOne(db, sql: "SELECT coalesce(sum(size), 0) FROM file_contents") ?? 0
        }
    }

    func beginContent() async throws -> Int64 {
        defer { checkpointer?.committed() }
        return try await database.write { db in
            try db.execute(sql: "INSERT INTO file_contents (hash, size, created_at) VALUES (NULL, 0, ?)", arguments: [Timestamp.now().milliseconds])
            return db.lastInsertedRowID
        }
    }

    func writeChunk(content: Int64, index: Int, bytes: ByteBuffer) async throws {
        defer { checkpointer?.committed() }
        let data = Data(bytes.readableBytesView)
        try await database.write { db in
            try db.execute(sql: "INSERT INTO file_chunks (content_id, idx, data) VALUES (?, ?, ?)", arguments: [content, index, data])
        }
    }

    func finish(content: Int64, upload: FileUpload, maxRoomBytes: Int64) async throws -> StoredFile {
        defer { checkpointer?.committed() }
        let now = Timestamp.now()
        return try await database.write { db in
            let used = try Int64.fetchOne(db, sql: "SELECT coalesce(sum(size), 0) FROM files WHERE room_id = ?", arguments: [upload.roomID]) ?? 0
            guard used + upload.size <= maxRoomBytes else { throw FileRefusal.roomFull }
            var contentID = content
            if let existing = try Int64.fetchOne(db, sql: "SELECT id FROM file_contents WHERE hash = ?", arguments: [upload.hash]) {
                // The same bytes are stored already: this upload's copy is left for the sweep to delete (unreferenced,
                // with no hash), rather than deleting a large file's chunks inside this transaction. Until then its
                // size counts against the server's cap: the bytes are on disk.
                contentID = existing
                try db.execute(sql: "UPDATE file_contents SET created_at = 0, size = ? WHERE id = ?", arguments: [upload.size, content])
            } else {
                try db.execute(sql: "UPDATE file_contents SET hash = ?, size = ? WHERE id = ?", arguments: [upload.hash, upload.size, content])
            }
            try db.execute(
                sql: """
                    INSERT INTO files (id, room_id, content_id, name, type, size, width, height, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    upload.id, upload.roomID, contentID, upload.name, upload.type, upload.size, upload.width, upload.height,
                    now.milliseconds,
                ]
            )
            return upload.stored(contentID: contentID, at: now)
        }
    }

    func abandon(content: Int64, bytes: Int64) async {
        // Left for the sweep, which deletes it a chunk batch at a time.
        _ = try? await database.write { db in
            try db.execute(sql: "UPDATE file_contents SET created_at = 0, size = ? WHERE id = ? AND hash IS NULL", arguments: [bytes, content])
        }
    }

    func file(id: String) async throws -> StoredFile? {
        guard FileRules.isFileID(id) else { return nil }
        return try await database.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT f.room_id, f.content_id, f.name, f.type, f.size, f.width, f.height, f.created_at, f.message_id, c.hash
                    FROM files f JOIN file_contents c ON c.id = f.content_id WHERE f.id = ?
                    """,
                arguments: [id]
            )
            guard let row else { return nil }
            return StoredFile(
                attachment: Attachment(id: id, name: row[2], type: row[3], size: row[4], width: row[5], height: row[6]),
                roomID: row[0],
                contentID: row[1],
                hash: row[9],
                messageID: row[8],
                createdAt: Timestamp(milliseconds: row[7])
            )
        }
    }

    func chunk(content: Int64, index: Int) async throws -> ByteBuffer? {
        try await database.read { db in
            guard let data = try Data.fetchOne(db, sql: "SELECT data FROM file_chunks WHERE content_id = ? AND idx = ?", arguments: [content, index])
            else { return nil }
            return ByteBuffer(bytes: data)
        }
    }

    func sweep(unattachedBefore cutoff: Timestamp) async throws -> Int64 {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM files WHERE message_id IS NULL AND created_at < ?", arguments: [cutoff.milliseconds])
        }
        // Content nobody uses: finished and no longer referenced, or an upload that began before the cutoff and never
        // finished. Deleted a few chunks to a transaction (secure_delete overwrites them), so messages keep flowing.
        let unused = try await database.read { db in
            try Int64.fetchAll(
                db,
                sql: """
                    SELECT id FROM file_contents c
                    WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.content_id = c.id) AND (c.hash IS NOT NULL OR c.created_at < ?)
                    """,
                arguments: [cutoff.milliseconds]
            )
        }
        for content in unused {
            // Taken out of reach of deduplication first, unless an upload has just started using it again.
            let claimed = try await database.write { db in
                try db.execute(
                    sql: """
                        UPDATE file_contents SET hash = NULL, created_at = 0
                        WHERE id = ? AND NOT EXISTS (SELECT 1 FROM files f WHERE f.content_id = file_contents.id)
                        """,
                    arguments: [content]
                )
                return db.changesCount > 0
            }
            guard claimed else { continue }
            while true {
                let deleted = try await database.write { db in
                    try db.execute(
                        sql: "DELETE FROM file_chunks WHERE rowid IN (SELECT rowid FROM file_chunks WHERE content_id = ? LIMIT 8)",
                        arguments: [content]
                    )
                    return db.changesCount
                }
                checkpointer?.committed()
                if deleted == 0 { break }
            }
            try await database.write { db in
                try db.execute(sql: "DELETE FROM file_contents WHERE id = ?", arguments: [content])
            }
        }
        return try await database.read { db in
            try Int64.fetchOne(db, sql: "SELECT coalesce(sum(size), 0) FROM file_contents WHERE hash IS NOT NULL") ?? 0
        }
    }

    func eraseFiles(room roomID: Int64) async throws {
        try await database.write { db in try Self.eraseFiles(db, roomID: roomID) }
    }

    /// Inside the transaction that deletes the room (§12): its files go with it; the sweep then erases their
    /// content, a few chunks to a transaction, rather than holding the writer for all of it here.
    static func eraseFiles(_ db: Database, roomID: Int64) throws {
        try db.execute(sql: "DELETE FROM files WHERE room_id = ?", arguments: [roomID])
    }
}
