import ParleyProtocol

/// Slow mode's clock (§12): when each poster last got a message through, and whether the next may go now.
/// A value type handed the time, so it is tested without waiting.
struct SlowMode<Key: Hashable, Instant: InstantProtocol> where Instant.Duration == Duration {
    private var last: [Key: Instant] = [:]
    /// Entries older than the longest slow mode are dropped once the table grows past this.
    let capacity: Int
    /// When the table is pruned next: twice what a pruning kept, so that a table full of recent entries is not
    /// scanned again on every admission.
    private var pruneAt: Int

    init(capacity: Int = 100_000) {
        self.capacity = capacity
        self.pruneAt = capacity
    }

    /// A message let through: its interval runs from `at`, unless ``withdraw(_:)`` takes it back.
    struct Pass {
        let key: Key
        let at: Instant
        /// The last admitted message's time before this one.
        let previous: Instant?
    }

    /// A pass (and the clock restarts for `key`) when `interval` has passed since its last admitted message; nil
    /// when it has not.
    mutating func admit(_ key: Key, interval: Duration, now: Instant) -> Pass? {
        let previous = last[key]
        if let previous, previous.duration(to: now) < interval { return nil }
        if last.count >= pruneAt { prune(now: now) }
        last[key] = now
        return Pass(key: key, at: now, previous: previous)
    }

    /// Takes back a pass whose message was not stored after all (refused later, a resend, a failed commit), so
    /// that only stored messages start the interval. A later pass for the same key stays.
    mutating func withdraw(_ pass: Pass) {
        guard last[pass.key] == pass.at else { return }
        last[pass.key] = pass.previous
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
        pruneAt = max(capacity, 2 * last.count)
    }
}

extension SlowMode.Pass: Sendable where Key: Sendable, Instant: Sendable {}
