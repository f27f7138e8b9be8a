import Logging
import NIOCore
import ParleyProtocol
import Synchronization

/// One live room on this node: its members, their outboxes and the order messages go out in.
///
/// Every change to membership and every fan-out happens under the room's own lock, which is never held
/// across an `await`: fan-out only appends an already-encoded frame to each member's ``Outbox``.
/// Committed messages reach ``receive(_:)`` from this node's storage writer and from ``RoomFeed`` fetches
/// (messages other nodes committed); a ``RoomSequencer`` releases them in id order, so all members on
/// every node see one order with no gap and no repeat.
final class Room: Sendable {
    /// A committed message, encoded once for every member.
    struct Delivery {
        var id: Int64
        var frame: ByteBuffer
    }

    /// A committed change (§11), encoded once for every member.
    struct Change {
        /// The changed message's id.
        var id: Int64
        var rev: Int64
        var frame: ByteBuffer
    }

    struct Locked {
        var members = RoomState<Outbox>()
        var sequencer = RoomSequencer<Delivery>()
        /// Encoded `update` frames in revision order (§11).
        var revisions = RevisionSequencer<Change>()
        /// Members on other nodes, as last announced here (cluster mode).
        var remote = RemoteRoster()
        /// Members kicked or banned, out of the room already (their nick is free, their `leave` with its reason
        /// was sent) while their connection closes: the nick they had.
        var removed: [ConnectionID: String] = [:]
        /// The newest messages as released, for `welcome`s served without a storage read.
        var recent: RecentMessages
    }

    let record: RoomRecord
    let state: Mutex<Locked>
    /// The room's settings (§12), and whether they restrict posting: read by every message, written rarely.
    let current: Mutex<RoomSettings>
    let restricted: Atomic<Bool>
    private let sessions: SessionTable
    private let feed: RoomFeed
    let metrics: ParleyMetrics
    /// Set when the registry frees the room: nothing more is fetched for it.
    let released = Atomic<Bool>(false)
    /// `join` and `leave` frames its members wait for (``PresenceLog``).
    let presence = PresenceLog()

    /// Sessions a previous run saved in this room, read once when a member first needs one.
    let saved = SavedSessions()
    /// Inserted by the open that made it live (``RoomRecord/fresh``), and no commit for its code went by while
    /// it was opening (``RoomRegistry`` clears it then): its first `welcome` needs no storage read.
    let untouched: Atomic<Bool>

    init(record: RoomRecord, sessions: SessionTable, feed: RoomFeed, metrics: ParleyMetrics, recent: RecentMessages.Bounds = .none) {
        self.record = record
        self.state = Mutex(Locked(recent: RecentMessages(bounds: recent)))
        let settings = record.settings ?? RoomSettings(name: record.name)
        self.current = Mutex(settings)
        self.restricted = Atomic(settings.restricts)
        self.untouched = Atomic(record.fresh)
        self.sessions = sessions
        self.feed = feed
        self.metrics = metrics
    }

    var code: String { record.code }

    /// Current nicks, in join order.
    var nicks: [String] { state.withLock { $0.members.nicks } }

    /// What a joining connection learns.
    struct Joined: Sendable {
        var nick: String
        var session: SessionSecret
        var members: [String]
        /// Those of `members` who are verified identities (§13).
        var verified: [String] = []
    }

    /// Adds a member whose outbox is still holding. A valid `session` reclaims its nick, replacing a live
    /// holder (closed 4001, with no leave/join pair); otherwise `requestedNick` (or a guest nick) is used,
    /// suffixed on a clash.
    func join(_ id: ConnectionID, requestedNick: String?, session requestedSession: SessionSecret?, outbox: Outbox) -> Joined {
        let claim = requestedSession.flatMap { secret in sessions.lookup(secret, roomCode: code).map { (secret, $0.nick) } }
        let session = claim?.0 ?? SessionSecret.random()
        let desired = claim?.1 ?? requestedNick ?? Nick.makeGuest()
        let joined = add(id, nick: desired, session: session, outbox: outbox, announce: true)
        sessions.bind(session, roomCode: code, nick: joined.nick)
        return joined
    }

