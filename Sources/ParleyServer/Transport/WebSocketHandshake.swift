import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The first handler of every socket (behind TLS): it answers a plain WebSocket upgrade request
/// (``UpgradeRequest``) itself, and hands every other request to NIO's HTTP pipeline, bytes and all, with the
/// socket's ``HandshakeDeadline`` in front of it.
///
/// NIO's HTTP decoder, upgrader and response encoder, set up for each socket and taken down again at its
/// upgrade, cost more CPU than the whole of a connect on the Go peer (docs/PERFORMANCE.md, "Sixth round").
/// A WebSocket client sends one short head and waits for the answer, so its upgrade needs none of them:
/// the head is scanned in place, the ``Admission`` decides as before, and the `101` goes out as one write.
final class WebSocketHandshake: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        /// Waiting for the head.
        case reading
        /// The admission has the head; bytes that arrive meanwhile are kept.
        case deciding
        /// Upgraded, handed over, or ended.
        case done
    }

    private let chat: ChatChannel
    private let logger: Logger
    /// What ``ChatChannel/handle(value:logger:)`` waits for.
    private let result: EventLoopPromise<ChatChannel.UpgradeResult>
    private var state = State.reading
    /// Everything received so far, from the first byte.
    private var received: ByteBuffer?
    /// How many of the received bytes a scan has seen.
    private var scanned = 0
    /// Reading stopped while the admission decided off the event loop.
    private var paused = false
    /// The client half-closed before the handshake was done: passed on behind the bytes, to whoever serves them.
    private var inputClosed = false
    /// Runs from the accept; stopped here at the upgrade, or handed to the pipeline with the socket.
    private let deadline: HandshakeDeadline
    private var deadlineHandedOver = false

    init(chat: ChatChannel, logger: Logger, result: EventLoopPromise<ChatChannel.UpgradeResult>, deadline: HandshakeDeadline) {
        self.chat = chat
        self.logger = logger
        self.result = result
        self.deadline = deadline
    }

    func handlerAdded(context: ChannelHandlerContext) {
        deadline.start(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch state {
        case .done:
            context.fireChannelRead(data)
        case .deciding:
            keep(bytes)
        case .reading:
            keep(bytes)
            guard let received else { return }
            let scan = received.withUnsafeReadableBytes { UpgradeRequest.scan($0, scanned: scanned) }
            scanned = received.readableBytes
            switch scan {
            case .incomplete: break
            case .other: handOver(context: context, decided: nil)
            case .upgrade(let request): decide(context: context, request)
            }
        }
    }

    private func keep(_ bytes: ByteBuffer) {
        if received == nil {
            received = bytes
        } else {
            received?.writeImmutableBuffer(bytes)
        }
    }

    private func decide(context: ChannelHandlerContext, _ request: UpgradeRequest) {
        state = .deciding
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: request.target, headers: HTTPHeaders(request.fields))
        let decided = chat.admission.decide(head, channel: context.channel)
        decided.assumeIsolated().whenComplete { outcome in
            self.decided(context: context, request, outcome)
        }
        // Still deciding: a token or a room read is under way. What the client sends meanwhile waits in TCP.
        if state == .deciding {
            paused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
    }

    private func decided(
        context: ChannelHandlerContext,
        _ request: UpgradeRequest,
        _ outcome: Result<Result<Admission.Admitted, APIError>, any Error>
    ) {
        // Closed meanwhile: an admitted request's slot is released as it is dropped.
        guard state == .deciding else { return }
        switch outcome {
        case .success(.success(let admitted)):
            upgrade(context: context, request, admitted)
        case .success(.failure(let refusal)):
            // NIO's HTTP side answers it, as it answers every refusal, without asking the admission again.
            handOver(context: context, decided: .failure(refusal))
        case .failure(let error):
            end(context: context, error)
        }
    }

    private func upgrade(context: ChannelHandlerContext, _ request: UpgradeRequest, _ admitted: Admission.Admitted) {
        state = .done
        deadline.stop()
        context.write(NIOAny(Self.response(key: request.key, allocator: context.channel.allocator)), promise: nil)
        let upgraded: ChatChannel.UpgradeResult
        do {
            upgraded = try chat.upgradePlain(context.channel, admitted)
        } catch {
            result.fail(error)
            context.close(promise: nil)
            return
        }
        // A member greeted in the upgrade has its `welcome` queued already, and the write of it flushes the `101`
        // too: one system call instead of two.
        if case .greeted = upgraded {} else { context.flush() }
        var rest = received
        received = nil
        rest?.moveReaderIndex(forwardBy: request.length)
        result.succeed(upgraded)
        // Frames the client sent right behind its head.
        if let rest, rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
        leave(context: context)
    }

    /// NIO's HTTP pipeline takes the socket, with every byte received so far.
    private func handOver(context: ChannelHandlerContext, decided: Result<Admission.Admitted, APIError>?) {
        state = .done
        if paused {
            paused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        do {
            try context.pipeline.syncOperations.addHandler(deadline, position: .before(self))
            deadlineHandedOver = true
            result.completeWith(try chat.configureHTTP(context.channel, decided: decided, logger: logger))
        } catch {
            result.fail(error)
            context.close(promise: nil)
            return
        }
        let bytes = received
        received = nil
        if let bytes { context.fireChannelRead(wrapInboundOut(bytes)) }
        leave(context: context)
    }

    /// Passes a half-close on behind the bytes, then leaves the pipeline.
    private func leave(context: ChannelHandlerContext) {
        if inputClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func end(context: ChannelHandlerContext, _ error: any Error) {
        state = .done
        received = nil
        result.fail(error)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard state != .done, case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        inputClosed = true
        // Before the head is complete, NIO's side decides what that means (it closes); while the admission decides,
        // it waits for the handler that will serve the socket.
        if state == .reading { handOver(context: context, decided: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard state == .done else { return end(context: context, error) }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state != .done {
            state = .done
            received = nil
            result.fail(ChannelError.eof)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !deadlineHandedOver { deadline.stop() }
        if state != .done {
            state = .done
            result.fail(ChannelError.ioOnClosedChannel)
        }
    }

    /// The `101` that completes the upgrade.
    static func response(key: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var response = allocator.buffer(capacity: 160)
        response.writeStaticString("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: ")
        response.writeString(accept(key: key))
        response.writeStaticString("\r\n\r\n")
        return response
    }

    /// RFC 6455 §1.3: what a key is hashed with.
    private static let webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §4.2.2).
    static func accept(key: String) -> String {
        let digest = Insecure.SHA1.hash(data: Array((key + webSocketGUID).utf8))
        return Data(digest).base64EncodedString()
    }
}

@available(*, unavailable)
extension WebSocketHandshake: Sendable {}
