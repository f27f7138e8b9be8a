import Logging
import PostgresNIO
import ServiceLifecycle

/// This node's tie to the others through PostgreSQL: it listens on the `parley` channel and hands each
/// ``ClusterNotice`` to the live room it concerns, and it keeps this node's heartbeat so that members
/// of a node that died are swept from every list (and this node's own rows whose release failed while
/// the database was away are removed).
///
/// A lost listener reconnects by itself and then has every live room check storage, so a notice missed
/// meanwhile costs a fetch, never a message.
final class ClusterLink: Service {
    let client: PostgresClient
    let node: String
    let presence: ClusterPresence
    let connections: ConnectionDirectory
    let rooms: RoomRegistry
    let heartbeat: Duration
    let nodeTimeout: Duration
    let logger: Logger

    init(presence: ClusterPresence, connections: ConnectionDirectory, rooms: RoomRegistry, nodeTimeout: Duration, logger: Logger) {
        self.client = presence.client
        self.node = presence.node
        self.presence = presence
        self.connections = connections
        self.rooms = rooms
        self.nodeTimeout = nodeTimeout
        self.heartbeat = nodeTimeout / 3
        self.logger = logger
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
                    try await connection.listen(on: "parley") { notifications in
                        self.logger.debug("listening for cluster notices")
                        for room in self.rooms.all { room.catchUp() }
                        try await self.resyncPresence()
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
        let current = try await withDeadline(PostgresMessageStore.callTimeout) {
            var current: [Int64: Set<String>] = [:]
            let rows = try await self.client.query(
                "SELECT room_id, nick FROM members WHERE node <> \(node) AND room_id = ANY(\(ids))",
                logger: self.logger
            )
            for try await (room, nick) in rows.decode((Int64, String).self) { current[room, default: []].insert(nick) }
            return current
        }
        for room in live { room.resyncRemote(current[room.record.id] ?? []) }
    }

    func handle(_ payload: String) {
        guard let notice = ClusterNotice(payload: payload), notice.node != node else { return }
        guard let room = rooms.room(code: notice.room) else { return }
        switch notice.k {
        case .message:
            if let last = notice.last { room.announce(last: last) }
        case .replace:
            if notice.target == node, let connection = notice.connection {
                room.evict(ConnectionID(value: connection))
            }
        case .join, .leave, .nick, .typing:
            if let event = notice.event { room.relay(event) }
        }
    }

    // MARK: heartbeat

    /// Marks this node alive every third of the timeout, and sweeps nodes not seen for a whole timeout.
    /// A node sweeps only after its own heartbeats have succeeded for a timeout, so that after a database
    /// outage nobody is swept before it had the chance to beat again.
    private func beat() async {
        var aliveSince: ContinuousClock.Instant?
        while !Task.isCancelled {
            do {
                _ = try await withDeadline(PostgresMessageStore.callTimeout) {
                    try await self.client.query(
                        "INSERT INTO nodes (id, seen_at) VALUES (\(self.node), now()) ON CONFLICT (id) DO UPDATE SET seen_at = now()",
                        logger: self.logger
                    )
                }
                try await presence.reconcile(isOpen: connections.contains)
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

    /// Removes members of nodes whose heartbeat is older than the timeout, announcing each as a leave.
    private func sweep() async throws {
        let seconds = Double(nodeTimeout.components.seconds) + Double(nodeTimeout.components.attoseconds) / 1e18
        try await withDeadline(PostgresMessageStore.callTimeout) {
            // Each deleted row is announced as a leave by the members trigger.
            let rows = try await self.client.query(
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
            try await self.client.query("DELETE FROM nodes WHERE seen_at < now() - interval '1 day'", logger: self.logger)
            try await self.client.query("DELETE FROM sessions WHERE used_at < now() - interval '30 days'", logger: self.logger)
        }
    }

    /// On a graceful stop: members still listed for this node leave, and the node row goes.
    private func leaveCluster() async {
        do {
            try await withDeadline(PostgresMessageStore.callTimeout) {
                try await self.client.query("DELETE FROM members WHERE node = \(self.node)", logger: self.logger)
                try await self.client.query("DELETE FROM nodes WHERE id = \(self.node)", logger: self.logger)
            }
        } catch {
            logger.warning("could not leave the cluster cleanly; other nodes will sweep this one", metadata: ["error": "\(error)"])
        }
    }
}
