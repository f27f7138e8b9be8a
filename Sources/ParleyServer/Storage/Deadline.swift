import Foundation

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

/// Runs `operation`, cancelling it when `timeout` passes first, so a caller sees an error rather than a
/// hang while a database is unreachable.
@discardableResult
func withDeadline<Result: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw DeadlineExceeded() }
        return result
    }
}
