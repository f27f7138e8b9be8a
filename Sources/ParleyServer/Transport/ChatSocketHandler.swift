import Foundation
import NIOCore
import NIOWebSocket
import ParleyProtocol

/// Serves an upgraded socket on its event loop by carrying out what its ``ConnectionStateMachine`` decides:
/// text frames become commands for the ``ChatConnection``, pings are answered through the outbox, silent
/// clients are pinged and then closed, a socket that takes no bytes is dropped, and a client's close is
/// answered.
///
/// Commands run one at a time, in the order they arrived. Until the member has joined, and while a
/// command waits for storage, frames are held and the socket is not read, so a client that sends
/// faster than storage answers is slowed by TCP rather than buffered without bound.
final class ChatSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    let connection: ChatConnection
    /// The connection's life; this handler and the ``OutboxWriter`` feed it events and carry out its actions.
    var state: ConnectionStateMachine
    private var context: ChannelHandlerContext?
    private var heartbeat: Heartbeat?
    /// Where ``Heartbeat`` keeps this socket, while it does.
    var heartbeatSlot: Int?
    /// Whether the aggregator that joins fragments is in front of this handler (``assemble(_:context:)``).
    private var assembling = false

    init(connection: ChatConnection, configuration: ServerConfiguration) {
        self.connection = connection
        let now = NIODeadline.now()
        var expires = NIODeadline.distantFuture
        if let identity = connection.identity {
            // `exp` is wall-clock time; the machine counts on the monotonic clock from here.
            let left = identity.expires.timeIntervalSinceNow
            expires = now + .nanoseconds(Int64(max(0, min(left, 1e9)) * 1e9))
        }
        self.state = ConnectionStateMachine(timeouts: .init(configuration), now: now, expires: expires)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Nothing is read until the member has joined.
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        self.context = context
        connection.writer.attach(self, context: context)
        // Whatever the outbox already asked for before the handler was there.
        connection.writer.drain()
        let heartbeat = connection.context.heartbeat(on: context.eventLoop)
        heartbeat.add(self)
        self.heartbeat = heartbeat
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        connection.ended()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        apply(state.writabilityChanged(writable: context.channel.isWritable))
        context.fireChannelWritabilityChanged()
    }

    private func stop() {
        heartbeat?.remove(self)
        heartbeat = nil
        context = nil
        connection.writer.detach()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // No extension is negotiated, so no reserved bit may be set (RFC 6455 §5.2).
        if frame.rsv1 || frame.rsv2 || frame.rsv3 {
            apply(state.frameRefused(code: CloseCode.protocolError.rawValue, reason: "reserved bits set"))
            return
        }
        if !assembling, !frame.fin || frame.opcode == .continuation {
            assemble(data, context: context)
            return
        }
        switch frame.opcode {
        case .text:
            let payload = frame.unmaskedData
            guard let text = String(validating: payload.readableBytesView, as: UTF8.self) else {
                apply(state.frameRefused(code: CloseCode.invalidFramePayload.rawValue, reason: "text frames must be valid UTF-8"))
                return
            }
            apply(state.textReceived(text, outboxOpen: connection.outbox.isOpen))
        case .binary:
            connection.context.metrics.closedBinary.increment()
            apply(state.frameRefused(code: CloseCode.unsupportedData.rawValue, reason: "binary frames are not accepted"))
        case .ping:
            apply(state.pingReceived(payload: frame.unmaskedData))
        case .connectionClose:
            var payload = frame.unmaskedData
            apply(state.closeReceived(code: Self.answerCode(payload.readWebSocketErrorCode())))
        case .pong:
            state.frameHeard()
        default:
            // An opcode RFC 6455 reserves (§5.2). Ignored, such frames could be sent between fragments, each
            // keeping a whole read's buffer alive in the aggregator.
            apply(state.frameRefused(code: CloseCode.protocolError.rawValue, reason: "unknown opcode"))
        }
    }

    /// A message in more fragments than this closes 1002 (docs/PROTOCOL.md): each fragment costs a buffer, and
    /// a client could otherwise send a message of 64 KiB one byte at a time.
    static let maxFragments = 1024

    /// Hands the first fragment of a message, and everything after it, to NIO's aggregator, put in front of
    /// this handler now. Clients rarely fragment, so a socket does not carry the aggregator (and its context)
    /// until one does; it then stays. A continuation with no message begun is the aggregator's error too.
    private func assemble(_ fragment: NIOAny, context: ChannelHandlerContext) {
        assembling = true
        let aggregator = NIOWebSocketFrameAggregator(
            minNonFinalFragmentSize: 0,
            maxAccumulatedFrameCount: Self.maxFragments,
            maxAccumulatedFrameSize: connection.context.configuration.maxFrameBytes
        )
        do {
            try context.pipeline.syncOperations.addHandler(aggregator, position: .before(self))
            aggregator.channelRead(context: try context.pipeline.syncOperations.context(handler: aggregator), data: fragment)
        } catch {
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            apply(state.inputClosed())
            return
        }
        guard let event = event as? ChatConnection.Event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch event {
        case .ready: apply(state.joined())
        case .refused: apply(state.joinRefused())
        case .finished: apply(state.commandFinished())
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge:
            apply(state.frameRefused(code: CloseCode.messageTooLarge.rawValue, reason: "message too large"))
        case is NIOWebSocketFrameAggregator.Error:
            apply(state.frameRefused(code: CloseCode.protocolError.rawValue, reason: "bad fragments"))
        case let refused as NIOWebSocketError:
            // The frame decoder refused a frame. This handler answers rather than NIO's
            // WebSocketProtocolErrorHandler, which every socket would otherwise keep (with its context) for good.
            switch refused {
            case .invalidFrameLength:
                apply(state.frameRefused(code: CloseCode.messageTooLarge.rawValue, reason: "message too large"))
            default:
                apply(state.frameRefused(code: CloseCode.protocolError.rawValue, reason: "bad frame"))
            }
        case ByteToMessageDecoderError.dataReceivedInErrorState:
            // Bytes after a refused frame can no longer be decoded: read no more. Our close is on its way, and the
            // close timeout ends the socket.
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        default:
            context.close(promise: nil)
        }
    }

    /// The writer took a decision to close from the outbox.
    func closeTaken(code: UInt16, reason: String) {
        apply(state.closeTaken(code: code, reason: reason))
    }

    /// Hands the state machine the time (``Heartbeat`` calls it for every socket on the loop, each second),
    /// and with it the bytes waiting in the socket when it is watching them.
    func tick(now: NIODeadline) {
        guard let context else { return }
        var pending = 0
        if state.watchesWrites {
            pending = (try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
        }
        apply(state.tick(now: now, pendingBytes: pending))
    }

    /// Carries out `action`, and the actions that running commands leads to.
    private func apply(_ action: ConnectionStateMachine.Action) {
        guard let context else { return }
        var action = action
        while case .run(let text) = action {
            // A room may have cut the member off since the command was held: then it is not run.
            let result: ChatConnection.CommandResult = connection.outbox.isOpen ? connection.receive(text) : .finished
            switch result {
            case .finished: action = state.commandFinished()
            case .waiting: action = state.commandWaiting()
            }
        }
        switch action {
        case .none, .run:
            break
        case .pauseReading:
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        case .resumeReading:
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        case .answerPing(let payload):
            connection.enqueue(OutboxWriter.pong(payload: payload, allocator: context.channel.allocator))
        case .ping:
            state.handed(bytes: connection.writer.writePing())
        case .close(let code, let reason):
            connection.outbox.closeNow(code: code, reason: reason)
        case .answerClose(let code):
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
            // Sends what is queued, then our close; the socket closes once it is written.
            connection.outbox.drainAndClose(code: code, reason: "")
        case .writeClose(let code, let reason):
            let (bytes, written) = connection.writer.writeClose(code: code, reason: reason)
            state.handed(bytes: bytes)
            written.assumeIsolated().whenSuccess { [self] in apply(state.closeWritten()) }
        case .writeOutbox:
            connection.writer.drain()
        case .drop:
            context.close(promise: nil)
        }
    }

    /// The code that answers a client's close: its own, when it is one a close frame may carry.
    static func answerCode(_ code: WebSocketErrorCode?) -> UInt16 {
        guard let code else { return CloseCode.normalClosure.rawValue }
        let number = UInt16(webSocketErrorCode: code)
        switch number {
        case 1000...1003, 1007...1014, 3000...4999: return number
        default: return CloseCode.protocolError.rawValue
        }
    }
}
