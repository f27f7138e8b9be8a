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
        return migrator
    }
}
