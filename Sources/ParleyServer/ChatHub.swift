import Logging
import ParleyProtocol
import Synchronization

/// What one server process shares between its routes and connections: configuration, storage,
/// live rooms, connection accounting and metrics.
final class ChatHub: Sendable {
    let configuration: ServerConfiguration
    let store: any MessageStore
    let rooms: RoomRegistry
    let limiter: ConnectionLimiter
    let connections = ConnectionDirectory()
    let refusals = UpgradeRefusals()
    let metrics: ParleyMetrics
    let logger: Logger
    private let lastConnectionID = Atomic<UInt64>(0)

    init(configuration: ServerConfiguration, store: any MessageStore, metrics: ParleyMetrics, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.rooms = RoomRegistry(metrics: metrics)
        self.limiter = ConnectionLimiter(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerAddress)
        self.metrics = metrics
        self.logger = logger
    }

    func makeConnectionID() -> ConnectionID {
        ConnectionID(value: lastConnectionID.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    /// The room a client may join: created on first use in `open` mode, looked up in `api` mode.
    func admitRoom(code: String) async throws -> RoomRecord? {
        switch configuration.roomCreation {
        case .open: try await store.openRoom(code: code)
        case .api: try await store.room(code: code)
        }
    }

    /// Queues a message for storage. Once it is durable, a new message goes to every member of the live
    /// room (looked up at commit time, so a room re-created meanwhile still gets it) and `completion` runs.
    func submit(
        room: RoomRecord,
        nick: String,
        text: String,
        clientID: String?,
        completion: @escaping @Sendable (AppendResult) -> Void
    ) async throws {
        let rooms = self.rooms
        let code = room.code
        try await store.append(
            PendingMessage(roomID: room.id, nick: nick, text: text, ts: .now(), clientID: clientID) { result in
                if case .stored(let message) = result {
                    rooms.room(code: code)?.deliver(message)
                }
                completion(result)
            }
        )
    }
}
