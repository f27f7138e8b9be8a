import DequeModule
import NIOCore
import ParleyProtocol
import Synchronization

/// One connection's bounded queue of encoded frames.
///
/// Rooms enqueue without ever waiting; the connection's writer drains it. A member whose queued bytes pass
/// the limit is cut off (close 1008 `slow consumer`) instead of slowing the room: everything before the cut
/// was delivered in order, so the client resumes with `since` and loses nothing.
final class Outbox: Sendable {
    /// What the writer should do next.
    enum Next {
        case frames(Frames)
        case close(code: UInt16, reason: String)
    }

    /// What ``enqueue(_:)`` did with a frame.
    enum Enqueued: Equatable {
        /// Queued, or dropped because `welcome` already covered the message.
        case queued
        /// Not queued: a close was already decided.
        case refused
        /// Not queued, and the member is now being cut off as a slow consumer (reported once).
        case overflowed
    }

    private enum Phase {
        /// Collecting frames until `welcome` is ready, so history and live events join without a gap.
        case holding
        case open
        /// Send what is queued, then close.
        case draining(code: UInt16, reason: String)
        /// Close now; queued frames are dropped.
        case closing(code: UInt16, reason: String)
        case closed
    }

    private struct State {
        var phase = Phase.holding
        var queue = Pending.empty
        var countedBytes = 0
        /// The newest message id `welcome` covered. A commit is visible to readers just before the writer
        /// delivers it, so a message already in the history can still arrive live: it is dropped here.
        var coveredID: Int64 = 0
        var writer: Waiter?
        /// Asks for a drain at a given time (``WriteScheduler/scheduleSoon(_:at:)``), for frames that may wait.
        var soon: (@Sendable (NIODeadline) -> Void)?
        /// `soon` was called and its drain has not run yet.
        var soonPending = false
        /// Until then, a frame that may wait does: presence was written less than
        /// ``WriteScheduler/presenceInterval`` ago.
        var presenceQuietUntil = NIODeadline.uptimeNanoseconds(0)
        /// Where this member is in its room's presence log. The frames it waits for stay there rather than
        /// in `queue`; they come after everything in `queue`.
        var presence: WaitingPresence?

        mutating func takeWriter() -> Waiter? {
            defer { writer = nil }
            return writer
        }

        /// The writer to wake for a new frame: not one that waits for its socket to drain.
        mutating func takeWriterForFrames() -> Waiter? {
            if case .closeOnly = writer { return nil }
            return takeWriter()
        }

        /// Copies the presence this member waits for from the room's log to the end of `queue`, counted like
        /// any queued frame; `owner` (nil: a member out of the room) then sleeps in the log until its next frame.
        mutating func takePresence(_ owner: Outbox?) {
            guard let waiting = presence, waiting.waiting else { return }
            let next = waiting.log.take(from: waiting.next, thenSleep: owner) { frames in
                queue.reserve(min(frames.count, Int(PresenceLog.maxWaiting)))
                for frame in frames {
                    countedBytes += frame.readableBytes
                    queue.append(Queued(frame: frame, messageID: nil, counted: true))
                }
            }
            presence = WaitingPresence(log: waiting.log, next: next, waiting: false)
        }

        /// Leaves the room's presence log: what waited for the member goes to `queue`, and nothing after it.
        mutating func leavePresence() {
            takePresence(nil)
            presence = nil
        }

        /// Appends a frame, counted against `limit`; past it the member is cut off instead. One frame bigger than
        /// the limit (a large `history` page) may still go out alone; behind anything already waiting, it is one
        /// frame too many.
        fileprivate mutating func append(_ frame: ByteBuffer, messageID: Int64?, limit: Int) -> Appended {
            if countedBytes > 0, countedBytes + frame.readableBytes > limit {
                cutOff()
                return .overflowed
            }
            countedBytes += frame.readableBytes
            queue.append(Queued(frame: frame, messageID: messageID, counted: true))
            return .appended
        }

        /// Cuts the member off as a slow consumer: what waits is dropped, and the close goes out next.
        mutating func cutOff() {
            phase = .closing(code: CloseCode.policyViolation.rawValue, reason: "slow consumer")
            queue = .empty
            presence = nil
            countedBytes = 0
        }

