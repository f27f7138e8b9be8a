import Logging

/// How both stores finish a group commit: completions run in queue order, only after the transaction.
enum CommitOutcome {
    /// The batch is durable: records the commit and runs each completion with its result.
    static func committed(_ batch: [PendingMessage], _ results: [AppendResult], since start: ContinuousClock.Instant, metrics: ParleyMetrics) {
        metrics.commitLatency.record(duration: ContinuousClock.now - start)
        var stored = 0
        for (pending, result) in zip(batch, results) {
            if case .stored = result { stored += 1 }
            pending.completion(result)
        }
        metrics.messagesStored.increment(by: stored)
    }

    /// Nothing in the batch was stored: every completion hears so.
    static func failed(_ batch: [PendingMessage], error: any Error, metrics: ParleyMetrics, logger: Logger) {
        logger.error("storage commit failed", metadata: ["error": "\(String(reflecting: error))", "batch": "\(batch.count)"])
        metrics.storageFailures.increment()
        for pending in batch { pending.completion(.failed) }
    }
}
