import NIOCore

/// Closes a socket that has not completed its WebSocket upgrade or its first HTTP request head (TLS
/// handshake included) within `--handshake-timeout` of being accepted, and holds the socket's place in
/// its peer's count of unfinished sockets (``SocketsPerAddress``) until then.
///
/// The ``WebSocketHandshake`` starts it and, for a plain upgrade, stops it, without it ever entering the
/// pipeline (one handler fewer to add and remove per connection). A socket handed to NIO's HTTP pipeline gets
/// it in front of that pipeline, still counting from the accept, until ``finish(_:)`` removes it once the
/// request head is in; from there the HTTP side's idle timeout or the WebSocket's heartbeat takes over.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let timeout: TimeAmount
    private let unfinished: SocketsPerAddress
    private let address: ClientAddress
    private let metrics: ParleyMetrics
    private var deadline: Scheduled<Void>?
    private var counted = true

    /// - Parameter address: the peer, already counted by `unfinished.admit`.
    init(timeout: TimeAmount, unfinished: SocketsPerAddress, address: ClientAddress, metrics: ParleyMetrics) {
        self.timeout = timeout
        self.unfinished = unfinished
        self.address = address
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        start(context.channel)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    /// Starts the clock, unless it runs already. Call on the channel's event loop.
    func start(_ channel: any Channel) {
        guard deadline == nil, counted else { return }
        let metrics = metrics
        deadline = channel.eventLoop.scheduleTask(in: timeout) {
            metrics.edge.handshakeTimedOut.increment()
            channel.close(promise: nil)
        }
    }

    /// Stops the clock and gives the place back, once. Call on the channel's event loop.
    func stop() {
        deadline?.cancel()
        deadline = nil
        if counted {
            counted = false
            unfinished.finish(address)
        }
    }

    /// The head is in: stop the clock and give the place back. Call on the channel's event loop.
    static func finish(_ channel: any Channel) {
        let pipeline = channel.pipeline.syncOperations
        if let handler = try? pipeline.handler(type: HandshakeDeadline.self) {
            pipeline.removeHandler(handler, promise: nil)
        }
    }
}

@available(*, unavailable)
extension HandshakeDeadline: Sendable {}
