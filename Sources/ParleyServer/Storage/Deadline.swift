import Foundation
import Synchronization

/// The contract's deadline for every storage call (§8): past it, the caller gets `unavailable`, not a hang.
enum StorageDeadline {
    static let call = Duration.seconds(5)
}

extension Duration {
    /// Seconds, as Foundation and GRDB count them.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

/// The deadline passed before the operation finished.
struct DeadlineExceeded: Error, CustomStringConvertible {
    var description: String { "the database did not answer in time" }
}

/// Runs `operation` and returns by `timeout` whatever it does: past it the caller gets ``DeadlineExceeded``
/// while the operation, cancelled, goes on detached until it notices (a query in flight ignores cancellation,
/// so a task group, which waits for its children, would not return). `onTimeout` runs once the deadline has
/// won, to end what the operation holds. An operation that timed out may still take effect: callers treat
/// a timeout as an unknown outcome.
@discardableResult
func withDeadline<Value: Sendable>(
    _ timeout: Duration,
    onTimeout: @escaping @Sendable () -> Void = {},
    _ operation: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    let race = DeadlineRace<Value>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            race.add(
                Task {
                    do {
                        race.finish(.success(try await operation()))
                    } catch {
                        race.finish(.failure(error))
                    }
                }
            )
            race.add(
                Task {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    if race.finish(.failure(DeadlineExceeded())) { onTimeout() }
                }
            )
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of the operation, the timer and the caller's cancellation to finish decides the outcome; the
/// other tasks are then cancelled.
final class DeadlineRace<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, any Error>?
        var outcome: Result<Value, any Error>?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<Value, any Error>) {
        let outcome: Result<Value, any Error>? = state.withLock { state in
            if state.outcome == nil { state.continuation = continuation }
            return state.outcome
        }
        if let outcome { continuation.resume(with: outcome) }
    }

    func add(_ task: Task<Void, Never>) {
        let decided = state.withLock { state in
            if state.outcome == nil { state.tasks.append(task) }
            return state.outcome != nil
        }
        if decided { task.cancel() }
    }

    /// Whether this outcome was the first.
    @discardableResult
    func finish(_ outcome: Result<Value, any Error>) -> Bool {
        let won: (CheckedContinuation<Value, any Error>?, [Task<Void, Never>])? = state.withLock { state in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer {
                state.continuation = nil
                state.tasks = []
            }
            return (state.continuation, state.tasks)
        }
        guard let (continuation, tasks) = won else { return false }
        continuation?.resume(with: outcome)
        for task in tasks { task.cancel() }
        return true
    }
}
