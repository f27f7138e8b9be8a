import Foundation
import Logging
import ParleyTestSupport
import PostgresNIO
import Testing

@testable import ParleyServer

/// When a node replaces its PostgreSQL pool after an outage, on a fake clock.
@Suite struct PoolRenewalTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    /// Calls that get no connection for the renewal delay make the pool probe; one answer in between, or a
    /// renewal, starts the count again.
    @Test func noConnectionForTheDelayProbesAndAnAnswerStartsAgain() {
        var renewal = PoolRenewal()
        let first = renewal.unanswered(at: at(0), connecting: true)
        let second = renewal.unanswered(at: at(500), connecting: true)
        #expect(first && !second, "only the first failure flips the gauge")
        #expect(!renewal.shouldProbe(at: at(2999)))
        #expect(renewal.shouldProbe(at: at(3000)))
        let wasFailing = renewal.answered()
        #expect(wasFailing)
        #expect(!renewal.shouldProbe(at: at(10_000)))
        _ = renewal.unanswered(at: at(10_000), connecting: true)
        renewal.renewed()
        #expect(renewal.failingSince == nil)
        #expect(!renewal.shouldProbe(at: at(20_000)))
    }

    /// A call whose own connection went silent marks the database unreachable but never renews the pool.
    @Test func aSilentConnectionAloneDoesNotRenewThePool() {
        var renewal = PoolRenewal()
        let first = renewal.unanswered(at: at(0), connecting: false)
        #expect(first)
        #expect(renewal.failingSince != nil)
        #expect(!renewal.shouldProbe(at: at(60_000)))
        _ = renewal.unanswered(at: at(60_000), connecting: true)
        #expect(!renewal.shouldProbe(at: at(62_999)))
        #expect(renewal.shouldProbe(at: at(63_000)), "counted from the first call that got no connection")
    }

    /// A lease released when its call ends is never closed by its deadline's timer afterwards, so the
    /// connection, back in the pool, keeps serving other calls (over a real PostgreSQL connection).
    @Test(.enabled(if: TestPostgres.url != nil, "needs PARLEY_TEST_POSTGRES_URL"))
    func aReleasedLeaseIsNotClosedByALateTimer() async throws {
        try await withTimeout(.seconds(30)) {
            let settings = try PostgresSettings(url: try #require(TestPostgres.url))
            let logger = Logger.quiet
            let connection = try await PostgresConnection.connect(configuration: try settings.connectionConfiguration, id: 1, logger: logger)
            let lease = DeadlineLease()
            #expect(lease.hold(connection))
            lease.release()
            lease.expire()
            let rows = try await connection.query("SELECT 1", logger: logger)
            for try await one in rows.decode(Int.self) { #expect(one == 1) }
            #expect(!connection.isClosed)
            // Still held when the deadline wins: closed.
            let held = DeadlineLease()
            #expect(held.hold(connection))
            held.expire()
            try await connection.closeFuture.get()
            #expect(!held.expiredWaiting)
        }
    }
}
