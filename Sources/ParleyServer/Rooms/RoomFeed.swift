import Logging
import ServiceLifecycle
import Synchronization

/// Fetches committed messages (or changes, §11) from storage for rooms whose ``RoomSequencer`` (or
/// ``RevisionSequencer``) saw a gap: another node's commit was announced, a notification was lost, or a
/// commit went unanswered.
///
/// A room has at most one fetch of each kind in flight (its sequencers see to it), so the queue holds at
/// most two requests per live room; a few fetches run at once.
final class RoomFeed: Service {
    struct Request: Sendable {
        var room: Room
        var after: Int64
        /// Changes after revision `after` (§11) rather than messages after id `after`.
        var changes = false
    }

    private let requests: AsyncStream<Request>
    private let continuation: AsyncStream<Request>.Continuation
    private let store: any MessageStore
    private let logger: Logger
    static let pageSize = 500
    static let concurrency = 4

    init(store: any MessageStore, logger: Logger) {
        (requests, continuation) = AsyncStream.makeStream(of: Request.self, bufferingPolicy: .bufferingOldest(100_000))
        self.store = store
        self.logger = logger
    }

    /// Asks for the messages after `after` in `room`.
    func request(_ room: Room, after: Int64) {
        if case .dropped = continuation.yield(Request(room: room, after: after)) {
            // Only with 100,000 rooms waiting at once; the room asks again on its next arrival.
            room.fetched([], exhausted: false)
        }
    }

    /// Asks for the changes after revision `after` in `room`.
    func requestChanges(_ room: Room, after: Int64) {
        if case .dropped = continuation.yield(Request(room: room, after: after, changes: true)) {
            room.changesFetched(nil)
        }
    }

    func run() async {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for await request in self.requests {
                    if running == Self.concurrency {
                        await group.next()
                        running -= 1
                    }
                    group.addTask { await self.fetch(request) }
                    running += 1
                }
            }
        }
    }

    private func fetch(_ request: Request) async {
        guard !request.room.released.load(ordering: .relaxed) else { return }
        if request.changes {
            do {
                let page = try await store.changes(roomID: request.room.record.id, after: request.after, limit: Self.pageSize)
                request.room.changesFetched(page)
            } catch {
                logger.warning("fetching changes failed; retrying", metadata: ["room": "\(request.room.code)", "error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                request.room.changesFetched(nil)
            }
            return
        }
        do {
            let page = try await store.messages(
                roomID: request.room.record.id,
                after: request.after,
                before: nil,
                limit: Self.pageSize,
                newest: false
            )
            request.room.fetched(page.messages, exhausted: !page.hasMore)
        } catch {
            logger.warning("fetch failed; retrying", metadata: ["room": "\(request.room.code)", "error": "\(error)"])
            // Storage is down: wait before the sequencer asks again, so a dead database is not hammered.
            try? await Task.sleep(for: .seconds(1))
            request.room.fetched([], exhausted: false)
        }
    }
}
