import Synchronization

/// Every open WebSocket's outbox, so shutdown can flush and close them all.
final class ConnectionDirectory: Sendable {
    private struct State {
        var outboxes: [ConnectionID: Outbox] = [:]
        var emptyWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        var closing: (code: UInt16, reason: String)?
    }

    private let state = Mutex(State())

    func insert(_ id: ConnectionID, _ outbox: Outbox) {
        let closing = state.withLock { state in
            state.outboxes[id] = outbox
            return state.closing
        }
        // A connection admitted just before shutdown began still gets the same orderly close.
        if let closing { outbox.drainAndClose(code: closing.code, reason: closing.reason) }
    }

    func remove(_ id: ConnectionID) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.outboxes.removeValue(forKey: id)
            guard state.outboxes.isEmpty else { return [] }
            defer { state.emptyWaiters.removeAll() }
            return Array(state.emptyWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    var count: Int { state.withLock { $0.outboxes.count } }

    /// Whether the connection is still open.
    func contains(_ id: ConnectionID) -> Bool { state.withLock { $0.outboxes[id] != nil } }

    /// Asks every connection to send what it has queued and close with `code`.
    func drainAll(code: UInt16, reason: String) {
        let outboxes = state.withLock { state in
            state.closing = (code, reason)
            return Array(state.outboxes.values)
        }
        for outbox in outboxes { outbox.drainAndClose(code: code, reason: reason) }
    }

    /// Returns once no connection is left, or when the task is cancelled.
    func waitUntilEmpty() async {
        let key = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.outboxes.isEmpty || Task.isCancelled { return true }
                    state.emptyWaiters[key] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.emptyWaiters.removeValue(forKey: key) }?.resume()
        }
    }
}
