import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

extension ChatHub {
    /// `GET /ws` on the WebSocket router: admit and upgrade, or decline. HummingbirdWebSocket answers a
    /// declined upgrade with a bare 400, which ``RefusalResponseHandler`` replaces with the refusal recorded here.
    func addWebSocketRoute(to router: Router<ParleyRequestContext>) {
        router.ws("/ws") { request, context in
            do {
                _ = try await self.admit(request, context: context)
                let address = context.clientAddress
                do throws(ConnectionLimiter.Refusal) {
                    try self.limiter.reserve(address: address)
                } catch {
                    throw Self.refusal(error)
                }
                // Released when the socket closes, whether or not the upgrade completes.
                context.channel.closeFuture.whenComplete { _ in self.limiter.release(address: address) }
                return .upgrade([:])
            } catch {
                self.metrics.connectionsRefused.increment()
                let refusal = error as? APIError ?? APIError(.serviceUnavailable, .unavailable, "unavailable")
                self.refusals.record(refusal, for: context.channel)
                return .dontUpgrade
            }
        } onUpgrade: { inbound, outbound, context in
            try await self.serve(inbound: inbound, outbound: outbound, context: context)
        }
    }

    /// `GET /ws` on the HTTP router, for requests without upgrade headers: the same checks, then 400.
    func addWebSocketRefusalRoute(to router: Router<ParleyRequestContext>) {
        router.get("/ws") { request, context -> Response in
            _ = try await self.admit(request, context: context)
            do throws(ConnectionLimiter.Refusal) {
                try self.limiter.check(address: context.clientAddress)
            } catch {
                throw Self.refusal(error)
            }
            throw APIError(.badRequest, .badRequest, "expected a WebSocket upgrade request")
        }
    }

    private func serve(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        context: WebSocketRouterContext<ParleyRequestContext>
    ) async throws {
        // `shouldUpgrade` already admitted this request; only the room is needed now (and created, in open mode).
        let connect = try ConnectRequest(query: context.request.uri.queryParameters)
        let found: RoomRecord?
        do {
            found = try await admitRoom(code: connect.roomCode)
        } catch {
            // Storage stopped answering after the upgrade was granted: say so rather than just hang up.
            context.logger.warning("room lookup failed", metadata: ["error": "\(error)"])
            try await ChatConnection.refuse(outbound)
            return
        }
        guard let record = found else { return }
        let channel = context.requestContext.channel
        let id = makeConnectionID()
        var logger = context.logger
        logger[metadataKey: "connection"] = "\(id.value)"
        let closeTimeout = TimeAmount(configuration.closeTimeout)
        // A slow consumer may never read its close frame: give it closeTimeout, then drop the socket.
        let metrics = self.metrics
        let outbox = Outbox(limit: configuration.maxOutboundBytes) {
            metrics.slowConsumersClosed.increment()
            channel.eventLoop.scheduleTask(in: closeTimeout) { channel.close(promise: nil) }
        }
        connections.insert(id, outbox)
        metrics.connections.increment()
        defer {
            connections.remove(id)
            metrics.connections.decrement()
        }
        let room = rooms.acquire(record)
        defer { rooms.release(room) }
        let connection = ChatConnection(hub: self, room: room, id: id, outbox: outbox, channel: channel, request: connect, logger: logger)
        try await connection.run(inbound: inbound, outbound: outbound)
    }
}