    /// Adds a connection of a verified subject (§13): its nick is the token's, reserved for it, and shared
    /// by all of its connections. Its session is not bound to the nick, so it can never be reclaimed without
    /// a token. On a cluster `nick` is the one reserved for it, and `announce` is false when another of its
    /// connections is on another node.
    func join(_ id: ConnectionID, verified identity: VerifiedIdentity, nick: String? = nil, announce: Bool = true, outbox: Outbox) -> Joined {
        let session = SessionSecret.random()
        let ts = Timestamp.now()
        let (joined, displaced) = state.withLock { state in
            let joined = state.members.join(id, verified: identity.subject, desired: nick ?? identity.nick, session: session, handle: outbox)
            state.remote.heldHere(joined.nick)
            if let displaced = joined.displaced {
                state.remote.heldHere(displaced.to)
                broadcastLocked(state.members, .nick(from: displaced.from, to: displaced.to, ts: ts), except: id)
            }
            if !joined.shared && announce {
                broadcastLocked(state.members, .join(nick: joined.nick, ts: ts), except: id)
            }
            outbox.joinPresence(presence)
            let verified = state.members.verifiedNicks
            return (Joined(nick: joined.nick, session: session, members: state.members.nicks, verified: verified), joined.displaced)
        }
        if let displaced { sessions.bind(displaced.session, roomCode: code, nick: displaced.to) }
        return joined
    }

    /// Whether this process knows `secret` as a session of this room.
    func knows(_ secret: SessionSecret) -> Bool {
        sessions.lookup(secret, roomCode: code) != nil
    }

    /// Takes back a session a previous run saved, so that joining with it reclaims `nick` as usual.
    func restore(_ secret: SessionSecret, nick: String) {
        sessions.bind(secret, roomCode: code, nick: nick)
    }

    /// Adds a member whose nick the cluster already reserved (see ``ClusterPresence``). `announce` is false
    /// when the member took over its session from a connection on any node.
    func join(_ id: ConnectionID, claimed nick: String, session: SessionSecret, announce: Bool, outbox: Outbox) -> Joined {
        add(id, nick: nick, session: session, outbox: outbox, announce: announce)
    }

    private func add(_ id: ConnectionID, nick: String, session: SessionSecret, outbox: Outbox, announce: Bool) -> Joined {
        let ts = Timestamp.now()
        let (joined, replaced): (Joined, Outbox?) = state.withLock { state in
            let joined = state.members.join(id, desired: nick, session: session, handle: outbox)
            if let replaced = joined.replaced { leavePresence(replaced.handle) }
            state.remote.heldHere(joined.nick)
            if joined.replaced == nil && announce {
                broadcastLocked(state.members, .join(nick: joined.nick, ts: ts), except: id)
            }
            outbox.joinPresence(presence)
            let verified = state.members.verifiedNicks
            return (Joined(nick: joined.nick, session: session, members: state.members.nicks, verified: verified), joined.replaced?.handle)
        }
        replaced?.closeNow(code: CloseCode.replaced.rawValue, reason: "replaced")
        return joined
    }

    /// Takes a member's outbox out of the room's presence, under the room's lock. The log lets go of it too: a
    /// member replaced by its own session, or leaving with nobody to tell, adds no frame that would.
    func leavePresence(_ outbox: Outbox) {
        outbox.leavePresence()
        presence.forget(outbox)
    }

    /// Removes a member that a connection on another node took over: closed 4001, no leave event.
    func evict(_ id: ConnectionID) {
        let member = state.withLock { state in
            guard let (member, last) = state.members.leave(id) else { return nil as RoomState<Outbox>.Member? }
            leavePresence(member.handle)
            if last { state.remote.movedAway(member.nick) }
            return member
        }
        member?.handle.closeNow(code: CloseCode.replaced.rawValue, reason: "replaced")
    }

