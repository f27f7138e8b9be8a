import Synchronization

/// One WebSocket's place in the ``ConnectionLimiter``, given back exactly once: by ``release()`` when the
/// connection ends, or, for an upgrade that never completed, when the last reference to it goes.
///
/// A callback on the channel's close future did this before; its closure and NIO's bookkeeping for a
/// second callback cost every open socket memory (docs/ARCHITECTURE.md, "Memory per connection").
final class ConnectionSlot: Sendable {
    private let limiter: ConnectionLimiter
    let address: ClientAddress
    private let released = Atomic(false)

    init(limiter: ConnectionLimiter, address: ClientAddress) {
        self.limiter = limiter
        self.address = address
    }

    func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) {
            limiter.release(address: address)
        }
    }

    deinit {
        release()
    }
}
