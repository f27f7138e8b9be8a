import NIOCore
import NIOWebSocket
import Synchronization

/// Writes one connection's ``Outbox`` to its channel from the channel's event loop, without a task.
///
/// Waking a writer task for every delivery, then hopping to the event loop to write, cost more than
/// everything else in fan-out. Instead a room's enqueue asks the loop's ``WriteScheduler`` to drain this
/// outbox; the loop writes each batch of queued frames with one flush, and the close frame last of all.
///
/// A client that reads slower than it is sent to fills NIO's write buffer past its high-water mark; the
/// writer then takes no more frames from the outbox, which fills instead (up to its limit, then `slow
/// consumer`), until ``writable()`` says the buffer has drained. Meanwhile an enqueue does not wake it, but a
/// decision to close does: a close that drops the queue is written at once, and one that waits for the
/// queue gives the client `closeTimeout` to read it. No promise is made per write: the channel's
/// writability is the only signal needed.
final class OutboxWriter: Sendable {
    let outbox: Outbox
    let channel: any Channel
    /// How long a client has to answer our close frame before the socket is dropped.
    let closeTimeout: TimeAmount
    private let scheduler: WriteScheduler
    /// Touched only on the event loop.
    private let loopState: NIOLoopBoundBox<LoopState>

    private struct LoopState {
        /// Where pre-framed bytes enter the pipeline: just past the frame encoder.
        var afterEncoder: ChannelHandlerContext?
        var lookedUp = false
        var draining = false
        var ended = false
        var closeSent = false
        var dropScheduled = false
        /// The client's close came first: ours is the answer, and the socket closes once it is written.
        var peerClosed = false
    }

    init(outbox: Outbox, channel: any Channel, closeTimeout: TimeAmount) {
        self.outbox = outbox
        self.channel = channel
        self.closeTimeout = closeTimeout
        self.scheduler = WriteScheduler.shared(for: channel.eventLoop)
        self.loopState = .makeBoxSendingValue(LoopState(), eventLoop: channel.eventLoop)
    }

    /// Starts writing whatever the outbox holds, now and whenever it gets more.
    func start() {
        scheduler.schedule(self)
    }

    /// The client has sent its close frame (or shut its side): our close, when it is written, ends the
    /// connection. Called on the event loop.
    func peerClosed() {
        loopState.value.peerClosed = true
    }

    /// Whether our close frame has been written (the handshake is then the client's to finish).
    var closeSent: Bool {
        loopState.value.closeSent
    }

    private func frameEncoderContext() -> ChannelHandlerContext? {
        if !loopState.value.lookedUp {
            loopState.value.lookedUp = true
            loopState.value.afterEncoder = try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        }
        return loopState.value.afterEncoder
    }

    /// NIO's write buffer has drained below its low-water mark. Called on the event loop.
    func writable() {
        drain()
    }

