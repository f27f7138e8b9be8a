import Logging
import NIOCore
import ParleyProtocol
import PostgresNIO

/// Files in the PostgreSQL database of the messages (migration 10), shared by every node: a file uploaded
/// through one node is served by any other.
///
/// Each chunk is written as it arrives, in its own statement, so an upload never holds a transaction open nor a
/// whole file in memory; every call has the storage deadline.
struct PostgresFileStore: FileStore {
    let client: PostgresPool
    let logger: Logger
    static let callTimeout = StorageDeadline.call
    /// Chunks deleted to a statement by the sweep.
    static let deleteBatch = 64

    func roomBytes(roomID: Int64) async throws -> Int64 {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query("SELECT coalesce(sum(size), 0)::BIGINT FROM files WHERE room_id = \(roomID)", logger: logger)
            for try await bytes in rows.decode(Int64.self) { return bytes }
            return 0
        }
    }

    /// Every node's stored content (shared content once), for the server-wide cap.
    func totalBytes() async throws -> Int64 {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query("SELECT coalesce(sum(size), 0)::BIGINT FROM file_contents", logger: logger)
            for try await bytes in rows.decode(Int64.self) { return bytes }
            return 0
        }
    }

    func beginContent() async throws -> Int64 {
        try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query(
                "INSERT INTO file_contents (hash, size, created_at) VALUES (NULL, 0, \(Timestamp.now().milliseconds)) RETURNING id",
                logger: logger
            )
            for try await id in rows.decode(Int64.self) { return id }
            throw StorageError.unavailable
        }
    }

    func writeChunk(content: Int64, index: Int, bytes: ByteBuffer) async throws {
        let index = Int32(index)
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query("INSERT INTO file_chunks (content_id, idx, data) VALUES (\(content), \(index), \(bytes))", logger: logger)
        }
    }

    /// One transaction under a per-room advisory lock, so uploads finishing together on several nodes cannot
    /// both fit in the room's last free bytes. A content with the same hash that a node stores meanwhile is
    /// found on the second try.
    func finish(content: Int64, upload: FileUpload, maxRoomBytes: Int64) async throws -> StoredFile {
        do {
            return try await finishOnce(content: content, upload: upload, maxRoomBytes: maxRoomBytes)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            return try await finishOnce(content: content, upload: upload, maxRoomBytes: maxRoomBytes)
        }
    }

    private func finishOnce(content: Int64, upload: FileUpload, maxRoomBytes: Int64) async throws -> StoredFile {
        let now = Timestamp.now()
        let width = upload.width.map(Int32.init(clamping:))
        let height = upload.height.map(Int32.init(clamping:))
        // A full room is an answer, returned rather than thrown, so the pool does not count it as a silent database.
        let outcome: Result<StoredFile, FileRefusal> = try await client.withDeadline(Self.callTimeout) { db in
            do {
                return .success(
                    try await db.transaction(logger: logger) { db in
                        try await db.query("SELECT pg_advisory_xact_lock(7210, \(Int32(truncatingIfNeeded: upload.roomID)))", logger: logger)
                        var used: Int64 = 0
                        for try await bytes in try await db.query(
                            "SELECT coalesce(sum(size), 0)::BIGINT FROM files WHERE room_id = \(upload.roomID)",
                            logger: logger
                        ).decode(Int64.self) {
                            used = bytes
                        }
                        guard used + upload.size <= maxRoomBytes else { throw FileRefusal.roomFull }
                        // Locked, so a sweep that would take it away waits for this file to use it (and then keeps it).
                        var contentID = content
                        for try await existing in try await db.query(
                            "SELECT id FROM file_contents WHERE hash = \(upload.hash) FOR UPDATE",
                            logger: logger
                        ).decode(Int64.self) {
                            contentID = existing
                        }
                        if contentID != content {
                            // The same bytes are stored already: this upload's copy is left for the sweep, its size
                            // counted against the server's cap until then.
                            try await db.query(
                                "UPDATE file_contents SET created_at = 0, size = \(upload.size) WHERE id = \(content)",
                                logger: logger
                            )
                        } else {
                            try await db.query(
                                "UPDATE file_contents SET hash = \(upload.hash), size = \(upload.size) WHERE id = \(content)",
                                logger: logger
                            )
                        }
                        try await db.query(
                            """
                            INSERT INTO files (id, room_id, content_id, name, type, size, width, height, created_at)
                            VALUES (\(upload.id), \(upload.roomID), \(contentID), \(upload.name), \(upload.type), \(upload.size),
                                \(width), \(height), \(now.milliseconds))
                            """,
                            logger: logger
                        )
                        return upload.stored(contentID: contentID, at: now)
                    }
                )
            } catch let refusal as FileRefusal {
                return .failure(refusal)
            }
        }
        return try outcome.get()
    }

    func abandon(content: Int64, bytes: Int64) async {
        // Left for the sweep, which deletes it a batch of chunks at a time.
        _ = try? await client.withDeadline(Self.callTimeout) { db in
            try await db.query(
                "UPDATE file_contents SET created_at = 0, size = \(bytes) WHERE id = \(content) AND hash IS NULL",
                logger: logger
            )
        }
    }

    func file(id: String) async throws -> StoredFile? {
        guard FileRules.isFileID(id) else { return nil }
        return try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query(
                """
                SELECT f.room_id, f.content_id, f.name, f.type, f.size, f.width, f.height, f.created_at, f.message_id, c.hash
                FROM files f JOIN file_contents c ON c.id = f.content_id WHERE f.id = \(id)
                """,
                logger: logger
            )
            typealias Row = (Int64, Int64, String, String, Int64, Int32?, Int32?, Int64, Int64?, String?)
            for try await (roomID, contentID, name, type, size, width, height, createdAt, messageID, hash) in rows.decode(Row.self) {
                guard let hash else { return nil }
                return StoredFile(
                    attachment: Attachment(id: id, name: name, type: type, size: size, width: width.map(Int.init), height: height.map(Int.init)),
                    roomID: roomID,
                    contentID: contentID,
                    hash: hash,
                    messageID: messageID,
                    createdAt: Timestamp(milliseconds: createdAt)
                )
            }
            return nil
        }
    }

    func chunk(content: Int64, index: Int) async throws -> ByteBuffer? {
        let index = Int32(clamping: index)
        return try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query("SELECT data FROM file_chunks WHERE content_id = \(content) AND idx = \(index)", logger: logger)
            for try await data in rows.decode(ByteBuffer.self) { return data }
            return nil
        }
    }

    func sweep(unattachedBefore cutoff: Timestamp) async throws -> Int64 {
        try await client.withDeadline(Self.callTimeout) { db in
            try await db.query("DELETE FROM files WHERE message_id IS NULL AND created_at < \(cutoff.milliseconds)", logger: logger)
        }
        // Content nobody uses: finished and no longer referenced, or an upload that began before the cutoff and
        // never finished (on any node).
        let unused = try await client.withDeadline(Self.callTimeout) { db in
            var ids: [Int64] = []
            for try await id in try await db.query(
                """
                SELECT id FROM file_contents c
                WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.content_id = c.id) AND (c.hash IS NOT NULL OR c.created_at < \(cutoff.milliseconds))
                """,
                logger: logger
            ).decode(Int64.self) {
                ids.append(id)
            }
            return ids
        }
        for content in unused {
            // Taken out of reach of deduplication first, unless an upload has just started using it again. The row
            // lock waits for an upload finishing with it; the next statement then sees that upload's file.
            let claimed = try await client.withDeadline(Self.callTimeout) { db in
                try await db.transaction(logger: logger) { db in
                    try await db.query("SELECT id FROM file_contents WHERE id = \(content) FOR UPDATE", logger: logger)
                    let rows = try await db.query(
                        """
                        UPDATE file_contents SET hash = NULL, created_at = 0
                        WHERE id = \(content) AND NOT EXISTS (SELECT 1 FROM files f WHERE f.content_id = file_contents.id)
                        RETURNING id
                        """,
                        logger: logger
                    )
                    var claimed = false
                    for try await _ in rows.decode(Int64.self) { claimed = true }
                    return claimed
                }
            }
            guard claimed else { continue }
            while true {
                let deleted = try await client.withDeadline(Self.callTimeout) { db in
                    let rows = try await db.query(
                        """
                        WITH gone AS (
                            DELETE FROM file_chunks WHERE content_id = \(content) AND idx IN (
                                SELECT idx FROM file_chunks WHERE content_id = \(content) ORDER BY idx LIMIT \(Self.deleteBatch)
                            ) RETURNING 1
                        )
                        SELECT count(*)::BIGINT FROM gone
                        """,
                        logger: logger
                    )
                    var count: Int64 = 0
                    for try await value in rows.decode(Int64.self) { count = value }
                    return count
                }
                if deleted == 0 { break }
            }
            try await client.withDeadline(Self.callTimeout) { db in
                try await db.query("DELETE FROM file_contents WHERE id = \(content)", logger: logger)
            }
        }
        return try await client.withDeadline(Self.callTimeout) { db in
            let rows = try await db.query("SELECT coalesce(sum(size), 0)::BIGINT FROM file_contents WHERE hash IS NOT NULL", logger: logger)
            for try await bytes in rows.decode(Int64.self) { return bytes }
            return 0
        }
    }

    func eraseFiles(room roomID: Int64) async throws {
        try await client.withDeadline(Self.callTimeout) { db in
            try await PostgresMessageStore.eraseFiles(db, roomID: roomID, logger: logger)
        }
    }
}
