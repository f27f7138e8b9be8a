/// When ``PostgresPool`` starts a fresh pool: the value-type core of its reconnect, handed the time.
///
/// postgres-nio's pool waits longer and longer between attempts to connect while the database is away (up
/// to a minute). Once calls have failed for want of a connection for ``renewAfter``, with no answer since,
/// the pool probes the database every ``probeInterval`` with a connection of its own and, when that
/// connects, is replaced. A call whose connection went silent under it (a deadline that closed the
/// connection it held) marks the database unreachable for health, but is no reason to replace the pool:
/// that one connection is gone already, and the others may be fine.
struct PoolRenewal {
    static let renewAfter = Duration.seconds(3)
    static let probeInterval = Duration.seconds(1)

    /// The first call since the last answer that got none (for `/healthz` and `parley_postgres_reachable`).
    private(set) var failingSince: ContinuousClock.Instant?
    /// The first call since the last answer that got no connection.
    private(set) var noConnectionSince: ContinuousClock.Instant?

    /// A call got no answer; `connecting` when it got no connection at all. True for the first such call
    /// since the last answer.
    mutating func unanswered(at now: ContinuousClock.Instant, connecting: Bool) -> Bool {
        if connecting, noConnectionSince == nil { noConnectionSince = now }
        guard failingSince == nil else { return false }
        failingSince = now
        return true
    }

    /// PostgreSQL answered (if only with an error). True when calls had been failing.
    mutating func answered() -> Bool {
        defer {
            failingSince = nil
            noConnectionSince = nil
        }
        return failingSince != nil
    }

    /// Whether to probe the database (and renew the pool if the probe connects) at `now`.
    func shouldProbe(at now: ContinuousClock.Instant) -> Bool {
        guard let since = noConnectionSince else { return false }
        return now - since >= Self.renewAfter
    }

    /// A fresh pool is current.
    mutating func renewed() {
        failingSince = nil
        noConnectionSince = nil
    }
}
