/// The run's one clock: nanoseconds since the run began. Send stamps, receive times, the measurement window
/// and the publishers' schedules all read it, so latency is receive − send on the same clock.
struct BenchClock: Sendable {
    let origin: ContinuousClock.Instant

    init(origin: ContinuousClock.Instant = .now) {
        self.origin = origin
    }

    /// Nanoseconds since ``origin``.
    func now() -> Int64 {
        Self.nanoseconds(origin.duration(to: .now))
    }

    /// The instant `nanoseconds` after ``origin``, for `Task.sleep(until:)`.
    func instant(_ nanoseconds: Int64) -> ContinuousClock.Instant {
        origin + .nanoseconds(nanoseconds)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
