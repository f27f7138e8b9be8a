import DequeModule
import NIOCore
import Synchronization

/// One connection's bounded queue of encoded frames.
///
/// Rooms enqueue without ever waiting; the connection's writer drains it. A member whose queued bytes pass
/// the limit is cut off (close 1008 `slow consumer`) instead of slowing the room: everything before the cut
/// was delivered in order, so the client resumes with `since` and loses nothing.
final class Outbox: Sendable {
    /// What the writer should do next.
    enum Next {
        case frames([ByteBuffer])
        case close(code: UInt16, reason: String)
    }

    private struct Queued {
        var frame: ByteBuffer
        var messageID: Int64?
        var counted: Bool
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
        var queue: Deque<Queued> = []
        var countedBytes = 0
        /// The newest message id `welcome` covered. A commit is visible to readers just before the writer
        /// delivers it, so a message already in the history can still arrive live: it is dropped here.
        var coveredID: Int64 = 0
        var writer: Waiter?

        mutating func takeWriter() -> Waiter? {
            defer { writer = nil }
            return writer
        }

        /// What the writer should do now, or nil when it has to wait.
        mutating func take() -> Poll? {
            switch phase {
            case .closed:
                return .ended
            case .closing(let code, let reason):
                phase = .closed
                return .next(.close(code: code, reason: reason))
            case .holding:
                return nil
            case .open, .draining:
                if !queue.isEmpty {
                    let frames = queue.map(\.frame)
                    // The queue's storage goes with the frames: an idle member keeps none (a member that is
                    // sent to gets a new one on its next frame, which costs less than one write).
                    queue = []
                    countedBytes = 0
                    return .next(.frames(frames))
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

        func wake() {
            switch self {
            case .task(let continuation): continuation.resume()
            case .callback(let callback): callback()
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
    private let onOverflow: @Sendable () -> Void

    /// - Parameters:
    ///   - limit: most counted bytes that may wait for the socket.
    ///   - onOverflow: called once when the limit is passed (the connection arms a hard close).
    init(limit: Int, onOverflow: @escaping @Sendable () -> Void = {}) {
        self.limit = limit
        self.onOverflow = onOverflow
    }

    /// Queues a frame; never waits. Returns false when the frame was not queued.
    @discardableResult
    func enqueue(_ frame: ByteBuffer, messageID: Int64? = nil) -> Bool {
        var overflowed = false
        let (accepted, writer): (Bool, Waiter?) = state.withLock { state in
            switch state.phase {
            case .holding, .open:
                if let messageID, messageID <= state.coveredID { return (true, nil) }
                // One frame bigger than the limit (a large `history` page) may still go out alone; behind
                // anything already waiting, it is one frame too many.
                if state.countedBytes > 0, state.countedBytes + frame.readableBytes > limit {
                    state.phase = .closing(code: 1008, reason: "slow consumer")
                    state.queue.removeAll()
                    state.countedBytes = 0
                    overflowed = true
                    return (false, state.takeWriter())
                }
                state.countedBytes += frame.readableBytes
                state.queue.append(Queued(frame: frame, messageID: messageID, counted: true))
                if case .holding = state.phase { return (true, nil) }
                return (true, state.takeWriter())
            case .draining, .closing, .closed:
                return (false, nil)
            }
        }
        writer?.wake()
        if overflowed { onOverflow() }
        return accepted
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
    func open(with welcome: ByteBuffer, coveredID: Int64) {
        let writer: Waiter? = state.withLock { state in
            guard case .holding = state.phase else { return nil }
            var queue: Deque<Queued> = [Queued(frame: welcome, messageID: nil, counted: false)]
            for item in state.queue {
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
                state.queue.removeAll()
                state.countedBytes = 0
                return state.takeWriter()
            }
        }
        writer?.wake()
    }

    /// Ends the outbox without a close frame (the socket is already gone).
    func finish() {
        let writer: Waiter? = state.withLock { state in
            state.phase = .closed
            state.queue.removeAll()
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
            if let poll = state.take() { return poll }
            state.writer = .callback(wake)
            return nil
        }
    }

    private func nextUncancellable() async -> Next? {
        while true {
            switch state.withLock({ $0.take() }) {
            case .next(let next): return next
            case .ended: return nil
            case nil: break
            }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    switch state.phase {
                    case .open: if state.queue.isEmpty { break } else { return true }
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
