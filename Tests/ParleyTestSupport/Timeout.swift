/// A test that went on past its time limit.
public struct TimedOut: Error {
    public init() {}
}

/// Runs `body`, failing with ``TimedOut`` if it takes longer than `limit`.
public func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
