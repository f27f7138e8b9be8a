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
    private let idleTimeout: TimeAmount
    private var phase = Phase.joining
    /// A command is waiting for storage.
    private var busy = false
    private var held: Deque<String> = []
    private var reading = false
    private var lastHeard = NIODeadline.now()
    /// A frame arrived since the last beat; the beat turns it into `lastHeard` (one clock read per beat,
    /// not one per frame).
    private var heard = false
    private var context: ChannelHandlerContext?
    private var heartbeat: Heartbeat?
    private var nextBeat = NIODeadline.distantFuture
    /// Where ``Heartbeat`` keeps this socket, while it does.
    var heartbeatSlot: Int?

    private enum Phase {
        /// `welcome` is not queued yet: commands wait.
        case joining
        case serving
        /// The client is done sending (a close frame with this code, or a shut TCP side): commands
        /// already received still run, then the server answers and closes.
        case ending(code: UInt16)
        /// Nothing more is read or run: the join was refused, or the close is under way.
        case done
    }

    init(connection: ChatConnection, configuration: ServerConfiguration) {
        self.connection = connection
        self.idleTimeout = TimeAmount(configuration.idleTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        setReading(false, context: context)
        self.context = context
        let heartbeat = connection.hub.heartbeat(on: context.eventLoop)
        nextBeat = .now() + heartbeat.tick
        heartbeat.add(self)
        self.heartbeat = heartbeat
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopBeating()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopBeating()
        connection.ended()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // A slow client caught up: its writer may take from the outbox again.
        if context.channel.isWritable { connection.writer.writable() }
        context.fireChannelWritabilityChanged()
    }

    private func stopBeating() {
        heartbeat?.remove(self)
        heartbeat = nil
        context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        heard = true
        switch frame.opcode {
        case .text:
            // After a close of ours was decided, a command could be stored but never acknowledged.
            guard acceptsCommands else { return }
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
            guard !connection.writer.closeSent else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            if connection.writer.closeSent {
                // The answer to our close: the handshake is complete.
                context.close(promise: nil)
                return
            }
            var payload = frame.unmaskedData
            clientEnded(code: Self.answerCode(payload.readWebSocketErrorCode()), context: context)
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // The client shut its side of the TCP connection without a close frame.
            clientEnded(code: 1000, context: context)
            return
        }
        guard let event = event as? ChatConnection.Event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch event {
        case .ready:
            if case .joining = phase { phase = .serving }
        case .refused:
            // Only the client's answer to our close is still of interest.
            phase = .done
            setReading(true, context: context)
            return
        case .finished:
            busy = false
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

    private var acceptsCommands: Bool {
        switch phase {
        case .joining, .serving: connection.outbox.isOpen
        case .ending, .done: false
        }
    }

    /// Runs held commands in order until one has to wait. Reads again once none is held; a client that
    /// is done sending is answered once the last of its commands has run.
    private func runHeld(context: ChannelHandlerContext) {
        switch phase {
        case .joining, .done:
            return
        case .serving, .ending:
            while !busy, let text = held.popFirst() {
                busy = !connection.receive(text)
            }
        }
        guard !busy else {
            setReading(false, context: context)
            return
        }
        switch phase {
        case .serving:
            setReading(true, context: context)
        case .ending(let code):
            phase = .done
            // Sends what is queued, then our close; the socket closes once it is written.
            connection.writer.peerClosed()
            connection.outbox.drainAndClose(code: code, reason: "")
        case .joining, .done:
            break
        }
    }

    /// The client sent its close frame, or shut its side of the socket: nothing more is read.
    private func clientEnded(code: UInt16, context: ChannelHandlerContext) {
        switch phase {
        case .joining, .serving:
            phase = .ending(code: code)
            setReading(false, context: context)
            runHeld(context: context)
        case .ending, .done:
            // Already closing; a refused join has nothing left to run.
            context.close(promise: nil)
        }
    }

    private func setReading(_ on: Bool, context: ChannelHandlerContext) {
        guard on != reading else { return }
        reading = on
        // Silence while the server was not reading is not the client's.
        if on {
            lastHeard = .now()
            heard = false
        }
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: on)
    }

    /// The code that answers a client's close: its own, when it is one a close frame may carry.
    static func answerCode(_ code: WebSocketErrorCode?) -> UInt16 {
        guard let code else { return 1000 }
        let number = UInt16(webSocketErrorCode: code)
        switch number {
        case 1000...1003, 1007...1014, 3000...4999: return number
        default: return 1002
        }
    }

    /// Beats the socket when its time has come (``Heartbeat`` asks every socket on the loop, each second).
    func beatIfDue(now: NIODeadline) {
        guard let context, let heartbeat, now >= nextBeat else { return }
        nextBeat = now + heartbeat.tick
        if heard {
            lastHeard = now
            heard = false
        }
        beat(context: context, now: now)
    }

    /// Pings the client, or closes it with 1001 once it has been silent (pongs included) for the idle timeout.
    private func beat(context: ChannelHandlerContext, now: NIODeadline) {
        guard !connection.writer.closeSent else { return }
        guard case .serving = phase else { return }
        if reading, now - lastHeard >= idleTimeout {
            connection.outbox.closeNow(code: 1001, reason: "idle timeout")
            // A client that reads nothing may never let the close frame out: drop it after the close timeout.
            let channel = context.channel
            context.eventLoop.scheduleTask(in: connection.writer.closeTimeout) { channel.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
    }
}
