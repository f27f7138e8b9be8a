import PostgresNIO

extension PostgresSchema {
    /// Living messages and search (§11, §15) on PostgreSQL: the same columns and rules as SQLite's version 3.
    static let livingMigrations: [Migration] = [
        Migration(
            version: 7,
            name: "living messages, authors and search",
            statements: [
                // `rev` on a message is the revision of its last change (NULL while never changed), so plain
                // messages add nothing to `messages_rev`.
                "ALTER TABLE rooms ADD COLUMN rev BIGINT NOT NULL DEFAULT 0",
                """
                ALTER TABLE messages ADD COLUMN reply_to BIGINT, ADD COLUMN author BIGINT, ADD COLUMN edited_at BIGINT,
                    ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE, ADD COLUMN rev BIGINT
                """,
                "CREATE INDEX messages_rev ON messages (room_id, rev) WHERE rev IS NOT NULL",
                """
                CREATE TABLE reactions (
                    room_id BIGINT NOT NULL,
                    message_id BIGINT NOT NULL,
                    emoji TEXT NOT NULL,
                    reactor BIGINT NOT NULL,
                    nick TEXT NOT NULL,
                    rev BIGINT NOT NULL,
                    PRIMARY KEY (room_id, message_id, emoji, reactor),
                    FOREIGN KEY (room_id, message_id) REFERENCES messages (room_id, id)
                )
                """,
                // The author key of a session (never its secret), kept for reclaiming its nick and authorship
                // after a restart; the cluster's `sessions` table holds live secrets for presence.
                """
                CREATE TABLE authors (
                    room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
                    author BIGINT NOT NULL,
                    nick TEXT NOT NULL,
                    used_at BIGINT NOT NULL,
                    PRIMARY KEY (room_id, author)
                )
                """,
                "CREATE INDEX authors_used_at ON authors (used_at)",
                // Search folds case (the `simple` configuration lowercases) and diacritics: decomposed, then
                // combining marks dropped. Built from immutable functions only, so it can be indexed, and
                // needs no extension (`unaccent` is not installed everywhere). Unicode normalization needs a
                // UTF8 database; in any other, the accented Latin-1 letters are mapped instead.
                """
                DO $do$
                BEGIN
                    IF current_setting('server_encoding') = 'UTF8' THEN
                        CREATE FUNCTION parley_fold(p_text TEXT) RETURNS TEXT
                        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
                            SELECT regexp_replace(
                                normalize(p_text, NFKD), '[\\u0300-\\u036f\\u1ab0-\\u1aff\\u1dc0-\\u1dff\\u20d0-\\u20ff\\ufe20-\\ufe2f]', '', 'g')
                        $fn$;
                    ELSE
                        CREATE FUNCTION parley_fold(p_text TEXT) RETURNS TEXT
                        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
                            SELECT translate(
                                p_text,
                                'ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿ',
                                'AAAAAAaaaaaaCcEEEEeeeeIIIIiiiiNnOOOOOOooooooUUUUuuuuYyy')
                        $fn$;
                    END IF;
                END
                $do$
                """,
                "CREATE INDEX messages_search ON messages USING gin (to_tsvector('simple', parley_fold(text)))",
                // Every word of the query, folded and split as the index splits text, as a prefix; NULL (which
                // matches nothing) when the query holds no word. Lexemes are quoted, so nothing in them is
                // tsquery syntax.
                """
                CREATE FUNCTION parley_search_query(p_query TEXT) RETURNS tsquery
                LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
                    SELECT string_agg('''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || ''':*', ' & ')::tsquery
                    FROM unnest(to_tsvector('simple', parley_fold(p_query)))
                $fn$
                """,
                // A message's reactions as JSON pairs `[emoji, nick]` in the order they were added; the reader
                // groups them (emoji in the order first added, nicks in the order they reacted).
                """
                CREATE FUNCTION parley_reactions(p_room BIGINT, p_id BIGINT) RETURNS TEXT
                LANGUAGE sql STABLE AS $fn$
                    SELECT json_agg(json_build_array(r.emoji, r.nick) ORDER BY r.rev)::TEXT
                    FROM reactions r WHERE r.room_id = p_room AND r.message_id = p_id
                $fn$
                """,
                // Version 6's append with replies, authors and saved sessions. A reply to a message the room
                // does not hold is refused (`o_refused`); a resend of a `client_id` answers the original in its
                // current state. Version 6's function stays for nodes not yet upgraded.
                """
                CREATE FUNCTION parley_append(
                    p_rooms BIGINT[], p_nicks TEXT[], p_texts TEXT[], p_ts BIGINT[], p_client_ids TEXT[], p_node TEXT,
                    p_reply_to BIGINT[], p_authors BIGINT[], p_saves BOOLEAN[]
                ) RETURNS TABLE (
                    o_ord INTEGER, o_id BIGINT, o_duplicate BOOLEAN, o_nick TEXT, o_text TEXT, o_ts BIGINT, o_refused TEXT,
                    o_reply_to BIGINT, o_edited_at BIGINT, o_deleted BOOLEAN, o_rev BIGINT, o_reactions TEXT
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
                            NULLIF(u.reply_to, 0) AS reply_to, NULLIF(u.author, 0) AS author, u.saves
                        FROM unnest(p_rooms, p_nicks, p_texts, p_ts, p_client_ids, p_reply_to, p_authors, p_saves) WITH ORDINALITY
                            AS u(room, nick, text, ts, client_id, reply_to, author, saves, ord)
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
                        o_reactions := NULL;
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
                            SELECT m.id, m.nick, m.text, m.ts, m.reply_to, m.edited_at, m.deleted, m.rev INTO original
                            FROM messages m WHERE m.room_id = item.room AND m.client_id = item.client_id;
                            IF FOUND THEN
                                o_id := original.id; o_duplicate := TRUE;
                                o_nick := original.nick; o_text := original.text; o_ts := original.ts;
                                o_reply_to := original.reply_to; o_edited_at := original.edited_at;
                                o_deleted := original.deleted; o_rev := original.rev;
                                IF original.rev IS NOT NULL AND NOT original.deleted THEN
                                    o_reactions := parley_reactions(item.room, original.id);
                                END IF;
                                RETURN NEXT;
                                CONTINUE;
                            END IF;
                        END IF;
                        top_id := top_id + 1;
                        INSERT INTO messages (room_id, id, nick, text, ts, client_id, reply_to, author)
                        VALUES (item.room, top_id, item.nick, item.text, item.ts, item.client_id, item.reply_to, item.author);
                        IF item.saves AND item.author IS NOT NULL THEN
                            INSERT INTO authors (room_id, author, nick, used_at) VALUES (item.room, item.author, item.nick, item.ts)
                            ON CONFLICT (room_id, author) DO UPDATE SET nick = excluded.nick, used_at = excluded.used_at;
                        END IF;
                        o_id := top_id; o_nick := item.nick; o_text := item.text; o_ts := item.ts; o_reply_to := item.reply_to;
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
                // One change to a stored message under the room's row lock (the lock `parley_append` takes
                // too), so the room's revisions are gap-free and committed in order across nodes. Answers a
                // status and, when changed, the revision and the message's new state; the new revision is
                // announced with NOTIFY, delivered on commit.
                """
                CREATE FUNCTION parley_change(
                    p_room BIGINT, p_id BIGINT, p_kind TEXT, p_text TEXT, p_author BIGINT, p_nick TEXT, p_ts BIGINT,
                    p_saves BOOLEAN, p_max_emoji INTEGER, p_max_reactors INTEGER, p_node TEXT
                ) RETURNS TABLE (
                    o_status TEXT, o_rev BIGINT, o_nick TEXT, o_text TEXT, o_ts BIGINT, o_client_id TEXT,
                    o_reply_to BIGINT, o_edited_at BIGINT, o_deleted BOOLEAN, o_reactions TEXT
                )
                LANGUAGE plpgsql AS $fn$
                DECLARE
                    room_code TEXT;
                    new_rev BIGINT;
                    target RECORD;
                    emoji_count INTEGER;
                BEGIN
                    SELECT r.code, r.rev + 1 INTO room_code, new_rev FROM rooms r WHERE r.id = p_room FOR UPDATE;
                    IF NOT FOUND THEN
                        o_status := 'no_room';
                        RETURN NEXT;
                        RETURN;
                    END IF;
                    IF p_saves AND p_author IS NOT NULL THEN
                        INSERT INTO authors (room_id, author, nick, used_at) VALUES (p_room, p_author, p_nick, p_ts)
                        ON CONFLICT (room_id, author) DO UPDATE SET nick = excluded.nick, used_at = excluded.used_at;
                    END IF;
                    SELECT m.author, m.deleted INTO target FROM messages m WHERE m.room_id = p_room AND m.id = p_id;
                    IF NOT FOUND OR target.deleted THEN
                        o_status := 'not_found';
                        RETURN NEXT;
                        RETURN;
                    END IF;
                    IF p_kind IN ('edit', 'delete') AND (p_author IS NULL OR target.author IS DISTINCT FROM p_author) THEN
                        o_status := 'forbidden';
                        RETURN NEXT;
                        RETURN;
                    END IF;
                    IF p_kind = 'edit' THEN
                        UPDATE messages SET text = p_text, edited_at = p_ts, rev = new_rev WHERE room_id = p_room AND id = p_id;
                    ELSIF p_kind = 'delete' THEN
                        -- The text is overwritten, so the search index no longer holds it either.
                        UPDATE messages SET text = '', deleted = TRUE, rev = new_rev WHERE room_id = p_room AND id = p_id;
                        DELETE FROM reactions WHERE room_id = p_room AND message_id = p_id;
                    ELSIF p_kind = 'react' THEN
                        IF p_author IS NULL THEN
                            o_status := 'forbidden';
                            RETURN NEXT;
                            RETURN;
                        END IF;
                        IF EXISTS (
                            SELECT 1 FROM reactions r
                            WHERE r.room_id = p_room AND r.message_id = p_id AND r.emoji = p_text AND r.reactor = p_author
                        ) THEN
                            o_status := 'unchanged';
                            RETURN NEXT;
                            RETURN;
                        END IF;
                        IF NOT EXISTS (SELECT 1 FROM reactions r WHERE r.room_id = p_room AND r.message_id = p_id AND r.emoji = p_text) THEN
                            SELECT count(DISTINCT r.emoji) INTO emoji_count FROM reactions r WHERE r.room_id = p_room AND r.message_id = p_id;
                            IF emoji_count >= p_max_emoji THEN
                                o_status := 'too_large';
                                RETURN NEXT;
                                RETURN;
                            END IF;
                        END IF;
                        IF NOT EXISTS (SELECT 1 FROM reactions r WHERE r.room_id = p_room AND r.message_id = p_id AND r.reactor = p_author)
                            AND (SELECT count(DISTINCT r.reactor) FROM reactions r WHERE r.room_id = p_room AND r.message_id = p_id)
                                >= p_max_reactors THEN
                            o_status := 'too_many_reactors';
                            RETURN NEXT;
                            RETURN;
                        END IF;
                        INSERT INTO reactions (room_id, message_id, emoji, reactor, nick, rev)
                        VALUES (p_room, p_id, p_text, p_author, p_nick, new_rev);
                        UPDATE messages SET rev = new_rev WHERE room_id = p_room AND id = p_id;
                    ELSIF p_kind = 'unreact' THEN
                        DELETE FROM reactions r
                        WHERE r.room_id = p_room AND r.message_id = p_id AND r.emoji = p_text AND r.reactor = p_author;
                        IF NOT FOUND THEN
                            o_status := 'unchanged';
                            RETURN NEXT;
                            RETURN;
                        END IF;
                        UPDATE messages SET rev = new_rev WHERE room_id = p_room AND id = p_id;
                    ELSE
                        RAISE EXCEPTION 'unknown change %', p_kind USING ERRCODE = '22023';
                    END IF;
                    UPDATE rooms SET rev = new_rev WHERE id = p_room;
                    PERFORM pg_notify('parley', json_build_object('k', 'update', 'room', room_code, 'rev', new_rev, 'node', p_node)::TEXT);
                    SELECT 'changed', new_rev, m.nick, m.text, m.ts, m.client_id, m.reply_to, m.edited_at, m.deleted,
                        CASE WHEN m.deleted THEN NULL ELSE parley_reactions(p_room, p_id) END
                    INTO o_status, o_rev, o_nick, o_text, o_ts, o_client_id, o_reply_to, o_edited_at, o_deleted, o_reactions
                    FROM messages m WHERE m.room_id = p_room AND m.id = p_id;
                    RETURN NEXT;
                END
                $fn$
                """,
            ]
        )
    ]
}