        /// Cuts the member off when the counted bytes are past the limit; returns whether it did.
        mutating func overflowIfPast(_ limit: Int) -> Bool {
            guard countedBytes > limit else { return false }
            cutOff()
            return true
        }

        /// What the writer should do now, or nil when it has to wait. With `frames` false, only a decision
        /// to close now is taken.
        mutating func take(_ owner: Outbox, frames: Bool = true) -> Poll? {
            switch phase {
            case .closed:
                return .ended
            case .closing(let code, let reason):
                phase = .closed
                return .next(.close(code: code, reason: reason))
            case .holding:
                return nil
            case .open, .draining:
                guard frames else { return nil }
                takePresence(owner)
                if queue.count > 0 {
                    let taken = Frames(pending: queue)
                    queue = .empty
                    countedBytes = 0
                    return .next(.frames(taken))
                }
                if case .draining(let code, let reason) = phase {
                    phase = .closed
                    return .next(.close(code: code, reason: reason))
                }
                return nil
            }
        }
    }

    /// A writer waiting for work: a task, or a callback that schedules the writing elsewhere.
    private enum Waiter {
        case task(CheckedContinuation<Void, Never>)
        case callback(@Sendable () -> Void)
        /// A writer whose socket is full: only a decision to close wakes it.
        case closeOnly(@Sendable () -> Void)
        /// Never waiting: how a frame that may wait asks for a drain later.
        case soon(@Sendable (NIODeadline) -> Void, at: NIODeadline)

        func wake() {
            switch self {
            case .task(let continuation): continuation.resume()
            case .callback(let callback), .closeOnly(let callback): callback()
            case .soon(let soon, let deadline): soon(deadline)
            }
        }
    }

    /// The result of ``poll(orWake:)``.
    enum Poll {
        case next(Next)
        /// Nothing more will come.
        case ended
    }

    private let state = Mutex(State())
    let limit: Int

    /// - Parameter limit: most counted bytes that may wait for the socket.
    init(limit: Int) {
        self.limit = limit
    }

    /// Queues a frame that is not a stored message (an answer to this client, a broadcast); never waits. A
    /// frame that would take the counted bytes past the limit closes the outbox instead (1008 `slow consumer`):
    /// the caller counts that, and the writer writes the close behind what the socket holds
    /// (``ConnectionStateMachine`` drops it after the write timeout without progress).
    ///
    /// Presence the member waits for (``presenceArrived(_:at:)``) goes first.
    func enqueue(_ frame: ByteBuffer) -> Enqueued {
        queueing { state in
            state.takePresence(self)
            return state.append(frame, messageID: nil, limit: limit)
        }
    }

    /// Queues stored messages the room released, in order, under one lock and with one wake, as ``enqueue(_:)``
    /// queues a frame: a message `welcome` already covered is dropped, and the first that overflows cuts the
    /// member off.
    func enqueue(_ deliveries: [Room.Delivery]) -> Enqueued {
        queueing { state in
            var appended = Appended.nothing
            for delivery in deliveries where delivery.id > state.coveredID {
                if appended == .nothing { state.takePresence(self) }
                appended = state.append(delivery.frame, messageID: delivery.id, limit: limit)
                if appended == .overflowed { break }
            }
            return appended
        }
    }

    /// What a frame did to the queue.
    private enum Appended {
        case nothing
        case appended
        case overflowed
    }

    /// Runs `append` on an outbox that takes frames, then wakes the writer if it waits for frames (or, after an
    /// overflow, for the close).
    private func queueing(_ append: (inout State) -> Appended) -> Enqueued {
        let (enqueued, writer): (Enqueued, Waiter?) = state.withLock { state in
            switch state.phase {
            case .holding, .open:
                switch append(&state) {
                case .nothing: return (.queued, nil)
                case .overflowed: return (.overflowed, state.takeWriter())
                case .appended:
                    if case .holding = state.phase { return (.queued, nil) }
                    return (.queued, state.takeWriterForFrames())
                }
            case .draining, .closing, .closed:
                return (.refused, nil)
            }
        }
        writer?.wake()
        return enqueued
    }

