import Logging
import ServiceLifecycle

/// What became of one group commit, and how both stores finish it: completions run in queue order, only
/// after the transaction.
enum CommitOutcome: Sendable {
    /// The batch is durable; one result per message, in batch order.
    case committed([AppendResult], since: ContinuousClock.Instant)
    /// Nothing in the batch was stored.
    case failed(any Error)

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

    /// The writer loop both stores run: takes everything queued (up to `maxBatch`), writes it with `write`,
    /// and hands the outcome to a second task that runs the completions (fan-out to the rooms), so the next
    /// transaction starts while the previous batch is being delivered. At most four written batches wait
    /// for their completions; they run in commit order. On graceful shutdown what is queued is still written.
    static func runWriter(
        queue: CommitQueue<PendingMessage>,
        maxBatch: Int,
        metrics: ParleyMetrics,
        logger: Logger,
        write: @escaping @Sendable ([PendingMessage]) async -> CommitOutcome
    ) async {
        let written = CommitQueue<Written>(capacity: 4)
        await withDiscardingTaskGroup { group in
            group.addTask {
                while let done = await written.popBatch(max: 4) {
                    for item in done { item.outcome.complete(item.batch, metrics: metrics, logger: logger) }
                }
            }
            await withGracefulShutdownHandler {
                while let batch = await queue.popBatch(max: maxBatch) {
                    let outcome = await write(batch)
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

    private struct Written: Sendable {
        var batch: [PendingMessage]
        var outcome: CommitOutcome
    }
}
