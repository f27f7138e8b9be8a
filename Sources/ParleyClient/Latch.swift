import Synchronization

/// A one-shot signal that any number of tasks can wait for: once opened it stays open, with its value.
/// Waiting is cancellable.
public final class Latch<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [Int: CheckedContinuation<Value?, Never>] = [:]
        var cancelled: Set<Int> = []
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Opens the latch and wakes every waiter; later calls do nothing.
    public func open(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value, if the latch is open.
    public var value: Value? { state.withLock { $0.value } }

    /// Waits until the latch opens; `nil` if the task is cancelled first.
    public func wait() async -> Value? {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let outcome = state.withLock { state -> Value?? in
                    if let value = state.value { return .some(value) }
                    if state.cancelled.remove(id) != nil { return .some(nil) }
                    state.waiters[id] = continuation
                    return .none
                }
                if case .some(let value) = outcome { continuation.resume(returning: value) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    if state.value == nil { state.cancelled.insert(id) }
                    return CheckedContinuation<Value?, Never>?.none
                }
                return waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}

extension Latch where Value == Void {
    public func open() { open(()) }
}
