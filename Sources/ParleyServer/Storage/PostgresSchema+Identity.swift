import PostgresNIO

extension PostgresSchema {
    /// Signed identities (§13) on PostgreSQL: the same `verified` column as SQLite's v6, and what makes a
    /// subject one member across nodes.
    static let identityMigrations: [Migration] = [
        Migration(
            version: 9,
            name: "verified messages, and a verified subject as one member across nodes",
            statements: [
                // Sent by a verified identity; shown as `verified: true` wherever the message is.
                "ALTER TABLE messages ADD COLUMN verified BOOLEAN NOT NULL DEFAULT FALSE",
                // Version 7's append, storing and answering `verified` (a resend answers the original's).
                // Version 7's function stays for nodes not yet upgraded.
                """
                CREATE FUNCTION parley_append(
                    p_rooms BIGINT[], p_nicks TEXT[], p_texts TEXT[], p_ts BIGINT[], p_client_ids TEXT[], p_node TEXT,
                    p_reply_to BIGINT[], p_authors BIGINT[], p_saves BOOLEAN[], p_verified BOOLEAN[]
                ) RETURNS TABLE (
                    o_ord INTEGER, o_id BIGINT, o_duplicate BOOLEAN, o_nick TEXT, o_text TEXT, o_ts BIGINT, o_refused TEXT,
                    o_reply_to BIGINT, o_edited_at BIGINT, o_deleted BOOLEAN, o_rev BIGINT, o_reactions TEXT, o_verified BOOLEAN
                )
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
                        SELECT u.room, u.nick, u.text, u.ts, NULLIF(u.client_id, '') AS client_id, u.ord::INTEGER AS ord,
                            NULLIF(u.reply_to, 0) AS reply_to, NULLIF(u.author, 0) AS author, u.saves, u.verified
                        FROM unnest(
                            p_rooms, p_nicks, p_texts, p_ts, p_client_ids, p_reply_to, p_authors, p_saves, p_verified
                        ) WITH ORDINALITY AS u(room, nick, text, ts, client_id, reply_to, author, saves, verified, ord)
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
                        o_ord := item.ord; o_id := NULL; o_duplicate := FALSE; o_nick := NULL; o_text := NULL; o_ts := NULL;
                        o_refused := NULL; o_reply_to := NULL; o_edited_at := NULL; o_deleted := FALSE; o_rev := NULL;
                        o_reactions := NULL; o_verified := FALSE;
                        IF top_id IS NULL THEN
                            RETURN NEXT;
                            CONTINUE;
                        END IF;
                        IF item.reply_to IS NOT NULL AND NOT EXISTS (
                            SELECT 1 FROM messages m WHERE m.room_id = item.room AND m.id = item.reply_to
                        ) THEN
                            o_refused := 'reply_to';
                            RETURN NEXT;
                            CONTINUE;
                        END IF;
                        IF item.client_id IS NOT NULL THEN
                            SELECT m.id, m.nick, m.text, m.ts, m.reply_to, m.edited_at, m.deleted, m.rev, m.verified INTO original
                            FROM messages m WHERE m.room_id = item.room AND m.client_id = item.client_id;
                            IF FOUND THEN
                                o_id := original.id; o_duplicate := TRUE;
                                o_nick := original.nick; o_text := original.text; o_ts := original.ts;
                                o_reply_to := original.reply_to; o_edited_at := original.edited_at;
                                o_deleted := original.deleted; o_rev := original.rev; o_verified := original.verified;
                                IF original.rev IS NOT NULL AND NOT original.deleted THEN
                                    o_reactions := parley_reactions(item.room, original.id);
                                END IF;
                                RETURN NEXT;
                                CONTINUE;
                            END IF;
                        END IF;
                        top_id := top_id + 1;
                        INSERT INTO messages (room_id, id, nick, text, ts, client_id, reply_to, author, verified)
                        VALUES (item.room, top_id, item.nick, item.text, item.ts, item.client_id, item.reply_to, item.author, item.verified);
                        IF item.saves AND item.author IS NOT NULL THEN
                            INSERT INTO authors (room_id, author, nick, used_at) VALUES (item.room, item.author, item.nick, item.ts)
                            ON CONFLICT (room_id, author) DO UPDATE SET nick = excluded.nick, used_at = excluded.used_at;
                        END IF;
                        o_id := top_id; o_nick := item.nick; o_text := item.text; o_ts := item.ts; o_reply_to := item.reply_to;
                        o_verified := item.verified;
                        RETURN NEXT;
                    END LOOP;
                    IF current_room IS NOT NULL AND top_id >= first_id THEN
                        UPDATE rooms SET last_id = top_id, ephemeral = FALSE WHERE id = current_room;
                        PERFORM pg_notify('parley', json_build_object(
                            'k', 'message', 'room', current_code, 'last', top_id, 'node', p_node)::TEXT);
                    END IF;
                END
                $fn$
                """,
                // A verified subject (§13) is one member wherever its connections are: its `members` row (marked
                // with the subject) names one connection, and the subject's other connections on any node are
                // listed here, announcing nothing.
                "ALTER TABLE members ADD COLUMN subject TEXT",
                """
                CREATE TABLE subject_connections (
                    room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
                    subject TEXT NOT NULL,
                    node TEXT NOT NULL,
                    connection BIGINT NOT NULL,
                    PRIMARY KEY (node, connection)
                )
                """,
                "CREATE INDEX subject_connections_room ON subject_connections (room_id, subject)",
                // Whatever deletes a subject's row (a release, a reconcile, a sweep) while another of its
                // connections is listed hands the row to that connection instead: the member stays, and the
                // trigger's `replace` notice names a connection already gone. Deleters drop their own
                // `subject_connections` rows first.
                """
                CREATE FUNCTION parley_member_handover() RETURNS TRIGGER
                LANGUAGE plpgsql AS $fn$
                DECLARE
                    next RECORD;
                BEGIN
                    IF OLD.subject IS NULL THEN
                        RETURN OLD;
                    END IF;
                    DELETE FROM subject_connections s
                    WHERE (s.node, s.connection) IN (
                        SELECT c.node, c.connection FROM subject_connections c
                        WHERE c.room_id = OLD.room_id AND c.subject = OLD.subject LIMIT 1
                    )
                    RETURNING s.node, s.connection INTO next;
                    IF NOT FOUND THEN
                        RETURN OLD;
                    END IF;
                    UPDATE members SET node = next.node, connection = next.connection
                    WHERE room_id = OLD.room_id AND nick_key = OLD.nick_key;
                    RETURN NULL;
                END
                $fn$
                """,
                """
                CREATE TRIGGER members_handover BEFORE DELETE ON members
                FOR EACH ROW EXECUTE FUNCTION parley_member_handover()
                """,
            ]
        )
    ]
}