    /// Starts this member in its room's presence log, as it joins: it sleeps there until the next frame, and
    /// is given every frame from then on (its own `join`, appended before, is not one of them).
    func joinPresence(_ log: PresenceLog) {
        state.withLock { state in
            switch state.phase {
            case .holding, .open:
                state.takePresence(self)
                state.presence = WaitingPresence(log: log, next: log.sleep(self), waiting: false)
            case .draining, .closing, .closed:
                break
            }
        }
    }

    /// A member taken out of the room while its connection closes (kicked): what waited for it goes to its
    /// queue, and no presence after. Called under the room's lock, so nothing the room appends later reaches it.
    func leavePresence() {
        state.withLock { $0.leavePresence() }
    }

    /// The room's log has a frame at `position` for this member, which slept there (``joinPresence(_:)``): the
    /// frames from its position on wait in the log until the writer takes them. It wakes a waiting writer at once
    /// only when no presence was written in the last ``WriteScheduler/presenceInterval``; otherwise they go out
    /// with the next frame that does wake it, or with the drain asked for through ``setSoon(_:)``, whichever
    /// comes first. In a join storm the `join` frames a member gets then share a write instead of taking one
    /// each, and the room calls here once per drain rather than once per frame.
    func presenceArrived(_ log: PresenceLog, at position: UInt64) -> Enqueued {
        let (enqueued, writer): (Enqueued, Waiter?) = state.withLock { state in
            switch state.phase {
            case .holding, .open:
                // Not in this log (it left the room, or never joined it) or already woken: nothing to do.
                guard let waiting = state.presence, waiting.log === log, !waiting.waiting else { return (.queued, nil) }
                state.presence?.waiting = true
                if case .holding = state.phase { return (.queued, nil) }
                if case .callback = state.writer, let soon = state.soon {
                    // The writer stays registered, so that a frame that may not wait still wakes it now.
                    if state.soonPending { return (.queued, nil) }
                    let now = NIODeadline.now()
                    if now < state.presenceQuietUntil {
                        state.soonPending = true
                        return (.queued, .soon(soon, at: state.presenceQuietUntil))
                    }
                    state.presenceQuietUntil = now + WriteScheduler.presenceInterval
                }
                return (.queued, state.takeWriterForFrames())
            case .draining, .closing, .closed:
                return (.refused, nil)
            }
        }
        writer?.wake()
        return enqueued
    }

    /// For the room dropping old presence from `log`: where the presence this member waits for begins (nil:
    /// none). When it begins before `oldest`, the member has held it too long (its socket takes nothing): it
    /// is copied to the queue and counted against the limit like any frame. A member that left the log
    /// (``leavePresence()``, or a close decided) keeps no claim on it.
    func presenceStart(in log: PresenceLog, keepingFrom oldest: UInt64) -> (start: UInt64?, overflowed: Bool) {
        let (start, overflowed, writer): (UInt64?, Bool, Waiter?) = state.withLock { state in
            guard let waiting = state.presence, waiting.log === log, waiting.waiting else { return (nil, false, nil) }
            switch state.phase {
            case .holding, .open: break
            case .draining, .closing, .closed: return (nil, false, nil)
            }
            guard waiting.next < oldest else { return (waiting.next, false, nil) }
            state.takePresence(self)
            if state.overflowIfPast(limit) { return (nil, true, state.takeWriter()) }
            return (nil, false, nil)
        }
        writer?.wake()
        return (start, overflowed)
    }

    /// Sets how a frame that may wait asks for a drain a moment from now. Without it, every frame wakes the
    /// writer at once.
    func setSoon(_ soon: @escaping @Sendable (NIODeadline) -> Void) {
        state.withLock { $0.soon = soon }
    }

    /// The drain asked for through `soon` is running (and writing presence): the next frame that may wait
    /// asks again, unless it comes within ``WriteScheduler/presenceInterval``.
    func soonRan() {
        let now = NIODeadline.now()
        state.withLock { state in
            state.soonPending = false
            state.presenceQuietUntil = now + WriteScheduler.presenceInterval
        }
    }

