import ParleyProtocol

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

    /// Paces a little under the limits a server announced in `welcome`; a server without a rate limit
    /// (`rate_per_second` 0) is not paced.
    init(limits: Limits, now: ContinuousClock.Instant = .now) {
        if limits.ratePerSecond <= 0 {
            self.init(burst: Int.max / 2, perSecond: .infinity, now: now)
        } else {
            self.init(burst: limits.rateBurst - limits.rateBurst / 4, perSecond: limits.ratePerSecond * 0.9, now: now)
        }
    }

    /// Takes a token; returns how long to wait before sending, or nil to send now.
    mutating func take(now: ContinuousClock.Instant = .now) -> Duration? {
        if perSecond == .infinity { return nil }
        let elapsed = updated.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * perSecond)
        updated = now
        tokens -= 1
        if tokens >= 0 { return nil }
        return .milliseconds(Int64((-tokens / perSecond * 1000).rounded(.up)))
    }
}
