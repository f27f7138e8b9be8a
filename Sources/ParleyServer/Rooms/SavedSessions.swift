import Synchronization

/// The sessions a previous run saved in one room (§11: authorship outlives a restart), read from storage in
/// one go when the first member comes back with one this process does not know. After a restart every member
/// of a room does, at once: one read for the room rather than one per member, and the later ones join on the
/// event loop.
///
/// A hint, never the last word: each nick is handed out once (``take(_:)``), after which the
/// ``SessionTable`` knows the session and keeps it current; a session not found here (beyond ``limit``, or
/// saved since) is read from storage on its own, as before.
final class SavedSessions: Sendable {
    /// At most this many are read per room.
    static let limit = 10_000

    private enum Phase {
        case unread
        case reading(waiters: [CheckedContinuation<Void, Never>])
        /// Author key → nick, for those not handed out yet.
        case read([Int64: String])
    }

    private let phase = Mutex(Phase.unread)

    /// The saved nick of `author`, taken, if the sessions have been read and hold it. Never waits.
    func take(_ author: AuthorKey) -> String? {
        phase.withLock { phase in
            guard case .read(var nicks) = phase else { return nil }
            // Out of the enum first, or the removal copies the whole table (a room of 10,000 coming back would
            // copy it 10,000 times).
            phase = .unread
            defer { phase = .read(nicks) }
            return nicks.removeValue(forKey: author.value)
        }
    }

    /// As ``take(_:)``, after reading the sessions with `read` unless that was done (or is under way: then it
    /// waits for it). A failed read leaves them unread; the caller then reads the one session itself.
    func take(_ author: AuthorKey, reading read: () async throws -> [Int64: String]) async -> String? {
        enum Step {
            case take
            case read
            case wait
        }
        let step: Step = phase.withLock { phase in
            switch phase {
            case .read: return .take
            case .reading: return .wait
            case .unread:
                phase = .reading(waiters: [])
                return .read
            }
        }
        switch step {
        case .take:
            break
        case .wait:
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = phase.withLock { phase in
                    guard case .reading(var waiters) = phase else { return true }
                    phase = .unread
                    waiters.append(continuation)
                    phase = .reading(waiters: waiters)
                    return false
                }
                if now { continuation.resume() }
            }
        case .read:
            let nicks = try? await read()
            let waiters: [CheckedContinuation<Void, Never>] = phase.withLock { phase in
                guard case .reading(let waiters) = phase else { return [] }
                phase = nicks.map { .read($0) } ?? .unread
                return waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        return take(author)
    }
}