    /// Removes a member and tells the others; a member that was replaced leaves silently, and so does a
    /// connection of a verified subject that has others here (§13: `leave` when the last goes).
    /// Returns the nick it left with, or nil when it had been replaced. `announce` is false for a verified
    /// subject on a cluster, whose other connections may be on other nodes (see ``announceLeave(_:)``).
    @discardableResult
    func leave(_ id: ConnectionID, announce: Bool = true) -> String? {
        state.withLock { state in
            if let nick = state.removed.removeValue(forKey: id) { return nick }
            guard let (member, last) = state.members.leave(id) else { return nil }
            leavePresence(member.handle)
            if last && announce { broadcastLocked(state.members, .leave(nick: member.nick, ts: .now()), except: nil) }
            return member.nick
        }
    }

    /// Tells the members here that a verified subject left the cluster, once its last connection was released.
    func announceLeave(_ nick: String) {
        state.withLock { state in
            guard !state.members.isTaken(nick) else { return }
            broadcastLocked(state.members, .leave(nick: nick, ts: .now()), except: nil)
        }
    }

    /// Renames a member and tells everyone, the member included.
    func rename(_ id: ConnectionID, to nick: String) throws(ProtocolError) {
        let renamed: (from: String, session: SessionSecret)? = try state.withLock { (state) throws(ProtocolError) in
            guard let renamed = try state.members.rename(id, to: nick) else { return nil }
            state.remote.heldHere(nick)
            if renamed.from != nick {
                broadcastLocked(state.members, .nick(from: renamed.from, to: nick, ts: .now()), except: nil)
            }
            return renamed
        }
        if let renamed { sessions.bind(renamed.session, roomCode: code, nick: nick) }
    }

    /// The member's current nick.
    func nick(of id: ConnectionID) -> String? {
        state.withLock { $0.members.members[id]?.nick }
    }

    /// Its members with their sessions, for a node that must list them in the cluster again.
    var localMembers: [ClusterPresence.LiveMember] {
        state.withLock { state in state.members.members.map { .init(id: $0.key, nick: $0.value.nick, session: $0.value.session) } }
    }

    /// Tells the other members that `id` is typing.
    func typing(_ id: ConnectionID) {
        state.withLock { state in
            guard let nick = state.members.members[id]?.nick else { return }
            broadcastLocked(state.members, .typing(nick: nick), except: id)
        }
    }

    /// Tells every member here about a presence change on another node.
    func relay(_ event: ServerEvent) {
        state.withLock { state in
            guard state.remote.apply(event) else { return }
            broadcastLocked(state.members, event, except: nil)
        }
    }

    /// Takes in the cluster-wide member list a joining member was shown (the first one only counts).
    func seedRemote(members: [String]) {
        state.withLock { state in state.remote.seed(members: members, local: Set(state.members.nicks)) }
    }

    /// The node listens again after missing notices: `current` (the members table's nicks on other nodes)
    /// replaces what was last announced here, and members hear the difference.
    func resyncRemote(_ current: Set<String>) {
        state.withLock { state in
            for event in state.remote.resync(to: current) {
                broadcastLocked(state.members, event, except: nil)
            }
        }
    }

    /// Committed messages, in any order and possibly already seen: each is sent to every member, the
    /// sender included, once and in id order.
    func receive(_ messages: [ChatMessage]) {
        let deliveries = messages.map { (id: $0.id, payload: Delivery(id: $0.id, frame: EventEncoder.encode(.message($0)))) }
        sequence { $0.sequencer.receive(deliveries) }
    }

    /// A change to a message (§11) this node committed: sent to every member, the changer included, in
    /// revision order with the changes other nodes committed (``RevisionSequencer``). A member that joined
    /// meanwhile may get a change its `welcome` already showed, which is harmless: an update carries the
    /// message's whole current state.
    func update(rev: Int64, message: ChatMessage) {
        let change = Change(id: message.id, rev: rev, frame: EventEncoder.encode(.update(rev: rev, message: message)))
        sequenceRevisions { $0.receive(rev: rev, change) }
    }

