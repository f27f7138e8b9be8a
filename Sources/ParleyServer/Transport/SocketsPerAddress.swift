import ParleyProtocol
import Synchronization

/// Sockets per peer address in one state, up to a limit (contract §6): those that have not yet finished their
/// WebSocket upgrade or first request head (``Limits/unfinishedSocketsPerAddress``), and the HTTP sockets kept
/// alive after their first request (`--max-connections-per-address`). A socket past the limit is refused, so a
/// client that opens sockets and sends nothing, or one GET every few seconds, cannot hold more than its share
/// of the process's file descriptors.
///
/// Counted by the socket's peer, never by `X-Forwarded-For`: the count is of sockets, not of the requests on them.
final class SocketsPerAddress: Sendable {
    let limit: Int
    private let counts = Mutex([ClientAddress: Int]())

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts a new socket from `address`; false when that address already has the limit.
    func admit(_ address: ClientAddress) -> Bool {
        counts.withLock { counts in
            let count = counts[address, default: 0]
            guard count < limit else { return false }
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
