import Logging
import ParleyProtocol
import ServiceLifecycle

/// On graceful shutdown, before the HTTP server stops: refuse new WebSockets, let every connection send
/// what it has queued, close each with 1001, and wait (bounded) for them to go.
struct ConnectionDrainer: Service {
    let limiter: ConnectionLimiter
    let connections: ConnectionDirectory
    let logger: Logger
    var timeout: Duration = .seconds(6)

    func run() async throws {
        try? await gracefulShutdown()
        limiter.startDraining()
        connections.drainAll(code: CloseCode.goingAway.rawValue, reason: "server shutting down")
        logger.info("draining connections", metadata: ["connections": "\(connections.count)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await connections.waitUntilEmpty() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
}
