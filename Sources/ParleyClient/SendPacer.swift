/// A token bucket that spaces outgoing frames so that a pasted or piped burst stays under the server's
/// rate limit instead of being refused.
struct SendPacer: Sendable {
    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant

    init(burst: Int, perSecond: Double, now: ContinuousClock.Instant = .now) {
        self.burst = Double(max(burst, 1))
        self.perSecond = max(perSecond, 0.1)
        self.tokens = self.burst
        self.updated = now
    }

    /// Takes a token; returns how long to wait before sending, or nil to send now.
    mutating func take(now: ContinuousClock.Instant = .now) -> Duration? {
        let elapsed = updated.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * perSecond)
        updated = now
        tokens -= 1
        if tokens >= 0 { return nil }
        return .milliseconds(Int64((-tokens / perSecond * 1000).rounded(.up)))
    }
}
