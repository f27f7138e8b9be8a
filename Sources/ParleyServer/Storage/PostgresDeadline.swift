import PostgresNIO
import Synchronization

extension PostgresClient {
    /// Runs `operation` on one leased connection and returns by `timeout`. Past it the connection is closed,
    /// which fails a query stuck in flight (on a half-open socket it would hold the connection until TCP gives
    /// up), and the caller gets ``DeadlineExceeded``, or ``NoConnectionInTime`` when the pool never handed
    /// out a connection. What the operation wrote may or may not have committed.
    @discardableResult
    func withDeadline<Value: Sendable>(
        _ timeout: Duration,
        _ operation: @escaping @Sendable (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        let lease = DeadlineLease()
        do {
            return try await ParleyServer.withDeadline(
                timeout,
                onTimeout: { lease.expire() },
                {
                    try await self.withConnection { connection in
                        guard lease.hold(connection) else { throw DeadlineExceeded() }
                        // Back in the pool, the connection may serve another call: a late timer must not close it.
                        defer { lease.release() }
                        return try await operation(connection)
                    }
                }
            )
        } catch is DeadlineExceeded where lease.expiredWaiting {
            throw NoConnectionInTime()
        }
    }
}

/// The deadline passed before the pool handed out a connection: the pool cannot connect (or is full).
struct NoConnectionInTime: Error, CustomStringConvertible {
    var description: String { "no database connection in time" }
}

/// The connection a call under a deadline holds, closed if the deadline wins while the call holds it.
final class DeadlineLease: Sendable {
    private enum State {
        case waiting
        case holding(PostgresConnection)
        case released
        case expired(waiting: Bool)
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

    /// The call is done with its connection.
    func release() {
        state.withLock { state in
            if case .holding = state { state = .released }
        }
    }

    /// The deadline won: closes the connection if the call still holds it.
    func expire() {
        let held: PostgresConnection? = state.withLock { state in
            switch state {
            case .waiting:
                state = .expired(waiting: true)
                return nil
            case .holding(let connection):
                state = .expired(waiting: false)
                return connection
            case .released, .expired:
                return nil
            }
        }
        if let held {
            let closed: EventLoopFuture<Void> = held.close()
            _ = closed
        }
    }

    /// After the deadline won: whether the pool had not handed out a connection by then (the caller may look
    /// before `expire()` ran, while the state still says waiting).
    var expiredWaiting: Bool {
        state.withLock { state in
            switch state {
            case .waiting, .expired(waiting: true): true
            default: false
            }
        }
    }
}
