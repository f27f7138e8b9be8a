import Logging
import PostgresNIO

/// Versioned PostgreSQL schema, applied before the node listens. Never edit a registered migration: add one.
///
/// Nodes starting together take an advisory lock, so each migration runs exactly once.
enum PostgresSchema {
    struct Migration {
        var version: Int
        var name: String
        var statements: [PostgresQuery]
    }

    /// Every migration, in version order: this file's and the cluster's (`Cluster/PostgresSchema+Cluster.swift`).
    static var migrations: [Migration] {
        (storageMigrations + clusterMigrations + livingMigrations + ownersMigrations + identityMigrations + filesMigrations)
            .sorted { $0.version < $1.version }
    }

    static let storageMigrations: [Migration] = [
        Migration(
            version: 1,
            name: "rooms, messages and the append function",
            statements: [
                """
                CREATE TABLE rooms (
                    id BIGSERIAL PRIMARY KEY,
                    code TEXT NOT NULL UNIQUE,
                    name TEXT,
                    created_at BIGINT NOT NULL,
                    last_id BIGINT NOT NULL DEFAULT 0
                )
                """,
                """
                CREATE TABLE messages (
                    room_id BIGINT NOT NULL REFERENCES rooms(id),
                    id BIGINT NOT NULL,
                    nick TEXT NOT NULL,
                    text TEXT NOT NULL,
                    ts BIGINT NOT NULL,
                    client_id TEXT,
                    PRIMARY KEY (room_id, id)
                )
                """,
                "CREATE UNIQUE INDEX messages_client_id ON messages (room_id, client_id) WHERE client_id IS NOT NULL",
                // One call stores a whole batch (sorted by room) in one transaction. Rooms are locked in id order,
                // so nodes appending to the same rooms cannot deadlock, and the row lock makes ids gap-free and
                // committed in id order. Each room's new range is announced with NOTIFY, which PostgreSQL
                // delivers only on commit and in commit order; the text never travels in the payload.
                """
                CREATE FUNCTION parley_append(
                    p_rooms BIGINT[], p_nicks TEXT[], p_texts TEXT[], p_ts BIGINT[], p_client_ids TEXT[], p_node TEXT
                ) RETURNS TABLE (o_ord INTEGER, o_id BIGINT, o_duplicate BOOLEAN, o_nick TEXT, o_text TEXT, o_ts BIGINT)
                LANGUAGE plpgsql AS $fn$
                DECLARE
                    item RECORD;
                    original RECORD;
                    current_room BIGINT := NULL;
                    current_code TEXT;
                    first_id BIGINT;
                    top_id BIGINT;
                BEGIN
                    FOR item IN
                        SELECT u.room, u.nick, u.text, u.ts, NULLIF(u.client_id, '') AS client_id, u.ord::INTEGER AS ord
                        FROM unnest(p_rooms, p_nicks, p_texts, p_ts, p_client_ids) WITH ORDINALITY
                            AS u(room, nick, text, ts, client_id, ord)
                    LOOP
                        IF current_room IS DISTINCT FROM item.room THEN
                            IF current_room IS NOT NULL AND top_id >= first_id THEN
                                UPDATE rooms SET last_id = top_id WHERE id = current_room;
                                PERFORM pg_notify('parley', json_build_object(
                                    'k', 'message', 'room', current_code, 'last', top_id, 'node', p_node)::TEXT);
                            END IF;
                            current_room := item.room;
                            SELECT r.last_id, r.code INTO top_id, current_code FROM rooms r WHERE r.id = current_room FOR UPDATE;
                            first_id := top_id + 1;
                        END IF;
                        IF item.client_id IS NOT NULL THEN
                            SELECT m.id, m.nick, m.text, m.ts INTO original
                            FROM messages m WHERE m.room_id = item.room AND m.client_id = item.client_id;
                            IF FOUND THEN
                                o_ord := item.ord; o_id := original.id; o_duplicate := TRUE;
                                o_nick := original.nick; o_text := original.text; o_ts := original.ts;
                                RETURN NEXT;
                                CONTINUE;
                            END IF;
                        END IF;
                        top_id := top_id + 1;
                        INSERT INTO messages (room_id, id, nick, text, ts, client_id)
                        VALUES (item.room, top_id, item.nick, item.text, item.ts, item.client_id);
                        o_ord := item.ord; o_id := top_id; o_duplicate := FALSE;
                        o_nick := item.nick; o_text := item.text; o_ts := item.ts;
                        RETURN NEXT;
                    END LOOP;
                    IF current_room IS NOT NULL AND top_id >= first_id THEN
                        UPDATE rooms SET last_id = top_id WHERE id = current_room;
                        PERFORM pg_notify('parley', json_build_object(
                            'k', 'message', 'room', current_code, 'last', top_id, 'node', p_node)::TEXT);
                    END IF;
                END
                $fn$
                """,
            ]
        ),
        Migration(
            version: 5,
            name: "open rooms forgotten until used",
            statements: [
                // Set for rooms a connection opened; such a room with no message and no member is deleted.
                "ALTER TABLE rooms ADD COLUMN ephemeral BOOLEAN NOT NULL DEFAULT FALSE"
            ]
        ),
        Migration(
            version: 6,
            name: "appending to a forgotten room refuses only its messages",
            statements: [
                // As version 1's, but a room forgotten after its messages were queued (no row) gets rows with
                // no id for its messages instead of failing the whole batch, and a room with messages is no
                // longer ephemeral.
                """
                CREATE OR REPLACE FUNCTION parley_append(
                    p_rooms BIGINT[], p_nicks TEXT[], p_texts TEXT[], p_ts BIGINT[], p_client_ids TEXT[], p_node TEXT
                ) RETURNS TABLE (o_ord INTEGER, o_id BIGINT, o_duplicate BOOLEAN, o_nick TEXT, o_text TEXT, o_ts BIGINT)
                LANGUAGE plpgsql AS $fn$
                DECLARE
                    item RECORD;
                    original RECORD;
                    current_room BIGINT := NULL;
                    current_code TEXT;
                    first_id BIGINT;
                    top_id BIGINT;
                BEGIN
                    FOR item IN
                        SELECT u.room, u.nick, u.text, u.ts, NULLIF(u.client_id, '') AS client_id, u.ord::INTEGER AS ord
                        FROM unnest(p_rooms, p_nicks, p_texts, p_ts, p_client_ids) WITH ORDINALITY
                            AS u(room, nick, text, ts, client_id, ord)
                    LOOP
                        IF current_room IS DISTINCT FROM item.room THEN
                            IF current_room IS NOT NULL AND top_id >= first_id THEN
                                UPDATE rooms SET last_id = top_id, ephemeral = FALSE WHERE id = current_room;
                                PERFORM pg_notify('parley', json_build_object(
                                    'k', 'message', 'room', current_code, 'last', top_id, 'node', p_node)::TEXT);
                            END IF;
                            current_room := item.room;
                            SELECT r.last_id, r.code INTO top_id, current_code FROM rooms r WHERE r.id = current_room FOR UPDATE;
                            first_id := top_id + 1;
                        END IF;
                        IF top_id IS NULL THEN
                            o_ord := item.ord; o_id := NULL; o_duplicate := FALSE; o_nick := NULL; o_text := NULL; o_ts := NULL;
                            RETURN NEXT;
                            CONTINUE;
                        END IF;
                        IF item.client_id IS NOT NULL THEN
                            SELECT m.id, m.nick, m.text, m.ts INTO original
                            FROM messages m WHERE m.room_id = item.room AND m.client_id = item.client_id;
                            IF FOUND THEN
                                o_ord := item.ord; o_id := original.id; o_duplicate := TRUE;
                                o_nick := original.nick; o_text := original.text; o_ts := original.ts;
                                RETURN NEXT;
                                CONTINUE;
                            END IF;
                        END IF;
                        top_id := top_id + 1;
                        INSERT INTO messages (room_id, id, nick, text, ts, client_id)
                        VALUES (item.room, top_id, item.nick, item.text, item.ts, item.client_id);
                        o_ord := item.ord; o_id := top_id; o_duplicate := FALSE;
                        o_nick := item.nick; o_text := item.text; o_ts := item.ts;
                        RETURN NEXT;
                    END LOOP;
                    IF current_room IS NOT NULL AND top_id >= first_id THEN
                        UPDATE rooms SET last_id = top_id, ephemeral = FALSE WHERE id = current_room;
                        PERFORM pg_notify('parley', json_build_object(
                            'k', 'message', 'room', current_code, 'last', top_id, 'node', p_node)::TEXT);
                    END IF;
                END
                $fn$
                """
            ]
        ),
    ]

    /// Applies every migration newer than the database's version, in one transaction.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            // Held until this transaction ends: a second node waits here, then finds the work done.
            try await connection.query("SELECT pg_advisory_xact_lock(7206)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS parley_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger
            )
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM parley_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(statement, logger: logger)
                }
                try await connection.query(
                    "INSERT INTO parley_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
        }
    }
}
