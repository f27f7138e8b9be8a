import NIOCore
import ParleyProtocol

/// What a ban records of a member besides its session, and the role it holds (§12). Values only (the role
/// cell is the connection's own), so a member costs no extra heap block here.
struct MemberTraits: Sendable {
    var role: ConnectionRole
    /// It got its role from a moderator key: revoking the keys makes it a member.
    var byModeratorKey: Bool
    var subject: String?
    var address: ClientAddress?
}

/// A member a ban is about to name.
struct BanTarget {
    var nick: String
    var session: SecretDigest
    var subject: String?
    var address: String?
}

/// A live room's side of moderation (§12): settings, roles, kicks and bans of members on this node.
extension Room {
    /// The room's settings now.
    var settings: RoomSettings { current.withLock { $0 } }

    /// What `welcome.room` shows.
    var info: RoomInfo { settings.info(record) }

    /// Records a joined member's role and what a ban would name.
    func admit(_ id: ConnectionID, traits: MemberTraits) {
        // A member that left meanwhile has nothing to record.
        state.withLock { state in _ = state.members.admit(id, traits: traits) }
    }

    /// Takes new settings and tells every member with `room`.
    func apply(_ settings: RoomSettings) {
        current.withLock { $0 = settings }
        restricted.store(settings.restricts, ordering: .relaxed)
        state.withLock { state in broadcastLocked(state.members, .room(settings.info(record)), except: nil) }
    }

    /// Members who hold a moderator key become members.
    func revokeKeyModerators() {
        state.withLock { state in state.members.revokeKeyModerators() }
    }

    /// What a ban of `nick` would record, one entry per connection holding it here.
    func banTargets(nick: String) -> [BanTarget] {
        let key = Nick.key(nick)
        let found: [(String, SessionSecret, MemberTraits?)] = state.withLock { state in
            state.members.members.values.compactMap { member in
                Nick.key(member.nick) == key ? (member.nick, member.session, member.traits) : nil
            }
        }
        return found.map { nick, session, traits in
            BanTarget(nick: nick, session: SecretDigest(of: session.description), subject: traits?.subject, address: traits?.address?.description)
        }
    }

    /// Closes every connection holding `nick` here with 4003 and `reason`, after a `leave` with that reason to
    /// everyone; false when nobody here holds it.
    @discardableResult
    func remove(nick: String, reason: LeaveReason) -> Bool {
        let key = Nick.key(nick)
        let outboxes: [Outbox] = state.withLock { state in
            let ids = state.members.members.filter { Nick.key($0.value.nick) == key }.map(\.key)
            var outboxes: [Outbox] = []
            var shownNick: String?
            for id in ids {
                guard let (member, _) = state.members.leave(id) else { continue }
                state.removed[id] = member.nick
                outboxes.append(member.handle)
                shownNick = member.nick
                // The removed member hears it too, just before its close.
                if member.handle.enqueue(EventEncoder.encode(.removed(nick: member.nick, reason: reason, ts: .now()))) == .overflowed {
                    metrics.slowConsumersClosed.increment()
                }
                // Out of the room now: no `join` or `leave` after the `removed` that ends its stay.
                leavePresence(member.handle)
            }
            if let shownNick { broadcastLocked(state.members, .removed(nick: shownNick, reason: reason, ts: .now()), except: nil) }
            return outboxes
        }
        for outbox in outboxes { outbox.drainAndClose(code: CloseCode.kicked.rawValue, reason: reason.rawValue) }
        return !outboxes.isEmpty
    }

    /// Closes every member here (a deleted room: 4004).
    func closeAll(code: CloseCode, reason: String) {
        let outboxes = state.withLock { state in
            state.members.members.values.map(\.handle)
        }
        for outbox in outboxes { outbox.drainAndClose(code: code.rawValue, reason: reason) }
    }
}
