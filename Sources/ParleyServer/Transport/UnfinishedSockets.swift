import ParleyProtocol
import Synchronization

/// Sockets per peer address that have not yet finished their WebSocket upgrade or their first request
/// head (contract §6). A socket past the limit is closed at once, so a client that opens sockets and
/// sends nothing cannot hold more than a few of the process's file descriptors.
///
/// Counted by the socket's peer, never by `X-Forwarded-For`: nothing has been read yet.
final class UnfinishedSockets: Sendable {
    static let limitPerAddress = Limits.unfinishedSocketsPerAddress

    private let counts = Mutex([ClientAddress: Int]())

    /// Counts a new socket from `address`; false when that address already has the limit.
    func admit(_ address: ClientAddress) -> Bool {
        counts.withLock { counts in
            let count = counts[address, default: 0]
            guard count < Self.limitPerAddress else { return false }
            counts[address] = count + 1
            return true
        }
    }

    /// Takes back one socket that ``admit(_:)`` counted.
    func finish(_ address: ClientAddress) {
        counts.withLock { counts in
            let remaining = counts[address, default: 1] - 1
            counts[address] = remaining > 0 ? remaining : nil
        }
    }
}