    /// Whether frames are still taken (no close has been decided).
    var isOpen: Bool {
        state.withLock { state in
            switch state.phase {
            case .holding, .open: true
            default: false
            }
        }
    }

    /// Puts `welcome` first and opens the queue. Message frames the history already covered
    /// (`id <= coveredID`), queued before or arriving after, are dropped, so nothing arrives twice.
    ///
    /// `welcome` counts as presence written: its members are the roster as of now, so the presence after it
    /// waits for company like any within ``WriteScheduler/presenceInterval``. In a reconnect storm each
    /// newcomer's first `join` frames then share a write with the next ones, instead of taking one of their
    /// own right behind the `welcome`. `now` is when it was sent (tests pass an earlier time).
    func open(with welcome: ByteBuffer, coveredID: Int64, at now: NIODeadline = .now()) {
        let writer: Waiter? = state.withLock { state in
            guard case .holding = state.phase else { return nil }
            state.presenceQuietUntil = now + WriteScheduler.presenceInterval
            var queue = Pending.one(Queued(frame: welcome, messageID: nil, counted: false))
            for item in state.queue.items {
                if let id = item.messageID, id <= coveredID {
                    if item.counted { state.countedBytes -= item.frame.readableBytes }
                    continue
                }
                queue.append(item)
            }
            state.queue = queue
            state.coveredID = coveredID
            state.phase = .open
            return state.takeWriter()
        }
        writer?.wake()
    }

    /// Sends what is already queued, then closes with `code`.
    func drainAndClose(code: UInt16, reason: String) {
        let writer: Waiter? = state.withLock { state in
            switch state.phase {
            case .holding, .open:
                // Presence the room appends after this goes to the members that stay, not behind the close.
                state.leavePresence()
                state.phase = .draining(code: code, reason: reason)
                return state.takeWriter()
            default:
                return nil
            }
        }
        writer?.wake()
    }

    /// Drops what is queued and closes with `code` as soon as the writer can.
    func closeNow(code: UInt16, reason: String) {
        let writer: Waiter? = state.withLock { state in
            switch state.phase {
            case .closing, .closed:
                return nil
            default:
                state.phase = .closing(code: code, reason: reason)
                state.queue = .empty
                state.presence = nil
                state.countedBytes = 0
                return state.takeWriter()
            }
        }
        writer?.wake()
    }

    /// Ends the outbox without a close frame (the socket is already gone).
    ///
    /// It lets go of the writer's `soon`, which holds the writer, as the writer holds this outbox: kept, that
    /// cycle kept every closed connection's outbox, writer and channel in memory, about 2.4 KB a connection.
    func finish() {
        let writer: Waiter? = state.withLock { state in
            state.phase = .closed
            state.queue = .empty
            state.presence = nil
            state.soon = nil
            return state.takeWriter()
        }
        writer?.wake()
    }

    /// Waits for frames or a close instruction; after a close, or when cancelled, it returns nil.
    func next() async -> Next? {
        await withTaskCancellationHandler {
            await nextUncancellable()
        } onCancel: {
            finish()
        }
    }

    /// Takes what the writer should do now without waiting. When there is nothing yet, returns nil and
    /// calls `wake` (once, from whichever thread adds work) when there is.
    func poll(orWake wake: @escaping @Sendable () -> Void) -> Poll? {
        state.withLock { state in
            if let poll = state.take(self) { return poll }
            state.writer = .callback(wake)
            return nil
        }
    }

    /// For a writer whose socket is full: takes a decision to close now, if there is one. Otherwise returns
    /// nil and calls `wake` once such a decision is made (frames alone do not wake it).
    func pollClose(orWake wake: @escaping @Sendable () -> Void) -> Poll? {
        state.withLock { state in
            if let poll = state.take(self, frames: false) { return poll }
            state.writer = .closeOnly(wake)
            return nil
        }
    }

    private func nextUncancellable() async -> Next? {
        while true {
            switch state.withLock({ $0.take(self) }) {
            case .next(let next): return next
            case .ended: return nil
            case nil: break
            }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    switch state.phase {
                    case .open: if state.queue.count == 0, state.presence?.waiting != true { break } else { return true }
                    case .holding: break
                    default: return true
                    }
                    state.writer = .task(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }
}