    /// Writes everything queued, batch by batch, each with one flush, while the channel is writable. Runs on
    /// the event loop.
    func drain() {
        if loopState.value.draining || loopState.value.ended { return }
        loopState.value.draining = true
        defer { loopState.value.draining = false }
        while true {
            let wake: @Sendable () -> Void = { [self] in scheduler.schedule(self) }
            // While the socket is full, frames wait in the outbox; only a close is taken, so that a client
            // that reads nothing still gets its close frame queued and is dropped after `closeTimeout`.
            let writable = channel.isWritable
            guard let poll = writable ? outbox.poll(orWake: wake) : outbox.pollClose(orWake: wake) else {
                // A close waits behind frames the client is not reading (it sent its own close, or the server
                // is shutting down): it has `closeTimeout` to read them.
                if !writable, !outbox.isOpen { scheduleDrop() }
                return
            }
            switch poll {
            case .ended:
                loopState.value.ended = true
                return
            case .next(.close(let code, let reason)):
                loopState.value.ended = true
                sendClose(code: code, reason: reason)
                return
            case .next(.frames(let frames)):
                // A failed write closes the channel, and ``ChatConnection/ended()`` then finishes the outbox.
                guard let encoder = frameEncoderContext() else {
                    for frame in frames {
                        channel.write(WebSocketFrame(fin: true, opcode: .text, data: frame), promise: nil)
                    }
                    channel.flush()
                    continue
                }
                if frames.count > 1 {
                    // Several frames go out as one buffer: one entry in NIO's pending writes instead of one
                    // per frame. A burst (a join storm, a backlog) would otherwise grow that queue for good.
                    encoder.write(NIOAny(Self.concatenated(frames, allocator: channel.allocator)), promise: nil)
                } else if let frame = frames.first {
                    // A hand-written event arrives already framed (``EventEncoder``): its bytes go straight past the
                    // encoder, shared with every other member, with no header buffer of its own.
                    if let framed = WebSocketTextHeader.framed(frame) {
                        encoder.write(NIOAny(framed), promise: nil)
                    } else {
                        channel.write(WebSocketFrame(fin: true, opcode: .text, data: frame), promise: nil)
                    }
                }
                // From the encoder on: the handlers after it have nothing to flush.
                encoder.flush()
            }
        }
    }

    /// The frames, each with its text-frame header, back to back in one buffer.
    static func concatenated(_ frames: some Collection<ByteBuffer>, allocator: ByteBufferAllocator) -> ByteBuffer {
        var size = 0
        for frame in frames { size += WebSocketTextHeader.maxSize + frame.readableBytes }
        var batch = allocator.buffer(capacity: size)
        for var frame in frames {
            if let framed = WebSocketTextHeader.framed(frame) {
                batch.writeImmutableBuffer(framed)
            } else {
                WebSocketTextHeader.append(headerFor: frame.readableBytes, to: &batch)
                batch.writeBuffer(&frame)
            }
        }
        return batch
    }

    /// Writes our close frame after everything before it, then gives the client `closeTimeout` to answer
    /// with its own before the socket is dropped.
    private func sendClose(code: UInt16, reason: String) {
        loopState.value.closeSent = true
        var data = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: WebSocketErrorCode(codeNumber: Int(code)))
        data.writeString(reason)
        let channel = self.channel
        let written = channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))
        if loopState.value.peerClosed {
            written.whenComplete { _ in channel.close(promise: nil) }
        }
        scheduleDrop()
    }

    /// Closes the socket `closeTimeout` from now, whatever is left unwritten.
    private func scheduleDrop() {
        guard !loopState.value.dropScheduled else { return }
        loopState.value.dropScheduled = true
        let channel = self.channel
        channel.eventLoop.scheduleTask(in: closeTimeout) { channel.close(promise: nil) }
    }
}

/// Collects, per event loop, the writers that have something to write, and drains them all in one
/// task on the loop: a commit that reaches many members costs one hop to the loop, not one per member.
final class WriteScheduler: Sendable {
    let eventLoop: any EventLoop
    private let pending = Mutex<[OutboxWriter]>([])
    /// The other of two arrays that take turns as `pending`, so that neither is allocated anew per run.
    private let spare: NIOLoopBoundBox<[OutboxWriter]>

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.spare = .makeBoxSendingValue([], eventLoop: eventLoop)
    }

    func schedule(_ writer: OutboxWriter) {
        let first = pending.withLock { pending in
            pending.append(writer)
            return pending.count == 1
        }
        if first { eventLoop.execute { self.run() } }
    }

    private func run() {
        var writers = spare.value
        spare.value = []
        pending.withLock { swap(&writers, &$0) }
        for writer in writers { writer.drain() }
        writers.removeAll(keepingCapacity: true)
        spare.value = writers
    }

    private static let schedulers = PerEventLoop { WriteScheduler(eventLoop: $0) }

    /// The scheduler of `eventLoop`.
    static func shared(for eventLoop: any EventLoop) -> WriteScheduler {
        schedulers[eventLoop]
    }
}
