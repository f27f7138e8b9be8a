import DequeModule
import NIOCore
import Synchronization

/// A room's recent `join` and `leave` frames, shared by its members' outboxes.
///
/// Presence may wait for company (``WriteScheduler/presenceInterval``). While it waits, a member's
/// ``Outbox`` holds only the position in this log from which it has not been given frames, not an entry per
/// frame: in a reconnect storm every member of a full room waits for dozens of frames at once, and held
/// per member they were most of the memory the storm left behind, which is what kept the interval short and
/// the writes many. The frames are copied into the member's queue when its writer drains it, or when a frame
/// that may not wait has to go behind them.
///
/// A member that has taken every frame sleeps in the log: the next frame appended wakes it (``append(_:)``
/// returns it), and one already woken is not told of the frames after, which are its own from its position
/// on. So a `join` costs a call per member that was idle, not one per member: in a storm each member is
/// woken about once per interval, however many join meanwhile.
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
        /// Outboxes that have taken every frame, to wake with the next one. A member that leaves is let go at
        /// once (``forget(_:)``); one whose socket closed before it left ignores the wake.
        var sleepers: [Outbox] = []
        var end: UInt64 { start + UInt64(frames.count) }
    }

    private let state = Mutex(State())

    /// Appends a frame; returns its position, the outboxes it wakes (``Outbox/presenceArrived(_:at:)``), and
    /// whether the room should now drop what nobody waits for (``drop(before:)``).
    func append(_ frame: ByteBuffer) -> (position: UInt64, wake: [Outbox], dropDue: Bool) {
        state.withLock { state in
            state.frames.append(frame)
            var wake: [Outbox] = []
            swap(&wake, &state.sleepers)
            return (state.end - 1, wake, state.end >= state.nextDrop)
        }
    }

    /// The position the next frame gets.
    var end: UInt64 { state.withLock { $0.end } }

    /// Frames held.
    var count: Int { state.withLock { $0.frames.count } }

    /// Puts `outbox` to sleep until the next frame; returns the position that frame will have.
    func sleep(_ outbox: Outbox) -> UInt64 {
        state.withLock { state in
            state.sleepers.append(outbox)
            return state.end
        }
    }

    /// Lets go of `outbox` if it sleeps here, for a member leaving the room: the next frame would, but a session
    /// taken over again and again adds none, and would pile its old outboxes up here for as long as the room lives.
    func forget(_ outbox: Outbox) {
        state.withLock { state in
            if let index = state.sleepers.firstIndex(where: { $0 === outbox }) { state.sleepers.remove(at: index) }
        }
    }

    /// Calls `body` with the frames from `position` on that are still held, in order, then puts `outbox` (if
    /// any; nil for a member leaving the room) to sleep until the next frame; returns the position that frame
    /// will have.
    func take(from position: UInt64, thenSleep outbox: Outbox?, _ body: (Slice<Deque<ByteBuffer>>) -> Void) -> UInt64 {
        state.withLock { state in
            let first = Int(max(position, state.start) - state.start)
            if first < state.frames.count { body(state.frames[first...]) }
            if let outbox { state.sleepers.append(outbox) }
            return state.end
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
