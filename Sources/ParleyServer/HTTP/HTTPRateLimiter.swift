import Synchronization

/// `--http-rate-burst` / `--http-rate-per-second`: state-changing HTTP requests per client address,
/// shared by every connection of the process.
final class HTTPRateLimiter: Sendable {
    /// Client addresses remembered at most; past that, new ones share one bucket (``AddressBuckets``).
    static let capacity = 65_536

    private let buckets: Mutex<AddressBuckets>

    init(burst: Int, perSecond: Double, capacity: Int = HTTPRateLimiter.capacity) {
        buckets = Mutex(AddressBuckets(burst: burst, perSecond: perSecond, capacity: capacity, now: .now))
    }

    func take(_ address: ClientAddress, now: ContinuousClock.Instant = .now) -> AddressBuckets.Decision {
        buckets.withLock { $0.take(address, now: now) }
    }
}
