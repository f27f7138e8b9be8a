/// Retries `body` until it succeeds (for state that settles asynchronously, like a freed slot).
public func eventually(attempts: Int = 100, _ body: () async throws -> Void) async throws {
    var lastError: (any Error)?
    for _ in 0..<attempts {
        do {
            return try await body()
        } catch {
            lastError = error
            try await Task.sleep(for: .milliseconds(50))
        }
    }
    throw lastError!
}
