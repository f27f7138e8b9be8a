import DequeModule
import NIOCore

extension Outbox {
    /// Frames taken from the queue, in order. A single frame (the usual case: one message to a member that
    /// keeps up) is held inline; more keep the queue's own storage. No array is built per take.
    struct Frames: RandomAccessCollection {
        let pending: Pending
        var startIndex: Int { 0 }
        var endIndex: Int { pending.count }
        subscript(position: Int) -> ByteBuffer {
            switch pending {
            case .empty: preconditionFailure("index out of range")
            case .one(let queued):
                precondition(position == 0, "index out of range")
                return queued.frame
            case .many(let queue): return queue[position].frame
            }
        }
    }

    /// Where a member is in its room's presence log.
    struct WaitingPresence {
        let log: PresenceLog
        /// The first position it has not been given.
        var next: UInt64
        /// The log holds frames from `next` on for it; false while it sleeps there (``PresenceLog/sleep(_:)``).
        var waiting: Bool
    }

    struct Queued {
        var frame: ByteBuffer
        var messageID: Int64?
        var counted: Bool
    }

    /// The queue. A member is sent one frame at a time far more often than several, and an idle member has
    /// none: only a backlog allocates storage, and it goes with the frames when the writer takes them.
    enum Pending {
        case empty
        case one(Queued)
        case many(Deque<Queued>)

        var count: Int {
            switch self {
            case .empty: 0
            case .one: 1
            case .many(let queue): queue.count
            }
        }

        var items: Deque<Queued> {
            switch self {
            case .empty: []
            case .one(let queued): [queued]
            case .many(let queue): queue
            }
        }

        /// Makes room for `extra` more items at once, so that appending them allocates nothing more.
        mutating func reserve(_ extra: Int) {
            switch self {
            case .empty:
                guard extra > 1 else { return }
                self = .many(Deque(minimumCapacity: extra))
            case .one(let first):
                var queue = Deque<Queued>(minimumCapacity: 1 + extra)
                queue.append(first)
                self = .many(queue)
            case .many(var queue):
                self = .empty
                queue.reserveCapacity(queue.count + extra)
                self = .many(queue)
            }
        }

        mutating func append(_ item: Queued) {
            switch self {
            case .empty:
                self = .one(item)
            case .one(let first):
                self = .many([first, item])
            case .many(var queue):
                self = .empty
                queue.append(item)
                self = .many(queue)
            }
        }
    }
}
