import Logging
import PostgresNIO
import Prometheus
import Synchronization

/// The node's PostgreSQL pool, started afresh after an outage.
///
/// While the database is away, postgres-nio's pool waits longer and longer between attempts to connect
/// (up to a minute), so after a long outage a node could stay unable to store for most of a minute more.
/// Here, once calls have got no connection for a while and a direct probe connects, the pool is replaced by
/// a fresh one (its calls in flight fail, as they were failing anyway), so service is back within seconds
/// (see ``PoolRenewal``).
final class PostgresPool: Sendable {
    private struct State {
        var client: PostgresClient
        var running: Task<Void, Never>?
        var renewal = PoolRenewal()
        var stopped = false
    }

    private let configuration: PostgresClient.Configuration
    private let probe: PostgresConnection.Configuration
    private let logger: Logger
    private let state: Mutex<State>
    /// `parley_postgres_reachable`: 1 while calls get answers, 0 from the first call that got none.
    private let reachable: Prometheus.Gauge

    init(configuration: PostgresClient.Configuration, probe: PostgresConnection.Configuration, metrics: ParleyMetrics, logger: Logger) {
        self.configuration = configuration
        self.probe = probe
        self.logger = logger
        reachable = metrics.registry.makeGauge(
            name: "parley_postgres_reachable",
            help: "1 while this node's PostgreSQL calls are answered, 0 while they fail for want of an answer"
        )
        reachable.set(to: 1.0)
        state = Mutex(State(client: PostgresClient(configuration: configuration, backgroundLogger: logger)))
    }

    /// The current pool.
    var client: PostgresClient { state.withLock { $0.client } }

    /// Whether calls have been failing, with no success since (for metrics and `/healthz`).
    var isFailing: Bool { state.withLock { $0.renewal.failingSince != nil } }

    /// Runs `operation` on a connection of the current pool within `timeout` (see
    /// ``PostgresClient/withDeadline(_:_:)``), noting whether the database answered.
    @discardableResult
    func withDeadline<Value: Sendable>(
        _ timeout: Duration,
        _ operation: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        do {
            let value = try await client.withDeadline(timeout, operation)
            answered()
            return value
        } catch {
            if Self.isUnreachable(error) {
                // Only a call whose own connection went silent (its deadline closed it) says nothing of the pool.
                let connecting = !(error is DeadlineExceeded)
                let first = state.withLock { $0.renewal.unanswered(at: .now, connecting: connecting) }
                if first { reachable.set(to: 0.0) }
            } else {
                // PostgreSQL answered, if only with an error.
                answered()
            }
            throw error
        }
    }

    private func answered() {
        let wasFailing = state.withLock { $0.renewal.answered() }
        if wasFailing { reachable.set(to: 1.0) }
    }

    /// A connection of the current pool for as long as `body` runs (a `LISTEN`).
    func withConnection(_ body: (PostgresConnection) async throws -> Void) async throws {
        try await client.withConnection(body)
    }

    /// No answer from the server: anything but an error PostgreSQL sent (a deadline, a failed connection,
    /// the pool refusing a lease while it cannot connect).
    static func isUnreachable(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return true }
        return error.serverInfo == nil
    }

    /// Runs the pool, renewing it after an outage, until cancelled.
    func run() async {
        let first = client
        state.withLock { $0.running = Task { await first.run() } }
        while !Task.isCancelled {
            try? await Task.sleep(for: PoolRenewal.probeInterval)
            let due = state.withLock { $0.renewal.shouldProbe(at: .now) }
            guard due, await probeConnects() else { continue }
            renew()
        }
        let running = state.withLock { state in
            state.stopped = true
            return state.running
        }
        running?.cancel()
        await running?.value
    }

    /// Whether a connection of its own reaches the database now.
    private func probeConnects() async -> Bool {
        let probe = self.probe
        let logger = self.logger
        let connected = try? await ParleyServer.withDeadline(
            StorageDeadline.call,
            {
                let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: logger)
                try? await connection.close()
                return true
            }
        )
        return connected == true
    }

    /// Starts a fresh pool and makes it current, then stops the old one.
    private func renew() {
        let fresh = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let task = Task { await fresh.run() }
        let previous: Task<Void, Never>?? = state.withLock { state in
            guard !state.stopped else { return nil }
            defer {
                state.client = fresh
                state.running = task
                state.renewal.renewed()
            }
            return .some(state.running)
        }
        guard let previous else {
            task.cancel()
            return
        }
        previous?.cancel()
        // The probe connected: reachable again, even if no call of the old pool fails or succeeds afterwards.
        reachable.set(to: 1.0)
        logger.warning("the database answers again; started a fresh connection pool")
    }
}
