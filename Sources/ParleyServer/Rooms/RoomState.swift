import OrderedCollections
import ParleyProtocol

/// A room's members and nicks: the value-type core of ``Room``, tested without sockets.
struct RoomState<Handle> {
    struct Member {
        var nick: String
        var session: SessionSecret
        var handle: Handle
        /// The verified subject (§13) it joined as; nil for an anonymous member.
        var subject: String? = nil
        /// What moderation needs to know of it (§12), from ``Room/admit(_:traits:)``: kept with the member rather
        /// than in a dictionary of their own, whose buckets cost more than the values.
        var traits: MemberTraits? = nil
    }

    /// Members in join order.
    private(set) var members: OrderedDictionary<ConnectionID, Member> = [:]
    /// Who holds each nick: every lookup a join, a rename or a session takes is O(1).
    private(set) var nickAllocator = NickAllocator<ConnectionID>()
    /// The member connected with each session.
    private var sessions: [SessionSecret: ConnectionID] = [:]
    /// Each verified subject's connections, in join order (§13): they share one nick and one entry in
    /// ``nicks``, held in the ``nickAllocator`` by the first of them.
    private var subjects: [String: [ConnectionID]] = [:]

    /// Calls `body` with each member's id and handle, in join order, without copying the members' entries: a
    /// loop over `members` copies each entry, retaining and releasing its nick and traits, at every
    /// delivery to every member (Benchmarks/README.md, "Fan-out without copies").
    func forEachHandle(_ body: (ConnectionID, Handle) -> Void) {
        let ids = members.keys
        members.values.withUnsafeBufferPointer { entries in
            for index in entries.indices { body(ids[index], entries[index].handle) }
        }
    }

    /// What a join did.
    struct Joined {
        var nick: String
        /// The connection this join took over (session reclaim); it leaves silently.
        var replaced: (id: ConnectionID, handle: Handle)?
        /// Another connection of the same subject is already here: nobody is told of a join.
        var shared = false
        /// An anonymous member that held the verified nick and was moved to a suffixed one.
        var displaced: (session: SessionSecret, from: String, to: String)?
    }

    /// One nick per member: a subject's connections after the first are not listed again.
    var nicks: [String] {
        // Every `welcome` takes a copy; most rooms have no verified member to merge.
        guard !subjects.isEmpty else { return members.values.map(\.nick) }
        return members.compactMap { id, member in
            guard let subject = member.subject else { return member.nick }
            return subjects[subject]?.first == id ? member.nick : nil
        }
    }
    /// The nicks of verified subjects, one each, in join order.
    var verifiedNicks: [String] {
        guard !subjects.isEmpty else { return [] }
        return members.compactMap { id, member in
            guard let subject = member.subject, subjects[subject]?.first == id else { return nil }
            return member.nick
        }
    }
    var isEmpty: Bool { members.isEmpty }

    func isTaken(_ nick: String, except: ConnectionID? = nil) -> Bool {
        nickAllocator.isTaken(nick, except: except)
    }

    /// Adds a member. A live holder of the same session is replaced under its nick; otherwise the member
    /// gets `desired`, or `desired-2`, `desired-3`, … on a clash (see ``NickAllocator``).
    mutating func join(_ id: ConnectionID, desired: String, session: SessionSecret, handle: Handle) -> Joined {
        // A verified member's session is never taken over by an anonymous one.
        if let holderID = sessions[session], members[holderID]?.subject == nil, let holder = members.removeValue(forKey: holderID) {
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

    /// Adds a connection of a verified subject (§13). Further connections of a subject that is here share its
    /// nick. The first takes `desired`, which is reserved for it: an anonymous member holding it moves to
    /// the clash suffix (and everyone is told, as for a rename); another subject's nick makes it clash as usual.
    mutating func join(_ id: ConnectionID, verified subject: String, desired: String, session: SessionSecret, handle: Handle) -> Joined {
        if let first = subjects[subject]?.first, let nick = members[first]?.nick {
            members[id] = Member(nick: nick, session: session, handle: handle, subject: subject)
            subjects[subject]?.append(id)
            sessions[session] = id
            return Joined(nick: nick, replaced: nil, shared: true)
        }
        var displaced: (session: SessionSecret, from: String, to: String)?
        if let holderID = nickAllocator.holder(of: desired), let holder = members[holderID], holder.subject == nil {
            nickAllocator.release(holder.nick, heldBy: holderID)
            nickAllocator.assign(desired, to: id)
            let moved = nickAllocator.allocate(holder.nick, to: holderID)
            members[holderID]?.nick = moved
            displaced = (holder.session, holder.nick, moved)
        }
        let nick = displaced == nil ? nickAllocator.allocate(desired, to: id) : desired
        members[id] = Member(nick: nick, session: session, handle: handle, subject: subject)
        subjects[subject] = [id]
        sessions[session] = id
        return Joined(nick: nick, replaced: nil, displaced: displaced)
    }

    /// Removes a member; nil if it was not (or no longer) a member. `last` is false while another
    /// connection of its verified subject stays: it is still in the room, under the same nick.
    mutating func leave(_ id: ConnectionID) -> (member: Member, last: Bool)? {
        guard let member = members.removeValue(forKey: id) else { return nil }
        if sessions[member.session] == id { sessions.removeValue(forKey: member.session) }
        if let subject = member.subject, var connections = subjects[subject] {
            connections.removeAll { $0 == id }
            if let next = connections.first {
                subjects[subject] = connections
                if nickAllocator.holder(of: member.nick) == id { nickAllocator.assign(member.nick, to: next) }
                return (member, false)
            }
            subjects.removeValue(forKey: subject)
        }
        nickAllocator.release(member.nick, heldBy: id)
        return (member, true)
    }

    /// Records what moderation needs to know of a member; false when it is not (or no longer) here.
    @discardableResult
    mutating func admit(_ id: ConnectionID, traits: MemberTraits) -> Bool {
        guard members[id] != nil else { return false }
        members[id]?.traits = traits
        return true
    }

    /// Members who got their role from a moderator key lose it (§12).
    mutating func revokeKeyModerators() {
        for index in members.values.indices where members.values[index].traits?.byModeratorKey == true {
            members.values[index].traits?.role.set(.member)
            members.values[index].traits?.byModeratorKey = false
        }
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
