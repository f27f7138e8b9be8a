import NIOPosix
import Synchronization

/// The thread that commits what the event loops offer, so that no event loop ever waits for the disk.
///
/// Each loop's ``LoopCommitter`` hands over what one pass read, without waiting. While the thread commits
/// (a sync with `synchronous=FULL`, or up to the busy timeout behind another process's lock), the loops
/// keep serving their sockets and what they hand over meanwhile goes into the next transaction, from every
/// loop at once: the slower the disk, the larger the group commit. Completions run on this thread in
/// commit order, so every room hears of its ids in increasing order.
///
/// The backlog is bounded: past `capacity` messages ``hasRoom`` is false, and a connection whose message
/// went in then reads nothing more until ``waitForRoom()`` returns, so a slow disk slows only those who
/// write. Its messages still all go this one way, so they are stored in the order it sent them.
final class SQLiteWriter: Sendable {
    private struct State {
        var batches: [[PendingMessage]] = []
        /// The thread is committing, or has been asked to.
        var running = false
        /// Connections waiting for the backlog to have room.
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// Background work was asked for since the thread last looked.
        var woken = false
    }

    private let state = Mutex(State())
    /// Messages handed over and not yet committed.
    private let backlog = Atomic(0)
    private let thread = NIOThreadPool(numberOfThreads: 1)
    private let maxBatch: Int
    let capacity: Int
    /// Stores one batch in one transaction and runs its completions.
    private let commit: @Sendable ([PendingMessage]) -> Void
    /// One bounded step of background work (the search index's upkeep), `idle` when no commit waits; returns
    /// whether work is left. After a commit it decides itself whether a step is due.
    private let background: @Sendable (_ idle: Bool) -> Bool

    init(
        maxBatch: Int,
        capacity: Int,
        commit: @escaping @Sendable ([PendingMessage]) -> Void,
        background: @escaping @Sendable (_ idle: Bool) -> Bool = { _ in false }
    ) {
        self.maxBatch = maxBatch
        self.capacity = capacity
        self.commit = commit
        self.background = background
        thread.start()
    }

    /// Whether the backlog can take more.
    var hasRoom: Bool {
        backlog.load(ordering: .relaxed) < capacity
    }

    /// Returns once the backlog has room.
    func waitForRoom() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                // Checked under the lock that `drain` takes to wake waiters, so no wake-up is missed.
                if hasRoom { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Queues a batch for the thread; wakes it only when it was idle.
    func enqueue(_ batch: [PendingMessage]) {
        backlog.add(batch.count, ordering: .relaxed)
        let wake = state.withLock { state in
            state.batches.append(batch)
            defer { state.running = true }
            return !state.running
        }
        if wake {
            thread.submit { _ in self.drain() }
        }
    }

    /// Wakes the thread for background work when it is idle.
    func wake() {
        let wake = state.withLock { state in
            state.woken = true
            defer { state.running = true }
            return !state.running
        }
        if wake {
            thread.submit { _ in self.drain() }
        }
    }

    /// Commits everything handed over until nothing is left, `maxBatch` messages to a transaction; between
    /// commits, background steps while no commit waits, until none is left.
    private func drain() {
        var idleWork = true
        while true {
            let batches: [[PendingMessage]] = state.withLock { state in
                if state.woken {
                    state.woken = false
                    idleWork = true
                }
                if state.batches.isEmpty, !idleWork { state.running = false }
                defer { state.batches.removeAll(keepingCapacity: true) }
                return state.batches
            }
            if batches.isEmpty {
                guard idleWork else { return }
                idleWork = background(true)
                continue
            }
            idleWork = true
            var chunk: [PendingMessage] = batches.count == 1 ? batches[0] : batches.flatMap { $0 }
            while !chunk.isEmpty {
                let count = min(maxBatch, chunk.count)
                if count == chunk.count {
                    commit(chunk)
                    chunk = []
                } else {
                    commit(Array(chunk[..<count]))
                    chunk.removeFirst(count)
                }
                backlog.subtract(count, ordering: .relaxed)
                wakeWaitersIfRoom()
                _ = background(false)
            }
        }
    }

    private func wakeWaitersIfRoom() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard !state.waiters.isEmpty, hasRoom else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits for what was handed over to be committed, then stops the thread.
    func shutdown() async {
        try? await thread.shutdownGracefully()
    }
}
