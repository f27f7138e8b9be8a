import PostgresNIO
import Synchronization

extension PostgresClient {
    /// Runs `operation` on one leased connection and returns by `timeout`. Past it the connection is closed,
    /// which fails a query stuck in flight (on a half-open socket it would hold the connection until TCP gives
    /// up), and the caller gets ``DeadlineExceeded``. What the operation wrote may or may not have committed.
    @discardableResult
    func withDeadline<Value: Sendable>(
        _ timeout: Duration,
        _ operation: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        let lease = DeadlineLease()
        return try await ParleyServer.withDeadline(
            timeout,
            onTimeout: { lease.expire() },
            {
                try await self.withConnection { connection in
                    guard lease.hold(connection) else { throw DeadlineExceeded() }
                    return try await operation(connection)
                }
            }
        )
    }
}

/// The connection a call under a deadline holds, closed if the deadline wins.
final class DeadlineLease: Sendable {
    private enum State {
        case waiting
        case holding(PostgresConnection)
        case expired
    }

    private let state = Mutex(State.waiting)

    /// Whether the call may go on with `connection` (false once the deadline has passed).
    func hold(_ connection: PostgresConnection) -> Bool {
        state.withLock { state in
            guard case .waiting = state else { return false }
            state = .holding(connection)
            return true
        }
    }

    func expire() {
        let held: PostgresConnection? = state.withLock { state in
            defer { state = .expired }
            if case .holding(let connection) = state { return connection }
            return nil
        }
        if let held {
            let closed: EventLoopFuture<Void> = held.close()
            _ = closed
        }
    }
}
