import PostgresNIO

extension PostgresSchema {
    /// Room owners and moderation (§12): settings on the room's row, keys and bans in their own tables. Keys and
    /// sessions are kept as SHA-256 digests (hex) only.
    static let ownersMigrations: [Migration] = [
        Migration(
            version: 8,
            name: "room owners, moderator keys, bans and room settings",
            statements: [
                "ALTER TABLE rooms ADD COLUMN topic TEXT",
                "ALTER TABLE rooms ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE",
                "ALTER TABLE rooms ADD COLUMN slow_mode INTEGER NOT NULL DEFAULT 0",
                """
                CREATE TABLE room_keys (
                    room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
                    digest TEXT NOT NULL,
                    role TEXT NOT NULL,
                    PRIMARY KEY (room_id, digest)
                )
                """,
                """
                CREATE TABLE bans (
                    id BIGSERIAL PRIMARY KEY,
                    room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
                    nick TEXT NOT NULL,
                    nick_key TEXT NOT NULL,
                    until BIGINT,
                    session TEXT,
                    subject TEXT,
                    address TEXT
                )
                """,
                "CREATE INDEX bans_room ON bans (room_id, nick_key)",
            ]
        )
    ]
}
