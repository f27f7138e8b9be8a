import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// Each accepted TCP connection: HTTP/1.1 for the API and the web UI, or a WebSocket upgrade on `/ws`
/// that is served by a ``ChatSocketHandler`` on the event loop.
///
/// HummingbirdWebSocket gives every socket an async task group (reader, auto-ping, handler) over an
/// `NIOAsyncChannel`: every idle member kept those tasks' stacks, and every inbound frame crossed from the
/// event loop to a task (docs/ARCHITECTURE.md, "Memory per connection"). Here the socket's task ends once
/// `welcome` is sent; frames are handled where NIO reads them.
struct ChatChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        /// With the member's join when it was made in the upgrade (``ChatConnection/joinAtUpgrade(_:)``).
        case websocket(ChatConnection, Admission.Admitted, Room.Joined?)
        /// Joined and greeted in the upgrade, or its room opened from it (``ChatConnection/openAtUpgrade(_:)``):
        /// the socket needs no task, and the write of its `welcome` (or refusal) flushes the `101`.
        case greeted
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// `/ws` without an acceptable request: answered with the contract's status and JSON error.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, APIError)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    /// Decides each upgrade request.
    let admission: Admission
    /// What the upgraded connections share.
    let connections: ConnectionContext
    let responder: Responder
    /// Sockets per peer that are still before their upgrade or first request head.
    let unfinished: SocketsPerAddress
    /// HTTP sockets per peer that are past their first request head (keep-alive), for as long as they stay open.
    /// A trusted proxy's are not counted: it carries many clients' requests.
    let keptAlive: SocketsPerAddress

    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65_536)

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // NIO keeps each socket's receive buffer for its next read, so an idle member holds it for
            // good: start it at 256 bytes (NIO's default is 2 KB; a command is usually smaller); a socket
            // that fills it gets a bigger one.
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffers)
            let peer = ClientAddress(peer: channel.remoteAddress)
            guard unfinished.admit(peer) else {
                // `handle` closes it at once, when the socket is registered.
                connections.metrics.edge.tooManyUnfinished.increment()
                return Value(upgradeResult: channel.eventLoop.makeFailedFuture(TooManyUnfinishedSockets()), channel: channel)
            }
            // The deadline times the TLS handshake too (TLS sits in front of everything set up here). From here the
            // handshake gives the place back.
            let deadline = HandshakeDeadline(
                timeout: TimeAmount(connections.configuration.handshakeTimeout),
                unfinished: unfinished,
                address: peer,
                metrics: connections.metrics
            )
            let result = channel.eventLoop.makePromise(of: UpgradeResult.self)
            do {
                try channel.pipeline.syncOperations.addHandler(WebSocketHandshake(chat: self, logger: logger, result: result, deadline: deadline))
            } catch {
                deadline.stop()
                result.fail(error)
                throw error
            }
            return Value(upgradeResult: result.futureResult, channel: channel)
        }
    }

    /// Sets up NIO's HTTP pipeline, for every request but a plain WebSocket upgrade (``WebSocketHandshake``).
    /// - Parameter decided: the admission's answer, when the handshake already asked it.
    func configureHTTP(
        _ channel: any Channel,
        decided: Result<Admission.Admitted, APIError>?,
        logger: Logger
    ) throws -> EventLoopFuture<UpgradeResult> {
        // What the admission decided, for the upgrade (the request, room and slot) or for the HTTP side (the refusal).
        let decision = NIOLoopBoundBox<Result<Admission.Admitted, APIError>?>(nil, eventLoop: channel.eventLoop)
        let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
            maxFrameSize: connections.configuration.maxFrameBytes,
            // ChatSocketHandler answers the decoder's errors itself (one handler fewer per socket).
            enableAutomaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                let deciding = decided.map { channel.eventLoop.makeSucceededFuture($0) } ?? admission.decide(head, channel: channel)
                return deciding.map { decided in
                    decision.value = decided
                    if case .success = decided { return HTTPHeaders() }
                    return nil
                }
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    // Only an admitted request gets here.
                    guard case .success(let admitted)? = decision.value else { throw ChannelError.inappropriateOperationForState }
                    decision.value = nil
                    HandshakeDeadline.finish(channel)
                    let encoder = try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
                    return try upgraded(channel, admitted, encoder: encoder)
                }
            }
        )
        var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(
            upgradeConfiguration: NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        HandshakeDeadline.finish(channel)
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        // Closes keep-alive connections idle for `--handshake-timeout` between requests (or
                        // between the parts of one), and between requests on graceful shutdown.
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: connections.configuration.handshakeTimeout, logger: logger)
                        )
                        try channel.pipeline.syncOperations.addHandler(CloseAfterResponse())
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if case .failure(let refused) = decision.value { return .refused(http, refused) }
                        if let refused = keepAlive(channel) { return .refused(http, refused) }
                        return .notUpgraded(http)
                    }
                }
            )
        )
        configuration.enablePipelining = false
        configuration.enableErrorHandling = false
        configuration.enableResponseHeaderValidation = false
        return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
    }

    /// Counts an HTTP socket under its peer for as long as it stays open; past the peer's limit its request is
    /// answered 429 and the socket closed. Without it, one address sending a GET every few seconds on each of
    /// thousands of sockets would hold every descriptor the listener may use. Called on the event loop.
    private func keepAlive(_ channel: any Channel) -> APIError? {
        guard let ip = channel.remoteAddress.flatMap(IPAddress.init) else { return nil }
        if connections.configuration.trustedProxies.contains(where: { $0.contains(ip) }) { return nil }
        let peer = ClientAddress(ip)
        guard keptAlive.admit(peer) else {
            connections.metrics.edge.tooManyKeptAlive.increment()
            return Self.tooManyKeptAlive
        }
        channel.closeFuture.whenComplete { [keptAlive] _ in keptAlive.finish(peer) }
        return nil
    }

    static let tooManyKeptAlive = APIError(.tooManyRequests, .rateLimited, "too many open connections from this address")

    /// Completes the upgrade that ``WebSocketHandshake`` answered: the frame reader, then the connection. No
    /// frame encoder: everything the server sends is framed as it is written (``OutboxWriter``), so an idle
    /// socket does not keep NIO's (with its header buffer and handler context).
    func upgradePlain(_ channel: any Channel, _ admitted: Admission.Admitted) throws -> UpgradeResult {
        try channel.pipeline.syncOperations.addHandler(FrameReader(maxFrameSize: connections.configuration.maxFrameBytes))
        return try upgraded(channel, admitted)
    }

    /// The connection of an admitted upgrade, behind the frame codec; it takes the admission's slot over (if the
    /// upgrade fails first, dropping the slot releases it). The member joins here when it can, and is greeted
    /// here when the room's recent messages answer its `welcome`.
    private func upgraded(
        _ channel: any Channel,
        _ admitted: Admission.Admitted,
        encoder: ChannelHandlerContext? = nil
    ) throws -> UpgradeResult {
        let connection = try connections.upgraded(channel, slot: admitted.slot, identity: admitted.identity, encoder: encoder)
        guard let joined = connection.joinAtUpgrade(admitted) else {
            return connection.openAtUpgrade(admitted) ? .greeted : .websocket(connection, admitted, nil)
        }
        if connection.greetAtUpgrade(joined, admitted.request) { return .greeted }
        return .websocket(connection, admitted, joined)
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .websocket(let connection, let admitted, let joined):
                // Joins (unless the upgrade did) and sends `welcome`; from then on the socket lives on the event
                // loop alone.
                await connection.start(admitted.request, room: admitted.room, grant: admitted.grant, joined: joined)
            case .greeted:
                break
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let refusal):
                await Self.refuse(http, with: refusal)
            }
        } catch {
            logger.debug("connection ended before a request", metadata: ["error": "\(error)"])
            try? await value.channel.close()
        }
    }

    /// Writes the refusal of an upgrade request, then closes.
    private static func refuse(_ http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, with refusal: APIError) async {
        try? await http.executeThenClose { _, outbound in
            let body = refusal.body
            var fields = refusal.headers
            fields[.contentType] = "application/json; charset=utf-8"
            fields[.contentLength] = "\(body.readableBytes)"
            fields[.connection] = "close"
            let head = HTTPResponse(status: refusal.status, headerFields: fields)
            try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
        }
    }
}

/// A socket closed at once: its peer already has ``Limits/unfinishedSocketsPerAddress`` sockets before
/// their upgrade or request.
struct TooManyUnfinishedSockets: Error {}
