import Synchronization

/// Whether the store can write, as its commits and health probes found: `/healthz` answers 503 while the
/// last write failed (a full disk, a lost file, a lock held past the deadline), and 200 again as soon as a
/// commit or a probe succeeds.
final class StorageHealth: Sendable {
    private struct State {
        var writing = true
        var lastProbe: ContinuousClock.Instant?
    }

    /// How often `/healthz` may write its probe row; in between it answers from the last result.
    static let probeInterval = Duration.seconds(1)
    /// The size of the probe row: room for a group commit of a few messages.
    static let probeBytes = 64 * 1024

    private let state = Mutex(State())

    var isWriting: Bool {
        state.withLock { $0.writing }
    }

    /// After every commit of messages.
    func written(_ succeeded: Bool) {
        state.withLock { $0.writing = succeeded }
    }

    func isProbeDue(now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            guard let last = state.lastProbe else { return true }
            return now - last >= Self.probeInterval
        }
    }

    func probed(_ succeeded: Bool, at now: ContinuousClock.Instant) {
        state.withLock { state in
            state.writing = succeeded
            state.lastProbe = now
        }
    }
}
