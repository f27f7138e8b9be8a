import ParleyProtocol

/// Slow mode's clock (§12): when each poster last got a message through, and whether the next may go now.
/// A value type handed the time, so it is tested without waiting.
struct SlowMode<Key: Hashable, Instant: InstantProtocol> where Instant.Duration == Duration {
    private var last: [Key: Instant] = [:]
    /// Entries older than the longest slow mode are dropped once the table grows past this.
    let capacity: Int

    init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    /// True (and the clock restarts for `key`) when `interval` has passed since its last admitted message.
    mutating func admit(_ key: Key, interval: Duration, now: Instant) -> Bool {
        if let previous = last[key], previous.duration(to: now) < interval { return false }
        if last.count >= capacity { prune(now: now) }
        last[key] = now
        return true
    }

    /// How long `key` still has to wait (zero when it may post).
    func wait(_ key: Key, interval: Duration, now: Instant) -> Duration {
        guard let previous = last[key] else { return .zero }
        let waited = previous.duration(to: now)
        return waited < interval ? interval - waited : .zero
    }

    private mutating func prune(now: Instant) {
        let longest = Duration.seconds(RoomChange.slowModeSeconds.upperBound)
        last = last.filter { $0.value.duration(to: now) < longest }
    }
}
