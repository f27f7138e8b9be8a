import NIOCore
import NIOWebSocket

extension ConnectionContext {
    /// Sets up a socket the ``Admission`` let upgrade (on its event loop): its outbox and writer, and the
    /// handler that serves its frames. The member joins in ``ChatConnection/start(_:)``.
    func upgraded(_ channel: any Channel, slot: ConnectionSlot?, identity: VerifiedIdentity? = nil) throws -> ChatConnection {
        let id = makeConnectionID()
        let outbox = Outbox(limit: configuration.maxOutboundBytes)
        let connection = ChatConnection(context: self, id: id, outbox: outbox, channel: channel, slot: slot, identity: identity)
        try channel.pipeline.syncOperations.addHandlers([
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0,
                maxAccumulatedFrameCount: 1024,
                maxAccumulatedFrameSize: configuration.maxFrameBytes
            ),
            ChatSocketHandler(connection: connection, configuration: configuration),
        ])
        directory.insert(id, outbox)
        metrics.connections.increment()
        return connection
    }
}
