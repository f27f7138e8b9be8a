import ParleyProtocol
import Synchronization

/// Every ban in force, by room code, kept in memory so that refusing a banned client before the upgrade
/// (§12) costs no storage read on the way in.
///
/// Loaded from storage at start; a ban or unban on this node updates it at once, and on another node through
/// a cluster notice that has each node read the room's bans again (``ClusterLink``).
final class BanBook: Sendable {
    private let bans = Mutex([String: [Ban]]())

    /// Replaces every room's bans (at start).
    func load(_ all: [String: [Ban]]) {
        bans.withLock { $0 = all }
    }

    /// Replaces one room's bans.
    func replace(room code: String, with list: [Ban]) {
        bans.withLock { $0[code] = list.isEmpty ? nil : list }
    }

    func add(_ ban: Ban, room code: String) {
        bans.withLock { $0[code, default: []].append(ban) }
    }

    /// Lifts the bans of `nick`; false when it had none.
    func remove(nick: String, room code: String) -> Bool {
        let key = Nick.key(nick)
        return bans.withLock { bans in
            guard let list = bans[code] else { return false }
            let kept = list.filter { Nick.key($0.nick) != key }
            bans[code] = kept.isEmpty ? nil : kept
            return kept.count != list.count
        }
    }

    func forget(room code: String) {
        _ = bans.withLock { $0.removeValue(forKey: code) }
    }

    /// The bans in force in a room, oldest first (expired ones are dropped on the way).
    func list(room code: String, now: Timestamp = .now()) -> [Ban] {
        bans.withLock { bans in
            guard let list = bans[code] else { return [] }
            let active = list.filter { $0.isActive(at: now) }
            if active.count != list.count { bans[code] = active.isEmpty ? nil : active }
            return active
        }
    }

    /// Whether a client with these traits is banned from the room now. A room without bans is one lookup: the
    /// session's digest and the address's text, which cost more than that, are worked out only for a room with bans.
    func refuses(
        room code: String,
        session: @autoclosure () -> SecretDigest?,
        subject: String?,
        address: @autoclosure () -> String?,
        now: Timestamp = .now()
    ) -> Bool {
        guard let list = bans.withLock({ $0[code] }) else { return false }
        let (session, address) = (session(), address())
        return list.contains { $0.isActive(at: now) && $0.refuses(session: session, subject: subject, address: address) }
    }
}
