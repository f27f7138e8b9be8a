import NIOCore
import NIOWebSocket
import Synchronization

/// Writes one connection's ``Outbox`` to its channel from the channel's event loop, without a task.
///
/// Waking a writer task for every delivery, then hopping to the event loop to write, cost more than
/// everything else in fan-out. Instead a room's enqueue asks the loop's ``WriteScheduler`` to drain this
/// outbox; the loop writes every queued frame with one flush, and only the final close goes back to a task
/// (it uses the WebSocket library's close handshake).
final class OutboxWriter: Sendable {
    let outbox: Outbox
    let channel: any Channel
    private let scheduler: WriteScheduler
    /// Touched only on the event loop.
    private let loopState: NIOLoopBoundBox<LoopState>
    private let closing = Mutex(Closing.waiting(nil))

    private struct LoopState {
        /// Where pre-framed bytes enter the pipeline: just past the library's frame encoder.
        var afterEncoder: ChannelHandlerContext?
        var lookedUp = false
        /// A batch was handed to the channel and has not been written to the socket yet.
        var writing = false
        var draining = false
        var ended = false
    }

    private enum Closing {
        case waiting(CheckedContinuation<Close?, Never>?)
        case decided(Close?)
    }

    struct Close: Sendable {
        var code: UInt16
        var reason: String
    }

    init(outbox: Outbox, channel: any Channel) {
        self.outbox = outbox
        self.channel = channel
        self.scheduler = WriteScheduler.shared(for: channel.eventLoop)
        self.loopState = .makeBoxSendingValue(LoopState(), eventLoop: channel.eventLoop)
    }

    /// Starts writing whatever the outbox holds, now and whenever it gets more.
    func start() {
        scheduler.schedule(self)
    }

    /// Waits until the outbox asks for a close frame, which is due after every frame before it was handed
    /// to the channel. Returns nil when the outbox ended without one, or when the task is cancelled.
    func close() async -> Close? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let decided: Close?? = closing.withLock { closing in
                    switch closing {
                    case .decided(let close): return .some(close)
                    case .waiting:
                        closing = .waiting(continuation)
                        return nil
                    }
                }
                if let decided { continuation.resume(returning: decided) }
            }
        } onCancel: {
            outbox.finish()
            decide(nil)
        }
    }

    private func decide(_ close: Close?) {
        let waiter: CheckedContinuation<Close?, Never>? = closing.withLock { closing in
            guard case .waiting(let waiter) = closing else { return nil }
            closing = .decided(close)
            return waiter
        }
        waiter?.resume(returning: close)
    }

    private func frameEncoderContext() -> ChannelHandlerContext? {
        if !loopState.value.lookedUp {
            loopState.value.lookedUp = true
            loopState.value.afterEncoder = try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        }
        return loopState.value.afterEncoder
    }

    /// Writes everything queued, batch by batch, each with one flush. Runs on the event loop.
    func drain() {
        if loopState.value.writing || loopState.value.draining || loopState.value.ended { return }
        loopState.value.draining = true
        defer { loopState.value.draining = false }
        while let poll = outbox.poll(orWake: { [self] in scheduler.schedule(self) }) {
            switch poll {
            case .ended:
                loopState.value.ended = true
                decide(nil)
                return
            case .next(.close(let code, let reason)):
                loopState.value.ended = true
                decide(Close(code: code, reason: reason))
                return
            case .next(.frames(let frames)):
                let written = channel.eventLoop.makePromise(of: Void.self)
                let encoder = frameEncoderContext()
                for (index, frame) in frames.enumerated() {
                    let promise = index == frames.count - 1 ? written : nil
                    // A `message` frame arrives already framed (``EventEncoder``): its bytes go straight past the
                    // encoder, shared with every other member, with no header buffer of its own.
                    if let encoder, let framed = WebSocketTextHeader.framed(frame) {
                        encoder.write(NIOAny(framed), promise: promise)
                    } else {
                        channel.write(WebSocketFrame(fin: true, opcode: .text, data: frame), promise: promise)
                    }
                }
                loopState.value.writing = true
                channel.flush()
                // Usually the socket took the batch during the flush and this runs at once. Otherwise the
                // client is slow: nothing more is written until it catches up, and its outbox fills instead.
                written.futureResult.whenComplete { result in
                    self.loopState.value.writing = false
                    if case .failure = result {
                        self.outbox.finish()
                    }
                    if !self.loopState.value.draining { self.drain() }
                }
                if loopState.value.writing { return }
            }
        }
    }
}

/// Collects, per event loop, the writers that have something to write, and drains them all in one
/// task on the loop: a commit that reaches many members costs one hop to the loop, not one per member.
final class WriteScheduler: Sendable {
    let eventLoop: any EventLoop
    private let pending = Mutex<[OutboxWriter]>([])

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func schedule(_ writer: OutboxWriter) {
        let first = pending.withLock { pending in
            pending.append(writer)
            return pending.count == 1
        }
        if first { eventLoop.execute { self.run() } }
    }

    private func run() {
        var writers: [OutboxWriter] = []
        pending.withLock { swap(&writers, &$0) }
        for writer in writers { writer.drain() }
    }

    private static let schedulers = Mutex<[ObjectIdentifier: WriteScheduler]>([:])

    /// The scheduler of `eventLoop`; event loops live as long as the process, and so do these.
    static func shared(for eventLoop: any EventLoop) -> WriteScheduler {
        schedulers.withLock { schedulers in
            let key = ObjectIdentifier(eventLoop)
            if let scheduler = schedulers[key] { return scheduler }
            let scheduler = WriteScheduler(eventLoop: eventLoop)
            schedulers[key] = scheduler
            return scheduler
        }
    }
}
