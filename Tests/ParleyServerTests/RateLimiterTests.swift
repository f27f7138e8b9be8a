import Testing

@testable import ParleyServer

/// The per-connection message rate (contract §6), handed the time.
@Suite struct RateLimiterTests {
    @Test func burstThenRate() {
        let start = ContinuousClock.now
        var limiter = RateLimiter(burst: 3, perSecond: 2, now: start)
        for _ in 0..<3 { #expect(limiter.take(now: start) == .allow) }
        #expect(limiter.take(now: start) == .refuse)
        #expect(limiter.take(now: start + .milliseconds(500)) == .allow)
        #expect(limiter.take(now: start + .milliseconds(500)) == .refuse)
    }

    @Test func fiftiethRefusalWithinTenSecondsCloses() {
        let start = ContinuousClock.now
        var limiter = RateLimiter(burst: 1, perSecond: 1, now: start)
        for i in 1..<50 { #expect(limiter.refuse(now: start + .milliseconds(i)) == .refuse) }
        #expect(limiter.refuse(now: start + .milliseconds(60)) == .close)
        var spread = RateLimiter(burst: 1, perSecond: 1, now: start)
        for i in 0..<100 { #expect(spread.refuse(now: start + .milliseconds(250 * i)) == .refuse) }
    }

    @Test func zeroRateMeansNoLimit() {
        var limiter = RateLimiter(burst: 1, perSecond: 0)
        for _ in 0..<1000 { #expect(limiter.take() == .allow) }
    }
}
