import Logging
import ParleyProtocol
import ServiceLifecycle
import Synchronization

/// What became of one group commit, and how both stores finish it: completions run in queue order, only
/// after the transaction.
enum CommitOutcome: Sendable {
    /// The batch is durable; one result per message, in batch order.
    case committed([AppendResult], since: ContinuousClock.Instant)
    /// Nothing in the batch was stored.
    case failed(any Error)

    var isCommitted: Bool {
        if case .committed = self { return true }
        return false
    }

    /// Records the commit, hands each result to its room (``PendingMessage/delivery``) and runs each message's
    /// completion with it, in batch order.
    ///
    /// Messages stored one after another in the same room reach it together, then their completions run: one
    /// pass over the room's members instead of one per message. Under load a commit holds tens of a busy room's
    /// messages in a row (docs/PERFORMANCE.md, "Thirteenth round"). Anything else ends the run first, so a member
    /// sees every event in the order of the batch.
    func complete(_ batch: [PendingMessage], metrics: ParleyMetrics, logger: Logger) {
        switch self {
        case .committed(let results, let start):
            metrics.commitLatency.record(duration: ContinuousClock.now - start)
            var stored = 0
            var run = StoredRun()
            for (pending, result) in zip(batch, results) {
                if case .stored(let message) = result {
                    stored += 1
                    if let delivery = pending.delivery {
                        run.append(message, pending.completion, to: delivery)
                        continue
                    }
                }
                run.deliver()
                if let delivery = pending.delivery { delivery.rooms.deliver(result, toRoom: delivery.code) }
                pending.completion(result)
            }
            run.deliver()
            metrics.messagesStored.increment(by: stored)
        case .failed(let error):
            logger.error("storage commit failed", metadata: ["error": "\(String(reflecting: error))", "batch": "\(batch.count)"])
            metrics.storageFailures.increment()
            for pending in batch {
                if let delivery = pending.delivery { delivery.rooms.deliver(.failed, toRoom: delivery.code) }
                pending.completion(.failed)
            }
        }
    }

    /// Messages stored in a row for one room, waiting to be delivered together.
    private struct StoredRun {
        var delivery: RoomDelivery?
        var messages: [ChatMessage] = []
        var completions: [@Sendable (AppendResult) -> Void] = []

        /// Adds a message, delivering the run before it first when that was for another room.
        mutating func append(_ message: ChatMessage, _ completion: @escaping @Sendable (AppendResult) -> Void, to delivery: RoomDelivery) {
            if let current = self.delivery, !current.reaches(delivery) { deliver() }
            self.delivery = delivery
            messages.append(message)
            completions.append(completion)
        }

        /// Hands the run to its room, then runs the completions; empty afterwards.
        mutating func deliver() {
            guard let delivery else { return }
            delivery.rooms.deliver(messages, toRoom: delivery.code)
            for (message, completion) in zip(messages, completions) { completion(.stored(message)) }
            self.delivery = nil
            messages.removeAll(keepingCapacity: true)
            completions.removeAll(keepingCapacity: true)
        }
    }

    /// The PostgreSQL store's writer loop: takes everything queued (up to `maxBatch`) and writes it with
    /// `write`. (The SQLite store commits on the event loops, and completes inside its writer connection's
    /// turn; see ``SQLiteMessageStore``.)
    /// A large batch's outcome goes to a second task that runs the completions (fan-out to the rooms), so
    /// the next transaction starts while it is delivered; at most four written batches wait. A small batch
    /// with nothing waiting before it is completed by the writer itself: the hand-off would cost more than
    /// it saves (docs/PERFORMANCE.md, "Measurements behind the code"). Either way completions run in commit
    /// order. On graceful shutdown what is queued is still written.
    static func runWriter(
        queue: CommitQueue<PendingMessage>,
        maxBatch: Int,
        metrics: ParleyMetrics,
        logger: Logger,
        write: @escaping @Sendable ([PendingMessage]) async -> CommitOutcome
    ) async {
        let written = CommitQueue<Written>(capacity: 4)
        let handedOff = HandedOff()
        await withDiscardingTaskGroup { group in
            group.addTask {
                while let done = await written.popBatch(max: 4) {
                    for item in done {
                        item.outcome.complete(item.batch, metrics: metrics, logger: logger)
                        handedOff.count.subtract(1, ordering: .releasing)
                    }
                }
            }
            await withGracefulShutdownHandler {
                while let batch = await queue.popBatch(max: maxBatch) {
                    let outcome = await write(batch)
                    if batch.count <= inlineBatch, handedOff.count.load(ordering: .acquiring) == 0 {
                        outcome.complete(batch, metrics: metrics, logger: logger)
                        continue
                    }
                    handedOff.count.add(1, ordering: .relaxed)
                    do {
                        try await written.push(Written(batch: batch, outcome: outcome))
                    } catch {
                        // Only after cancellation: nobody is left to hear of it.
                        outcome.complete(batch, metrics: metrics, logger: logger)
                    }
                }
            } onGracefulShutdown: {
                queue.finish()
            }
            written.finish()
        }
    }

    /// The largest batch the writer completes itself when no other batch is waiting.
    static let inlineBatch = 64

    /// Batches handed to the completions task and not completed yet.
    private final class HandedOff: Sendable {
        let count = Atomic<Int>(0)
    }

    private struct Written: Sendable {
        var batch: [PendingMessage]
        var outcome: CommitOutcome
    }
}
