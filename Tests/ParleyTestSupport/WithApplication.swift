import ServiceLifecycle

/// Runs the application `make` builds until `body`, handed the port it listens on, returns; then stops
/// it. `make` is handed the callback for the application's `onServerRunning`.
public func withApplication<App: Service>(
    _ make: (_ listening: @escaping @Sendable (Int) -> Void) async throws -> App,
    body: @escaping @Sendable (Int) async throws -> Void
) async throws {
    let (ports, listening) = AsyncStream.makeStream(of: Int.self)
    let app = try await make { listening.yield($0) }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        try await body(port)
        group.cancelAll()
    }
}
