import NIOCore
import NIOWebSocket
import Synchronization

/// Writes one connection's ``Outbox`` to its channel from the channel's event loop, without a task.
///
/// Waking a writer task for every delivery, then hopping to the event loop to write, cost more than
/// everything else in fan-out. Instead a room's enqueue asks the loop's ``WriteScheduler`` to drain this
/// outbox; the loop writes each batch of queued frames with one flush, and the close frame last of all.
///
/// The writer keeps no state of the connection's life: whether the socket takes bytes, and what a close
/// taken from the outbox means, are the ``ConnectionStateMachine``'s, which the attached
/// ``ChatSocketHandler`` keeps. A client that reads slower than it is sent to fills NIO's write buffer past
/// its high-water mark; the writer then takes no more frames from the outbox, which fills instead (up to its
/// limit, then `slow consumer`), until the socket is writable again. Meanwhile an enqueue does not wake it,
/// but a decision to close does. No promise is made per write: the channel's writability is the only signal
/// needed.
final class OutboxWriter: Sendable {
    let outbox: Outbox
    let channel: any Channel
    private let scheduler: WriteScheduler
    /// Touched only on the event loop.
    private let loopState: NIOLoopBoundBox<LoopState>

    private struct LoopState {
        /// Where the writer's bytes enter the pipeline: the socket handler's context, or, when NIO's upgrader
        /// put its frame encoder in front of it, the encoder's (so that the bytes go past it, already framed).
        var output: ChannelHandlerContext?
        /// Whose state machine decides; nil before the handler is added and after it is removed.
        var socket: ChatSocketHandler?
        /// A drain is under way (a flush can report writability from inside it).
        var draining = false
    }

    init(outbox: Outbox, channel: any Channel) {
        self.outbox = outbox
        self.channel = channel
        self.scheduler = WriteScheduler.shared(for: channel.eventLoop)
        self.loopState = .makeBoxSendingValue(LoopState(), eventLoop: channel.eventLoop)
    }

    /// Starts writing whatever the outbox holds, now and whenever it gets more.
    func start() {
        outbox.setSoon { [self] deadline in scheduler.scheduleSoon(self, at: deadline) }
        scheduler.schedule(self)
    }

    /// The handler whose state machine this writer reports to, and the context it writes from unless
    /// ``writePast(_:)`` named another. Called on the event loop.
    func attach(_ socket: ChatSocketHandler, context: ChannelHandlerContext) {
        loopState.value.socket = socket
        if loopState.value.output == nil { loopState.value.output = context }
    }

    /// Writes from `encoder`'s context, past it: NIO's upgrader adds a `WebSocketFrameEncoder`, which takes
    /// frames, not the framed bytes this writer hands on. Called on the event loop, before ``attach(_:context:)``.
    func writePast(_ encoder: ChannelHandlerContext) {
        loopState.value.output = encoder
    }

    /// Ends the reference cycles with the handler and the pipeline once the socket is gone. Called on the
    /// event loop.
    func detach() {
        loopState.value.socket = nil
        loopState.value.output = nil
    }

    /// Writes everything queued, batch by batch, each with one flush, while the socket takes bytes. Runs on
    /// the event loop.
    func drain() {
        guard let socket = loopState.value.socket, !loopState.value.draining else { return }
        loopState.value.draining = true
        defer { loopState.value.draining = false }
        while !socket.state.dropped {
            let wake: @Sendable () -> Void = { [self] in scheduler.schedule(self) }
            // While the socket is full, frames wait in the outbox; only a close is taken, so that a client
            // that reads nothing still gets its close frame queued behind what the socket holds.
            let writable = socket.state.writable
            guard let poll = writable ? outbox.poll(orWake: wake) : outbox.pollClose(orWake: wake) else {
                if !writable, !outbox.isOpen { socket.state.closeWaitsBehindFrames() }
                return
            }
            switch poll {
            case .ended:
                return
            case .next(.close(let code, let reason)):
                socket.closeTaken(code: code, reason: reason)
                return
            case .next(.frames(let frames)):
                socket.state.handed(bytes: write(frames))
            }
        }
    }

    /// Writes a batch with one flush; returns the bytes handed to the socket. A failed write closes the
    /// channel, and ``ChatConnection/ended()`` then finishes the outbox.
    private func write(_ frames: Outbox.Frames) -> Int {
        guard let output = loopState.value.output else { return 0 }
        let bytes: ByteBuffer
        if frames.count == 1, let frame = frames.first, let framed = Self.framed(frame) {
            // A hand-written event arrives already framed (``EventEncoder``), and so does a pong: its bytes go
            // out as they are, shared with every other member.
            bytes = framed
        } else {
            // Several frames go out as one buffer: one entry in NIO's pending writes instead of one per frame. A
            // burst (a join storm, a backlog) would otherwise grow that queue for good.
            bytes = Self.concatenated(frames, allocator: channel.allocator)
        }
        output.writeAndFlush(NIOAny(bytes), promise: nil)
        return bytes.readableBytes
    }

    /// The frames, each with its header, back to back in one buffer.
    static func concatenated(_ frames: some Collection<ByteBuffer>, allocator: ByteBufferAllocator) -> ByteBuffer {
        var size = 0
        for frame in frames { size += WebSocketTextHeader.maxSize + frame.readableBytes }
        var batch = allocator.buffer(capacity: size)
        for var frame in frames {
            if let framed = framed(frame) {
                batch.writeImmutableBuffer(framed)
            } else {
                WebSocketTextHeader.append(headerFor: frame.readableBytes, to: &batch)
                batch.writeBuffer(&frame)
            }
        }
        return batch
    }

