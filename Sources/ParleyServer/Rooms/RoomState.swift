import OrderedCollections
import ParleyProtocol

/// A room's members and nicks: the value-type core of ``Room``, tested without sockets.
struct RoomState<Handle> {
    struct Member {
        var nick: String
        var session: SessionSecret
        var handle: Handle
    }

    /// Members in join order.
    private(set) var members: OrderedDictionary<ConnectionID, Member> = [:]

    /// What a join did.
    struct Joined {
        var nick: String
        /// The connection this join took over (session reclaim); it leaves silently.
        var replaced: (id: ConnectionID, handle: Handle)?
    }

    var nicks: [String] { members.values.map(\.nick) }
    var isEmpty: Bool { members.isEmpty }

    func isTaken(_ nick: String, except: ConnectionID? = nil) -> Bool {
        let key = Nick.key(nick)
        return members.contains { $0.key != except && Nick.key($0.value.nick) == key }
    }

    /// `desired`, or the first free `desired-2`, `desired-3`, …
    func freeNick(_ desired: String) -> String {
        guard isTaken(desired) else { return desired }
        var n = 2
        while true {
            let candidate = Nick.suffixed(desired, n)
            if !isTaken(candidate) { return candidate }
            n += 1
        }
    }

    /// Adds a member. With `reclaiming` a live holder of the same session is replaced under its nick.
    mutating func join(_ id: ConnectionID, desired: String, session: SessionSecret, handle: Handle) -> Joined {
        if let holder = members.first(where: { $0.value.session == session }) {
            members.removeValue(forKey: holder.key)
            members[id] = Member(nick: holder.value.nick, session: session, handle: handle)
            return Joined(nick: holder.value.nick, replaced: (holder.key, holder.value.handle))
        }
        let nick = freeNick(desired)
        members[id] = Member(nick: nick, session: session, handle: handle)
        return Joined(nick: nick, replaced: nil)
    }

    /// Removes a member; nil if it was not (or no longer) a member.
    mutating func leave(_ id: ConnectionID) -> Member? {
        members.removeValue(forKey: id)
    }

    /// Renames a member. Throws `nick_taken` when another member holds the nick.
    mutating func rename(_ id: ConnectionID, to nick: String) throws(ProtocolError) -> (from: String, session: SessionSecret)? {
        guard let member = members[id] else { return nil }
        if isTaken(nick, except: id) {
            throw ProtocolError(.nickTaken, "nick is taken in this room")
        }
        members[id]?.nick = nick
        return (member.nick, member.session)
    }
}

/// Identifies one WebSocket connection for the life of the process.
struct ConnectionID: Hashable, Sendable {
    let value: UInt64
}
