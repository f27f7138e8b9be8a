import Logging
import NIOCore
import ParleyProtocol
import Synchronization

/// What one server process shares between its routes and connections: configuration, storage,
/// live rooms, connection accounting and metrics.
final class ChatHub: Sendable {
    let configuration: ServerConfiguration
    let store: any MessageStore
    /// Members and nicks shared with other nodes; nil on a single node (SQLite).
    let cluster: ClusterPresence?
    let rooms: RoomRegistry
    let limiter: ConnectionLimiter
    let connections = ConnectionDirectory()
    /// What connections wait for (storage reads, cluster calls), run by a few workers.
    let work: ConnectionWork
    /// One ping timer per event loop (``Heartbeat``).
    let heartbeats: PerEventLoop<Heartbeat>
    let metrics: ParleyMetrics
    let logger: Logger
    private let lastConnectionID = Atomic<UInt64>(0)

    init(
        configuration: ServerConfiguration,
        store: any MessageStore,
        cluster: ClusterPresence?,
        feed: RoomFeed,
        metrics: ParleyMetrics,
        logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.cluster = cluster
        let work = ConnectionWork()
        self.work = work
        // Open rooms only: in api mode every room was made on purpose and stays.
        var forget: RoomRegistry.Forget?
        if configuration.roomCreation == .open {
            forget = { record, done in
                work.submit {
                    await store.forgetRoom(record)
                    done()
                }
            }
        }
        self.rooms = RoomRegistry(feed: feed, metrics: metrics, forget: forget)
        self.limiter = ConnectionLimiter(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerAddress)
        let tick = ConnectionStateMachine.Timeouts(configuration).ping
        self.heartbeats = PerEventLoop { Heartbeat(eventLoop: $0, tick: tick) }
        self.metrics = metrics
        self.logger = logger
    }

    func makeConnectionID() -> ConnectionID {
        ConnectionID(value: lastConnectionID.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// The live room a client joins, acquired (balance with `rooms.release`): created on first use in `open`
    /// mode, looked up in `api` mode (nil: no such room).
    func admitRoom(code: String) async throws -> Room? {
        try await rooms.acquire(code: code) { [configuration, store] in
            switch configuration.roomCreation {
            case .open: try await store.openRoom(code: code)
            case .api: try await store.room(code: code)
            }
        }
    }
}
