import Testing

@testable import ParleyServer

/// When `/healthz` writes its probe row: anyone may call it, so requests arriving together, or a stream of
/// them, must not each add a write to the database's queue.
@Suite struct StorageHealthTests {
    let start = ContinuousClock.now

    @Test func requestsArrivingTogetherWriteOneProbe() {
        let health = StorageHealth()
        #expect(health.claimProbe(now: start))
        for _ in 0..<100 { #expect(!health.claimProbe(now: start + .milliseconds(500))) }
        #expect(health.claimProbe(now: start + .seconds(1)))
    }

    @Test func noProbeWhileCommitsSucceed() {
        let health = StorageHealth()
        health.written(true, at: start)
        #expect(!health.claimProbe(now: start + .milliseconds(900)))
        // Idle for longer: a probe finds out whether the disk still takes writes.
        #expect(health.claimProbe(now: start + .seconds(2)))
    }

    /// A probe right after a failed commit could take room its rollback freed and report healthy while
    /// commits still fail (seen once on a full disk); the failure counts as the interval's probe.
    @Test func aFailedCommitCountsAsTheIntervalsProbe() {
        let health = StorageHealth()
        health.written(true, at: start)
        health.written(false, at: start + .milliseconds(100))
        #expect(!health.isWriting)
        #expect(!health.claimProbe(now: start + .milliseconds(200)))
        #expect(health.claimProbe(now: start + .milliseconds(1100)))
    }
}
