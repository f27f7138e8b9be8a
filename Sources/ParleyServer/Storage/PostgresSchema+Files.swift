import PostgresNIO

extension PostgresSchema {
    /// Files and attachments (§14) on PostgreSQL: the same tables as SQLite's "v7". Content is kept once per
    /// SHA-256 (`hash` is NULL while its upload is under way) in `bytea` chunks of ``FileChunking/chunkBytes``.
    static let filesMigrations: [Migration] = [
        Migration(
            version: 10,
            name: "files and attachments",
            statements: [
                """
                CREATE TABLE file_contents (
                    id BIGSERIAL PRIMARY KEY,
                    hash TEXT UNIQUE,
                    size BIGINT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE file_chunks (
                    content_id BIGINT NOT NULL,
                    idx INTEGER NOT NULL,
                    data BYTEA NOT NULL,
                    PRIMARY KEY (content_id, idx)
                )
                """,
                // Uploads are mostly compressed already (images, audio, video): not worth compressing again.
                "ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL",
                """
                CREATE TABLE files (
                    id TEXT PRIMARY KEY,
                    room_id BIGINT NOT NULL,
                    content_id BIGINT NOT NULL,
                    name TEXT NOT NULL,
                    type TEXT NOT NULL,
                    size BIGINT NOT NULL,
                    width INTEGER,
                    height INTEGER,
                    created_at BIGINT NOT NULL,
                    message_id BIGINT
                )
                """,
                "CREATE INDEX files_room ON files (room_id, message_id)",
                "CREATE INDEX files_content ON files (content_id)",
                "CREATE INDEX files_unattached ON files (created_at) WHERE message_id IS NULL",
                // The attachments as the JSON readers get, so reading history costs no join.
                "ALTER TABLE messages ADD COLUMN attachments TEXT",
                // A deleted message (`parley_change`) loses its attachments and its files at once (their route
                // answers 404); the sweep deletes their content.
                """
                CREATE FUNCTION parley_drop_attachments() RETURNS trigger
                LANGUAGE plpgsql AS $fn$
                BEGIN
                    IF NEW.attachments IS NOT NULL THEN
                        NEW.attachments := NULL;
                        DELETE FROM files WHERE room_id = NEW.room_id AND message_id = NEW.id;
                    END IF;
                    RETURN NEW;
                END
                $fn$
                """,
                """
                CREATE TRIGGER messages_drop_attachments BEFORE UPDATE OF deleted ON messages
                FOR EACH ROW WHEN (NEW.deleted AND NOT OLD.deleted) EXECUTE FUNCTION parley_drop_attachments()
                """,
                // Marks the files as carried by the message, or refuses (`o_refused`, the first file at fault):
                // `not_found` when one is unknown or of another room, `attached` when a message carries it
                // already. Called in the transaction of the message's `parley_append`, which holds the room's
                // row lock, so two messages of the room cannot take the same file; the row locks here keep
                // out a sweep or a deletion meanwhile.
                """
                CREATE FUNCTION parley_attach(p_room BIGINT, p_id BIGINT, p_files TEXT[])
                RETURNS TABLE (o_refused TEXT, o_file TEXT, o_attachments TEXT)
                LANGUAGE plpgsql AS $fn$
                DECLARE
                    wanted RECORD;
                    hit RECORD;
                    list JSONB := '[]'::JSONB;
                BEGIN
                    FOR wanted IN SELECT u.id, u.ord FROM unnest(p_files) WITH ORDINALITY AS u(id, ord) ORDER BY u.ord LOOP
                        SELECT f.room_id, f.message_id, f.name, f.type, f.size, f.width, f.height INTO hit
                        FROM files f WHERE f.id = wanted.id FOR UPDATE;
                        IF NOT FOUND OR hit.room_id <> p_room THEN
                            o_refused := 'not_found'; o_file := wanted.id;
                            RETURN NEXT;
                            RETURN;
                        END IF;
                        IF hit.message_id IS NOT NULL THEN
                            o_refused := 'attached'; o_file := wanted.id;
                            RETURN NEXT;
                            RETURN;
                        END IF;
                        UPDATE files SET message_id = p_id WHERE id = wanted.id;
                        list := list || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                            'id', wanted.id, 'name', hit.name, 'type', hit.type, 'size', hit.size,
                            'width', hit.width, 'height', hit.height)));
                    END LOOP;
                    UPDATE messages SET attachments = list::TEXT WHERE room_id = p_room AND id = p_id;
                    o_attachments := list::TEXT;
                    RETURN NEXT;
                END
                $fn$
                """,
            ]
        )
    ]
}