    /// Another node committed a change under revision `rev` in this room.
    func announce(rev: Int64) {
        sequenceRevisions { $0.announce(rev: rev) }
    }

    /// A fetch of changes ``RoomFeed`` ran for this room has ended.
    func changesFetched(_ page: ChangePage?) {
        guard let page else {
            sequenceRevisions { $0.fetched([], covered: 0, exhausted: false) }
            return
        }
        let frames = page.changes.map {
            (rev: $0.rev, payload: Change(id: $0.message.id, rev: $0.rev, frame: EventEncoder.encode(.update(rev: $0.rev, message: $0.message))))
        }
        sequenceRevisions { $0.fetched(frames, covered: page.covered, exhausted: !page.hasMore) }
    }

    private func sequenceRevisions(_ step: (inout RevisionSequencer<Change>) -> RevisionSequencer<Change>.Output) {
        let (fetchAfter, overflowed) = state.withLock { state in
            let output = step(&state.revisions)
            var overflowed = 0
            for change in output.release {
                if state.recent.follows {
                    state.recent.changed(id: change.id, rev: change.rev, fields: EventEncoder.fields(ofUpdate: change.frame, rev: change.rev))
                }
                state.members.forEachHandle { _, handle in
                    if handle.enqueue(change.frame) == .overflowed { overflowed += 1 }
                }
            }
            if let delivered = state.revisions.delivered { state.recent.revised(to: delivered) }
            return (output.fetchAfter, overflowed)
        }
        if overflowed > 0 { metrics.slowConsumersClosed.increment(by: overflowed) }
        if let fetchAfter { feed.requestChanges(self, after: fetchAfter) }
    }

    /// The session a member joined with.
    func session(of id: ConnectionID) -> SessionSecret? {
        state.withLock { $0.members.members[id]?.session }
    }

    /// The first member's history ends at `lastID`, at the room's revision `rev`: live delivery starts after
    /// them.
    func anchor(after lastID: Int64, rev: Int64 = 0) {
        sequence { $0.sequencer.anchor(after: lastID) }
        sequenceRevisions { $0.anchor(rev: rev) }
    }

    /// As ``anchor(after:rev:)`` for a `welcome`'s `page` (history after `since`, read from storage): the first
    /// one also fills the cache of recent messages.
    func anchor(with page: MessagePage, after since: Int64?) {
        let bounds = state.withLock { $0.sequencer.next == nil ? $0.recent.bounds : .none }
        guard bounds.count > 0 else {
            anchor(after: page.lastID, rev: page.rev)
            return
        }
        // Encoded outside the lock; only the newest the cache keeps.
        let seed = page.messages.suffix(bounds.count).map { (id: $0.id, fields: EventEncoder.fields(ofMessage: EventEncoder.encode($0))) }
        // The page holds every message after `since`, or (with more before it) every one from its first on.
        let floor = page.hasMore ? (page.messages.first.map { $0.id - 1 } ?? page.lastID) : min(since ?? 0, page.lastID)
        sequence { state in
            if state.sequencer.next == nil { state.recent.seed(seed, floor: floor, lastID: page.lastID, rev: page.rev) }
            return state.sequencer.anchor(after: page.lastID)
        }
        sequenceRevisions { $0.anchor(rev: page.rev) }
    }

    /// The first `welcome`'s history in an untouched room: empty, up to id 0, without a read; nil when storage
    /// must answer (the room is not untouched, or a `welcome` has anchored it: then its messages are live).
    func historyIfUntouched() -> MessagePage? {
        guard untouched.load(ordering: .relaxed), state.withLock({ $0.sequencer.next == nil }) else { return nil }
        return MessagePage(messages: [], hasMore: false, lastID: 0)
    }