    /// The whole frame when its header sits just before the payload: a text frame from ``EventEncoder``, or
    /// a pong from ``pong(payload:allocator:)``.
    static func framed(_ payload: ByteBuffer) -> ByteBuffer? {
        if let text = WebSocketTextHeader.framed(payload) { return text }
        let length = payload.readableBytes
        let start = payload.readerIndex - 2
        guard length <= 125, start >= 0 else { return nil }
        let isPong = payload.withVeryUnsafeBytes { storage in
            storage[start] == 0x8A && storage[start + 1] == UInt8(length)
        }
        guard isPong else { return nil }
        var frame = payload
        frame.moveReaderIndex(to: start)
        return frame
    }

    /// A pong answering `payload` (at most 125 bytes, as in every control frame), framed for ``framed(_:)``:
    /// it waits in the outbox like any event and counts against its limit.
    static func pong(payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = control(opcode: .pong, payload: payload, allocator: allocator)
        frame.moveReaderIndex(forwardBy: 2)
        return frame
    }

    /// A control frame (RFC 6455 §5.5) as a server sends it, header and payload; the payload is cut at 125 bytes.
    static func control(opcode: WebSocketOpcode, payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = min(payload.readableBytes, 125)
        var frame = allocator.buffer(capacity: 2 + length)
        frame.writeInteger(UInt8(0x80) | UInt8(webSocketOpcode: opcode))
        frame.writeInteger(UInt8(length))
        frame.writeImmutableBuffer(payload.getSlice(at: payload.readerIndex, length: length) ?? ByteBuffer())
        return frame
    }

    /// Writes our close frame after everything before it; returns the bytes handed to the socket, and a future
    /// that completes once they have reached it.
    func writeClose(code: UInt16, reason: String) -> (bytes: Int, written: EventLoopFuture<Void>) {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        guard let output = loopState.value.output else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return (0, promise.futureResult)
        }
        let frame = Self.close(code: code, reason: reason, allocator: channel.allocator)
        output.writeAndFlush(NIOAny(frame), promise: promise)
        return (frame.readableBytes, promise.futureResult)
    }

    /// A close frame. A reason longer than a close frame holds (123 bytes) loses its last characters.
    static func close(code: UInt16, reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var cut = Substring(reason)
        while cut.utf8.count > 123 { cut.removeLast() }
        var payload = allocator.buffer(capacity: 2 + cut.utf8.count)
        payload.writeInteger(code)
        payload.writeSubstring(cut)
        return control(opcode: .connectionClose, payload: payload, allocator: allocator)
    }

    /// Writes a ping. Returns the bytes handed to the socket.
    func writePing() -> Int {
        loopState.value.output?.writeAndFlush(NIOAny(Self.ping), promise: nil)
        return Self.ping.readableBytes
    }

    /// An empty ping, shared by every socket.
    private static let ping = ByteBuffer(bytes: [0x89, 0x00])
}

/// Collects, per event loop, the writers that have something to write, and drains them all in one
/// task on the loop: a commit that reaches many members costs one hop to the loop, not one per member.
final class WriteScheduler: Sendable {
    let eventLoop: any EventLoop
    private let pending = Mutex<[OutboxWriter]>([])
    /// The other of two arrays that take turns as `pending`, so that neither is allocated anew per run.
    private let spare: NIOLoopBoundBox<[OutboxWriter]>

    /// A member's `join` and `leave` frames go out at most once per interval; the first after a quiet one at
    /// once. In a reconnect storm every member gets one every few milliseconds, and each cost a write system
    /// call of its own (docs/PERFORMANCE.md, "Connecting: where the time goes"); held, they share one. The
    /// frames wait in the room's ``PresenceLog``, so a longer interval costs a member no more memory. Order is
    /// kept: any other frame takes the waiting ones along at once.
    static let presenceInterval = TimeAmount.seconds(1)
    /// How finely the drains for waiting presence are spread over the interval.
    static let soonSlot = TimeAmount.milliseconds(25)
    /// Writers whose presence waits, by the slot they are drained in.
    private let soon = Mutex<[UInt64: [OutboxWriter]]>([:])

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

    /// Drains `writer` at `deadline` (rounded up to a ``soonSlot``), for the frames that waited. Each writer
    /// has its own deadline (a quiet interval after its last presence write), so these drains spread out
    /// over the interval instead of stalling the loop all at once; one timer per slot, not per writer.
    func scheduleSoon(_ writer: OutboxWriter, at deadline: NIODeadline) {
        let width = UInt64(Self.soonSlot.nanoseconds)
        let slot = (deadline.uptimeNanoseconds + width - 1) / width
        let first = soon.withLock { soon in
            soon[slot, default: []].append(writer)
            return soon[slot]?.count == 1
        }
        if first { eventLoop.scheduleTask(deadline: .uptimeNanoseconds(slot * width)) { self.runSoon(slot) } }
    }

    private func runSoon(_ slot: UInt64) {
        let writers = soon.withLock { $0.removeValue(forKey: slot) } ?? []
        for writer in writers {
            writer.outbox.soonRan()
            writer.drain()
        }
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
