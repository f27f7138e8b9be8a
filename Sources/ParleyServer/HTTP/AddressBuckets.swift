/// Token buckets keyed by client address (`burst`, then `perSecond`), in bounded memory.
///
/// A bucket that has filled up again is the same as no bucket, so it may be forgotten. When the table
/// holds `capacity` addresses, a sweep (at most once per `sweepInterval`) drops the full ones; if none
/// can go, new addresses share one overflow bucket, so a client rotating addresses gains at most one
/// burst per table slot and never grows the table.
struct AddressBuckets {
    enum Decision: Equatable {
        case allow
        /// Refused; a token will be there after `retryAfter`.
        case refuse(retryAfter: Duration)
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant

        mutating func refill(now: ContinuousClock.Instant, burst: Double, perSecond: Double) {
            let elapsed = now - updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + max(seconds, 0) * perSecond)
            updated = now
        }

        mutating func take(now: ContinuousClock.Instant, burst: Double, perSecond: Double) -> Decision {
            refill(now: now, burst: burst, perSecond: perSecond)
            guard tokens >= 1 else { return .refuse(retryAfter: .seconds((1 - tokens) / perSecond)) }
            tokens -= 1
            return .allow
        }
    }

    let burst: Double
    let perSecond: Double
    let capacity: Int
    static let sweepInterval = Duration.seconds(1)
    private var buckets: [ClientAddress: Bucket] = [:]
    private var overflow: Bucket
    private var lastSweep: ContinuousClock.Instant

    /// - Parameters:
    ///   - perSecond: tokens regained per second; 0 means no limit.
    ///   - capacity: addresses remembered at most.
    init(burst: Int, perSecond: Double, capacity: Int, now: ContinuousClock.Instant) {
        self.burst = Double(max(burst, 1))
        self.perSecond = perSecond
        self.capacity = max(capacity, 1)
        self.overflow = Bucket(tokens: self.burst, updated: now)
        self.lastSweep = now
    }

    /// Addresses with a bucket right now.
    var count: Int { buckets.count }

    /// Takes a token from `address`'s bucket.
    mutating func take(_ address: ClientAddress, now: ContinuousClock.Instant) -> Decision {
        let (burst, perSecond) = (self.burst, self.perSecond)
        guard perSecond > 0 else { return .allow }
        if let decision = buckets[address]?.take(now: now, burst: burst, perSecond: perSecond) { return decision }
        if buckets.count >= capacity, now - lastSweep >= Self.sweepInterval {
            lastSweep = now
            buckets = buckets.filter { _, bucket in
                var bucket = bucket
                bucket.refill(now: now, burst: burst, perSecond: perSecond)
                return bucket.tokens < burst
            }
        }
        guard buckets.count < capacity else { return overflow.take(now: now, burst: burst, perSecond: perSecond) }
        var bucket = Bucket(tokens: burst, updated: now)
        let decision = bucket.take(now: now, burst: burst, perSecond: perSecond)
        buckets[address] = bucket
        return decision
    }
}
