import ParleyProtocol
import Testing

@testable import ParleyClient

@Suite struct SendPacerTests {
    /// Paced from `welcome.limits`: a burst under the server's, then a little under its rate.
    @Test func pacesUnderTheAnnouncedLimits() {
        let start = ContinuousClock.now
        var pacer = SendPacer(limits: Limits(maxMessageBytes: 1, maxFileBytes: 1, rateBurst: 8, ratePerSecond: 10), now: start)
        for _ in 0..<6 { #expect(pacer.take(now: start) == nil) }
        let wait = pacer.take(now: start)
        #expect(wait != nil && wait! > .milliseconds(100))
    }

    /// A server without a rate limit (`rate_per_second` 0) is not paced.
    @Test func noLimitMeansNoPacing() {
        let start = ContinuousClock.now
        var pacer = SendPacer(limits: Limits(maxMessageBytes: 1, maxFileBytes: 1, rateBurst: 1, ratePerSecond: 0), now: start)
        for _ in 0..<10_000 { #expect(pacer.take(now: start) == nil) }
    }
}
