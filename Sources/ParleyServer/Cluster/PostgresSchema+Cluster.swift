import PostgresNIO

extension PostgresSchema {
    /// The tables and triggers of several nodes on one database: nodes, members, sessions, presence notices.
    static let clusterMigrations: [Migration] = [
        Migration(
            version: 2,
            name: "nodes, members and sessions for presence across nodes",
            statements: [
                "CREATE TABLE nodes (id TEXT PRIMARY KEY, seen_at TIMESTAMPTZ NOT NULL)",
                // The primary key on the normalised nick makes a nick unique in a room across every node.
                """
                CREATE TABLE members (
                    room_id BIGINT NOT NULL REFERENCES rooms(id),
                    nick_key TEXT NOT NULL,
                    nick TEXT NOT NULL,
                    session TEXT NOT NULL,
                    node TEXT NOT NULL,
                    connection BIGINT NOT NULL,
                    joined_at BIGINT NOT NULL,
                    PRIMARY KEY (room_id, nick_key)
                )
                """,
                "CREATE INDEX members_node ON members (node, connection)",
                """
                CREATE TABLE sessions (
                    secret TEXT PRIMARY KEY,
                    room_id BIGINT NOT NULL REFERENCES rooms(id),
                    nick TEXT NOT NULL,
                    used_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """,
                "CREATE INDEX sessions_used_at ON sessions (used_at)",
            ]
        ),
        Migration(
            version: 3,
            name: "presence notices from the members table",
            statements: [
                // Every change to `members` announces itself in the same transaction, whoever made it (a join,
                // a rename, a takeover, a release, a sweep of a dead node): the notice names the node the row
                // belonged to, so that node (which told its own members already) skips it and every other
                // node relays it.
                """
                CREATE FUNCTION parley_member_notice() RETURNS TRIGGER
                LANGUAGE plpgsql AS $fn$
                DECLARE
                    room_code TEXT;
                BEGIN
                    IF TG_OP = 'DELETE' THEN
                        SELECT r.code INTO room_code FROM rooms r WHERE r.id = OLD.room_id;
                        PERFORM pg_notify('parley', json_build_object(
                            'k', 'leave', 'room', room_code, 'node', OLD.node, 'nick', OLD.nick)::TEXT);
                        RETURN OLD;
                    END IF;
                    SELECT r.code INTO room_code FROM rooms r WHERE r.id = NEW.room_id;
                    IF TG_OP = 'INSERT' THEN
                        PERFORM pg_notify('parley', json_build_object(
                            'k', 'join', 'room', room_code, 'node', NEW.node, 'nick', NEW.nick)::TEXT);
                        RETURN NEW;
                    END IF;
                    IF OLD.nick IS DISTINCT FROM NEW.nick THEN
                        PERFORM pg_notify('parley', json_build_object(
                            'k', 'nick', 'room', room_code, 'node', NEW.node, 'from', OLD.nick, 'to', NEW.nick)::TEXT);
                    END IF;
                    IF OLD.node IS DISTINCT FROM NEW.node THEN
                        PERFORM pg_notify('parley', json_build_object(
                            'k', 'replace', 'room', room_code, 'node', NEW.node,
                            'target', OLD.node, 'connection', OLD.connection)::TEXT);
                    END IF;
                    RETURN NEW;
                END
                $fn$
                """,
                """
                CREATE TRIGGER members_notice AFTER INSERT OR UPDATE OR DELETE ON members
                FOR EACH ROW EXECUTE FUNCTION parley_member_notice()
                """,
            ]
        ),
        Migration(
            version: 4,
            name: "nick suffix counters",
            statements: [
                // The next suffix to try for each nick that clashed in a room, so a join tries one candidate
                // instead of every `NICK-n` other members hold (see ClusterPresence.reserve).
                """
                CREATE TABLE nick_suffixes (
                    room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
                    nick_key TEXT NOT NULL,
                    next INTEGER NOT NULL,
                    PRIMARY KEY (room_id, nick_key)
                )
                """
            ]
        ),
    ]
}
