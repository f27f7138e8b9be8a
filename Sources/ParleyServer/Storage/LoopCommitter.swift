import NIOCore
import NIOPosix

/// Collects, on an event loop's own thread, the messages its connections sent in one pass of the loop, and
/// hands them over together once the pass is done (to the ``SQLiteWriter``).
///
/// At a steady rate a pass holds only a few messages. Handing each message to a writer task, from there to
/// the database's queue and the results back to the loop cost more than the messages themselves, in thread
/// wake-ups (docs/PERFORMANCE.md, "Measurements behind the code"). Here the first message of a pass schedules
/// one task on the loop; it runs after the loop has read everything that woke it and hands all of it over at
/// once, without waiting for the disk.
final class LoopCommitter: Sendable {
    let eventLoop: any EventLoop
    /// Takes a pass's batch, on the loop's thread; must not wait.
    private let commit: @Sendable ([PendingMessage], any EventLoop) -> Void
    private let maxBatch: Int
    private let pending: NIOLoopBoundBox<[PendingMessage]>

    init(eventLoop: any EventLoop, maxBatch: Int, commit: @escaping @Sendable ([PendingMessage], any EventLoop) -> Void) {
        self.eventLoop = eventLoop
        self.maxBatch = maxBatch
        self.commit = commit
        self.pending = .makeBoxSendingValue([], eventLoop: eventLoop)
    }

    /// Queues a message for this pass's commit. Called on the event loop.
    func add(_ message: PendingMessage) {
        pending.value.append(message)
        if pending.value.count == 1 {
            eventLoop.execute { self.flush() }
        }
    }

    /// Hands over what this pass queued, `maxBatch` messages at a time.
    private func flush() {
        var queued: [PendingMessage] = []
        swap(&queued, &pending.value)
        var start = 0
        while start < queued.count {
            let end = min(start + maxBatch, queued.count)
            commit(Array(queued[start..<end]), eventLoop)
            start = end
        }
    }
}

/// The committers of one store, one per event loop that has offered it a message.
final class LoopCommitters: Sendable {
    private let committers: PerEventLoop<LoopCommitter>

    init(maxBatch: Int, commit: @escaping @Sendable ([PendingMessage], any EventLoop) -> Void) {
        self.committers = PerEventLoop { LoopCommitter(eventLoop: $0, maxBatch: maxBatch, commit: commit) }
    }

    /// The committer of the event loop this thread runs, or nil when it runs none.
    func current() -> LoopCommitter? {
        MultiThreadedEventLoopGroup.currentEventLoop.map { committers[$0] }
    }
}
