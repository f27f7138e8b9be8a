import NIOCore
import NIOWebSocket

extension ConnectionContext {
    /// Sets up a socket the ``Admission`` let upgrade (on its event loop): its outbox and writer, and the
    /// handler that serves its frames. The member joins in ``ChatConnection/start(_:)``.
    /// - Parameter encoder: the context of the frame encoder NIO's upgrader added, if it did; the writer
    ///   writes past it.
    func upgraded(
        _ channel: any Channel,
        slot: ConnectionSlot?,
        identity: VerifiedIdentity? = nil,
        encoder: ChannelHandlerContext? = nil
    ) throws -> ChatConnection {
        let id = makeConnectionID()
        let outbox = Outbox(limit: configuration.maxOutboundBytes)
        let connection = ChatConnection(context: self, id: id, outbox: outbox, channel: channel, slot: slot, identity: identity)
        if let encoder { connection.writer.writePast(encoder) }
        try channel.pipeline.syncOperations.addHandler(ChatSocketHandler(connection: connection, configuration: configuration))
        directory.insert(id, outbox)
        metrics.connections.increment()
        return connection
    }
}
