import Logging
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

    /// Records the commit and runs each message's completion with its result.
    func complete(_ batch: [PendingMessage], metrics: ParleyMetrics, logger: Logger) {
        switch self {
        case .committed(let results, let start):
            metrics.commitLatency.record(duration: ContinuousClock.now - start)
            var stored = 0
            for (pending, result) in zip(batch, results) {
                if case .stored = result { stored += 1 }
                pending.completion(result)
            }
            metrics.messagesStored.increment(by: stored)
        case .failed(let error):
            logger.error("storage commit failed", metadata: ["error": "\(String(reflecting: error))", "batch": "\(batch.count)"])
            metrics.storageFailures.increment()
            for pending in batch { pending.completion(.failed) }
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
