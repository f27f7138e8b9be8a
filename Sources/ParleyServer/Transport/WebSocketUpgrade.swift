import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

extension ChatHub {
    /// `GET /ws` on the HTTP router, for requests without upgrade headers: the same checks, then 400.
    func addWebSocketRefusalRoute(to router: Router<ParleyRequestContext>) {
        router.get("/ws") { request, context -> Response in
            _ = try await self.admit(target: request.uri.description, origin: request.headers[.origin], host: request.head.authority)
            do throws(ConnectionLimiter.Refusal) {
                try self.limiter.check(address: context.clientAddress(of: request, trustedProxies: self.configuration.trustedProxies))
            } catch {
                throw Self.refusal(error)
            }
            throw APIError(.badRequest, .badRequest, "expected a WebSocket upgrade request")
        }
    }

    /// Decides a WebSocket upgrade request on `/ws`: the connection slot it holds when it may upgrade (to
    /// hand to ``upgraded(_:head:slot:)``), or the refusal to answer with.
    func shouldUpgrade(_ head: HTTPRequestHead, channel: any Channel) -> EventLoopFuture<Result<ConnectionSlot, APIError>> {
        let origin = head.headers.first(name: "origin")
        let host = head.headers.first(name: "host")
        guard URI(head.uri).path == "/ws" else {
            return channel.eventLoop.makeSucceededFuture(.failure(APIError(.notFound, .notFound, "no WebSocket here")))
        }
        if configuration.roomCreation == .open {
            let checked = Result { () throws(APIError) in try check(target: head.uri, origin: origin, host: host) }
            return channel.eventLoop.makeSucceededFuture(reserve(checked, address: clientAddress(head, channel: channel)))
        }
        // A room must exist: that takes a storage read.
        let promise = channel.eventLoop.makePromise(of: Result<ConnectionSlot, APIError>.self)
        let queued = work.submit {
            let admitted: Result<ConnectRequest, APIError>
            do throws(APIError) {
                admitted = .success(try await self.admit(target: head.uri, origin: origin, host: host))
            } catch {
                admitted = .failure(error)
            }
            promise.succeed(self.reserve(admitted, address: self.clientAddress(head, channel: channel)))
        }
        if !queued { promise.succeed(.failure(APIError(.serviceUnavailable, .unavailable, "the server is busy; try again"))) }
        return promise.futureResult
    }

    private func reserve(_ admitted: Result<ConnectRequest, APIError>, address: ClientAddress) -> Result<ConnectionSlot, APIError> {
        let decision: Result<ConnectionSlot, APIError>
        switch admitted {
        case .failure(let error):
            decision = .failure(error)
        case .success:
            do throws(ConnectionLimiter.Refusal) {
                decision = .success(try limiter.reserve(address: address))
            } catch {
                decision = .failure(Self.refusal(error))
            }
        }
        if case .failure = decision { metrics.connectionsRefused.increment() }
        return decision
    }

    /// Sets up an upgraded socket (on its event loop): its outbox and writer, and the handler that serves
    /// its frames. The member joins in ``ChatConnection/start()``.
    func upgraded(_ channel: any Channel, head: HTTPRequestHead, slot: ConnectionSlot?) throws -> (ChatConnection, ConnectRequest) {
        // Checked in `shouldUpgrade` already.
        let request = try ConnectRequest(query: URI(head.uri).queryParameters)
        let id = makeConnectionID()
        let outbox = Outbox(limit: configuration.maxOutboundBytes)
        let connection = ChatConnection(hub: self, id: id, outbox: outbox, channel: channel, slot: slot)
        try channel.pipeline.syncOperations.addHandlers([
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0,
                maxAccumulatedFrameCount: 1024,
                maxAccumulatedFrameSize: configuration.maxFrameBytes
            ),
            ChatSocketHandler(connection: connection, configuration: configuration),
        ])
        connections.insert(id, outbox)
        metrics.connections.increment()
        return (connection, request)
    }
}
