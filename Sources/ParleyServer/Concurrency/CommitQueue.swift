import DequeModule
import Synchronization

/// A bounded hand-off from many producers to one consumer loop (or a few): connections to the storage
/// writer, and connections to ``ConnectionWork``.
///
/// Producers wait only while the queue holds `capacity` items (or are told it is full, with `offer`); the
/// writer takes everything queued at once, so a busy server commits large batches and an idle one commits
/// each message alone.
final class CommitQueue<Element: Sendable>: Sendable {
    struct Finished: Error {}

    private struct State {
        var items: Deque<Element> = []
        /// Consumers waiting for items (one for a storage writer, several for ``ConnectionWork``).
        var consumers: Deque<CheckedContinuation<Void, Never>> = []
        var producers: Deque<CheckedContinuation<Void, Never>> = []
        var finished = false
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Adds an item, waiting while the queue is full. Throws once the queue is finished.
    func push(_ item: Element) async throws {
        while true {
            let step: PushStep = state.withLock { state in
                if state.finished { return .finished }
                guard state.items.count < capacity else { return .wait }
                state.items.append(item)
                return .done(state.consumers.popFirst())
            }
            switch step {
            case .done(let consumer):
                consumer?.resume()
                return
            case .finished:
                throw Finished()
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state in
                        if state.finished || state.items.count < capacity { return true }
                        state.producers.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    /// Adds an item without waiting: false when the queue is full or finished.
    func offer(_ item: Element) -> Bool {
        let (accepted, consumer): (Bool, CheckedContinuation<Void, Never>?) = state.withLock { state in
            // Behind producers already waiting for room, so that they are not starved.
            guard !state.finished, state.items.count < capacity, state.producers.isEmpty else { return (false, nil) }
            state.items.append(item)
            return (true, state.consumers.popFirst())
        }
        consumer?.resume()
        return accepted
    }

    /// Takes up to `max` items, waiting for at least one. Returns nil once finished and empty;
    /// cancellation finishes the queue, so what is queued is still handed out.
    func popBatch(max: Int) async -> [Element]? {
        await withTaskCancellationHandler {
            await nextBatch(max: max)
        } onCancel: {
            finish()
        }
    }

    private func nextBatch(max: Int) async -> [Element]? {
        while true {
            let (batch, producers): ([Element]?, [CheckedContinuation<Void, Never>]) = state.withLock { state in
                if state.items.isEmpty { return (state.finished ? [] : nil, []) }
                let count = Swift.min(max, state.items.count)
                let batch = Array(state.items.prefix(count))
                state.items.removeFirst(count)
                let waiting = Array(state.producers)
                state.producers.removeAll()
                return (batch, waiting)
            }
            for producer in producers { producer.resume() }
            if let batch { return batch.isEmpty ? nil : batch }
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if !state.items.isEmpty || state.finished { return true }
                    state.consumers.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Refuses further pushes; queued items are still handed out.
    func finish() {
        let (consumers, producers) = state.withLock { state in
            state.finished = true
            defer {
                state.consumers.removeAll()
                state.producers.removeAll()
            }
            return (Array(state.consumers), Array(state.producers))
        }
        for consumer in consumers { consumer.resume() }
        for producer in producers { producer.resume() }
    }
}

extension CommitQueue where Element == PendingMessage {
    /// A store's `append`: waits while the queue is full; once the store has stopped, storage is unavailable.
    func append(_ message: PendingMessage) async throws {
        do {
            try await push(message)
        } catch {
            throw StorageError.unavailable
        }
    }
}

private enum PushStep {
    case done(CheckedContinuation<Void, Never>?)
    case wait
    case finished
}
