import DequeModule
import NIOCore
import Synchronization

/// A room's recent `join` and `leave` frames, shared by its members' outboxes.
///
/// Presence may wait for company (``WriteScheduler/presenceInterval``). While it waits, a member's
/// ``Outbox`` holds only the range of positions in this log it has not been given yet, not an entry per
/// frame: in a reconnect storm every member of a full room waits for dozens of frames at once, and held
/// per member they were most of the memory the storm left behind, which is what kept the interval short and
/// the writes many. The frames are copied into the member's queue when its writer drains it, or when a frame
/// that may not wait has to go behind them.
///
/// The room appends under its own lock, and drops what no member still waits for (``drop(before:)``). An
/// outbox reads under its own lock; this log's lock is taken last and calls out to nothing.
final class PresenceLog: Sendable {
    /// Frames appended between two looks at what the members still wait for: the room asks each member's
    /// outbox, so this many frames share one pass over the members.
    static let dropEvery: UInt64 = 32
    /// Frames a member may wait for in the log; a member further behind (its socket takes nothing) gets them
    /// in its own queue, where they count against its limit. It also bounds what stays here once a room goes
    /// quiet: frames are dropped when later ones are appended, so what the last members waited for stays until
    /// the room's next presence, or until the room is freed. Members of a room in a storm wait for about one
    /// interval of its presence; in all but the largest rooms that is far fewer.
    static let maxWaiting: UInt64 = 1024

    private struct State {
        var frames = Deque<ByteBuffer>()
        /// The position of `frames.first`.
        var start: UInt64 = 0
        /// When the room looks again at what its members wait for.
        var nextDrop = PresenceLog.dropEvery
        var end: UInt64 { start + UInt64(frames.count) }
    }

    private let state = Mutex(State())

    /// Appends a frame; returns its position, and whether the room should now drop what nobody waits for
    /// (``drop(before:)``).
    func append(_ frame: ByteBuffer) -> (position: UInt64, dropDue: Bool) {
        state.withLock { state in
            state.frames.append(frame)
            return (state.end - 1, state.end >= state.nextDrop)
        }
    }

    /// The position the next frame gets.
    var end: UInt64 { state.withLock { $0.end } }

    /// Frames held.
    var count: Int { state.withLock { $0.frames.count } }

    /// Calls `body` with each frame at `positions` that is still held, in order. The room drops only what none
    /// of its members waits for; a connection taken out of the room while it closes (kicked, or replaced by its
    /// session's new connection) is no longer asked, and needs no more of the room's presence.
    func forEach(in positions: Range<UInt64>, _ body: (ByteBuffer) -> Void) {
        state.withLock { state in
            let lower = max(positions.lowerBound, state.start)
            let upper = min(positions.upperBound, state.end)
            guard lower < upper else { return }
            let first = Int(lower - state.start)
            for index in first..<(first + Int(upper - lower)) { body(state.frames[index]) }
        }
    }

    /// Drops the frames before `position` (no member waits for them any more).
    func drop(before position: UInt64) {
        state.withLock { state in
            state.nextDrop = state.end + Self.dropEvery
            let count = Int(min(position, state.end) - min(position, state.start))
            guard count > 0 else { return }
            state.frames.removeFirst(count)
            state.start += UInt64(count)
        }
    }
}
