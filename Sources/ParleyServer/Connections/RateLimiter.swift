/// Per-connection message rate limit: a token bucket (`burst`, then `perSecond`), plus the rule that the
/// 50th refusal within 10 s closes the connection (1008) instead of answering with an error.
struct RateLimiter {
    enum Decision: Equatable {
        case allow
        case refuse
        case close
    }

    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var lastRefill: ContinuousClock.Instant
    private var refusals: [ContinuousClock.Instant] = []
    static let refusalWindow = Duration.seconds(10)
    static let refusalsBeforeClose = 50

    init(burst: Int, perSecond: Double, now: ContinuousClock.Instant = .now) {
        self.burst = Double(max(burst, 1))
        self.perSecond = perSecond
        self.tokens = Double(max(burst, 1))
        self.lastRefill = now
    }

    /// Takes one token if there is one (`.allow`); otherwise `.refuse`, and the caller decides whether the
    /// message really is refused (a resend is not) and calls ``refuse(now:)``.
    mutating func take(now: ContinuousClock.Instant = .now) -> Decision {
        guard perSecond > 0 else { return .allow }
        let elapsed = now - lastRefill
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * perSecond)
        lastRefill = now
        if tokens >= 1 {
            tokens -= 1
            return .allow
        }
        return .refuse
    }

    /// Records a refusal: `.close` for the 50th within 10 s, `.refuse` before that.
    mutating func refuse(now: ContinuousClock.Instant = .now) -> Decision {
        refusals.removeAll { now - $0 >= Self.refusalWindow }
        refusals.append(now)
        return refusals.count >= Self.refusalsBeforeClose ? .close : .refuse
    }

    /// Gives back a token taken for a message that turned out to be a resend.
    mutating func refund() {
        guard perSecond > 0 else { return }
        tokens = min(burst, tokens + 1)
    }
}
