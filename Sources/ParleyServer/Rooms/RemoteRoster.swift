import ParleyProtocol

/// Who a room's members on this node were last told is in the room on other nodes.
///
/// PostgreSQL drops the notices a node misses while its listener is away (a database restart, a lost
/// connection). Messages are fetched back by id, but presence has no id: so each room keeps this roster,
/// and when the node listens again it compares the roster with the members table and announces the
/// difference (``resync(to:)``). The value-type core of that, tested without a database.
struct RemoteRoster: Sendable {
    private(set) var nicks: Set<String> = []
    /// The room's first member list on this node was taken in (later ones are the same list, older).
    private var seeded = false
    /// Kicked or banned members already announced with their reason, whose plain `leave` from the members
    /// table is still to come and is not shown again.
    private var removed: Set<String> = []

    /// Follows a presence event relayed from another node; false when members must not hear it (the plain
    /// `leave` of a member whose removal was already announced).
    @discardableResult
    mutating func apply(_ event: ServerEvent) -> Bool {
        switch event {
        case .join(let nick, _):
            removed.remove(nick)
            nicks.insert(nick)
        case .leave(let nick, _):
            if removed.remove(nick) != nil { return false }
            nicks.remove(nick)
        case .removed(let nick, _, _):
            // At most a few entries: each goes with its plain leave, which follows at once.
            if removed.count < 1024 { removed.insert(nick) }
            nicks.remove(nick)
        case .nick(let from, let to, _):
            nicks.remove(from)
            nicks.insert(to)
        default: break
        }
        return true
    }

    /// Takes in the cluster-wide member list a joining member was shown, the first time only: after that,
    /// relayed events keep the roster current, and an older list could bring back a member who left.
    mutating func seed(members: [String], local: Set<String>) {
        guard !seeded else { return }
        seeded = true
        nicks.formUnion(members.filter { !local.contains($0) })
    }

    /// A nick is now held here: a member joined, or took its session over from another node.
    mutating func heldHere(_ nick: String) {
        nicks.remove(nick)
    }

    /// A member here was taken over by its session on another node: the nick stays in the room, elsewhere.
    mutating func movedAway(_ nick: String) {
        nicks.insert(nick)
    }

    /// Replaces the roster with the members table's list of other nodes' members and returns the events that
    /// tell this node's members the change: leaves first, then joins, each in nick order.
    mutating func resync(to current: Set<String>) -> [ServerEvent] {
        let ts = Timestamp.now()
        let left = nicks.subtracting(current).sorted().map { ServerEvent.leave(nick: $0, ts: ts) }
        let joined = current.subtracting(nicks).sorted().map { ServerEvent.join(nick: $0, ts: ts) }
        nicks = current
        seeded = true
        return left + joined
    }
}
