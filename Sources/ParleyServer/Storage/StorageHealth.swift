import Metrics
import Synchronization

/// Whether the store can write, as its commits and health probes found: `/healthz` answers 503 while the
/// last write failed (a full disk, a lost file, a lock held past the deadline), and 200 again as soon as a
/// commit or a probe succeeds; the first probe comes a probe interval after the failure. The gauge `parley_storage_healthy` shows the same, 1 or 0.
final class StorageHealth: Sendable {
    private struct State {
        var writing = true
        /// The last commit or probe that succeeded.
        var lastWrite: ContinuousClock.Instant?
        /// The last probe started, whatever came of it.
        var lastProbe: ContinuousClock.Instant?
    }

    /// How often `/healthz` may write its probe row; in between it answers from the last result.
    static let probeInterval = Duration.seconds(1)
    /// The size of the probe row: room for a group commit of a few messages.
    static let probeBytes = 64 * 1024

    private let state = Mutex(State())
    private let gauge: Metrics.Gauge?

    /// Storage starts out writable: the store opened and migrated it.
    init(gauge: Metrics.Gauge? = nil) {
        self.gauge = gauge
        gauge?.record(1)
    }

    var isWriting: Bool {
        state.withLock { $0.writing }
    }

    /// After every commit of messages.
    func written(_ succeeded: Bool, at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            // Set under the lock, so that two commits ending together leave the gauge at the later one's result.
            if state.writing != succeeded { gauge?.record(succeeded ? 1 : 0) }
            state.writing = succeeded
            if succeeded {
                state.lastWrite = now
            } else {
                // A failure is as fresh as a probe's answer: a probe written now could find room that the
                // failed commit's rollback freed for a moment and report healthy while commits still fail.
                state.lastProbe = now
            }
        }
    }

    /// Whether `/healthz` should write a probe row now, and if so takes the turn, so that requests arriving
    /// together (anyone may call `/healthz`) write one between them. No probe is needed while commits succeed.
    func claimProbe(now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            if state.writing, let last = state.lastWrite, now - last < Self.probeInterval { return false }
            if let last = state.lastProbe, now - last < Self.probeInterval { return false }
            state.lastProbe = now
            return true
        }
    }
}
