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
    /// Who holds each nick: every lookup a join, a rename or a session takes is O(1).
    private(set) var nickAllocator = NickAllocator<ConnectionID>()
    /// The member connected with each session.
    private var sessions: [SessionSecret: ConnectionID] = [:]

    /// What a join did.
    struct Joined {
        var nick: String
        /// The connection this join took over (session reclaim); it leaves silently.
        var replaced: (id: ConnectionID, handle: Handle)?
    }

    var nicks: [String] { members.values.map(\.nick) }
    var isEmpty: Bool { members.isEmpty }

    func isTaken(_ nick: String, except: ConnectionID? = nil) -> Bool {
        nickAllocator.isTaken(nick, except: except)
    }

    /// Adds a member. A live holder of the same session is replaced under its nick; otherwise the member
    /// gets `desired`, or `desired-2`, `desired-3`, … on a clash (see ``NickAllocator``).
    mutating func join(_ id: ConnectionID, desired: String, session: SessionSecret, handle: Handle) -> Joined {
        if let holderID = sessions[session], let holder = members.removeValue(forKey: holderID) {
            members[id] = Member(nick: holder.nick, session: session, handle: handle)
            sessions[session] = id
            nickAllocator.assign(holder.nick, to: id)
            return Joined(nick: holder.nick, replaced: (holderID, holder.handle))
        }
        let nick = nickAllocator.allocate(desired, to: id)
        members[id] = Member(nick: nick, session: session, handle: handle)
        sessions[session] = id
        return Joined(nick: nick, replaced: nil)
    }

    /// Removes a member; nil if it was not (or no longer) a member.
    mutating func leave(_ id: ConnectionID) -> Member? {
        guard let member = members.removeValue(forKey: id) else { return nil }
        nickAllocator.release(member.nick, heldBy: id)
        if sessions[member.session] == id { sessions.removeValue(forKey: member.session) }
        return member
    }

    /// Renames a member. Throws `nick_taken` when another member holds the nick.
    mutating func rename(_ id: ConnectionID, to nick: String) throws(ProtocolError) -> (from: String, session: SessionSecret)? {
        guard let member = members[id] else { return nil }
        if isTaken(nick, except: id) {
            throw ProtocolError(.nickTaken, "nick is taken in this room")
        }
        nickAllocator.release(member.nick, heldBy: id)
        nickAllocator.assign(nick, to: id)
        members[id]?.nick = nick
        return (member.nick, member.session)
    }
}

/// Identifies one WebSocket connection for the life of the process.
struct ConnectionID: Hashable, Sendable {
    let value: UInt64
}