    /// The history a `welcome` shows, from the cache of recent messages; nil when storage must answer (see
    /// ``RecentMessages/page(after:clientRev:limit:)``).
    func recentPage(after since: Int64?, clientRev: Int64?, limit: Int) -> RecentMessages.Page? {
        state.withLock { $0.recent.page(after: since, clientRev: clientRev, limit: limit) }
    }

    /// Another node committed messages up to `lastID` in this room.
    func announce(last lastID: Int64) {
        sequence { $0.sequencer.announce(last: lastID) }
    }

    /// This node committed messages up to `lastID` in this room (see ``RoomSequencer/committedHere(last:)``).
    func committedHere(last lastID: Int64) {
        state.withLock { $0.sequencer.committedHere(last: lastID) }
    }

    /// Fetches messages known to be committed that no completion delivered.
    func settle() {
        sequence { $0.sequencer.settle() }
    }

    /// Checks storage for messages nobody announced (after a listener reconnect or an unanswered commit).
    func catchUp() {
        sequence { $0.sequencer.catchUp() }
        sequenceRevisions { $0.catchUp() }
    }

    /// A fetch ``RoomFeed`` ran for this room has ended.
    func fetched(_ messages: [ChatMessage], exhausted: Bool) {
        receive(messages)
        sequence { $0.sequencer.fetchEnded(exhausted: exhausted) }
    }

    private func sequence(_ step: (inout Locked) -> RoomSequencer<Delivery>.Output) {
        let (fetchAfter, count, overflowed) = state.withLock { state in
            let output = step(&state)
            var overflowed = 0
            for delivery in output.release where state.recent.follows {
                state.recent.delivered(id: delivery.id, fields: EventEncoder.fields(ofMessage: delivery.frame))
            }
            // All that was released (a commit's run, or what waited for a gap) in one pass over the members.
            if !output.release.isEmpty {
                state.members.forEachHandle { _, handle in
                    if handle.enqueue(output.release) == .overflowed { overflowed += 1 }
                }
            }
            return (output.fetchAfter, output.release.count * state.members.members.count, overflowed)
        }
        if count > 0 { metrics.deliveries.increment(by: count) }
        if overflowed > 0 { metrics.slowConsumersClosed.increment(by: overflowed) }
        if let fetchAfter { feed.request(self, after: fetchAfter) }
    }

    /// Encodes once and queues the same bytes for every member but `except`. Presence may wait a moment for
    /// company (``WriteScheduler/presenceInterval``): it goes to the room's ``PresenceLog``, which wakes the
    /// members that had taken all of it. `except` is the joiner for a `join`: it starts in the log after it.
    func broadcastLocked(_ state: RoomState<Outbox>, _ event: ServerEvent, except: ConnectionID?) {
        let frame = EventEncoder.encode(event)
        var overflowed = 0
        switch event {
        case .join, .leave:
            // Nobody else to tell: the log keeps nothing for an empty room.
            guard state.members.keys.contains(where: { $0 != except }) else { return }
            let (position, wake, dropDue) = presence.append(frame)
            for outbox in wake where outbox.presenceArrived(presence, at: position) == .overflowed { overflowed += 1 }
            if dropDue { overflowed += dropPresence(state) }
        default:
            state.forEachHandle { id, handle in
                if id != except, handle.enqueue(frame) == .overflowed { overflowed += 1 }
            }
        }
        if overflowed > 0 { metrics.slowConsumersClosed.increment(by: overflowed) }
    }

    /// Drops the presence frames no member waits for any more; a member that waits for more than
    /// ``PresenceLog/maxWaiting`` gets its frames in its own queue. Returns the members that overflowed.
    private func dropPresence(_ state: RoomState<Outbox>) -> Int {
        let end = presence.end
        let oldest = end - min(end, PresenceLog.maxWaiting)
        var keep = end
        var overflowed = 0
        state.forEachHandle { _, handle in
            let (start, overflow) = handle.presenceStart(in: presence, keepingFrom: oldest)
            if let start { keep = min(keep, start) }
            if overflow { overflowed += 1 }
        }
        presence.drop(before: keep)
        return overflowed
    }
}
