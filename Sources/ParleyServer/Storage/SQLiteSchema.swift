import GRDB

/// Versioned SQLite schema. Never edit a registered migration: add a new one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: rooms and messages") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rooms (
                        id INTEGER PRIMARY KEY,
                        code TEXT NOT NULL UNIQUE,
                        name TEXT,
                        created_at INTEGER NOT NULL,
                        last_id INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE messages (
                        room_id INTEGER NOT NULL REFERENCES rooms(id),
                        id INTEGER NOT NULL,
                        nick TEXT NOT NULL,
                        text TEXT NOT NULL,
                        ts INTEGER NOT NULL,
                        client_id TEXT,
                        PRIMARY KEY (room_id, id)
                    ) WITHOUT ROWID;
                    CREATE UNIQUE INDEX messages_client_id ON messages (room_id, client_id) WHERE client_id IS NOT NULL;
                    """
            )
        }
        migrator.registerMigration("v2: open rooms forgotten until used, and a health probe row") { db in
            try db.execute(
                sql: """
                    ALTER TABLE rooms ADD COLUMN ephemeral INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE parley_room_ids (only INTEGER PRIMARY KEY CHECK (only = 1), forgotten INTEGER NOT NULL);
                    INSERT INTO parley_room_ids (only, forgotten) VALUES (1, 0);
                    CREATE TABLE parley_health (only INTEGER PRIMARY KEY CHECK (only = 1), checked_at INTEGER NOT NULL, room BLOB);
                    """
            )
        }
        migrator.registerMigration("v3: living messages, sessions and search") { db in
            // `rev` on a message is the revision of its last change (NULL for a message never changed), so plain
            // messages add nothing to `messages_rev`. The search rowid packs the room and the message id
            // (``SQLiteSchema/searchRowID``); the index is contentless, so no copy of the text is kept in it, and
            // keeps no per-message token counts (`columnsize = 0`: nothing ranks by them), a write less per message.
            try db.execute(
                sql: """
                    ALTER TABLE rooms ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE messages ADD COLUMN reply_to INTEGER;
                    ALTER TABLE messages ADD COLUMN author INTEGER;
                    ALTER TABLE messages ADD COLUMN edited_at INTEGER;
                    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE messages ADD COLUMN rev INTEGER;
                    CREATE INDEX messages_rev ON messages (room_id, rev) WHERE rev IS NOT NULL;
                    CREATE TABLE reactions (
                        room_id INTEGER NOT NULL,
                        message_id INTEGER NOT NULL,
                        emoji TEXT NOT NULL,
                        reactor INTEGER NOT NULL,
                        nick TEXT NOT NULL,
                        rev INTEGER NOT NULL,
                        PRIMARY KEY (room_id, message_id, emoji, reactor)
                    ) WITHOUT ROWID;
                    CREATE TABLE sessions (
                        room_id INTEGER NOT NULL,
                        author INTEGER NOT NULL,
                        nick TEXT NOT NULL,
                        used_at INTEGER NOT NULL,
                        PRIMARY KEY (room_id, author)
                    ) WITHOUT ROWID;
                    CREATE VIRTUAL TABLE message_search USING fts5(
                        text, content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
                    );
                    INSERT INTO message_search (rowid, text) SELECT room_id * 4294967296 + id, text FROM messages WHERE room_id < 2147483648;
                    CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
                        INSERT INTO message_search (rowid, text)
                            SELECT new.room_id * 4294967296 + new.id, new.text WHERE new.room_id < 2147483648;
                    END;
                    CREATE TRIGGER message_search_update AFTER UPDATE OF text ON messages WHEN old.room_id < 2147483648 BEGIN
                        INSERT INTO message_search (message_search, rowid, text)
                            VALUES ('delete', old.room_id * 4294967296 + old.id, old.text);
                        INSERT INTO message_search (rowid, text)
                            SELECT new.room_id * 4294967296 + new.id, new.text WHERE new.deleted = 0;
                    END;
                    """
            )
        }
        migrator.registerMigration("v4: prefix indexes for two- and three-letter search words") { db in
            // Every search word is a prefix; FTS5 merges the doclists of every term a short prefix matches, which
            // took a common three-letter prefix to p99 192 ms on a room of 1,000,000 messages. Indexes of the
            // two- and three-letter prefixes make those one lookup each (longer prefixes match few terms). The
            // index is rebuilt: the option cannot be added to an existing table.
            try db.execute(
                sql: """
                    DROP TRIGGER message_search_insert;
                    DROP TRIGGER message_search_update;
                    DROP TABLE message_search;
                    CREATE VIRTUAL TABLE message_search USING fts5(
                        text, content = '', columnsize = 0, prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2'
                    );
                    INSERT INTO message_search (rowid, text)
                        SELECT room_id * 4294967296 + id, text FROM messages WHERE room_id < 2147483648 AND deleted = 0;
                    CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
                        INSERT INTO message_search (rowid, text)
                            SELECT new.room_id * 4294967296 + new.id, new.text WHERE new.room_id < 2147483648;
                    END;
                    CREATE TRIGGER message_search_update AFTER UPDATE OF text ON messages WHEN old.room_id < 2147483648 BEGIN
                        INSERT INTO message_search (message_search, rowid, text)
                            VALUES ('delete', old.room_id * 4294967296 + old.id, old.text);
                        INSERT INTO message_search (rowid, text)
                            SELECT new.room_id * 4294967296 + new.id, new.text WHERE new.deleted = 0;
                    END;
                    """
            )
        }
        migrator.registerMigration("v5: room owners, moderator keys, bans and room settings") { db in
            // Keys and sessions are kept as SHA-256 digests only (``SecretDigest``); a ban names what it refuses
            // (a session digest, a verified subject, a client address), one row per banned member.
            try db.execute(
                sql: """
                    ALTER TABLE rooms ADD COLUMN topic TEXT;
                    ALTER TABLE rooms ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE rooms ADD COLUMN slow_mode INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE room_keys (
                        room_id INTEGER NOT NULL,
                        digest BLOB NOT NULL,
                        role TEXT NOT NULL,
                        PRIMARY KEY (room_id, digest)
                    ) WITHOUT ROWID;
                    CREATE TABLE bans (
                        id INTEGER PRIMARY KEY,
                        room_id INTEGER NOT NULL,
                        nick TEXT NOT NULL,
                        nick_key TEXT NOT NULL,
                        until INTEGER,
                        session BLOB,
                        subject TEXT,
                        address TEXT
                    );
                    CREATE INDEX bans_room ON bans (room_id, nick_key);
                    """
            )
        }
        migrator.registerMigration("v6: verified messages") { db in
            // Sent by a verified identity (§13); shown as `verified: true` wherever the message is.
            try db.execute(sql: "ALTER TABLE messages ADD COLUMN verified INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v7: files and attachments") { db in
            // Content is kept once per SHA-256 (`hash` is NULL while its upload is under way), in chunks of
            // ``FileChunking/chunkBytes``; `files` are what users uploaded, each pointing at its content. A message's
            // attachments are also kept on the message as the JSON its readers get, so reading history costs no join.
            try db.execute(
                sql: """
                    CREATE TABLE file_contents (
                        id INTEGER PRIMARY KEY,
                        hash TEXT UNIQUE,
                        size INTEGER NOT NULL,
                        created_at INTEGER NOT NULL
                    );
                    CREATE TABLE file_chunks (
                        content_id INTEGER NOT NULL,
                        idx INTEGER NOT NULL,
                        data BLOB NOT NULL
                    );
                    CREATE UNIQUE INDEX file_chunks_content ON file_chunks (content_id, idx);
                    CREATE TABLE files (
                        id TEXT PRIMARY KEY,
                        room_id INTEGER NOT NULL,
                        content_id INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        type TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        width INTEGER,
                        height INTEGER,
                        created_at INTEGER NOT NULL,
                        message_id INTEGER
                    ) WITHOUT ROWID;
                    CREATE INDEX files_room ON files (room_id, message_id);
                    CREATE INDEX files_content ON files (content_id);
                    CREATE INDEX files_unattached ON files (created_at) WHERE message_id IS NULL;
                    ALTER TABLE messages ADD COLUMN attachments TEXT;
                    """
            )
        }
        migrator.registerMigration("v8: search indexed after the commit") { db in
            // New messages are indexed in the background (``SQLiteSearchIndex``), up to `indexed_id` in each room;
            // what v4's trigger indexed is counted as done. An edit or deletion changes the index only for a
            // message already in it; the indexer reads the current text of the others. The partial index lists
            // the rooms that are behind.
            try db.execute(
                sql: """
                    DROP TRIGGER message_search_insert;
                    DROP TRIGGER message_search_update;
                    ALTER TABLE rooms ADD COLUMN indexed_id INTEGER NOT NULL DEFAULT 0;
                    UPDATE rooms SET indexed_id = last_id;
                    CREATE INDEX rooms_unindexed ON rooms (id) WHERE last_id > indexed_id AND id < 2147483648;
                    CREATE TRIGGER message_search_update AFTER UPDATE OF text ON messages
                        WHEN old.room_id < 2147483648 AND old.id <= (SELECT indexed_id FROM rooms WHERE id = old.room_id)
                    BEGIN
                        INSERT INTO message_search (message_search, rowid, text)
                            VALUES ('delete', old.room_id * 4294967296 + old.id, old.text);
                        INSERT INTO message_search (rowid, text)
                            SELECT new.room_id * 4294967296 + new.id, new.text WHERE new.deleted = 0;
                    END;
                    """
            )
        }
        return migrator
    }

    /// The full-text index's rowid for a message: the room id in the high 32 bits, so one room's messages are a
    /// contiguous rowid range, searched newest first without looking at other rooms. Rooms from id 2^31 on are
    /// not indexed (their rowids would not fit), rather than failing the commit: their searches find nothing.
    /// Room ids are handed out in order from 1, so only a server past two billion rooms meets the limit.
    static func searchRowID(roomID: Int64, id: Int64) -> Int64 {
        roomID << 32 + id
    }
}
