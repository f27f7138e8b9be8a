import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// This node's tie to the others through PostgreSQL: it listens on the `parley` channel and hands each
/// ``ClusterNotice`` to the live room it concerns, and it keeps this node's heartbeat so that members
/// of a node that died are swept from every list (and this node's own rows whose release failed while
/// the database was away are removed).
///
/// A lost listener reconnects by itself and then has every live room check storage, so a notice missed
/// meanwhile costs a fetch, never a message. A listener that stays connected but hears nothing (see
/// ``ListenerWatchdog``) is made to reconnect.
final class ClusterLink: Service {
    let client: PostgresPool
    let node: String
    let presence: ClusterPresence
    let connections: ConnectionDirectory
    let rooms: RoomRegistry
    /// Set by the application: moderation notices go there.
    let moderation: RoomModeration?
    let heartbeat: Duration
    let nodeTimeout: Duration
    let logger: Logger
    /// The listener's connection while it has one, and whether it still hears.
    private let listener: Mutex<(connection: PostgresConnection?, watchdog: ListenerWatchdog)>
    /// What an echo's payload starts with; never valid JSON, so no node takes it for a ``ClusterNotice``.
    static let echoPrefix = "echo:"

    init(
        presence: ClusterPresence,
        connections: ConnectionDirectory,
        rooms: RoomRegistry,
        moderation: RoomModeration? = nil,
        nodeTimeout: Duration,
        logger: Logger
    ) {
        self.moderation = moderation
        self.client = presence.client
        self.node = presence.node
        self.presence = presence
        self.connections = connections
        self.rooms = rooms
        self.nodeTimeout = nodeTimeout
        self.heartbeat = nodeTimeout / 3
        self.logger = logger
        self.listener = Mutex((nil, ListenerWatchdog(deadline: PostgresMessageStore.callTimeout)))
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.listen() }
                group.addTask { await self.beat() }
            }
        }
        await leaveCluster()
    }

    // MARK: notices

    private func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    self.listener.withLock { $0.connection = connection }
                    defer { self.listener.withLock { $0.connection = nil } }
                    try await connection.listen(on: "parley") { notifications in
                        self.logger.debug("listening for cluster notices")
                        self.listener.withLock { $0.watchdog.listening() }
                        for room in self.rooms.all { room.catchUp() }
                        try await self.resyncPresence()
                        // Ban notices missed while not listening: read them all again.
                        await self.moderation?.reloadBans()
                        for try await notification in notifications {
                            self.handle(notification.payload)
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("cluster listener lost; reconnecting", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Presence notices sent while this node was not listening are lost for good: every live room compares
    /// the members table with what its members were last told, and tells them the difference.
    private func resyncPresence() async throws {
        let live = rooms.all
        guard !live.isEmpty else { return }
        let ids = live.map(\.record.id)
        let node = self.node
        let current = try await client.withDeadline(PostgresMessageStore.callTimeout) { db in
            var current: [Int64: Set<String>] = [:]
            let rows = try await db.query(
                "SELECT room_id, nick FROM members WHERE node <> \(node) AND room_id = ANY(\(ids))",
                logger: self.logger
            )
            for try await (room, nick) in rows.decode((Int64, String).self) { current[room, default: []].insert(nick) }
            return current
        }
        for room in live { room.resyncRemote(current[room.record.id] ?? []) }
    }

    func handle(_ payload: String) {
        if payload.hasPrefix(Self.echoPrefix) {
            heardEcho(payload)
            return
        }
        guard let notice = ClusterNotice(payload: payload) else { return }
        if let moderation, notice.isModeration {
            // Bans matter even where the room is not live.
            if notice.node != node { moderation.receive(notice) }
            return
        }
        guard let room = rooms.room(code: notice.room) else { return }
        guard notice.node != node else {
            // This node's commits reach its members from their completions; one whose answer timed out but
            // that committed has none, so the room fetches it when it settles (on the next heartbeat).
            if notice.k == .message, let last = notice.last { room.committedHere(last: last) }
            return
        }
        switch notice.k {
        case .message:
            if let last = notice.last { room.announce(last: last) }
        case .update:
            if let rev = notice.rev { room.announce(rev: rev) }
        case .replace:
            if notice.target == node, let connection = notice.connection {
                room.evict(ConnectionID(value: connection))
            }
        case .join, .leave, .nick, .typing:
            if let event = notice.event { room.relay(event) }
        case .kick, .ban, .bans, .settings, .revoke, .deleted:
            break
        }
    }

    // MARK: listener watchdog

    /// Checks that the listener heard the last echo in time (else has it reconnect), then sends the next.
    private func echo() async {
        let (deaf, connection, number) = listener.withLock { listener in
            let deaf = listener.watchdog.isDeaf(at: .now)
            return (deaf, deaf ? listener.connection : nil, listener.watchdog.nextEcho())
        }
        if deaf {
            logger.warning("the cluster listener hears nothing; reconnecting it")
            // Ends the listen with an error; the loop listens again on another connection and catches up.
            if let connection { try? await connection.close() }
        }
        do {
            let payload = "\(Self.echoPrefix)\(number):\(node)"
            try await client.withDeadline(PostgresMessageStore.callTimeout) { db in
                try await db.query("SELECT pg_notify('parley', \(payload))", logger: self.logger)
            }
            listener.withLock { $0.watchdog.committed(number, at: .now) }
        } catch {
            // Not known to have committed: hearing it or not proves nothing.
            logger.debug("could not send the listener's echo", metadata: ["error": "\(error)"])
        }
    }

    private func heardEcho(_ payload: String) {
        let body = payload.dropFirst(Self.echoPrefix.count)
        guard let colon = body.firstIndex(of: ":"), body[body.index(after: colon)...] == node, let echo = UInt64(body[..<colon]) else {
            return
        }
        listener.withLock { $0.watchdog.heard(echo) }
    }

    // MARK: heartbeat

    /// Marks this node alive every third of the timeout, and sweeps nodes not seen for a whole timeout.
    /// A node sweeps only after its own heartbeats have succeeded for a timeout, so that after a database
    /// outage nobody is swept before it had the chance to beat again.
    private func beat() async {
        var aliveSince: ContinuousClock.Instant?
        var mayBeSwept = false
        var drift = Drift()
        while !Task.isCancelled {
            do {
                if try await markAlive() { mayBeSwept = true }
                await echo()
                for room in rooms.all { room.settle() }
                let listed = try await presence.reconcile(isOpen: connections.contains)
                drift = try await relist(listed: listed, before: drift, sweptMaybe: mayBeSwept)
                mayBeSwept = false
                let now = ContinuousClock.now
                if aliveSince == nil { aliveSince = now }
                if let since = aliveSince, now - since >= nodeTimeout {
                    try await sweep()
                }
            } catch {
                aliveSince = nil
                logger.warning("cluster heartbeat failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: heartbeat)
        }
    }

    /// Marks this node alive; true when its last mark was older than the timeout (or gone), so that other
    /// nodes may have swept its members meanwhile.
    private func markAlive() async throws -> Bool {
        let seconds = nodeTimeout.timeInterval
        return try await client.withDeadline(PostgresMessageStore.callTimeout) { db in
            let rows = try await db.query(
                """
                WITH previous AS (SELECT seen_at FROM nodes WHERE id = \(self.node))
                INSERT INTO nodes (id, seen_at) VALUES (\(self.node), now()) ON CONFLICT (id) DO UPDATE SET seen_at = now()
                RETURNING COALESCE((SELECT seen_at FROM previous) < now() - make_interval(secs => \(seconds)), TRUE)
                """,
                logger: self.logger
            )
            var stale = false
            for try await value in rows.decode(Bool.self) { stale = value }
            return stale
        }
    }

    /// Live members here that the table lacks or lists under another nick, as one heartbeat found them.
    struct Drift {
        var missing: Set<ConnectionID> = []
        var misnamed: Set<ConnectionID> = []
    }

    /// Lists again the live members here that the table lacks: another node swept this one while it could
    /// not beat (a long pause, a partition from the database), or a reclaim that timed out moved a row to a
    /// connection that closed. After a possible sweep that is done at once; otherwise a member must be
    /// missing on two heartbeats in a row, as one taken over on another node is missing only until its
    /// eviction notice arrives. One whose nick was taken meanwhile gets the next suffixed form and everyone
    /// here hears the rename (the other nodes hear a join from the members trigger). A member the table
    /// lists under another nick on two heartbeats in a row (a rename that timed out and then took effect;
    /// the other nodes heard it) takes that nick here too, and everyone here hears it. A member whose session
    /// another connection holds now (taken over while this node could not hear it) is closed as replaced.
    private func relist(listed: [Int64: String], before: Drift, sweptMaybe: Bool) async throws -> Drift {
        var now = Drift()
        var relisted = 0
        var renamed = 0
        var moved = 0
        for room in rooms.all {
            var due: [ClusterPresence.LiveMember] = []
            for member in room.localMembers {
                guard let nick = listed[Int64(member.id.value)] else {
                    if sweptMaybe || before.missing.contains(member.id) {
                        due.append(member)
                    } else {
                        now.missing.insert(member.id)
                    }
                    continue
                }
                guard nick != member.nick else { continue }
                if before.misnamed.contains(member.id) {
                    try? room.rename(member.id, to: nick)
                    renamed += 1
                } else {
                    now.misnamed.insert(member.id)
                }
            }
            guard !due.isEmpty else { continue }
            let outcome = try await presence.reregister(room: room.record, members: due)
            for (id, nick) in outcome.renamed {
                try? room.rename(id, to: nick)
                renamed += 1
            }
            // Taken over on another node while this one could not hear the `replace` notice.
            for id in outcome.moved { room.evict(id) }
            moved += outcome.moved.count
            relisted += due.count - outcome.moved.count
        }
        if relisted > 0 || renamed > 0 || moved > 0 {
            logger.warning(
                "listed this node's members again",
                metadata: ["members": "\(relisted)", "renamed": "\(renamed)", "replaced": "\(moved)"]
            )
        }
        return now
    }

    /// Removes members of nodes whose heartbeat is older than the timeout, announcing each as a leave.
    private func sweep() async throws {
        let seconds = Double(nodeTimeout.components.seconds) + Double(nodeTimeout.components.attoseconds) / 1e18
        try await client.withDeadline(PostgresMessageStore.callTimeout) { db in
            // Dead nodes' shared connections of verified subjects go first, so no member is handed to one.
            try await db.query(
                """
                DELETE FROM subject_connections s
                WHERE NOT EXISTS (
                    SELECT 1 FROM nodes n WHERE n.id = s.node AND n.seen_at > now() - make_interval(secs => \(seconds))
                )
                """,
                logger: self.logger
            )
            // Each deleted row is announced as a leave by the members trigger.
            let rows = try await db.query(
                """
                DELETE FROM members m
                WHERE NOT EXISTS (
                    SELECT 1 FROM nodes n WHERE n.id = m.node AND n.seen_at > now() - make_interval(secs => \(seconds))
                )
                RETURNING m.nick
                """,
                logger: self.logger
            )
            var swept = 0
            for try await _ in rows { swept += 1 }
            if swept > 0 { self.logger.info("swept members of dead nodes", metadata: ["members": "\(swept)"]) }
            try await db.query("DELETE FROM nodes WHERE seen_at < now() - interval '1 day'", logger: self.logger)
            try await db.query("DELETE FROM sessions WHERE used_at < now() - interval '30 days'", logger: self.logger)
        }
    }

    /// On a graceful stop: members still listed for this node leave, and the node row goes.
    private func leaveCluster() async {
        do {
            try await client.withDeadline(PostgresMessageStore.callTimeout) { db in
                try await db.query("DELETE FROM subject_connections WHERE node = \(self.node)", logger: self.logger)
                try await db.query("DELETE FROM members WHERE node = \(self.node)", logger: self.logger)
                try await db.query("DELETE FROM nodes WHERE id = \(self.node)", logger: self.logger)
            }
        } catch {
            logger.warning("could not leave the cluster cleanly; other nodes will sweep this one", metadata: ["error": "\(error)"])
        }
    }
}
