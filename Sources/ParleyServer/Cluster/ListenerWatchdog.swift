/// Whether this node's `LISTEN` connection still hears anything.
///
/// A listener's connection can stay open and silent: after a fast PostgreSQL failover (or a path that went
/// quiet) no error ever reaches it, and the node would miss every notice from then on. So on each heartbeat
/// the node notifies itself (an echo through another connection) and expects to hear it within
/// `deadline`; a listener that stays silent past it, or that has not started listening within `deadline`
/// of being told to reconnect, is deaf. Only echoes whose `NOTIFY` is known to have committed count, so a
/// database that is down makes no listener look deaf. Handed the time, tested with a fake clock.
struct ListenerWatchdog {
    let deadline: Duration
    /// The last echo number handed out.
    private(set) var lastEcho: UInt64 = 0
    /// The highest echo heard.
    private var heardThrough: UInt64 = 0
    /// Echoes handed out before the current `LISTEN` started, which it may never hear.
    private var ignoredThrough: UInt64 = 0
    /// The oldest committed echo not heard yet, and when its commit was seen.
    private var waiting: (echo: UInt64, since: ContinuousClock.Instant)?
    /// The listener was told to reconnect then and has not confirmed a `LISTEN` since.
    private var reconnectingSince: ContinuousClock.Instant?

    init(deadline: Duration) {
        self.deadline = deadline
    }

    /// A `LISTEN` has started (the first one, or after a reconnect): what came before no longer counts.
    mutating func listening() {
        ignoredThrough = lastEcho
        waiting = nil
        reconnectingSince = nil
    }

    /// The number of the next echo to send.
    mutating func nextEcho() -> UInt64 {
        lastEcho += 1
        return lastEcho
    }

    /// Echo `echo` committed at `now`: the listener should hear it within the deadline.
    mutating func committed(_ echo: UInt64, at now: ContinuousClock.Instant) {
        guard echo > ignoredThrough, echo > heardThrough, waiting == nil else { return }
        waiting = (echo, now)
    }

    /// The listener heard echo `echo` (and so everything notified before it).
    mutating func heard(_ echo: UInt64) {
        heardThrough = max(heardThrough, echo)
        if let waiting, echo >= waiting.echo { self.waiting = nil }
    }

    /// Whether the listener should be reconnected now; if so, it is noted as reconnecting from `now`.
    mutating func isDeaf(at now: ContinuousClock.Instant) -> Bool {
        let overdue = waiting.map { now - $0.since >= deadline } ?? false
        let stuck = reconnectingSince.map { now - $0 >= deadline } ?? false
        guard overdue || stuck else { return false }
        waiting = nil
        reconnectingSince = now
        return true
    }
}
