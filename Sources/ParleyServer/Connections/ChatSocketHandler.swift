import DequeModule
import NIOCore
import NIOWebSocket

/// Serves an upgraded socket on its event loop: text frames go to the ``ChatConnection``, pings are
/// answered, silent clients are pinged and then closed, and a client's close is answered.
///
/// Commands run one at a time, in the order they arrived. Until the member has joined, and while a
/// command waits for storage, frames are held here and the socket is not read, so a client that sends
/// faster than storage answers is slowed by TCP rather than buffered without bound.
final class ChatSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let connection: ChatConnection
    /// How often a ping goes out (and silence is checked).
    private let tick: TimeAmount
    private let idleTimeout: TimeAmount
    /// `welcome` is queued.
    private var ready = false
    /// A command is waiting for storage.
    private var busy = false
    /// The client sent its close frame.
    private var closing = false
    private var held: Deque<String> = []
    private var lastHeard = NIODeadline.now()
    private var heartbeat: RepeatedTask?

    init(connection: ChatConnection, configuration: ServerConfiguration) {
        self.connection = connection
        self.tick = TimeAmount(min(configuration.heartbeatInterval, configuration.idleTimeout / 2))
        self.idleTimeout = TimeAmount(configuration.idleTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        setReading(false, context: context)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        heartbeat = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            let (handler, context) = bound.value
            handler.beat(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        heartbeat?.cancel()
        heartbeat = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastHeard = .now()
        switch frame.opcode {
        case .text:
            guard !closing, !connection.writer.closeSent else { return }
            let payload = frame.unmaskedData
            guard let text = String(validating: payload.readableBytesView, as: UTF8.self) else {
                connection.outbox.closeNow(code: 1007, reason: "text frames must be valid UTF-8")
                return
            }
            held.append(text)
            runHeld(context: context)
        case .binary:
            connection.hub.metrics.closedBinary.increment()
            connection.outbox.closeNow(code: 1003, reason: "binary frames are not accepted")
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            receivedClose(frame, context: context)
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The client shut its side without a close frame (the server allows half-closed sockets):
            // it is gone.
            context.close(promise: nil)
            return
        }
        guard let event = event as? ChatConnection.Event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch event {
        case .ready: ready = true
        case .finished: busy = false
        }
        runHeld(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge:
            connection.outbox.closeNow(code: 1009, reason: "message too large")
        case is NIOWebSocketFrameAggregator.Error:
            connection.outbox.closeNow(code: 1002, reason: "bad fragments")
        case is NIOWebSocketError:
            // WebSocketProtocolErrorHandler has sent the close frame and closes the socket.
            break
        default:
            context.close(promise: nil)
        }
    }

    /// Runs held commands in order until one has to wait; reads again once none is held.
    private func runHeld(context: ChannelHandlerContext) {
        while ready, !busy, !closing, let text = held.popFirst() {
            busy = !connection.receive(text)
        }
        setReading(ready && !busy && !closing, context: context)
    }

    private func setReading(_ reading: Bool, context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: reading)
    }

    /// The client's close: after ours, the handshake is done; otherwise nothing more is sent but the
    /// answer, which carries the client's code back.
    private func receivedClose(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        closing = true
        if connection.writer.closeSent {
            context.close(promise: nil)
            return
        }
        connection.outbox.finish()
        var payload = frame.unmaskedData
        var answer = context.channel.allocator.buffer(capacity: 2)
        if let code = payload.readWebSocketErrorCode() { answer.write(webSocketErrorCode: code) }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: answer))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }

    /// Pings the client, or closes it with 1001 once it has been silent (pongs included) for the idle timeout.
    private func beat(context: ChannelHandlerContext) {
        guard !closing, !connection.writer.closeSent else { return }
        if NIODeadline.now() - lastHeard >= idleTimeout {
            connection.outbox.closeNow(code: 1001, reason: "idle timeout")
            // A client that reads nothing may never let the close frame out: drop it after the close timeout.
            let channel = context.channel
            context.eventLoop.scheduleTask(in: connection.writer.closeTimeout) { channel.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
    }
}
