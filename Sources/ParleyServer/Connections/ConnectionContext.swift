import Logging
import NIOCore
import Synchronization

/// What the connections of one server share: where their messages go (the store, the live rooms, the
/// cluster), where they wait (``ConnectionWork``), their heartbeats and metrics. One per server; each
/// ``ChatConnection`` holds a reference to it.
final class ConnectionContext: Sendable {
    let configuration: ServerConfiguration
    let store: any MessageStore
    /// Members and nicks shared with other nodes; nil on a single node (SQLite).
    let cluster: ClusterPresence?
    let rooms: RoomRegistry
    /// Every open connection's outbox, for shutdown.
    let directory: ConnectionDirectory
    /// What connections wait for (storage reads, cluster calls), run by a few workers.
    let work: ConnectionWork
    /// One ping timer per event loop (``Heartbeat``).
    private let heartbeats: PerEventLoop<Heartbeat>
    let metrics: ParleyMetrics
    let logger: Logger
    /// Keys, roles, bans and room settings (§12).
    let moderation: RoomModeration
    private let lastConnectionID = Atomic<UInt64>(0)

    init(
        configuration: ServerConfiguration,
        store: any MessageStore,
        cluster: ClusterPresence?,
        rooms: RoomRegistry,
        directory: ConnectionDirectory,
        work: ConnectionWork,
        metrics: ParleyMetrics,
        logger: Logger,
        moderation: RoomModeration
    ) {
        self.moderation = moderation
        self.configuration = configuration
        self.store = store
        self.cluster = cluster
        self.rooms = rooms
        self.directory = directory
        self.work = work
        let tick = ConnectionStateMachine.Timeouts(configuration).ping
        self.heartbeats = PerEventLoop { Heartbeat(eventLoop: $0, tick: tick) }
        self.metrics = metrics
        self.logger = logger
    }

    func makeConnectionID() -> ConnectionID {
        ConnectionID(value: lastConnectionID.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// The heartbeat of this server's sockets on `eventLoop`.
    func heartbeat(on eventLoop: any EventLoop) -> Heartbeat {
        heartbeats[eventLoop]
    }
}
