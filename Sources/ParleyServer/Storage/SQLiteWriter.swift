import Dispatch
import NIOCore
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
///
/// Room rows ride along (``open(_:)``, ``forget(_:)``): a connection to an unused code would otherwise make a
/// transaction and a sync of its own when it comes and another when it goes; the first was the largest cost
/// of 10,000 connections into 10,000 rooms (docs/PERFORMANCE.md, "Fourth round"). They do not count
/// against the backlog.
///
/// When all it finds is such rows and the sessions joins save, the thread first waits up to `gathering` for
/// more, so a burst of joins commits a few transactions instead of one every few joins; a message handed over
/// meanwhile ends the wait at once (docs/PERFORMANCE.md, "Eleventh round").
final class SQLiteWriter: Sendable {
    private struct State {
        var batches: [[PendingMessage]] = []
        var rooms = RoomRows()
        /// The thread is committing, or has been asked to.
        var running = false
        /// Connections waiting for the backlog to have room.
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// Background work was asked for since the thread last looked.
        var woken = false
        /// The thread waits for more rows before it commits those it took (``gather(_:_:)``).
        var gathering = false

        /// Everything handed over, leaving nothing.
        mutating func take() -> ([[PendingMessage]], RoomRows) {
            defer {
                batches.removeAll(keepingCapacity: true)
                rooms = RoomRows()
            }
            return (batches, rooms)
        }
    }

    private let state = Mutex(State())
    /// Messages handed over and not yet committed.
    private let backlog = Atomic(0)
    private let thread = NIOThreadPool(numberOfThreads: 1)
    /// Signalled when a message comes while the thread gathers: it ends the wait. (Dispatch times the wait on
    /// the monotonic clock; a condition variable's timed wait would follow the wall clock's jumps.)
    private let messageCame = DispatchSemaphore(value: 0)
    private let gathering: Duration
    /// Called on the thread as it starts to wait for more (for tests).
    private let startsGathering: (@Sendable () -> Void)?
    private let maxBatch: Int
    let capacity: Int
    /// Stores one batch, and the room rows to change, in one transaction and runs their completions.
    private let commit: @Sendable (_ messages: [PendingMessage], _ rooms: RoomRows) -> Void
    /// One bounded step of background work (the search index's upkeep), `idle` when no commit waits; returns
    /// whether work is left. After a commit it decides itself whether a step is due.
    private let background: @Sendable (_ idle: Bool) -> Bool

    /// How long the thread waits for more when it has only rows that joins and leaves make. Nobody waits for
    /// a session, and a new room's first member waits up to this long more for its `welcome`. With 2 ms, 10,000
    /// connects into 10,000 rooms took about a fifth less of the server's CPU than without; 1 and 5 ms were
    /// within the noise of it.
    static let gatheringJoins = Duration.milliseconds(2)

    init(
        maxBatch: Int,
        capacity: Int,
        gathering: Duration = SQLiteWriter.gatheringJoins,
        startsGathering: (@Sendable () -> Void)? = nil,
        commit: @escaping @Sendable (_ messages: [PendingMessage], _ rooms: RoomRows) -> Void,
        background: @escaping @Sendable (_ idle: Bool) -> Bool = { _ in false }
    ) {
        self.gathering = gathering
        self.startsGathering = startsGathering
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
        let endsGathering = !batch.allSatisfy(\.onlySession)
        var ended = false
        handOver { state in
            state.batches.append(batch)
            if endsGathering, state.gathering {
                state.gathering = false
                ended = true
            }
        }
        if ended { messageCame.signal() }
    }

    /// Queues a room to open in the next transaction.
    func open(_ room: RoomOpening) {
        handOver { $0.rooms.opening.append(room) }
    }

    /// Queues a room to forget in the next transaction, after its messages (and sessions) handed over so far.
    func forget(_ room: RoomForgetting) {
        handOver { $0.rooms.forgetting.append(room) }
    }

    /// Wakes the thread for background work when it is idle.
    func wake() {
        handOver { $0.woken = true }
    }

    /// Changes the state and wakes the thread only when it was idle.
    private func handOver(_ change: (inout State) -> Void) {
        let wake = state.withLock { state in
            change(&state)
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
            var (batches, rooms): ([[PendingMessage]], RoomRows) = state.withLock { state in
                if state.woken {
                    state.woken = false
                    idleWork = true
                }
                if state.batches.isEmpty, state.rooms.isEmpty, !idleWork { state.running = false }
                return state.take()
            }
            if batches.isEmpty, rooms.isEmpty {
                guard idleWork else { return }
                idleWork = background(true)
                continue
            }
            idleWork = true
            if gathering > .zero, batches.holdOnlyJoinRows {
                gather(&batches, &rooms)
            }
            var chunk: [PendingMessage] = batches.count == 1 ? batches[0] : batches.flatMap { $0 }
            // Rooms to open go with the first transaction, rooms to forget with the last.
            var opening = rooms.opening
            repeat {
                let count = min(maxBatch, chunk.count)
                if count == chunk.count {
                    commit(chunk, RoomRows(opening: opening, forgetting: rooms.forgetting))
                    chunk = []
                } else {
                    commit(Array(chunk[..<count]), RoomRows(opening: opening))
                    chunk.removeFirst(count)
                }
                opening = []
                backlog.subtract(count, ordering: .relaxed)
                wakeWaitersIfRoom()
                _ = background(false)
            } while !chunk.isEmpty
        }
    }

    /// Waits up to `gathering`, or until a message comes, and adds what was handed over meanwhile.
    private func gather(_ batches: inout [[PendingMessage]], _ rooms: inout RoomRows) {
        // A signal that came after an earlier wait had ended would cut this one short.
        while messageCame.wait(timeout: .now()) == .success {}
        let started = state.withLock { state in
            // A message already waiting: commit now.
            guard state.batches.holdOnlyJoinRows else { return false }
            state.gathering = true
            return true
        }
        if started {
            startsGathering?()
            _ = messageCame.wait(timeout: .now() + .nanoseconds(Int(TimeAmount(gathering).nanoseconds)))
        }
        let (more, moreRooms) = state.withLock { state in
            state.gathering = false
            return state.take()
        }
        batches += more
        rooms.append(moreRooms)
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

extension [[PendingMessage]] {
    /// Nothing but the session rows joins save: what the writer's thread waits to gather more of.
    var holdOnlyJoinRows: Bool { allSatisfy { $0.allSatisfy(\.onlySession) } }
}

/// Room rows for the writer's next transaction: those to open before its messages (none can be for them
/// yet), those to forget after them (a session saved in a room just before it emptied goes too).
struct RoomRows: Sendable {
    var opening: [RoomOpening] = []
    var forgetting: [RoomForgetting] = []

    var isEmpty: Bool { opening.isEmpty && forgetting.isEmpty }

    /// Adds rows handed over later: their openings and forgettings go after these.
    mutating func append(_ later: RoomRows) {
        opening += later.opening
        forgetting += later.forgetting
    }
}

/// A code to look up, inserting an open room if it has none; answered after the commit.
struct RoomOpening: Sendable {
    var code: String
    var completion: @Sendable (Result<RoomRecord, any Error>) -> Void
}

/// An ephemeral room to delete if it still has no message; `done` after the commit (or its failure).
struct RoomForgetting: Sendable {
    var room: RoomRecord
    var done: @Sendable () -> Void
}
